-- Shared by open_return.lua and decide_return.lua (prepended after books.lua). Both take
-- the same keys:
-- KEYS[1] the return (hash)   KEYS[2] its sale's ledger entry   KEYS[3] the buyer's credit
-- KEYS[4] books outbox (hash)   KEYS[5] books outbox order (zset)   KEYS[6] unconfirmed sales
-- KEYS[7..9] returns pending / approved / denied (zsets by opening time)
-- KEYS[10] the buyer's open and approved returns (zset, its return rate)
-- KEYS[11] the buyer's charged sales (zset)
-- A return hash holds rec (what never changes, JSON), st ('P' pending, 'A' approved, 'N'
-- denied), refund and claw (minor units), dat (decided, ms) and dnote.

local function return_fields()
  local r = redis.call('HMGET', KEYS[1], 'rec', 'st', 'refund', 'claw', 'dat', 'dnote')
  for i = 1, 6 do r[i] = r[i] or '' end
  return r
end

local state_names = {R = 'reserved', B = 'released', D = 'rolled_back', T = 'returned'}

-- Whether a sale in state `st` may be returned: its code is among `codes` (given by Rust).
local function returnable(st, codes)
  return st ~= nil and st ~= '' and string.find(codes, st, 1, true) ~= nil
end

-- Decides a pending return at `at` (ms): approving refunds the sale's price to the buyer's
-- credit, marks the sale returned and writes the books entries, all in this step; a sale
-- that stopped standing since (an unconfirmed sale rolled back: its price went back
-- already) denies the return instead. A denied return frees its place under the rate cap.
-- Decided, the sale is final: it and its return stay `kept` ms more (`SETTLED_KEPT`).
-- `entries`: where in ARGV the books entries of an approval begin (kind, amount pairs).
local function decide(approve, at, kept, codes, entries)
  redis.call('PEXPIRE', KEYS[1], kept)
  redis.call('PEXPIRE', KEYS[2], kept)
  local opened = cjson.decode(redis.call('HGET', KEYS[1], 'rec')).opened_at_ms
  local id = cjson.decode(redis.call('HGET', KEYS[1], 'rec')).return_id
  redis.call('ZREM', KEYS[7], id)
  redis.call('HSET', KEYS[1], 'dat', at)
  if approve then
    local st = redis.call('HGET', KEYS[2], 'st')
    if returnable(st, codes) then
      local refund = redis.call('HGET', KEYS[1], 'refund')
      redis.call('HSET', KEYS[2], 'st', 'T')
      redis.call('ZREM', KEYS[6], KEYS[2])
      redis.call('INCRBY', KEYS[3], refund)
      for i = entries, #ARGV, 2 do
        to_books(KEYS[4], KEYS[5], return_entry(ARGV[i], KEYS[2], at, ARGV[i + 1]))
      end
      redis.call('HSET', KEYS[1], 'st', 'A')
      redis.call('ZADD', KEYS[8], opened, id)
      return
    end
    local why = 'the sale is gone'
    if st then why = 'the sale is ' .. (state_names[st] or st) .. ' already' end
    redis.call('HSET', KEYS[1], 'dnote', why)
  end
  redis.call('HSET', KEYS[1], 'st', 'N')
  redis.call('ZADD', KEYS[9], opened, id)
  redis.call('ZREM', KEYS[10], id)
end
