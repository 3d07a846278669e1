-- Checkpoint 4 at sale time for one identifier, with the buyer's reservation mark.
-- KEYS[1] consumer state (hash)
-- ARGV[1] buyer   ARGV[2] sale id   ARGV[3] now (ms)   ARGV[4] window (ms, '' = dedup off)
-- ARGV[5] retention of consumer state (ms)
-- Answers {'B', prior_at} when the buyer has (or is buying) the consumer in the window,
-- else records 's:<sale>' = '<now>|R|<buyer>' and answers {'R'}.
local now = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
if window then
  local prior = nil
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 's:' then
      local at, state, buyer = string.match(all[i + 1], '^(%-?%d+)|(%a)|(.*)$')
      at = tonumber(at)
      if buyer == ARGV[1] and (state == 'R' or now - at < window) then
        if prior == nil or at > prior then
          prior = at
        end
      end
    end
  end
  if prior then
    return {'B', tostring(prior)}
  end
end
redis.call('HSET', KEYS[1], 's:' .. ARGV[2], ARGV[3] .. '|R|' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'R'}
