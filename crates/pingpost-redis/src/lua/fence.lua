-- A holder taking a post over, for one of the ping's sales (one bid of its ranking): answers
-- the entry when an earlier holder wrote one, otherwise fences the sale against every other
-- holder, so that an earlier holder stalled past its claim's lease cannot reserve it behind
-- this one's back (reserve_ledger.lua refuses a fenced sale to any other holder). A later
-- take-over fences again, for itself. The fence lasts as long as the post's claim: no post
-- of the ping can come after it.
-- KEYS[1] the sale's entry (hash, in its buyer's slot)
-- ARGV[1] the new holder   ARGV[2] how long the fence lasts (ms)
-- Answers {'E'} when the sale has an entry (or a release's tombstone), {'F'} once fenced.
expect('fence', 1, 2)
if redis.call('HEXISTS', KEYS[1], 'st') == 1 then
  -- Rewritten unchanged: a WAIT sent behind this call must cover the entry it answers.
  redis.call('HSET', KEYS[1], 'st', redis.call('HGET', KEYS[1], 'st'))
  return {'E'}
end
redis.call('HSET', KEYS[1], 'fence', ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {'F'}
