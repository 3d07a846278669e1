-- Records that each buyer disqualified the consumer now (checkpoint 5's memory).
-- KEYS[1] consumer state (hash)   ARGV[1] now (ms)   ARGV[2] retention (ms)   ARGV[3..] buyers
expect_at_least('record_dq', 1, 3, #KEYS == 1)
for i = 3, #ARGV do
  redis.call('HSET', KEYS[1], 'd:' .. ARGV[i], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
