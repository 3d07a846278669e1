-- Compare-and-set of the configuration document: written only if its version is still
-- the one the editor read. Answers the new version, or -1 when another write came first.
-- KEYS[1] config hash   ARGV[1] expected version   ARGV[2] document
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'v', current + 1, 'doc', ARGV[2])
return current + 1
