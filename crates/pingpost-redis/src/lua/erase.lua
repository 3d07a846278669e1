-- Forgets one identifier's dedup state (vertical submissions v:, sale marks s:, DQ marks d:)
-- in one step, answering how many of each it removed. The suppression key is not touched.
-- KEYS[1] consumer hash
local counts = {0, 0, 0}
local slot = {['v:'] = 1, ['s:'] = 2, ['d:'] = 3}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local i = slot[string.sub(field, 1, 2)]
  if i then counts[i] = counts[i] + 1 end
end
redis.call('DEL', KEYS[1])
return counts
