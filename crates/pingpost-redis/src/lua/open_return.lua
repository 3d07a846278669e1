-- Opens the return of a sale: the sale is the asking buyer's, standing (sold or
-- unconfirmed), inside its window, without a return, and one more return keeps the buyer
-- within its rate cap — all checked and written in this one step, so of concurrent returns
-- of one sale one is opened and concurrent returns of a buyer's sales never pass its cap.
-- Keys as in returns.lua.
-- ARGV[1] sale id   ARGV[2] buyer   ARGV[3] the return's rec (JSON)
-- ARGV[4] a sale charged before this (ms) is past its window (`ReturnRequest::sold_since`)
-- ARGV[5] the rate cap's weight of a sale   ARGV[6] approve at once (1|0)   ARGV[7] at (ms)
-- ARGV[8] the request's token   ARGV[9] the rate's span (ms)   ARGV[10] retention (ms)
-- ARGV[11] return id   ARGV[12] how long a decided return and its sale stay (ms; `SETTLED_KEPT`)
-- ARGV[13] the codes of the states a return may be opened for (`LedgerState::is_returnable`)
-- ARGV[14] the rate cap's weight of a return (`ReturnRequest::rate_weights`)
-- ARGV[15], ARGV[16] the sale's price and payout as the caller read them (the return is refused
-- if they changed since)   ARGV[17], ARGV[18] the refund and clawback (`return_amounts`)
-- ARGV[19..] the books entries an approval writes: kind, amount, ... (`return_entries`)
-- A pending return keeps its sale for the retention, until it is decided.
-- Answers {'N'} no such sale of this buyer's, {'X', state} not returnable, {'W'} window
-- passed, {'C'} rate exceeded, {'A', fields...} returned already by another request,
-- {'O', fields...} opened (or re-sent by its own request); fields as return_fields().
-- A return that exists already is written again unchanged: the WAIT sent behind this call
-- counts only what this call replicates, and must cover the write that opened it.
expect_at_least('open_return', 11, 20, #KEYS == 11 and #ARGV % 2 == 0)
local sale = redis.call('HMGET', KEYS[2], 'rec', 'st', 'price', 'payout', 'sold')
if not sale[1] or cjson.decode(sale[1]).buyer ~= ARGV[2] then
  return {'N'}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  local fields = return_fields()
  redis.call('HSET', KEYS[1], 'st', fields[2])
  local code = 'A'
  if cjson.decode(fields[1]).token == ARGV[8] then code = 'O' end
  return {code, unpack(fields)}
end
if not returnable(sale[2], ARGV[13]) then
  return {'X', sale[2]}
end
local at = tonumber(ARGV[7])
local sold = tonumber(sale[5]) or cjson.decode(sale[1]).reserved_at_ms
if sold < tonumber(ARGV[4]) then
  return {'W'}
end
-- The cap's weights are ReturnRequest::rate_weights': pending returns count, they may all
-- be approved.
local since = at - tonumber(ARGV[9])
local sales = redis.call('ZCOUNT', KEYS[11], since, '+inf')
local returns = redis.call('ZCOUNT', KEYS[10], since, '+inf')
if (returns + 1) * tonumber(ARGV[14]) > tonumber(ARGV[5]) * sales then
  return {'C'}
end
if tonumber(sale[3]) ~= tonumber(ARGV[15]) or tonumber(sale[4] or sale[3]) ~= tonumber(ARGV[16]) then
  error('open_return: the sale changed since it was read', 0)
end
redis.call('HSET', KEYS[1], 'rec', ARGV[3], 'st', 'P', 'refund', ARGV[17], 'claw', ARGV[18])
redis.call('PEXPIRE', KEYS[1], ARGV[10])
redis.call('PEXPIRE', KEYS[2], ARGV[10], 'GT')
redis.call('ZADD', KEYS[10], at, ARGV[11])
redis.call('ZREMRANGEBYSCORE', KEYS[10], '-inf', '(' .. since)
redis.call('PEXPIRE', KEYS[10], ARGV[10])
for i = 7, 9 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. (at - tonumber(ARGV[10])))
end
redis.call('ZADD', KEYS[7], at, ARGV[11])
if ARGV[6] == '1' then
  decide(true, ARGV[7], ARGV[12], ARGV[13], 19)
end
return {'O', unpack(return_fields())}
