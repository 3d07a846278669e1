-- Adds an operator's top-up to a buyer's credit once per top-up id, with its books entry.
-- KEYS[1] the buyer's credit counter   KEYS[2] its balance (spent) counter
-- KEYS[3] the top-up's marker   KEYS[4] books outbox (hash)   KEYS[5] books outbox order (zset)
-- ARGV[1] top-up id   ARGV[2] amount (minor units)   ARGV[3] at (ms)   ARGV[4] buyer
-- ARGV[5] how long the marker is kept (ms)
-- Answers {spent, credit} afterwards.
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[5]) then
  redis.call('INCRBY', KEYS[1], ARGV[2])
  to_books(KEYS[4], KEYS[5], {entry_id = 'top_up:' .. ARGV[1], kind = 'top_up', at = ARGV[3],
    buyer = ARGV[4], price = '0', payout = '0', amount = ARGV[2]})
end
return {tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(redis.call('GET', KEYS[1]) or '0')}
