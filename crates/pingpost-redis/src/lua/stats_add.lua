-- Adds one batch of an hour's statistics increments, once: the batch's marker makes a
-- re-sent batch (a retry after a lost reply) a no-op. Both keys carry the hour's tag.
-- KEYS[1] the hour's counters (hash)   KEYS[2] the batch's marker
-- ARGV[1] retention (s)   ARGV[2] marker ttl (ms)   ARGV[3..] pairs (field, increment)
expect_at_least('stats_add', 2, 2, #KEYS == 2 and #ARGV % 2 == 0)
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
