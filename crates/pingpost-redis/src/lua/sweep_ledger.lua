-- Reservations whose lease ran out (the engine died mid-delivery, or its settlement was
-- lost) become unconfirmed sales: their debits stay taken and they keep their ping's slot.
-- Their consumer marks need nothing: a reservation mark past its lease already reads as a
-- sale. Bounded work per call; the caller repeats.
-- The lead may have been delivered and its debits stay taken: the sale is charged (its
-- books entry 'sale').
-- One buyer's: KEYS[1] leases (zset)   KEYS[2] unconfirmed sales (zset)
-- KEYS[3] books outbox (hash)   KEYS[4] books outbox order (zset)   KEYS[5] charged sales (zset)
-- ARGV[1] now (ms)   ARGV[2] batch size   ARGV[3] oldest entry time to keep listed (ms)
-- ARGV[4] how long the buyer's sales list keeps a sale (ms; `SETTLED_KEPT`)
-- Answers {settled, the buyer's unconfirmed sales}.
expect('sweep_ledger', 5, 4)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local settled = 0
for _, key in ipairs(due) do
  redis.call('ZREM', KEYS[1], key)
  if redis.call('HGET', key, 'st') == 'R' then
    redis.call('HSET', key, 'st', 'U')
    redis.call('ZADD', KEYS[2], ARGV[1], key)
    to_books(KEYS[3], KEYS[4], sale_entry('sale', key, ARGV[1]))
    list_charged(key, KEYS[5], ARGV[1], ARGV[4])
    settled = settled + 1
  end
end
-- Entries past the ledger's retention are gone; so is their place in the list.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
return {settled, redis.call('ZCARD', KEYS[2])}
