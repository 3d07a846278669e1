-- An operator's decision on a pending return (see decide() in returns.lua); a decision is
-- final, so deciding again answers the return as it stands. Keys as in returns.lua.
-- ARGV[1] approve (1|0)   ARGV[2] the operator's note ('' = none)   ARGV[3] at (ms)
-- ARGV[4] how long the decided return and its sale stay (ms; `SETTLED_KEPT`)
-- ARGV[5] the codes of the states a return may be approved for (`LedgerState::is_returnable`)
-- ARGV[6..] the books entries an approval writes: kind, amount, ... (`return_entries`)
-- Answers {'N'} no such return, {'A', fields...} decided before, {'D', fields...} decided.
-- A return decided before is written again unchanged: the WAIT sent behind this call counts
-- only what this call replicates, and must cover the write that decided it.
expect_at_least('decide_return', 11, 7, #KEYS == 11 and #ARGV % 2 == 1)
local st = redis.call('HGET', KEYS[1], 'st')
if not st then
  return {'N'}
end
if st ~= 'P' then
  redis.call('HSET', KEYS[1], 'st', st)
  return {'A', unpack(return_fields())}
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'dnote', ARGV[2])
end
decide(ARGV[1] == '1', ARGV[3], ARGV[4], ARGV[5], 6)
return {'D', unpack(return_fields())}
