-- Settles a reserved (or unconfirmed) sale once, in one step on its buyer's slot: the ledger
-- entry's state, refunds, final price and reason, its books entry, and the buyer's marks on
-- the consumer's identifiers. A settled entry is final, so settling it again does nothing. A
-- release of a sale that has no entry yet leaves a tombstone entry, so the reservation, if
-- it is still on its way, finds it and takes nothing.
-- Every key is in the sale's buyer's slot:
-- KEYS[1] sale entry (hash)   KEYS[2] leases (zset)
-- KEYS[3] unconfirmed sales (zset)   KEYS[4] books outbox (hash)
-- KEYS[5] books outbox order (zset)   KEYS[6] the buyer's charged sales (zset)
-- KEYS[7..6+n] the counters the reservation took, in its debits' order (refunded from here)
-- KEYS[7+n..] the buyer's marks on each of the sale's identifiers (hashes: sale id -> mark)
-- A sale is charged (its books entry 'sale') when it becomes sold from reserved; an
-- unconfirmed one was charged by the sweep, so selling it writes nothing, and releasing or
-- rolling it back writes its 'rollback'. An unconfirmed sale keeps its price: a lower final
-- price applies only to a sale settled from reserved.
-- ARGV[1] new state: 'S' sold, 'B' released, 'D' rolled back
-- ARGV[2] final price (minor units, '' = unchanged)   ARGV[3] the marks' retention (ms)
-- ARGV[4] reason (releases; a sale at a lower final price: '' or below_min_payout)   ARGV[5] sale id   ARGV[6] tombstone ttl (ms)
-- ARGV[7] settled at (ms)   ARGV[8] the marks' state once settled ('S' sold, 'D' the buyer
-- answered "duplicate", 'X' released: the marks go), as `marks_after` says for this end
-- ARGV[9] final payout (minor units, '' = unchanged; taken with a lower final price)
-- ARGV[10] the buyer's own id for the lead ('' = none; kept with a sale, and on its books entry)
-- ARGV[11] buyer   ARGV[12] how long the settled entry stays (ms; `kept_after_settling`)
-- ARGV[13] how long the buyer's sales list keeps a sale (ms; `SETTLED_KEPT`)
-- ARGV[14] n, the number of counters
-- The counters named must be the entry's debits, in order: a caller naming others is refused
-- before anything is written.
-- Answers the entry's state afterwards, or '' when it has none.
local n = tonumber(ARGV[14] or '') or -1
expect_at_least('settle_sale', 6, 14, n >= 0 and #ARGV == 14 and #KEYS >= 6 + n)
local current = redis.call('HGET', KEYS[1], 'st')
if not current then
  if ARGV[1] == 'B' then
    redis.call('HSET', KEYS[1], 'st', 'B', 'reason', ARGV[4])
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
  end
  return ''
end
if current ~= 'R' and current ~= 'U' then
  return current
end
local state = ARGV[1]
local final = tonumber(ARGV[2])
local charged = current == 'U'
if charged then final = nil end
local price = tonumber(redis.call('HGET', KEYS[1], 'price'))
local debits = cjson.decode(redis.call('HGET', KEYS[1], 'debits'))
local named = #debits == n
for i, d in ipairs(debits) do
  named = named and d[1] == KEYS[6 + i]
end
if not named then
  error('settle_sale: the ' .. n .. ' counters named are not the entry\'s ' .. #debits .. ' debits', 0)
end
for i, d in ipairs(debits) do
  local key, amount, is_money = KEYS[6 + i], d[2], d[3]
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
  local payout = tonumber(redis.call('HGET', KEYS[1], 'payout'))
  local final_payout = tonumber(ARGV[9])
  if final_payout and payout and final_payout < payout then
    redis.call('HSET', KEYS[1], 'payout', ARGV[9])
  end
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[1], 'reason', ARGV[4])
  end
end
if state == 'B' then
  redis.call('HSET', KEYS[1], 'reason', ARGV[4])
end
redis.call('HSET', KEYS[1], 'st', state, 'sat', ARGV[7])
if state == 'S' and ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'lead', ARGV[10])
end
if not charged and state == 'S' then
  to_books(KEYS[4], KEYS[5], sale_entry('sale', KEYS[1], ARGV[7]))
  list_charged(KEYS[1], KEYS[6], ARGV[7], ARGV[13])
elseif charged and state ~= 'S' then
  to_books(KEYS[4], KEYS[5], sale_entry('rollback', KEYS[1], ARGV[7]))
  -- Given back: no sale of the buyer's any more (not listed, not in its return rate).
  redis.call('ZREM', KEYS[6], ARGV[5])
end
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('ZREM', KEYS[3], KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[12])
for i = 7 + n, #KEYS do
  if ARGV[8] == 'X' then
    redis.call('HDEL', KEYS[i], ARGV[5])
  else
    redis.call('HSET', KEYS[i], ARGV[5], encode_sale_mark(ARGV[7], ARGV[8], '', '', ARGV[11]))
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  end
end
return state
