-- Gives up an in-flight claim; a completed one keeps its answer.   KEYS[1] claim (hash)
if redis.call('HGET', KEYS[1], 'st') == 'F' then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
