-- A page of a sorted set in its own order (score, then member bytes): at most ARGV[3]
-- members strictly after the member ARGV[2] at score ARGV[1] (ARGV[2] empty: from the start),
-- with their scores. The cursor names a place, not a rank, so members coming and going
-- between pages never make a page skip or repeat one that stayed, even when the cursor's own
-- member is gone. Among members of the cursor's score the place is found by bisection over
-- ranks, comparing bytes as Redis orders them (Lua's own string order follows the locale).
-- KEYS[1] the sorted set   ARGV[1] cursor score   ARGV[2] cursor member   ARGV[3] page size
expect('zset_page', 1, 3)
local key, score, cursor, size = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
assert(size and size > 0, 'zset_page: the page size must be positive')

-- Whether `m` sorts at or before the cursor member, byte by byte.
local function at_or_before(m)
  for i = 1, math.min(#m, #cursor) do
    local a, b = string.byte(m, i), string.byte(cursor, i)
    if a ~= b then
      return a < b
    end
  end
  return #m <= #cursor
end

local start = 0
if cursor ~= '' then
  local lo = redis.call('ZCOUNT', key, '-inf', '(' .. score)
  local hi = lo + redis.call('ZCOUNT', key, score, score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if at_or_before(redis.call('ZRANGE', key, mid, mid)[1]) then
      lo = mid + 1
    else
      hi = mid
    end
  end
  start = lo
end
return redis.call('ZRANGE', key, start, start + size - 1, 'WITHSCORES')
