-- Appends a batch of audit entries, then trims the stream by count and by age, in one step.
-- An entry's id follows its own time (`<at ms>-<seq>`), never Redis's clock, and ids never
-- go backwards: an entry older than the stream's newest takes the newest's millisecond.
-- So an entry's id is never earlier than its `at` (readers may start at `since` exactly),
-- and later than it only by how late the entry was written.
-- A batch is appended once: its marker (KEYS[2]) makes a re-sent batch (a retry after a lost
-- reply) a no-op.
-- KEYS[1] stream   KEYS[2] the batch's marker
-- ARGV[1] max entries (MAXLEN ~)   ARGV[2] oldest ms to keep (MINID ~)
-- ARGV[3] marker ttl (ms)   ARGV[4..] pairs (at ms, entry JSON)
expect_at_least('audit_append', 2, 3, #KEYS == 2 and #ARGV % 2 == 1)
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
  return 0
end
local key = KEYS[1]
local top = 0
local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
if newest[1] then
  top = tonumber(string.match(newest[1][1], '^(%d+)'))
end
for i = 4, #ARGV, 2 do
  local ms = math.max(tonumber(ARGV[i]), top)
  local id = redis.pcall('XADD', key, 'MAXLEN', '~', ARGV[1], string.format('%.0f', ms) .. '-*', 'e', ARGV[i + 1])
  if type(id) == 'table' and id.err then
    -- The stream once held a newer id than any it holds now (its newest entries were
    -- deleted): Redis's own next id is never smaller than the last one it handed out.
    id = redis.call('XADD', key, 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i + 1])
  end
  top = tonumber(string.match(id, '^(%d+)'))
end
redis.call('XTRIM', key, 'MINID', '~', ARGV[2])
return (#ARGV - 3) / 2
