-- Compare-and-set of the configuration document: written only if the stored document is
-- still the one the editor read (its version and the id of the write that stored it), or,
-- for the first write, if none is stored. Answers the new version, or -1 when the stored
-- document is another or is gone: an edit is never applied over a document it did not see,
-- and never becomes the whole configuration of a store that lost the document.
-- KEYS[1] config hash: doc, v (version), rev (the id of the write that stored it; '' for a
-- document written before writes had ids)
-- ARGV[1] expected version (0: none stored)   ARGV[2] expected rev   ARGV[3] this write's rev
-- ARGV[4] document
-- A re-sent write finds its own rev and answers its version again, writing the rev again
-- unchanged: the WAIT sent behind this call counts only what this call replicates.
expect('save_config', 1, 4)
local stored = redis.call('HMGET', KEYS[1], 'v', 'rev')
local version, rev = tonumber(stored[1]) or 0, stored[2] or ''
if version > 0 and rev == ARGV[3] then
  redis.call('HSET', KEYS[1], 'rev', rev)
  return version
end
if version ~= tonumber(ARGV[1]) or (version > 0 and rev ~= ARGV[2]) then
  return -1
end
redis.call('HSET', KEYS[1], 'v', version + 1, 'rev', ARGV[3], 'doc', ARGV[4])
return version + 1
