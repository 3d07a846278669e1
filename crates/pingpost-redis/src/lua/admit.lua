-- Checkpoints 1 and 2 for one identifier, with the vertical reservation, atomically.
-- Both keys carry the identifier's hash tag, so they share one slot. A ping's identifiers are
-- admitted one after the other, one script each (see the crate docs, lib.rs, "Why the steps
-- are safe").
--
-- KEYS[1]  suppression marker (string)      KEYS[2]  consumer state (hash)
-- ARGV[1]  vertical id    ARGV[2] now (ms)
-- ARGV[3]  a submission counts if made after this (ms): `WindowDays::counts_after`
-- ARGV[4]  ping id        ARGV[5] retention of consumer state (ms)
-- ARGV[6]  pending until (ms): the submission lapses then unless its ping confirms it
-- ARGV[7]  kept in the pending mark as given: empty from engines that admit one identifier
--          after the other (engines that decided races by rank named the ping's other
--          identifiers here, and read an empty one as "never yields")
-- ARGV[8]  '1' for a dry run (a test ping): the same checks and answer, and no write at all
--          (no mark, no forgetting, no expiry)
--
-- Vertical marks as prelude.lua encodes them. A mark of this same ping is its own
-- (a re-sent call): never a duplicate, left as it is.
-- Answers {'S', since} | {'V', prior_at} | {'P', prior_at, ping, its ARGV[7]} | {'A', field,
-- value, ...} where the fields are this identifier's DQ marks (its sale marks are in the
-- buyers' slots, read beside this). 'V' is a confirmed submission, 'P' another ping's pending one: either
-- way a duplicate, and nothing was written.
expect('admit', 2, 8)
local dry = ARGV[8] == '1'
local since = redis.call('GET', KEYS[1])
if since then
  return {'S', since}
end
local now = tonumber(ARGV[2])
local counts_after = tonumber(ARGV[3])
local retention = tonumber(ARGV[5])
local vfield = 'v:' .. ARGV[1]
local all = redis.call('HGETALL', KEYS[2])
local history = {'A'}
local stale = {}
local own = false
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  local kind = string.sub(field, 1, 2)
  local at = mark_at(value)
  if field == vfield then
    local v = vertical_mark(value)
    if v.ping == ARGV[4] then
      own = true
    else
      if (v.pending == nil or now < v.pending) and at > counts_after then
        if v.pending ~= nil then
          return {'P', tostring(at), v.ping, v.others}
        end
        return {'V', tostring(at)}
      end
    end
  elseif kind == 's:' then
    -- A sale mark of the layout before sales moved to their buyer's slot, where
    -- `pingpost migrate-store` copied it: forgotten while we are here.
    stale[#stale + 1] = field
  elseif now - at >= retention then
    -- Older than any window can reach: forget it while we are here.
    stale[#stale + 1] = field
  elseif kind == 'd:' then
    history[#history + 1] = field
    history[#history + 1] = value
  end
end
if dry then
  return history
end
if #stale > 0 then
  redis.call('HDEL', KEYS[2], unpack(stale))
end
if not own then
  redis.call('HSET', KEYS[2], vfield, encode_vertical_mark(ARGV[2], ARGV[4], ARGV[6], ARGV[7]))
end
redis.call('PEXPIRE', KEYS[2], retention)
return history
