-- Parks books entries the books refused: each moves from the outbox to the parked entries,
-- with why, in this one step, so that none is ever in neither. An entry that is not waiting
-- (parked already, delivered, never written) is left alone, so a re-sent call changes nothing.
-- KEYS[1] books outbox (hash)   KEYS[2] books outbox order (zset)
-- KEYS[3] parked entries (hash)   KEYS[4] parked entries' order (zset)
-- ARGV[1] parked at (ms)   ARGV[2], ARGV[3], ...: entry id, reason, entry id, reason, ...
expect_at_least('park_outbox', 4, 1, #KEYS == 4 and #ARGV % 2 == 1)
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local body = redis.call('HGET', KEYS[1], id)
  if body then
    local at = redis.call('ZSCORE', KEYS[2], id) or cjson.decode(body).at
    redis.call('HSET', KEYS[3], id, cjson.encode({entry = body, reason = ARGV[i + 1], parked_at = ARGV[1]}))
    redis.call('ZADD', KEYS[4], at, id)
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
return 1
