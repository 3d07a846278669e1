-- Undoes one identifier's vertical reservation, only if it still belongs to the ping.
-- KEYS[1] consumer state (hash)   ARGV[1] vertical id   ARGV[2] ping id
expect('release_admission', 1, 2)
local vfield = 'v:' .. ARGV[1]
local mark = redis.call('HGET', KEYS[1], vfield)
if mark and vertical_mark(mark).ping == ARGV[2] then
  redis.call('HDEL', KEYS[1], vfield)
  return 1
end
return 0
