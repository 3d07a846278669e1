-- Confirms one identifier's vertical submission once its ping was answered: it then counts
-- for the whole window. Only a mark still belonging to the ping; re-sending changes nothing.
-- KEYS[1] consumer state (hash)   ARGV[1] vertical id   ARGV[2] ping id
expect('confirm_admission', 1, 2)
local vfield = 'v:' .. ARGV[1]
local mark = redis.call('HGET', KEYS[1], vfield)
if not mark then
  return 0
end
local v = vertical_mark(mark)
if v.ping ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], vfield, encode_confirmed_vertical_mark(v.at_text, v.ping))
return 1
