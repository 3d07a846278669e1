-- Compare-and-set of the configuration document: written only if its version is still
-- the one the editor read. Answers the new version, or -1 when another write came first.
-- A re-sent write that already applied finds its own document one version on.
-- KEYS[1] config hash   ARGV[1] expected version   ARGV[2] document
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local expected = tonumber(ARGV[1])
if current == expected + 1 and redis.call('HGET', KEYS[1], 'doc') == ARGV[2] then
  return current
end
if current ~= expected then return -1 end
redis.call('HSET', KEYS[1], 'v', current + 1, 'doc', ARGV[2])
return current + 1
