-- Reservations whose lease ran out (the engine died mid-delivery, or its settlement was
-- lost) become unconfirmed sales: their debits stay taken and they keep their ping's slot.
-- Their consumer marks need nothing: a reservation mark past its lease already reads as a
-- sale. The caller reads a batch of due reservations from the leases and names each in
-- KEYS; each is checked again here (still leased, lease run out, still reserved), so a
-- settlement or another node's sweep in between, or a re-sent call, changes nothing twice.
-- The lead may have been delivered and its debits stay taken: the sale is charged (its
-- books entry 'sale').
-- One buyer's: KEYS[1] leases (zset)   KEYS[2] unconfirmed sales (zset)
-- KEYS[3] books outbox (hash)   KEYS[4] books outbox order (zset)   KEYS[5] charged sales (zset)
-- KEYS[6..] the due reservations' entries
-- ARGV[1] now (ms)   ARGV[2] oldest entry time to keep listed (ms)
-- ARGV[3] how long the buyer's sales list keeps a sale (ms; `SETTLED_KEPT`)
-- Answers {settled, the buyer's unconfirmed sales}.
expect_at_least('sweep_ledger', 5, 3, #ARGV == 3)
local settled = 0
for i = 6, #KEYS do
  local key = KEYS[i]
  local lease = tonumber(redis.call('ZSCORE', KEYS[1], key))
  if lease and lease <= tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], key)
    if redis.call('HGET', key, 'st') == 'R' then
      redis.call('HSET', key, 'st', 'U')
      redis.call('ZADD', KEYS[2], ARGV[1], key)
      to_books(KEYS[3], KEYS[4], sale_entry('sale', key, ARGV[1]))
      list_charged(key, KEYS[5], ARGV[1], ARGV[3])
      settled = settled + 1
    end
  end
end
-- Entries past the ledger's retention are gone; so is their place in the list.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
return {settled, redis.call('ZCARD', KEYS[2])}
