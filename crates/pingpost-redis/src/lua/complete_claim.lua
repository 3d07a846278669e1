-- Stores a claimed key's answer.   KEYS[1] claim (hash)   ARGV[1] answer   ARGV[2] ttl (ms)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'st', 'D', 'ans', ARGV[1])
redis.call('HDEL', KEYS[1], 'lease')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
