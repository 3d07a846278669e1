-- Confirms one identifier's vertical submission once its ping was answered: it then counts
-- for the whole window. Only a mark still belonging to the ping; re-sending changes nothing.
-- KEYS[1] consumer state (hash)   ARGV[1] vertical id   ARGV[2] ping id
expect('confirm_admission', 1, 2)
local vfield = 'v:' .. ARGV[1]
local v = own_vertical_mark(KEYS[1], vfield, ARGV[2])
if not v then
  return 0
end
redis.call('HSET', KEYS[1], vfield, encode_confirmed_vertical_mark(v.at_text, v.ping))
return 1
