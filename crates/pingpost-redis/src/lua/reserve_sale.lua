-- Reserves a sale in one step on its buyer's slot: checkpoint 4 at sale time (the buyer's
-- marks on each of the consumer's identifiers), every debit (caps, spend, balance: the
-- buyer's counters), then the ledger entry (the post's journal), its lease and the marks.
-- KEYS[1] sale entry (hash)   KEYS[2] the buyer's leases (zset)
-- KEYS[3..2+m] the buyer's marks on each of the sale's identifiers (hashes: sale id -> mark)
-- KEYS[3+m..2+m+n] counters, one per debit; then the credit counters some debits name
-- ARGV[1] sale id   ARGV[2] lease until (ms)   ARGV[3] retention (ms)   ARGV[4] record (json)
-- ARGV[5] identifiers   ARGV[6] price (minor units)   ARGV[7] holder
-- ARGV[8] payout (minor units)   ARGV[9] buyer   ARGV[10] now (ms)
-- ARGV[11] a sale counts if made after this (ms, `WindowDays::counts_after`; '' = dedup off)
-- ARGV[12] m, the number of identifiers   ARGV[13] n, the number of debits
-- then per debit: amount, limit, is_money (1|0), ttl (ms, '' = never expires), and the KEYS
-- index of the credit counter raising its limit ('' = none: a buyer's top-ups and refunds)
--
-- Marks as prelude.lua encodes them: a reservation counts while its lease runs, then like a
-- sale from its time. Two sales of one consumer to one buyer meet here, in one slot: the
-- second finds the first's mark and is refused at once, nothing to wait for.
-- The ping's slots are not counted here (its sales sit in several buyers' slots): the post's
-- claim lets one holder sell at a time, and a holder taking a post over fences each of its
-- sales (fence.lua) so that an earlier holder, stalled, cannot reserve behind it.
-- Answers {'E', st, rec, price, reason, payout, lead} for a sale that has an entry already (a
-- re-sent call, an earlier attempt, or a tombstone left by a release: rec is then ''). A
-- re-sent call of the holder of a standing reservation rewrites the entry's holder, unchanged:
-- the engine delivers on that answer, and a WAIT sent behind this call on another connection
-- than the first call's counts only what this call replicates (Redis 7.2 and later), so it
-- must replicate something. {'F'} when another holder fenced the sale, {'B', index, at} when
-- the buyer has the consumer by the identifier at that index (1-based; at: the latest such
-- sale), {'L', index} naming the first debit without room (1-based), or {'R'}.
local m = tonumber(ARGV[12] or '') or -1
local groups = tonumber(ARGV[13] or '') or -1
expect_at_least('reserve_sale', 2, 13, m >= 0 and groups >= 0 and #ARGV == 13 + 5 * groups and #KEYS >= 2 + m + groups)
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
local now = tonumber(ARGV[10])
local counts_after = tonumber(ARGV[11])
local retention = tonumber(ARGV[3])
for i = 1, m do
  local marks = redis.call('HGETALL', KEYS[2 + i])
  local prior, stale = nil, {}
  for j = 1, #marks, 2 do
    local mark = sale_mark(marks[j + 1])
    if in_flight(mark, now) or (counts_after and mark.at > counts_after) then
      if prior == nil or mark.at > prior then prior = mark.at end
    elseif now - mark.at >= retention then
      -- Older than any window can reach: forget it while we are here.
      stale[#stale + 1] = marks[j]
    end
  end
  if counts_after and prior then
    return {'B', tostring(i), tostring(prior)}
  end
  if #stale > 0 then
    redis.call('HDEL', KEYS[2 + i], unpack(stale))
  end
end
local first = 14
local width = 5
local n = groups
local counters = 2 + m
for i = 1, n do
  local base = first + (i - 1) * width
  local current = tonumber(redis.call('GET', KEYS[counters + i]) or '0')
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
  local key = KEYS[counters + i]
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
local mark = encode_sale_mark(ARGV[10], 'R', ARGV[2], ARGV[7], ARGV[9])
for i = 1, m do
  redis.call('HSET', KEYS[2 + i], ARGV[1], mark)
  redis.call('PEXPIRE', KEYS[2 + i], ARGV[3])
end
return {'R'}
