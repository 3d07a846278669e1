-- Claims a key for one request (a post, an idempotent ping).
-- KEYS[1] claim (hash: fp fingerprint, st F in flight | A given up | D done, lease, holder,
-- res 1 when resumed from an earlier holder, ans answer)
-- ARGV[1] fingerprint   ARGV[2] now (ms)   ARGV[3] lease until (ms)   ARGV[4] holder
-- ARGV[5] keep ttl (ms): the claim, then its answer, lives that long
-- Answers {'C', resumed 0|1} claimed (again, to its own holder), {'F'} in flight,
-- {'D', answer} done, {'M'} another request's key.
expect('claim', 1, 5)
local cur = redis.call('HMGET', KEYS[1], 'fp', 'st', 'lease', 'holder', 'res', 'ans')
if not cur[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'st', 'F', 'lease', ARGV[3], 'holder', ARGV[4], 'res', '0')
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'C', '0'}
end
if cur[1] ~= ARGV[1] then
  return {'M'}
end
if cur[2] == 'D' then
  return {'D', cur[6]}
end
if cur[2] == 'F' and cur[4] == ARGV[4] then
  return {'C', cur[5]}
end
if cur[2] == 'F' and tonumber(cur[3]) > tonumber(ARGV[2]) then
  return {'F'}
end
-- The holder's lease ran out (it died) or it gave the claim up: this request takes over
-- and must first read what the earlier holder did.
redis.call('HSET', KEYS[1], 'st', 'F', 'lease', ARGV[3], 'holder', ARGV[4], 'res', '1')
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return {'C', '1'}
