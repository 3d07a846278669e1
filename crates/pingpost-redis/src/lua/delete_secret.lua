-- Removes one secret and remembers which delete did, so that the delete re-sent with its rev
-- answers as it did first (writing its mark again unchanged, for the WAIT behind it) until
-- the name is written anew.
-- KEYS[1] secrets (hash, see put_secret.lua)   KEYS[2] deleted names (hash)
-- ARGV[1] name   ARGV[2] this delete's rev
-- Answers 1 when the secret was there (or this delete had removed it), 0 otherwise.
expect('delete_secret', 2, 2)
if redis.call('HDEL', KEYS[1], 's:' .. ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'rev', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'v', 1)
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  return 1
end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  return 1
end
return 0
