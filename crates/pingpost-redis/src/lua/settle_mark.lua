-- Settles one identifier's mark of a sale to the ledger's state: 'S' sold, 'D' the buyer
-- answered "duplicate" (both at the given time), 'X' released (a tombstone); or 'U' undoes
-- the reservation mark of a reservation the ledger refused (only while it is still that
-- holder's reservation: another attempt may have taken the mark over). A release that
-- finds no mark leaves the tombstone anyway, so a reservation of the sale still on its way
-- cannot mark the consumer after it; a sale or rollback that finds no mark leaves it so
-- (the consumer was erased). Re-sending changes nothing.
-- KEYS[1] consumer state (hash)
-- ARGV[1] sale id   ARGV[2] 'S' | 'D' | 'X'   ARGV[3] at (ms)   ARGV[4] retention (ms)
-- ARGV[5] buyer   ARGV[6] holder ('U' only)
expect('settle_mark', 1, 6)
local field = 's:' .. ARGV[1]
local mark = redis.call('HGET', KEYS[1], field)
if ARGV[2] == 'U' then
  local m = mark and sale_mark(mark)
  if m and m.state == 'R' and m.holder == ARGV[6] then
    redis.call('HDEL', KEYS[1], field)
    return 1
  end
  return 0
end
if mark then
  local m = sale_mark(mark)
  if m.state == ARGV[2] and m.lease == nil then
    return 0
  end
elseif ARGV[2] ~= 'X' then
  return 0
end
redis.call('HSET', KEYS[1], field, encode_sale_mark(ARGV[3], ARGV[2], '', '', ARGV[5]))
if ARGV[2] ~= 'X' or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
