-- Forgets one buyer's sale marks on one identifier in one step, answering {removed, kept}:
-- a reservation in flight (its lease still runs) is kept and counted apart, as erase.lua
-- keeps it, since removing it would let a concurrent post sell the consumer to the buyer again.
-- KEYS[1] the buyer's marks on the identifier (hash: sale id -> mark)   ARGV[1] now (ms)
expect('erase_bought', 1, 1)
local now = tonumber(ARGV[1])
local removed, kept = 0, 0
local all = redis.call('HGETALL', KEYS[1])
local gone = {}
for i = 1, #all, 2 do
  if in_flight(sale_mark(all[i + 1]), now) then
    kept = kept + 1
  else
    removed = removed + 1
    gone[#gone + 1] = all[i]
  end
end
forget_fields(KEYS[1], gone, ARGV[1])
return {removed, kept}
