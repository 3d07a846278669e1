-- Settles a reserved ledger entry once: state, refunds, final price. Settled entries are
-- final, so a second settlement of the same sale does nothing.
-- KEYS[1] sale entry (hash)   KEYS[2] leases (zset)
-- ARGV[1] new state: 'S' sold, 'B' released, 'D' rolled back
-- ARGV[2] final price (minor units, '' = unchanged)   ARGV[3] retention (ms)
-- The counters to refund are read from the entry; they carry the same '{ledger}' tag, so
-- they live in this slot.
-- Answers the entry's identifiers, or nil when there was nothing to settle.
if redis.call('HGET', KEYS[1], 'st') ~= 'R' then
  return false
end
local state = ARGV[1]
local final = tonumber(ARGV[2])
local price = tonumber(redis.call('HGET', KEYS[1], 'price'))
for _, d in ipairs(cjson.decode(redis.call('HGET', KEYS[1], 'debits'))) do
  local key, amount, is_money = d[1], d[2], d[3]
  local back = amount
  if state == 'S' then
    back = 0
    if final and is_money == 1 and amount > final then
      back = amount - final
    end
  end
  -- A counter that already expired has nothing to give back to.
  if back ~= 0 and redis.call('EXISTS', key) == 1 then
    redis.call('DECRBY', key, back)
  end
end
if final and final < price then
  redis.call('HSET', KEYS[1], 'price', ARGV[2])
end
redis.call('HSET', KEYS[1], 'st', state)
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HGET', KEYS[1], 'idents')
