-- Settles one identifier's reservation mark: becomes sold ('S') or duplicate ('D') at the
-- given time, or is removed (''), when the sale was released.
-- KEYS[1] consumer state (hash)
-- ARGV[1] sale id   ARGV[2] 'S' | 'D' | ''   ARGV[3] at (ms)   ARGV[4] retention (ms)
local field = 's:' .. ARGV[1]
local mark = redis.call('HGET', KEYS[1], field)
if not mark then
  return 0
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], field)
  return 1
end
local buyer = string.match(mark, '^%-?%d+|%a|(.*)$')
redis.call('HSET', KEYS[1], field, ARGV[3] .. '|' .. ARGV[2] .. '|' .. buyer)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
