#!/usr/bin/env bash
# Re-runs the whole benchmark set and prints a summary (Markdown) with each figure and its
# ratio to the HTTP ceiling (pingpost-echo on the same machine).
#
#   scripts/bench.sh                      # about 5 minutes: 10 s per run
#   BENCH_DURATION=60 scripts/bench.sh    # 60 s per run, for figures worth recording
#
# It builds the release binaries, starts simulated buyers, the echo server, `pingpost serve`
# on the embedded store and on a redis-server it starts itself (no persistence, free port),
# each with a generated contracts dir (one offer, N fixed-price contracts, 3 per buyer).
# For each of echo / memory / redis (30 contracts): closed-loop throughput and open-loop
# latency at each rate. For each contract count: open-loop latency on both stores, and
# Redis commands per ping (INFO commandstats before and after a fixed number of pings).
# Every report goes to bench-results/ (JSON, plus summary.md); everything it started is
# stopped on exit. Figures from a machine that is busy (compiling, other benchmarks) are
# noisy: the summary records the load average so a reader can tell.
#
# Knobs (environment): BENCH_DURATION (s per run, 10), BENCH_WARMUP (s, 2), BENCH_RATES
# ("1000 2000 5000"), BENCH_CONNECTIONS (closed loop, 32), BENCH_CONTRACTS ("1 10 30 100 300"),
# BENCH_COMMAND_PINGS (5000), BENCH_LOADGEN_THREADS (1), BENCH_OUT (bench-results).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
RATES=${BENCH_RATES:-"1000 2000 5000"}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
CONTRACT_COUNTS=${BENCH_CONTRACTS:-"1 10 30 100 300"}
COMMAND_PINGS=${BENCH_COMMAND_PINGS:-5000}
LOADGEN_THREADS=${BENCH_LOADGEN_THREADS:-1}
OUT=${BENCH_OUT:-bench-results}
KEY1=bench-partner-key-0001
KEY2=bench-partner-key-0002
ADMIN_TOKEN=bench-admin-token
# Shares of the consumer mix in every ping run but the command count (see there).
MIX=(--repeat-share 0.2 --suppressed-share 0.05 --suppressed-list 100)

for tool in redis-server redis-cli jq; do
  command -v "$tool" >/dev/null || { echo "bench.sh needs $tool (Debian: apt-get install redis-server jq)" >&2; exit 1; }
done

echo "== building release binaries (pingpost, pingpost-loadgen, pingpost-echo)"
cargo build --release --locked -p pingpost -p pingpost-loadgen
BIN=target/release

