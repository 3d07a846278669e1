-- Reservations whose lease ran out (the engine died mid-delivery) become unconfirmed
-- sales: their debits stay taken. Bounded work per call; the caller repeats.
-- KEYS[1] leases (zset)   ARGV[1] now (ms)   ARGV[2] batch size
-- Answers {sale id, identifiers, ...} of the entries it settled.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, key in ipairs(due) do
  redis.call('ZREM', KEYS[1], key)
  if redis.call('HGET', key, 'st') == 'R' then
    redis.call('HSET', key, 'st', 'U')
    out[#out + 1] = redis.call('HGET', key, 'id')
    out[#out + 1] = redis.call('HGET', key, 'idents')
  end
end
return out
