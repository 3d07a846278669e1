-- Undoes one identifier's vertical reservation, only if it still belongs to the ping: a
-- repeat's gives back the confirmed submission it replaced.
-- KEYS[1] consumer state (hash)   ARGV[1] vertical id   ARGV[2] ping id
expect('release_admission', 1, 2)
local vfield = 'v:' .. ARGV[1]
local v = own_vertical_mark(KEYS[1], vfield, ARGV[2])
if not v then
  return 0
end
if v.replaced then
  redis.call('HSET', KEYS[1], vfield, encode_confirmed_vertical_mark(v.replaced_text, ''))
else
  redis.call('HDEL', KEYS[1], vfield)
end
return 1
