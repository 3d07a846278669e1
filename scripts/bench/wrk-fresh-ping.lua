-- wrk script for scripts/bench.sh: every request is a ping carrying a FRESH consumer (an
-- email and a phone never sent before), so the engine takes the full path each time
-- (admitted, auctioned, recorded) instead of answering vertical_duplicate from the second
-- request on, which is what a fixed `wrk -s post.lua` body would measure.
--
--   wrk -t1 -c32 -d10s -s scripts/bench/wrk-fresh-ping.lua http://HOST:PORT/v1/ping \
--       RUN_ID OFFER KEY[,KEY...] [email|email+phone]
--
-- The request is the load generator's (crates/pingpost-loadgen: run.rs and mix.rs): POST,
-- `Content-Type: application/json`, `Authorization: Bearer <key>` with the partner keys
-- used in turn, and the body serde_json writes for a ping (keys in sorted order, the same
-- qualifying fields). The one difference, by default, is the phone, which the load
-- generator never sends: `email` drops it. The echo server (pingpost-echo) ignores the
-- header and answers any JSON, so the same script serves as its ceiling.
--
-- Uniqueness: RUN_ID (random per wrk run, chosen by bench.sh) keeps runs on one store apart,
-- and each thread counts its own requests (wrk's threads share no Lua state): the email is
-- wrk-RUN_ID-THREAD-COUNT. The phone is 10 digits: a start drawn from RUN_ID, plus 10^8 per
-- thread, plus the counter (unique while a thread sends fewer than 10^8 requests).
--
-- At the end it prints one line `wrk-json {...}` (requests, seconds, requests/s, the error
-- counts of every kind, latency percentiles in µs) for bench.sh to read: wrk itself prints
-- "Non-2xx or 3xx responses" only when there were some, and in words.

local threads_seen = 0

function setup(thread)
  -- Runs in wrk's main Lua state, once per thread just before that thread's `init`:
  -- `thread:set` makes `thread_index` a global of the thread's own state.
  thread:set("thread_index", threads_seen)
  threads_seen = threads_seen + 1
end

local run_id, offer, auths, with_phone, counter, phone_start, tid

function init(args)
  -- args[0] is the URL; bench.sh passes the rest.
  run_id = args[1] or string.format("%08x", os.time())
  offer = args[2] or "bench"
  auths = {}
  for key in string.gmatch(args[3] or "", "[^,]+") do
    table.insert(auths, "Bearer " .. key)
  end
  with_phone = (args[4] or "email+phone") ~= "email"
  tid = tonumber(rawget(_G, "thread_index")) or 0
  -- A start in [0, 10^10) from the run id's first 8 hex digits (doubles hold these exactly).
  phone_start = ((tonumber(string.sub(run_id, 1, 8), 16) or os.time()) * 2654435761) % 1e10
  counter = 0
end

function request()
  counter = counter + 1
  local phone = ""
  if with_phone then
    phone = string.format('"phone":"%010.0f",', (phone_start + tid * 1e8 + counter) % 1e10)
  end
  local body = string.format(
    '{"lead":{"age":34,"email":"wrk-%s-%d-%d@loadgen.example",%s"state":"CA","zip":"90210"},"offer":"%s"}',
    run_id, tid, counter, phone, offer)
  local headers = { ["Content-Type"] = "application/json" }
  if #auths > 0 then
    headers["Authorization"] = auths[(counter % #auths) + 1]
  end
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'wrk-json {"requests":%d,"seconds":%.3f,"rps":%.1f,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p99_9":%d,"max":%d}}\n',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
