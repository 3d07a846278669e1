-- Stores one secret, unless the store holds the most it may and this is a new name. A write
-- re-sent with its rev finds its own effect and answers it again, writing the entry again
-- unchanged (the WAIT sent behind this call counts only what this call replicates).
-- KEYS[1] secrets (hash): v (the set's version), rev (the last write's id), and per secret
--         's:<name>' = '<updated at ms>|<rev of its write>|<c created | r replaced>|<value>'
-- KEYS[2] deleted names (hash): '<name>' = the rev of the delete that removed it
-- ARGV[1] name   ARGV[2] value   ARGV[3] now (ms)   ARGV[4] this write's rev
-- ARGV[5] most secrets kept
-- Answers 'c' (created), 'r' (replaced) or 'full'.
expect('put_secret', 2, 5)
local field = 's:' .. ARGV[1]
local stored = redis.call('HGET', KEYS[1], field)
if stored then
  local rev, kind = string.match(stored, '^%d+|([^|]*)|([cr])|')
  if rev == ARGV[4] then
    redis.call('HSET', KEYS[1], field, stored)
    return kind
  end
end
local kind = 'r'
if not stored then
  local count = redis.call('HLEN', KEYS[1])
  if redis.call('HEXISTS', KEYS[1], 'v') == 1 then count = count - 2 end
  if count >= tonumber(ARGV[5]) then return 'full' end
  kind = 'c'
end
redis.call('HSET', KEYS[1], field, ARGV[3] .. '|' .. ARGV[4] .. '|' .. kind .. '|' .. ARGV[2], 'rev', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HDEL', KEYS[2], ARGV[1])
return kind
