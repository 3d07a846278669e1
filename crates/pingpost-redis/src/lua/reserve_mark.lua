-- Checkpoint 4 at sale time for one identifier, with the buyer's reservation mark.
-- KEYS[1] consumer state (hash)
-- ARGV[1] buyer   ARGV[2] sale id   ARGV[3] now (ms)
-- ARGV[4] a sale counts if made after this (ms, `WindowDays::counts_after`; '' = dedup off)
-- ARGV[5] retention of consumer state (ms)   ARGV[6] lease until (ms)   ARGV[7] holder
--
-- Sale marks as prelude.lua encodes them; a reservation counts as bought while its lease
-- runs, then like a sale from its time.
-- Answers {'O', state} when this sale already has its mark (a re-sent call, or an earlier
-- attempt of the post; a reservation is taken over: its lease and holder renewed), {'B',
-- prior_at} when the buyer has the consumer in the window, {'H', at, sale, ...} when the
-- buyer is only buying it, by the reservations of those other sales still in flight (nothing
-- written: the caller decides by rank whether to wait for them or give up), else writes the
-- mark and answers {'R'}. A sale's identifiers are marked side by side (see sales.rs).
expect('reserve_mark', 1, 7)
local now = tonumber(ARGV[3])
local counts_after = tonumber(ARGV[4])
local field = 's:' .. ARGV[2]
local mark = redis.call('HGET', KEYS[1], field)
if mark then
  local state = sale_mark(mark).state
  if state == 'R' then
    redis.call('HSET', KEYS[1], field, encode_sale_mark(ARGV[3], 'R', ARGV[6], ARGV[7], ARGV[1]))
  end
  return {'O', state}
end
if counts_after then
  local prior = nil
  local held_at, held = nil, {}
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 's:' then
      local m = sale_mark(all[i + 1])
      local at = m.at
      if m.buyer == ARGV[1] and m.state ~= 'X' then
        if in_flight(m, now) then
          if held_at == nil or at > held_at then held_at = at end
          held[#held + 1] = string.sub(all[i], 3)
        elseif at > counts_after and (prior == nil or at > prior) then
          prior = at
        end
      end
    end
  end
  if prior then
    return {'B', tostring(prior)}
  end
  if held_at then
    return {'H', tostring(held_at), unpack(held)}
  end
end
redis.call('HSET', KEYS[1], field, encode_sale_mark(ARGV[3], 'R', ARGV[6], ARGV[7], ARGV[1]))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'R'}
