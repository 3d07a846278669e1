-- Claims a key for one request (a post, an idempotent ping). What it does next is the claim's
-- state machine, `pingpost_store::claim_step`, handed over as its table (`claim_table`): this
-- script only reads the facts and applies the step the table names for them.
-- KEYS[1] claim (hash: fp fingerprint, st F in flight | A given up | D done, lease, holder,
-- res 1 when resumed from an earlier holder, ans answer)
-- ARGV[1] fingerprint   ARGV[2] now (ms)   ARGV[3] lease until (ms)   ARGV[4] holder
-- ARGV[5] keep ttl (ms): the claim, then its answer, lives that long
-- ARGV[6] the table: space-separated cases, each four facts (the same request 0|1, the
-- phase F|A|D, own holder 0|1, the lease runs 0|1; '----' no claim) and the step's letter
-- Answers {'C', resumed 0|1} claimed (again, to its own holder), {'F'} in flight,
-- {'D', answer} done, {'M'} another request's key.
expect('claim', 1, 6)
local cur = redis.call('HMGET', KEYS[1], 'fp', 'st', 'lease', 'holder', 'res', 'ans')
local function bit(b)
  if b then return '1' end
  return '0'
end
local facts = '----'
if cur[1] then
  facts = bit(cur[1] == ARGV[1]) .. cur[2] .. bit(cur[4] == ARGV[4]) .. bit(tonumber(cur[3] or '0') > tonumber(ARGV[2]))
end
local at = string.find(' ' .. ARGV[6], ' ' .. facts, 1, true)
if not at then
  error('claim: no step for ' .. facts, 0)
end
local step = string.sub(ARGV[6], at + 4, at + 4)
if step == 'T' then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'st', 'F', 'lease', ARGV[3], 'holder', ARGV[4], 'res', '0')
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'C', '0'}
elseif step == 'M' then
  return {'M'}
elseif step == 'D' then
  return {'D', cur[6]}
elseif step == 'O' then
  return {'C', cur[5]}
elseif step == 'F' then
  return {'F'}
end
-- 'R': the holder's lease ran out (it died) or it gave the claim up: this request takes
-- over and must first read what the earlier holder did.
redis.call('HSET', KEYS[1], 'st', 'F', 'lease', ARGV[3], 'holder', ARGV[4], 'res', '1')
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return {'C', '1'}
