-- Checkpoints 1 and 2 for one identifier, with the vertical reservation, atomically.
-- Both keys carry the identifier's hash tag, so they share one slot.
--
-- KEYS[1]  suppression marker (string)      KEYS[2]  consumer state (hash)
-- ARGV[1]  'admit' | 'check' ('check' only answers whether the identifier is suppressed)
-- ARGV[2]  vertical id    ARGV[3] now (ms)    ARGV[4] vertical window (ms)
-- ARGV[5]  ping id        ARGV[6] retention of consumer state (ms)
--
-- Answers {'S', since} | {'V', prior_at} | {'OK'} | {'A', field, value, ...} where the
-- fields are this identifier's sale marks ('s:<sale>') and DQ marks ('d:<buyer>').
local since = redis.call('GET', KEYS[1])
if since then
  return {'S', since}
end
if ARGV[1] == 'check' then
  return {'OK'}
end
local now = tonumber(ARGV[3])
local retention = tonumber(ARGV[6])
local vfield = 'v:' .. ARGV[2]
local all = redis.call('HGETALL', KEYS[2])
local history = {'A'}
local stale = {}
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  local at = tonumber(string.match(value, '^(%-?%d+)'))
  local reserved = string.sub(field, 1, 2) == 's:' and string.match(value, '^%-?%d+|R|') ~= nil
  if field == vfield then
    if now - at < tonumber(ARGV[4]) then
      return {'V', tostring(at)}
    end
  elseif now - at >= retention and not reserved then
    -- Older than any window can reach: forget it while we are here.
    stale[#stale + 1] = field
  else
    local kind = string.sub(field, 1, 2)
    if kind == 's:' or kind == 'd:' then
      history[#history + 1] = field
      history[#history + 1] = value
    end
  end
end
if #stale > 0 then
  redis.call('HDEL', KEYS[2], unpack(stale))
end
redis.call('HSET', KEYS[2], vfield, ARGV[3] .. '|' .. ARGV[5])
redis.call('PEXPIRE', KEYS[2], retention)
return history
