-- Suppresses one identifier hash, for good, since ARGV[1] (ms); answers 1 if it was not
-- suppressed before, 0 if it was. One suppressed already keeps its time, written again
-- unchanged: the WAIT sent behind this call counts only what this call replicates, and an
-- answer of "suppressed already" must not rest on an earlier write a failover could lose.
-- KEYS[1] the hash's suppression key   ARGV[1] now (ms)
expect('suppress', 1, 1)
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  return 1
end
redis.call('SET', KEYS[1], redis.call('GET', KEYS[1]))
return 0