mkdir -p "$OUT/logs"
rm -f "$OUT"/*.json "$OUT"/summary.md "$OUT"/logs/*
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME PREFIX CMD...: runs CMD in the background and waits for the stdout line that
# starts with PREFIX; sets STARTED_PID and STARTED_URL (the rest of that line).
start() {
  local name=$1 prefix=$2
  shift 2
  "$@" >"$WORK/$name.out" 2>"$OUT/logs/$name.log" &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  for _ in $(seq 1 200); do
    STARTED_URL=$(sed -n "s|^$prefix||p" "$WORK/$name.out" | head -n1)
    if [ -n "$STARTED_URL" ]; then return 0; fi
    if ! kill -0 "$STARTED_PID" 2>/dev/null; then
      echo "$name exited before listening:" >&2
      cat "$OUT/logs/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "$name did not start within 20 s" >&2
  exit 1
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 40000))
}

# contracts_dir N: one vertical, one offer "bench", two partners, ceil(N/3) buyers (3
# contracts each, as in the example contracts/, so checkpoint 3 has work to do), N
# fixed-price contracts without filters (every one is a candidate for every ping).
contracts_dir() {
  local n=$1 dir="$WORK/contracts-$1"
  mkdir -p "$dir"
  {
    printf '[[verticals]]\nid = "auto"\ndedup_window_days = 30\n\n'
    printf '[[offers]]\nid = "bench"\nvertical = "auto"\nmode = "exclusive"\nping_budget_ms = 100\n\n'
    for key in "$KEY1" "$KEY2"; do
      printf '[[partners]]\nid = "%s"\napi_key_sha256 = "%s"\noffers = ["bench"]\n\n' \
        "p-${key: -1}" "$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
    done
    for b in $(seq 1 $(((n + 2) / 3))); do
      printf '[[buyers]]\nid = "b%03d"\npost_url = "%s/b%03d/post"\n\n' "$b" "$BUYERS_URL" "$b"
    done
    for c in $(seq 1 "$n"); do
      printf '[[contracts]]\nid = "c%04d"\nbuyer = "b%03d"\noffer = "bench"\nprice = "%d.%02d"\n\n' \
        "$c" $(((c + 2) / 3)) $((10 + c % 20)) $((c % 100))
    done
  } >"$dir/market.toml"
  "$BIN/pingpost" check "$dir" >/dev/null
  echo "$dir"
}

# loadgen NAME ARGS...: one run, its report in $OUT/NAME.json, progress in logs/NAME.log.
loadgen() {
  local name=$1
  shift
  "$BIN/pingpost-loadgen" --threads "$LOADGEN_THREADS" --json "$OUT/$name.json" "$@" \
    >"$OUT/logs/$name.txt" 2>"$OUT/logs/$name.log"
  jq -r --arg n "$name" '"  \($n): \(.throughput_rps|floor) answers/s, p50 \(.latency_us.p50) us, p99 \(.latency_us.p99) us, p99.9 \(.latency_us.p99_9) us, late \(.late), errors \(.errors)"' \
    "$OUT/$name.json"
}

ping_args() { echo --url "$1" --offer bench --key "$KEY1" --key "$KEY2" --admin-token "$ADMIN_TOKEN"; }

# The closed-loop throughput run and the open-loop latency runs for one target.
run_set() {
  local target=$1
  shift
  loadgen "$target-closed" "$@" --connections "$CONNECTIONS" --duration "${DURATION}s" --warmup "${WARMUP}s"
  for rate in $RATES; do
    loadgen "$target-open-$rate" "$@" --rate "$rate" --max-in-flight 1024 --duration "${DURATION}s" --warmup "${WARMUP}s"
  done
}

start_engine() {
  start "engine-$1-$2" "pingpost listening on " env PINGPOST_LOG=warn "$BIN/pingpost" serve --listen 127.0.0.1:0 \
    --contracts "$3" --store "$4" --admin-token "$ADMIN_TOKEN"
  ENGINE_PID=$STARTED_PID
  ENGINE_URL=$STARTED_URL
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)

start buyers "simulated buyers listening on " env PINGPOST_LOG=warn "$BIN/pingpost" buyers --listen 127.0.0.1:0
BUYERS_URL=$STARTED_URL
start echo "pingpost-echo listening on " "$BIN/pingpost-echo" --listen 127.0.0.1:0
ECHO_URL=$STARTED_URL
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  >"$OUT/logs/redis.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
CONTRACTS_30=$(contracts_dir 30)

echo "== echo server (the ceiling)"
run_set echo --url "$ECHO_URL" --body-kind echo
for store in memory redis; do
  echo "== pingpost serve, $store store, 30 contracts"
  spec=memory
  if [ "$store" = redis ]; then spec=$REDIS_URL; redis-cli -p "$REDIS_PORT" flushall >/dev/null; fi
  start_engine "$store" 30 "$CONTRACTS_30" "$spec"
  # shellcheck disable=SC2046 # the arguments are words on purpose
  run_set "$store" $(ping_args "$ENGINE_URL") "${MIX[@]}"
  stop "$ENGINE_PID"
done

total_commands() { redis-cli -p "$REDIS_PORT" info stats | tr -d '\r' | sed -n 's/^total_commands_processed://p'; }
# "command calls" lines of INFO commandstats, as JSON {"evalsha": 123, ...}.
command_stats() {
  redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' \
    | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' \
    | jq -R -s 'split("\n") | map(select(length > 0) | split(" ") | {(.[0]): (.[1] | tonumber)}) | add // {}'
}

# Waits (at most 60 s) until Redis sees no more than its idle traffic (argument: commands
# per second) plus a little, i.e. until the engine has flushed what it had queued.
wait_quiet() {
  local a b
  for _ in $(seq 1 60); do
    a=$(total_commands)
    sleep 1
    b=$(total_commands)
    if awk -v d="$((b - a))" -v idle="$1" 'BEGIN { exit !(d <= idle + 10) }'; then return 0; fi
  done
  echo "  warning: Redis still busy after 60 s; commands per ping will include that traffic" >&2
}

for n in $CONTRACT_COUNTS; do
  dir=$(contracts_dir "$n")
  for store in memory redis; do
    echo "== $n contracts, $store store"
    spec=memory
    if [ "$store" = redis ]; then spec=$REDIS_URL; redis-cli -p "$REDIS_PORT" flushall >/dev/null; fi
    start_engine "$store" "$n" "$dir" "$spec"
    if [ "$store" = redis ]; then
      # The engine's own background traffic (configuration polling, statistics flushes),
      # measured on the fresh engine before any load, is subtracted below.
      idle_before=$(total_commands)
      sleep 2
      idle_per_s=$(awk -v a="$(total_commands)" -v b="$idle_before" 'BEGIN { print (a - b) / 2 }')
    fi
    # shellcheck disable=SC2046
    loadgen "$store-contracts-$n-open-1000" $(ping_args "$ENGINE_URL") "${MIX[@]}" \
      --rate 1000 --max-in-flight 1024 --duration "${DURATION}s" --warmup "${WARMUP}s"
    if [ "$store" = redis ]; then
      # Fresh consumers only: every ping takes the full path (recorded, auctioned, stored),
      # the most expensive one. The audit log and statistics are written asynchronously, so
      # wait for the latency run's backlog to drain first, and for this run's after it.
      wait_quiet "$idle_per_s"
      before=$(total_commands)
      stats_before=$(command_stats)
      t0=$(date +%s.%N)
      # shellcheck disable=SC2046
      loadgen "redis-contracts-$n-commands" $(ping_args "$ENGINE_URL") --connections 8 --warmup 0 \
        --requests "$COMMAND_PINGS"
      wait_quiet "$idle_per_s"
      t1=$(date +%s.%N)
      after=$(total_commands)
      stats_after=$(command_stats)
      jq -n --argjson n "$n" --argjson pings "$COMMAND_PINGS" --argjson before "$before" --argjson after "$after" \
        --argjson idle "$idle_per_s" --argjson secs "$(awk -v a="$t1" -v b="$t0" 'BEGIN { print a - b }')" \
        --argjson sb "$stats_before" --argjson sa "$stats_after" '{
          contracts: $n, pings: $pings, idle_commands_per_s: $idle, seconds: $secs,
          commands_per_ping: ((($after - $before) - $idle * $secs) / $pings),
          by_command: ($sa | del(.info) | to_entries | map({key, value: ((.value - ($sb[.key] // 0)) / $pings)})
                        | map(select(.value >= 0.01)) | from_entries)
        }' >"$OUT/redis-contracts-$n-commands-per-ping.json"
      jq -r '"  Redis commands per ping: \(.commands_per_ping * 100 | round / 100) \(.by_command)"' \
        "$OUT/redis-contracts-$n-commands-per-ping.json"
    fi
    stop "$ENGINE_PID"
  done
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- summary ------------------------------------------------------------------------
fig() { jq -r "$2" "$OUT/$1.json"; }
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }'; }
{
  echo "## Benchmark run $STARTED_AT"
  echo
  echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1); loopback."
  echo "Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown). Load average before: $LOAD_BEFORE, after: $LOAD_AFTER."
  echo "Each run: ${DURATION} s measured after ${WARMUP} s warm-up; loadgen on $LOADGEN_THREADS thread(s); closed loop on $CONNECTIONS connections."
  echo "Pings: 20% repeat consumers, 5% suppressed (when the engine has the suppression endpoint), the rest fresh."
  echo "Open-loop latency is measured from each request's intended send time (no coordinated omission)."
  echo
  echo "### Throughput and latency, 30 fixed-price contracts (ratios: to the echo server, same load)"
  echo
  echo "| target | load | answers/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | late | errors | throughput / echo | p50 / echo | p99 / echo |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for target in echo memory redis; do
    for run in closed $(for r in $RATES; do echo "open-$r"; done); do
      f="$target-$run"
      [ -f "$OUT/$f.json" ] || continue
      load="closed loop, $CONNECTIONS conn"
      [ "$run" = closed ] || load="open loop ${run#open-}/s"
      thr=$(fig "$f" '.throughput_rps | floor')
      p50=$(fig "$f" .latency_us.p50)
      p99=$(fig "$f" .latency_us.p99)
      echo "| $target | $load | $thr | $p50 | $(fig "$f" .latency_us.p90) | $p99 | $(fig "$f" .latency_us.p99_9) | $(fig "$f" .latency_us.max) | $(fig "$f" .late) | $(fig "$f" .errors) | $(ratio "$thr" "$(fig "echo-$run" '.throughput_rps | floor')") | $(ratio "$p50" "$(fig "echo-$run" .latency_us.p50)") | $(ratio "$p99" "$(fig "echo-$run" .latency_us.p99)") |"
    done
  done
  echo
  echo "### By number of contracts (open loop 1000/s; Redis commands per fresh ping)"
  echo
  echo "| contracts | memory p50 µs | memory p99 µs | redis p50 µs | redis p99 µs | redis p99.9 µs | p99 redis / echo | Redis commands per ping | by command (per ping) |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  echo_p99=$(fig echo-open-1000 .latency_us.p99 2>/dev/null || echo 0)
  for n in $CONTRACT_COUNTS; do
    m="memory-contracts-$n-open-1000"
    r="redis-contracts-$n-open-1000"
    c="redis-contracts-$n-commands-per-ping"
    echo "| $n | $(fig "$m" .latency_us.p50) | $(fig "$m" .latency_us.p99) | $(fig "$r" .latency_us.p50) | $(fig "$r" .latency_us.p99) | $(fig "$r" .latency_us.p99_9) | $(ratio "$(fig "$r" .latency_us.p99)" "$echo_p99") | $(fig "$c" '.commands_per_ping * 100 | round / 100') | $(fig "$c" '.by_command | to_entries | map("\(.key) \(.value * 100 | round / 100)") | join(", ")') |"
  done
  echo
  echo "Answers of the 30-contract runs (redis, closed loop): $(fig redis-closed '.answers | to_entries | map("\(.key) \(.value)") | join(", ")'); suppression list: $(fig redis-closed .run.suppression)."
} >"$OUT/summary.md"

echo
cat "$OUT/summary.md"
echo
echo "JSON reports and logs: $OUT/"
