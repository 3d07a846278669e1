-- Writes a sale's ledger entry, which is also its post's journal, if every debit (caps,
-- spend, balance) fits and no later holder of the post fenced it; takes the debits with it,
-- atomically. Every key carries the buyer's hash tag: one slot (a sale's debits are all its
-- buyer's counters).
-- KEYS[1] sale entry (hash)   KEYS[2] the buyer's leases (zset)
-- KEYS[3..2+n] counters, one per debit; then the credit counters some debits name
-- ARGV[1] sale id   ARGV[2] lease until (ms)   ARGV[3] retention (ms)   ARGV[4] record (json)
-- ARGV[5] identifiers   ARGV[6] price (minor units)   ARGV[7] holder
-- ARGV[8] payout (minor units)   ARGV[9] n, the number of debits
-- then per debit: amount, limit, is_money (1|0), ttl (ms, '' = never expires), and the KEYS
-- index of the credit counter raising its limit ('' = none: a buyer's top-ups and refunds)
--
-- The ping's slots are not counted here (its sales sit in several buyers' slots): the post's
-- claim lets one holder sell at a time, and a holder taking a post over fences each of its
-- sales (fence.lua) so that an earlier holder, stalled, cannot reserve behind it.
-- Answers {'E', st, rec, price, reason, payout} for a sale that has an entry already (a re-sent
-- call, an earlier attempt, or a tombstone left by a release: rec is then ''). A re-sent
-- call of the holder of a standing reservation rewrites the entry's holder, unchanged: the
-- engine delivers on that answer, and a WAIT sent behind this call on another connection
-- than the first call's counts only what this call replicates (Redis 7.2 and later), so it
-- must replicate something. {'F'} when another holder fenced the sale, {'L', index}
-- naming the first debit without room (1-based), or {'R'}.
local groups = tonumber(ARGV[9] or '') or -1
expect_at_least('reserve_ledger', 2, 9, groups >= 0 and #ARGV == 9 + 5 * groups and #KEYS >= 2 + groups)
local entry = redis.call('HMGET', KEYS[1], 'st', 'rec', 'price', 'reason', 'payout', 'lead', 'fence')
if entry[1] then
  if entry[1] == 'R' and redis.call('HGET', KEYS[1], 'holder') == ARGV[7] then
    redis.call('HSET', KEYS[1], 'holder', ARGV[7])
  end
  return {'E', entry[1], entry[2] or '', entry[3] or '', entry[4] or '', entry[5] or '', entry[6] or ''}
end
if entry[7] and entry[7] ~= ARGV[7] then
  return {'F'}
end
local first = 10
local width = 5
local n = groups
for i = 1, n do
  local base = first + (i - 1) * width
  local current = tonumber(redis.call('GET', KEYS[i + 2]) or '0')
  local limit = tonumber(ARGV[base + 1])
  local credit = tonumber(ARGV[base + 4])
  if credit then
    limit = limit + tonumber(redis.call('GET', KEYS[credit]) or '0')
  end
  if current + tonumber(ARGV[base]) > limit then
    return {'L', tostring(i)}
  end
end
local debits = {}
for i = 1, n do
  local base = first + (i - 1) * width
  local key = KEYS[i + 2]
  redis.call('INCRBY', key, ARGV[base])
  local ttl = tonumber(ARGV[base + 3])
  if ttl then
    if ttl < 1000 then ttl = 1000 end
    if redis.call('PTTL', key) < ttl then
      redis.call('PEXPIRE', key, ttl)
    end
  end
  local credit = tonumber(ARGV[base + 4])
  debits[i] = {key, tonumber(ARGV[base]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 1]), credit and KEYS[credit] or ''}
end
if entry[7] then
  redis.call('HDEL', KEYS[1], 'fence')
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'st', 'R', 'rec', ARGV[4], 'idents', ARGV[5],
  'price', ARGV[6], 'payout', ARGV[8], 'holder', ARGV[7], 'debits', cjson.encode(debits))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
return {'R'}
