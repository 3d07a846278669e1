-- Settled sales whose marks the sweep settles once more (see settle_ledger.lua), oldest
-- first, a bounded batch per call; the caller removes each from the list once its marks are
-- settled. Entries gone with their retention are dropped from the list here.
-- KEYS[1] settled sales whose marks to repair (zset)   ARGV[1] now (ms)   ARGV[2] batch size
-- Answers {entry key, sale id, state, identifiers, buyer, settled at, ...}.
expect('due_marks', 1, 2)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, key in ipairs(due) do
  local e = redis.call('HMGET', key, 'id', 'st', 'idents', 'rec', 'sat')
  if e[1] and e[4] then
    out[#out + 1] = key
    out[#out + 1] = e[1]
    out[#out + 1] = e[2]
    out[#out + 1] = e[3] or ''
    out[#out + 1] = cjson.decode(e[4]).buyer
    out[#out + 1] = e[5] or '0'
  else
    redis.call('ZREM', KEYS[1], key)
  end
end
return out
