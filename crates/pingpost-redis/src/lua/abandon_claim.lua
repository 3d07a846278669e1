-- Gives up an in-flight claim, if the caller still holds it: the next claim takes it over
-- at once. A completed claim keeps its answer.   KEYS[1] claim (hash)   ARGV[1] holder
local cur = redis.call('HMGET', KEYS[1], 'st', 'holder')
if cur[1] == 'F' and cur[2] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'st', 'A')
  return 1
end
return 0
