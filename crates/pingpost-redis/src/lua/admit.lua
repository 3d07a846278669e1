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
-- ARGV[9]  a confirmed submission inside the window is a repeat if made at or before this
--          (ms): `WindowDays::counts_after` of the vertical's `repeat_after_days`; '' = none
--
-- Vertical marks as prelude.lua encodes them, read as `vertical_verdict` (checkpoint.rs)
-- states. A mark of this same ping is its own (a re-sent call): never a duplicate, left as it
-- is, and a repeat again if it was one.
-- Answers {'S', since} | {'V', prior_at} | {'P', prior_at, ping, its ARGV[7]} | {'A', field,
-- value, ...} | {'R', prior_at, field, value, ...} where the fields are this identifier's DQ
-- marks (its sale marks are in the buyers' slots, read beside this). 'V' is a confirmed
-- submission, 'P' another ping's pending one: either way a duplicate, and nothing was
-- written. 'R': admitted as a repeat of the submission at prior_at, which the new pending mark
-- keeps as the one it replaced. An admission's fields end with {'p:', at} when the mark held a
-- confirmed submission, however old (`Submission::standing`): the gap the event log keeps.
expect('admit', 2, 9)
local dry = ARGV[8] == '1'
local since = redis.call('GET', KEYS[1])
if since then
  return {'S', since}
end
local now = tonumber(ARGV[2])
local counts_after = tonumber(ARGV[3])
local retention = tonumber(ARGV[5])
local repeat_after = tonumber(ARGV[9])
local vfield = 'v:' .. ARGV[1]
local all = redis.call('HGETALL', KEYS[2])
local history = {'A'}
local stale = {}
local own = false
-- The confirmed submission this ping passes as a repeat of (its text and number), and the
-- latest one the mark held at all.
local replaced, replaced_at = '', nil
local last_text = nil
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  local kind = string.sub(field, 1, 2)
  local at = mark_at(value)
  if field == vfield then
    local v = vertical_mark(value)
    if v.ping == ARGV[4] then
      own = true
      if v.replaced then
        replaced, replaced_at = v.replaced_text, v.replaced
        last_text = v.replaced_text
      end
    elseif v.pending ~= nil and now < v.pending then
      return {'P', v.at_text, v.ping, v.others}
    else
      -- Confirmed, or a ping that never confirmed: the submission it replaced stands.
      local standing, standing_text = v.at, v.at_text
      if v.pending ~= nil then
        standing, standing_text = v.replaced, v.replaced_text
      end
      if standing then
        last_text = standing_text
      end
      if standing and standing > counts_after then
        if repeat_after and standing <= repeat_after then
          replaced, replaced_at = standing_text, standing
        else
          return {'V', standing_text}
        end
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
if last_text then
  history[#history + 1] = 'p:'
  history[#history + 1] = last_text
end
if replaced_at then
  history[1] = replaced
  table.insert(history, 1, 'R')
end
if dry then
  return history
end
if #stale > 0 then
  redis.call('HDEL', KEYS[2], unpack(stale))
end
if not own then
  redis.call('HSET', KEYS[2], vfield, encode_vertical_mark(ARGV[2], ARGV[4], ARGV[6], ARGV[7], replaced))
end
redis.call('PEXPIRE', KEYS[2], retention)
return history
