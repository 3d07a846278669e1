-- Shared by the scripts that move money (prepended to each of them): the movement's books
-- entry goes to the outbox in the same step as the movement, so no movement happens without
-- its entry. The outbox is a hash (entry id -> JSON) and a sorted set (entry id by time);
-- an entry already waiting is kept as it is, so re-sending a script writes it once.
local function to_books(outbox, order, entry)
  if redis.call('HSETNX', outbox, entry.entry_id, cjson.encode(entry)) == 1 then
    redis.call('ZADD', order, entry.at, entry.entry_id)
  end
end

-- The entry of the sale in the ledger entry `key` becoming charged ('sale') or given back
-- ('rollback'), at `at` (ms). Amounts stay the text Redis holds: no float arithmetic. A repeat
-- sale's record names the `repeat_after_days` it was sold under (`OutboxEntry::of_sale`).
local function sale_entry(kind, key, at)
  local e = redis.call('HMGET', key, 'id', 'rec', 'price', 'payout', 'lead')
  local rec = cjson.decode(e[2])
  return {entry_id = kind .. ':' .. e[1], kind = kind, at = at, buyer = rec.buyer, sale_id = e[1],
    ping_id = rec.ping_id, partner = rec.partner, offer = rec.offer, contract = rec.contract,
    price = e[3], payout = e[4] or e[3], amount = '0', lead_id = e[5] or '',
    ['repeat'] = rec.repeat_after_days ~= nil}
end


-- The entry of an approved return's refund or clawback of the sale in `key`: the sale's
-- references, with the movement's own amount.
local function return_entry(kind, key, at, amount)
  local e = sale_entry(kind, key, at)
  e.amount = amount
  return e
end

-- Lists a sale that became charged among its buyer's sales (the zset `sales`, in the
-- buyer's slot), by when it was charged, kept `kept` ms (`SETTLED_KEPT`: every sale listed
-- still has its entry; older ones are listed from the books).
local function list_charged(key, sales, at, kept)
  redis.call('HSET', key, 'sold', at)
  redis.call('ZADD', sales, at, redis.call('HGET', key, 'id'))
  redis.call('ZREMRANGEBYSCORE', sales, '-inf', '(' .. (tonumber(at) - tonumber(kept)))
  redis.call('PEXPIRE', sales, kept)
end
