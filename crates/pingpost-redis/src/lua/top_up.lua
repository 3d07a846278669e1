-- Adds an operator's top-up to a buyer's credit once per top-up id, with its books entry.
-- KEYS[1] the buyer's credit counter   KEYS[2] its balance (spent) counter
-- KEYS[3] the top-up's marker (hash: buyer, amount, at)   KEYS[4] books outbox (hash)
-- KEYS[5] books outbox order (zset)
-- ARGV[1] top-up id   ARGV[2] amount (minor units)   ARGV[3] at (ms)   ARGV[4] buyer
-- ARGV[5] how long the marker is kept (ms): the books keep the id for good, so as long as a
-- retry can come
-- Answers {'A', spent, credit} once the top-up is applied, by this call or an earlier one of
-- the same buyer and amount; {'R', buyer, amount} when the id is another top-up's, nothing
-- done. A retry writes the marker again, unchanged: the WAIT sent behind this call counts
-- only what this call replicates, and must cover the write of the call it repeats.
expect('top_up', 5, 5)
local kind = redis.call('TYPE', KEYS[3]).ok
if kind == 'none' then
  redis.call('HSET', KEYS[3], 'buyer', ARGV[4], 'amount', ARGV[2], 'at', ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
  redis.call('INCRBY', KEYS[1], ARGV[2])
  to_books(KEYS[4], KEYS[5], {entry_id = 'top_up:' .. ARGV[1], kind = 'top_up', at = ARGV[3],
    buyer = ARGV[4], price = '0', payout = '0', amount = ARGV[2]})
elseif kind == 'hash' then
  local first = redis.call('HMGET', KEYS[3], 'buyer', 'amount')
  if first[1] ~= ARGV[4] or first[2] ~= ARGV[2] then
    return {'R', first[1] or '', first[2] or ''}
  end
  redis.call('HSET', KEYS[3], 'buyer', ARGV[4])
else
  -- An earlier version's marker ('1', kept a day): applied, its buyer and amount unknown.
  redis.call('SET', KEYS[3], '1', 'KEEPTTL')
end
return {'A', redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[1]) or '0'}
