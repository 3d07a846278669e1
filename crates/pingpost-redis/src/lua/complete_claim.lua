-- Stores a claimed key's answer, if the caller still holds the claim.
-- KEYS[1] claim (hash)   ARGV[1] holder   ARGV[2] answer   ARGV[3] ttl (ms)
expect('complete_claim', 1, 3)
local cur = redis.call('HMGET', KEYS[1], 'st', 'holder')
if cur[1] ~= 'F' or cur[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'st', 'D', 'ans', ARGV[2])
redis.call('HDEL', KEYS[1], 'lease', 'holder')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
