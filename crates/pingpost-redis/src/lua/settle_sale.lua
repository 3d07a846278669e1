-- Settles a reserved (or unconfirmed) sale once, in one step on its buyer's slot: the ledger
-- entry's state, refunds, final price and reason, its books entry, and the buyer's marks on
-- the consumer's identifiers. A settled entry is final, so settling it again does nothing. A
-- release of a sale that has no entry yet leaves a tombstone entry, so the reservation, if
-- it is still on its way, finds it and takes nothing.
-- What the settlement moves (refunds, a lower price, the reason, the books entry) is decided
-- in Rust (`pingpost_store::settling`) for both states the entry may be in; this script picks
-- the group of the state it finds and applies it.
-- Every key is in the sale's buyer's slot:
-- KEYS[1] sale entry (hash)   KEYS[2] leases (zset)
-- KEYS[3] unconfirmed sales (zset)   KEYS[4] books outbox (hash)
-- KEYS[5] books outbox order (zset)   KEYS[6] the buyer's charged sales (zset)
-- KEYS[7..6+n] the counters the reservation took, in its debits' order
-- KEYS[7+n..] the buyer's marks on each of the sale's identifiers (hashes: sale id -> mark)
-- ARGV[1] new state: 'S' sold, 'B' released, 'D' rolled back   ARGV[2] the marks' retention (ms)
-- ARGV[3] sale id   ARGV[4] tombstone ttl (ms)   ARGV[5] settled at (ms)
-- ARGV[6] the marks' state once settled ('S' sold, 'D' the buyer answered "duplicate", 'X'
-- released: the marks go), as `marks_after` says for this end
-- ARGV[7] the buyer's own id for the lead ('' = none; kept with a sale, and on its books entry)
-- ARGV[8] buyer   ARGV[9] how long the settled entry stays (ms; `kept_after_settling`)
-- ARGV[10] how long the buyer's sales list keeps a sale (ms; `SETTLED_KEPT`)
-- ARGV[11] n, the number of debits   ARGV[12..11+n] each debit's amount, as reserved
-- then two groups, settled from reserved and from unconfirmed, each: the books entry ('',
-- 'sale', 'rollback'), the price and payout to take ('' = unchanged), the reason to keep
-- ('' = none), and what each debit gets back (n numbers).
-- The debits named must be the entry's, in order: a caller naming others is refused before
-- anything is written.
-- Answers the entry's state afterwards, or '' when it has none.
local n = tonumber(ARGV[11] or '') or -1
expect_at_least('settle_sale', 6, 11, n >= 0 and #ARGV == 19 + 3 * n and #KEYS >= 6 + n)
local function group(from_unconfirmed)
  local base = 12 + n
  if from_unconfirmed then base = base + 4 + n end
  return {books = ARGV[base], price = ARGV[base + 1], payout = ARGV[base + 2], reason = ARGV[base + 3], refunds = base + 3}
end
local current = redis.call('HGET', KEYS[1], 'st')
if not current then
  if ARGV[1] == 'B' then
    redis.call('HSET', KEYS[1], 'st', 'B', 'reason', group(false).reason)
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
  end
  return ''
end
if current ~= 'R' and current ~= 'U' then
  return current
end
local debits = cjson.decode(redis.call('HGET', KEYS[1], 'debits'))
local named = #debits == n
for i, d in ipairs(debits) do
  named = named and d[1] == KEYS[6 + i] and d[2] == tonumber(ARGV[11 + i])
end
if not named then
  error('settle_sale: the ' .. n .. ' debits named are not the entry\'s ' .. #debits, 0)
end
local g = group(current == 'U')
for i = 1, n do
  local back = tonumber(ARGV[g.refunds + i])
  -- A counter that already expired has nothing to give back to.
  if back ~= 0 and redis.call('EXISTS', KEYS[6 + i]) == 1 then
    redis.call('DECRBY', KEYS[6 + i], back)
  end
end
if g.price ~= '' then
  redis.call('HSET', KEYS[1], 'price', g.price, 'payout', g.payout)
end
if g.reason ~= '' then
  redis.call('HSET', KEYS[1], 'reason', g.reason)
end
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'sat', ARGV[5])
if ARGV[1] == 'S' and ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'lead', ARGV[7])
end
if g.books == 'sale' then
  to_books(KEYS[4], KEYS[5], sale_entry('sale', KEYS[1], ARGV[5]))
  list_charged(KEYS[1], KEYS[6], ARGV[5], ARGV[10])
elseif g.books == 'rollback' then
  to_books(KEYS[4], KEYS[5], sale_entry('rollback', KEYS[1], ARGV[5]))
  -- Given back: no sale of the buyer's any more (not listed, not in its return rate).
  redis.call('ZREM', KEYS[6], ARGV[3])
end
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('ZREM', KEYS[3], KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
for i = 7 + n, #KEYS do
  if ARGV[6] == 'X' then
    redis.call('HDEL', KEYS[i], ARGV[3])
  else
    redis.call('HSET', KEYS[i], ARGV[3], encode_sale_mark(ARGV[5], ARGV[6], '', '', ARGV[8]))
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
end
return ARGV[1]
