-- Takes a sale's debits (caps, spend, balance) if every one fits, and writes its ledger
-- entry, atomically. Every key carries the '{ledger}' hash tag: one slot.
-- KEYS[1] sale entry (hash)   KEYS[2] leases (zset)   KEYS[3..] counters, one per debit
-- ARGV[1] sale id   ARGV[2] lease until (ms)   ARGV[3] retention (ms)   ARGV[4] record (json)
-- ARGV[5] identifiers   ARGV[6] price (minor units)
-- then per debit: amount, limit, is_money (1|0), ttl (ms, '' = never expires)
-- Answers {'L', index} naming the first debit without room (1-based), or {'R'}.
local first = 7
local n = #KEYS - 2
for i = 1, n do
  local base = first + (i - 1) * 4
  local current = tonumber(redis.call('GET', KEYS[i + 2]) or '0')
  if current + tonumber(ARGV[base]) > tonumber(ARGV[base + 1]) then
    return {'L', tostring(i)}
  end
end
local debits = {}
for i = 1, n do
  local base = first + (i - 1) * 4
  local key = KEYS[i + 2]
  redis.call('INCRBY', key, ARGV[base])
  local ttl = tonumber(ARGV[base + 3])
  if ttl then
    if ttl < 1000 then ttl = 1000 end
    if redis.call('PTTL', key) < ttl then
      redis.call('PEXPIRE', key, ttl)
    end
  end
  debits[i] = {key, tonumber(ARGV[base]), tonumber(ARGV[base + 2])}
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'st', 'R', 'rec', ARGV[4], 'idents', ARGV[5],
  'price', ARGV[6], 'debits', cjson.encode(debits))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
return {'R'}
