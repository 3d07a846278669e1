-- Forgets one identifier's dedup state in its own slot (vertical submissions v:, DQ marks d:,
-- and sale marks s: of the layout before sales moved to their buyers' slots, whose marks
-- erase_bought.lua forgets) in one step, answering how many of each it removed. The
-- suppression key is not touched.
-- A reservation in flight (mark R whose lease still runs) is kept and counted apart:
-- removing it would let a concurrent post sell the consumer to the same buyer again.
-- KEYS[1] consumer hash   ARGV[1] now (ms)
expect('erase', 1, 1)
local now = tonumber(ARGV[1])
local counts = {0, 0, 0, 0}
local slot = {['v:'] = 1, ['s:'] = 2, ['d:'] = 3}
local all = redis.call('HGETALL', KEYS[1])
local gone = {}
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  local kind = string.sub(field, 1, 2)
  local sale = kind == 's:' and sale_mark(value)
  if sale and in_flight(sale, now) then
    counts[4] = counts[4] + 1
  else
    if slot[kind] and not (sale and sale.state == 'X') then
      counts[slot[kind]] = counts[slot[kind]] + 1
    end
    gone[#gone + 1] = field
  end
end
forget_fields(KEYS[1], gone, ARGV[1])
return counts
