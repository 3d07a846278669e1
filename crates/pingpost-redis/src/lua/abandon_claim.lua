-- Gives up an in-flight claim, if the caller still holds it: the next claim takes it over
-- at once. A claim its holder took fresh (no earlier holder did anything under it) is
-- removed, so a request refused before any work (an unknown ping id) leaves no key behind;
-- one taken over from an earlier holder is kept, marked given up, so the next claim reads
-- what that holder did. A completed claim keeps its answer.
-- KEYS[1] claim (hash)   ARGV[1] holder
expect('abandon_claim', 1, 1)
local cur = redis.call('HMGET', KEYS[1], 'st', 'holder', 'res')
if cur[1] == 'F' and cur[2] == ARGV[1] then
  if cur[3] == '0' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('HSET', KEYS[1], 'st', 'A')
  end
  return 1
end
return 0
