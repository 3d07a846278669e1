-- Claims a key for one request (a post, an idempotent ping).
-- KEYS[1] claim (hash)
-- ARGV[1] fingerprint   ARGV[2] now (ms)   ARGV[3] lease until (ms)   ARGV[4] lease ttl (ms)
-- Answers {'C'} claimed, {'F'} in flight, {'D', answer} done, {'M'} another request's key.
local cur = redis.call('HMGET', KEYS[1], 'fp', 'st', 'lease', 'ans')
if not cur[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'st', 'F', 'lease', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {'C'}
end
if cur[1] ~= ARGV[1] then
  return {'M'}
end
if cur[2] == 'D' then
  return {'D', cur[4]}
end
if tonumber(cur[3]) > tonumber(ARGV[2]) then
  return {'F'}
end
-- The holder's lease ran out: it died; this request takes over.
redis.call('HSET', KEYS[1], 'lease', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'C'}
