-- Prepended to every script (scripts.rs): the argument check every script starts with, the
-- one codec of the values scripts read back (sale and vertical marks: a format is written
-- and parsed here and nowhere else; `codec.rs` is its Rust twin), and the erasures' removal.

-- Refuses a call whose keys or arguments are not the ones the script reads (`keys`, `args`
-- numbers; a script with repeated groups checks their shape with `expect_at_least` and its
-- own test), so a caller of another version fails loudly instead of acting on a missing
-- argument read as nil.
local function expect(name, keys, args)
  if #KEYS ~= keys or #ARGV ~= args then
    error(name .. ': expected ' .. keys .. ' keys and ' .. args .. ' arguments, got ' .. #KEYS .. ' and ' .. #ARGV, 0)
  end
end

local function expect_at_least(name, keys, args, shape_ok)
  if #KEYS < keys or #ARGV < args or not shape_ok then
    error(name .. ': expected at least ' .. keys .. ' keys and ' .. args .. ' arguments in their groups, got ' .. #KEYS .. ' and ' .. #ARGV, 0)
  end
end

-- When any mark was written (ms): every mark starts with it.
local function mark_at(value)
  return tonumber(string.match(value, '^(%-?%d+)'))
end

-- A sale mark, 's:<sale>' = '<at>|<state>|<lease until>|<holder>|<buyer>': the lease and
-- holder are empty once settled, and the buyer comes last, as it may hold the separator.
-- States: R reserved, S sold, D the buyer answered "duplicate", X a released sale's
-- tombstone (it only fences a reservation still on its way).
local function sale_mark(value)
  local at, state, lease, holder, buyer = string.match(value, '^(%-?%d+)|(%a)|(%-?%d*)|([^|]*)|(.*)$')
  return {at = tonumber(at), state = state, lease = tonumber(lease), holder = holder, buyer = buyer}
end

local function encode_sale_mark(at, state, lease, holder, buyer)
  return at .. '|' .. state .. '|' .. lease .. '|' .. holder .. '|' .. buyer
end

-- A reservation is in flight while its lease runs; past it, it counts as a sale from its
-- time (the lead may have been delivered).
local function in_flight(mark, now)
  return mark.state == 'R' and (mark.lease == nil or now < mark.lease)
end

-- A vertical submission, 'v:<vertical>' = '<at>|<ping>|<pending until>|<other identifiers>'
-- while its ping is unanswered, with '|<replaced>' after it when the ping passed as a repeat
-- (the confirmed submission it replaced, which stands again if the ping never confirms:
-- `Submission` in checkpoint.rs); '<at>|<ping>|' once confirmed (engines before the pending
-- part wrote '<at>|<ping>|<pending until>'). `pending` and `replaced` are nil when absent.
local function vertical_mark(value)
  local at, ping, pending, others, replaced =
    string.match(value, '^(%-?%d+)|([^|]*)|?(%-?%d*)|?([^|]*)|?(%-?%d*)$')
  return {at = tonumber(at), at_text = at, ping = ping, pending = tonumber(pending), others = others,
    replaced = tonumber(replaced), replaced_text = replaced}
end

-- The fifth part only when there is one: engines of the release before repeats read four.
local function encode_vertical_mark(at, ping, pending, others, replaced)
  local mark = at .. '|' .. ping .. '|' .. pending .. '|' .. others
  if replaced and replaced ~= '' then
    mark = mark .. '|' .. replaced
  end
  return mark
end

-- The vertical mark `vfield` of the consumer hash `key`, decoded, if it belongs to `ping`
-- (its confirmation and its release touch only their own ping's mark); else nil.
local function own_vertical_mark(key, vfield, ping)
  local mark = redis.call('HGET', key, vfield)
  if not mark then
    return nil
  end
  local v = vertical_mark(mark)
  if v.ping ~= ping then
    return nil
  end
  return v
end

-- `at` as the text it was read as (`at_text`): Lua prints large numbers in exponent form.
local function encode_confirmed_vertical_mark(at, ping)
  return at .. '|' .. ping .. '|'
end

-- Removes `fields` from the hash `key`; with none to remove (a retry of a call that applied)
-- it writes all the same, leaving the hash as it was, so that the WAIT sent behind this call,
-- which counts only what this call replicates, covers what the first call removed.
local function forget_fields(key, fields, now)
  if #fields > 0 then
    redis.call('HDEL', key, unpack(fields))
  else
    redis.call('HSET', key, 'e:', now)
    redis.call('HDEL', key, 'e:')
  end
end
