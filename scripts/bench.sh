#!/usr/bin/env bash
# Re-runs the whole benchmark set and prints a summary (Markdown) with each figure and its
# ratio to the HTTP ceiling (pingpost-echo on the same machine).
#
#   scripts/bench.sh                      # about 5 minutes: 10 s per run
#   BENCH_DURATION=60 scripts/bench.sh    # 60 s per run, for figures worth recording
#
# It builds the release binaries, starts simulated buyers, the echo server, `pingpost serve`
# on the embedded store and on a redis-server it starts itself (no persistence, free port),
# each with a generated contracts dir (one offer, N fixed-price contracts, 3 per buyer). An
# engine on Redis keeps its books in a PostgreSQL the script also starts itself (scripts/
# lib.sh's start_postgres; installed from Debian when missing), as `serve` requires. Each
# engine serves /metrics on a port of its own (--metrics-listen 127.0.0.1:0).
# For each of echo / memory / redis (30 contracts): closed-loop throughput and open-loop
# latency at each rate. For each contract count: open-loop latency on both stores, and
# Redis commands per ping (INFO commandstats before and after a fixed number of pings).
# Every report goes to bench-results/ (JSON, plus summary.md); everything it started is
# stopped on exit. Figures from a machine that is busy (compiling, other benchmarks) are
# noisy: the summary records the load average so a reader can tell.
#
# Beside the load generator, two outside tools measure the same three targets (issue 13),
# so the figures do not rest on our own instrument alone:
# - `wrk` (Debian package; installed when missing): closed-loop throughput,
#   `wrk -t1 -c32 -dDURATIONs` with scripts/bench/wrk-fresh-ping.lua, which sends the load
#   generator's ping with a fresh consumer (email and phone) per request, against the echo
#   server and the engine on the embedded store and on Redis (30 contracts);
# - `oha` (`cargo install oha --locked --version $OHA_VERSION` into ~/.cargo/bin when
#   missing; ~10 minutes of compiling on 2 busy cores, once): open-loop latency at 2 000
#   requests/s with coordinated omission corrected, against the echo server and the engine
#   on Redis.
# The summary gives each figure with its exact command and its ratio to the echo server's
# figure from the same run, and says when a tool saw errors or non-2xx answers.
#
#   BENCH_ONLY=wrk BENCH_DURATION=10 scripts/bench.sh  # wrk and oha alone: ~1 min after the build
#
# Knobs (environment): BENCH_DURATION (s per run, 10), BENCH_WARMUP (s, 2), BENCH_RATES
# ("1000 2000 5000"), BENCH_CONNECTIONS (closed loop, 32), BENCH_CONTRACTS ("1 10 30 100 300";
# " " for none), BENCH_COMMAND_PINGS (5000), BENCH_LOADGEN_THREADS (1), BENCH_OUT (bench-results),
# BENCH_ONLY (all; `wrk` for the wrk and oha runs alone, `loadgen` for everything but them),
# BENCH_OHA_RATE (2000), BENCH_OUTSIDE_FIELDS (email+phone; `email` sends the load
# generator's consumer exactly, an email only).
set -euo pipefail
cd "$(dirname "$0")/.."
# apt_install, contracts_dir, free_port, start_postgres and stop_postgres.
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
RATES=${BENCH_RATES:-"1000 2000 5000"}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
CONTRACT_COUNTS=${BENCH_CONTRACTS:-"1 10 30 100 300"}
COMMAND_PINGS=${BENCH_COMMAND_PINGS:-5000}
LOADGEN_THREADS=${BENCH_LOADGEN_THREADS:-1}
OUT=${BENCH_OUT:-bench-results}
ONLY=${BENCH_ONLY:-all}
OHA_RATE=${BENCH_OHA_RATE:-2000}
OUTSIDE_FIELDS=${BENCH_OUTSIDE_FIELDS:-email+phone}
# oha 1.16.0 is the newest release and needs rustc >= 1.88; pinned so that a reader
# compiles the tool these figures were taken with.
OHA_VERSION=1.16.0
KEY1=bench-partner-key-0001
KEY2=bench-partner-key-0002
ADMIN_TOKEN=bench-admin-token-000000000
# Shares of the consumer mix in every ping run but the command count (see there).
MIX=(--repeat-share 0.2 --suppressed-share 0.05 --suppressed-list 100)

for tool in redis-server redis-cli jq; do
  command -v "$tool" >/dev/null || { echo "bench.sh needs $tool (Debian: apt-get install redis-server jq)" >&2; exit 1; }
done
case "$ONLY" in
  all | wrk | loadgen) ;;
  *) echo "BENCH_ONLY is all, wrk or loadgen, not $ONLY" >&2; exit 2 ;;
esac
case "$OUTSIDE_FIELDS" in
  email | email+phone) ;;
  *) echo "BENCH_OUTSIDE_FIELDS is email or email+phone, not $OUTSIDE_FIELDS" >&2; exit 2 ;;
esac

# The outside tools, installed when missing (as scripts/bench-instructions.sh installs
# valgrind), before anything is built or started, so a failed install costs no run.
OHA=""
if [ "$ONLY" != loadgen ]; then
  command -v wrk >/dev/null || apt_install wrk
  # curl reads the engine's /metrics around each run (how many pings were really fresh).
  command -v curl >/dev/null || apt_install curl
  # cargo install puts oha in $CARGO_HOME/bin, which need not be on PATH.
  OHA=$(command -v oha || echo "${CARGO_HOME:-$HOME/.cargo}/bin/oha")
  if [ ! -x "$OHA" ]; then
    echo "== installing oha $OHA_VERSION (cargo install from crates.io; ~10 minutes of compiling on 2 cores)"
    cargo install oha --locked --version "$OHA_VERSION"
  fi
  # `wrk -v` prints its version in the usage text and exits 1.
  WRK_VERSION=$(wrk -v 2>&1 | sed -n 's/^\(wrk [^ ]*\) .*/\1/p' || true)
  OHA_INSTALLED=$("$OHA" --version)
  echo "== outside tools: $WRK_VERSION, $OHA_INSTALLED ($OHA)"
fi

echo "== building release binaries (pingpost, pingpost-loadgen, pingpost-echo)"
cargo build --release --locked -p pingpost -p pingpost-loadgen
BIN=${CARGO_TARGET_DIR:-target}/release

mkdir -p "$OUT/logs"
rm -f "$OUT"/*.json "$OUT"/summary.md "$OUT"/logs/*
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # One by one, not a bare `wait`, which would wait for PostgreSQL too: it stops last, after
  # the engines have flushed their books into it.
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME PREFIX CMD...: runs CMD in the background and waits for the stdout line that
# starts with PREFIX; sets STARTED_PID and STARTED_URL (the rest of that line).
start() {
  local name=$1 prefix=$2
  shift 2
  # Created here, not by the background job's redirection, which may come after the first
  # read below.
  : >"$WORK/$name.out"
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

# start_engine STORE CONTRACTS DIR SPEC: `pingpost serve` on store SPEC (`memory` or a
# redis:// URL, whose books go to PostgreSQL); sets ENGINE_PID, ENGINE_URL and
# ENGINE_METRICS (its /metrics URL, from the line it prints before it listens).
start_engine() {
  local books=()
  [ "$4" = memory ] || books=(--books "$BOOKS_URL")
  start "engine-$1-$2" "pingpost listening on " env PINGPOST_LOG=warn "$BIN/pingpost" serve --listen 127.0.0.1:0 \
    --metrics-listen 127.0.0.1:0 --contracts "$3" --store "$4" "${books[@]}" --admin-token "$ADMIN_TOKEN"
  ENGINE_PID=$STARTED_PID
  ENGINE_URL=$STARTED_URL
  ENGINE_METRICS=$(sed -n 's|^pingpost metrics on ||p' "$WORK/engine-$1-$2.out" | head -n1)
  [ -n "$ENGINE_METRICS" ] || { echo "engine-$1-$2 printed no metrics address" >&2; exit 1; }
}

# ---- the outside tools (wrk, oha) --------------------------------------------------------

# shell_words ARGS...: the command as one line a reader can paste (arguments with spaces or
# other special characters in single quotes).
shell_words() {
  local out="" a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:,=+@%-]+$ ]]; then out+="$a "; else out+="'${a//\'/\'\\\'\'}' "; fi
  done
  echo "${out% }"
}

# Compilers running now (other sessions share this machine): counted at the start and the end
# of each outside-tool run and reported, since a build beside a run moves its figures by tens
# of percent.
COMPILERS_SEEN=()
compilers_now() { pgrep -c -x rustc || true; }

# A name for one run's consumers, so that no two runs on one store share one.
random_id() { od -An -N5 -tx1 /dev/urandom | tr -d ' \n'; }

# ping_outcomes METRICS_URL: the engine's answered pings by outcome (pingpost_pings_total
# of its /metrics), as JSON {"accepted": n, "vertical_duplicate": n, ...}. Read before and
# after a run, it says how many of the tool's pings the engine took as fresh consumers. An
# engine without metrics gives {} (the summary then shows no answers) rather than stopping
# the run.
ping_outcomes() {
  { curl -sf "$1" || true; } \
    | sed -n 's/^pingpost_pings_total{.*outcome="\([a-z_]*\)".*} \([0-9.e+]*\)$/\1 \2/p' \
    | jq -R -s 'split("\n") | map(select(length > 0) | split(" ")) | reduce .[] as $o ({}; .[$o[0]] += ($o[1] | tonumber))'
}

# answers_delta BEFORE AFTER: what a run added, per outcome.
answers_delta() {
  jq -n --argjson b "$1" --argjson a "$2" '$a | with_entries(.value -= ($b[.key] // 0)) | with_entries(select(.value > 0))'
}

# wrk_run NAME BASE_URL [METRICS_URL]: one closed-loop wrk run; its figures (the script's
# wrk-json line), its exact command and, for the engine (whose /metrics is METRICS_URL), its
# answers by outcome, in $OUT/NAME.json; wrk's own report in logs/NAME.txt.
wrk_run() {
  local name=$1 url=$2 metrics=${3:-} before="{}" after="{}" c0
  local cmd=(wrk -t1 "-c$CONNECTIONS" "-d${DURATION}s" -s scripts/bench/wrk-fresh-ping.lua "$url/v1/ping"
    "$(random_id)" bench "$KEY1,$KEY2" "$OUTSIDE_FIELDS")
  [ -z "$metrics" ] || before=$(ping_outcomes "$metrics")
  c0=$(compilers_now)
  "${cmd[@]}" >"$OUT/logs/$name.txt" 2>"$OUT/logs/$name.log"
  COMPILERS_SEEN+=("$name $c0/$(compilers_now)")
  [ -z "$metrics" ] || after=$(ping_outcomes "$metrics")
  if ! grep -q '^wrk-json ' "$OUT/logs/$name.txt"; then
    echo "$name: wrk printed no figures:" >&2
    cat "$OUT/logs/$name.txt" "$OUT/logs/$name.log" >&2
    exit 1
  fi
  sed -n 's/^wrk-json //p' "$OUT/logs/$name.txt" \
    | jq --arg cmd "$(shell_words "${cmd[@]}")" --argjson answers "$(answers_delta "$before" "$after")" \
      '. + {command: $cmd, answers: $answers}' >"$OUT/$name.json"
  jq -r --arg n "$name" '"  \($n): \(.rps | floor) requests/s, p50 \(.latency_us.p50) us, p99 \(.latency_us.p99) us, non-2xx \(.errors.status), socket errors \(.errors.connect + .errors.read + .errors.write + .errors.timeout), answers \(.answers)"' \
    "$OUT/$name.json"
}

# ping_bodies FILE COUNT: COUNT ping bodies, one a line, each with a consumer of its own
# (the request wrk-fresh-ping.lua sends, as one line of JSON).
ping_bodies() {
  awk -v n="$2" -v run="$(random_id)" -v fields="$OUTSIDE_FIELDS" -v start="$((RANDOM * 32768 + RANDOM))" 'BEGIN {
    for (i = 0; i < n; i++) {
      phone = fields == "email" ? "" : sprintf("\"phone\":\"%010.0f\",", (start * 100 + i) % 10000000000)
      printf "{\"lead\":{\"age\":34,\"email\":\"oha-%s-%d@loadgen.example\",%s\"state\":\"CA\",\"zip\":\"90210\"},\"offer\":\"bench\"}\n", run, i, phone
    }
  }' >"$1"
}

# oha_run NAME BASE_URL [METRICS_URL]: open loop at OHA_RATE/s for DURATION s, after WARMUP s at
# the same rate that are not recorded (oha has no warm-up of its own; the load generator's
# runs have one). Figures, command and answers in $OUT/NAME.json, oha's JSON in
# $OUT/NAME.oha.json.
#
# oha cannot make a body per request: `-Z FILE` sends, for each request, a line of FILE
# drawn AT RANDOM (with replacement). So a fresh consumer per request is approximated by a
# file of OHA_BODY_FACTOR x as many bodies as requests, each a consumer of its own: about
# 1 / (2 x OHA_BODY_FACTOR) of the requests (2.5%) draw a line already sent, and the engine
# answers those vertical_duplicate, its cheapest answer. The engine's own count of its
# answers is reported beside the figures so that share is seen, not assumed.
# `-c 50` (oha's default, written out) bounds the requests in flight; beyond it requests wait
# and, with --latency-correction, that wait counts in their latency. `-w` lets the last
# requests finish instead of counting them as errors. One worker thread, like wrk -t1 and
# the load generator, leaves the other core to the server.
OHA_BODY_FACTOR=20
oha_run() {
  local name=$1 url=$2 metrics=${3:-} before="{}" after="{}" c0
  local requests=$((OHA_RATE * DURATION)) warm=$((OHA_RATE * WARMUP))
  # One file, then split, so the warm-up's consumers and the measured ones never meet.
  ping_bodies "$WORK/$name.all" $(((warm + requests) * OHA_BODY_FACTOR))
  head -n $((warm * OHA_BODY_FACTOR)) "$WORK/$name.all" >"$WORK/$name-warmup.bodies"
  tail -n +$((warm * OHA_BODY_FACTOR + 1)) "$WORK/$name.all" >"$WORK/$name.bodies"
  rm -f "$WORK/$name.all"
  local opts=(-q "$OHA_RATE" --latency-correction -c 50 -w --no-tui --worker-threads 1 -m POST
    -T application/json -H "Authorization: Bearer $KEY1")
  if [ "$WARMUP" -gt 0 ]; then
    "$OHA" "${opts[@]}" -z "${WARMUP}s" -Z "$WORK/$name-warmup.bodies" "$url/v1/ping" >"$OUT/logs/$name-warmup.txt" 2>&1
  fi
  local cmd=(oha "${opts[@]}" -z "${DURATION}s" -Z BODIES.jsonl --output-format json "$url/v1/ping")
  [ -z "$metrics" ] || before=$(ping_outcomes "$metrics")
  c0=$(compilers_now)
  "$OHA" "${opts[@]}" -z "${DURATION}s" -Z "$WORK/$name.bodies" --output-format json "$url/v1/ping" \
    >"$OUT/$name.oha.json" 2>"$OUT/logs/$name.log"
  COMPILERS_SEEN+=("$name $c0/$(compilers_now)")
  [ -z "$metrics" ] || after=$(ping_outcomes "$metrics")
  rm -f "$WORK/$name.bodies" "$WORK/$name-warmup.bodies"
  jq --arg cmd "$(shell_words "${cmd[@]}")" --argjson answers "$(answers_delta "$before" "$after")" \
    --argjson lines $((requests * OHA_BODY_FACTOR)) '{
      command: $cmd, body_lines: $lines, answers: $answers,
      requests: (.statusCodeDistribution | add // 0),
      rps: .summary.requestsPerSec,
      status: .statusCodeDistribution,
      non_2xx: (.statusCodeDistribution | to_entries | map(select(.key | startswith("2") | not) | .value) | add // 0),
      errors: (.errorDistribution | add // 0),
      error_kinds: .errorDistribution,
      latency_us: (.latencyPercentiles | with_entries(.value = ((.value // 0) * 1e6 | round))),
      max_us: (.summary.slowest * 1e6 | round)
    }' "$OUT/$name.oha.json" >"$OUT/$name.json"
  jq -r --arg n "$name" '"  \($n): \(.requests) requests, p50 \(.latency_us.p50) us, p99 \(.latency_us.p99) us, p99.9 \(.latency_us["p99.9"]) us, non-2xx \(.non_2xx), errors \(.errors), answers \(.answers)"' \
    "$OUT/$name.json"
}

# Every wrk and oha run, on the servers already started (echo, buyers, Redis) and engines of
# their own, each on a fresh store: wrk on echo / memory / redis, then oha on echo / redis.
outside_tools() {
  local spec
  echo "== wrk, closed loop: echo server"
  wrk_run wrk-echo "$ECHO_URL"
  for store in memory redis; do
    echo "== wrk, closed loop: pingpost serve, $store store, 30 contracts"
    spec=memory
    if [ "$store" = redis ]; then spec=$REDIS_URL; redis-cli -p "$REDIS_PORT" flushall >/dev/null; fi
    start_engine "$store" 30 "$CONTRACTS_30" "$spec"
    wrk_run "wrk-$store" "$ENGINE_URL" "$ENGINE_METRICS"
    stop "$ENGINE_PID"
  done
  echo "== oha, open loop $OHA_RATE/s: echo server"
  oha_run "oha-echo-$OHA_RATE" "$ECHO_URL"
  echo "== oha, open loop $OHA_RATE/s: pingpost serve, redis store, 30 contracts"
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  start_engine redis 30 "$CONTRACTS_30" "$REDIS_URL"
  oha_run "oha-redis-$OHA_RATE" "$ENGINE_URL" "$ENGINE_METRICS"
  stop "$ENGINE_PID"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# The binaries are built from the working tree: say so when it differs from the commit.
DIRTY=""
if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  DIRTY=" with uncommitted changes under crates/ or to Cargo.*"
fi
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
start_postgres
CONTRACTS_30=$(contracts_dir 30)

if [ "$ONLY" != wrk ]; then
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
fi

if [ "$ONLY" != loadgen ]; then outside_tools; fi

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

if [ "$ONLY" != wrk ]; then
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
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- summary ------------------------------------------------------------------------
fig() { jq -r "$2" "$OUT/$1.json"; }
ratio() { echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "-" }'; }
# verdict VALUE OP LIMIT: whether a ratio meets one of issue 13's targets (OP: ge or le).
verdict() {
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = (op == "ge") ? v >= l : v <= l; print (ok ? "met" : "**missed**") }'
}

summary_loadgen() {
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
  echo "Answers of the 30-contract runs (redis, closed loop): $(fig redis-closed '.answers | to_entries | map("\(.key) \(.value)") | join(", ")'); suppression list: $(fig redis-closed .run.suppression)."
  # BENCH_CONTRACTS=" " skips the runs by number of contracts: then no table.
  [ -n "${CONTRACT_COUNTS// /}" ] || return 0
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
}

# The engine's answers during a run, as "accepted 123, vertical_duplicate 4" ("-" for echo).
answers_text() { fig "$1" '.answers | to_entries | map("\(.key) \(.value)") | join(", ") | if . == "" then "-" else . end'; }

summary_outside() {
  local f rps ratio_v goal
  echo
  echo "### Outside tools (issue 13): wrk closed loop, oha open loop $OHA_RATE/s, 30 fixed-price contracts"
  echo
  echo "Tools: $WRK_VERSION, $OHA_INSTALLED. Every request is the load generator's ping (POST /v1/ping, JSON,"
  echo "a partner key as Bearer token; the echo server gets the same request and ignores the key) with a"
  echo "consumer of its own ($OUTSIDE_FIELDS; the load generator's pings carry an email only, and 20% of them"
  echo "repeat a consumer). Ratios are to the echo server in this same run. \"engine's answers\" is the"
  echo "engine's own count (pingpost_pings_total) during the run: every fresh ping is accepted."
  echo
  echo "rustc processes running at the start/end of each run (other builds on this machine): $(printf '%s, ' "${COMPILERS_SEEN[@]}" | sed 's/, $//')."
  echo
  echo "| wrk, closed loop, $CONNECTIONS conn, ${DURATION} s | requests/s | p50 µs | p99 µs | non-2xx | socket errors | / echo | issue 13's target | engine's answers |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
  for target in echo memory redis; do
    f=wrk-$target
    rps=$(fig "$f" .rps)
    ratio_v=$(ratio "$rps" "$(fig wrk-echo .rps)")
    case $target in
      echo) goal="-" ;;
      memory) goal="≥ 0.8: $(verdict "$ratio_v" ge 0.8)" ;;
      redis) goal="≥ 0.5: $(verdict "$ratio_v" ge 0.5)" ;;
    esac
    echo "| $target | $(printf '%.0f' "$rps") | $(fig "$f" .latency_us.p50) | $(fig "$f" .latency_us.p99) | $(fig "$f" .errors.status) | $(fig "$f" '.errors | .connect + .read + .write + .timeout') | $ratio_v | $goal | $(answers_text "$f") |"
  done
  echo
  local bad
  bad=$(jq -s 'map(.errors | add) | add' "$OUT"/wrk-echo.json "$OUT"/wrk-memory.json "$OUT"/wrk-redis.json)
  if [ "$bad" -gt 0 ]; then
    echo "**wrk saw $bad errors (non-2xx answers or socket errors, table above): those runs' figures are not clean.**"
  else
    echo "wrk saw no non-2xx answer and no socket error."
  fi
  echo
  echo "Commands (the run id, a random name for the run's consumers, and the port are this run's):"
  echo
  echo '```sh'
  for target in echo memory redis; do fig "wrk-$target" .command; done
  echo '```'
  echo
  echo "| oha, open loop $OHA_RATE/s, ${DURATION} s | requests | p50 µs | p99 µs | p99.9 µs | max µs | non-2xx | errors | p99 / echo | issue 13's target | engine's answers |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
  for target in echo redis; do
    f=oha-$target-$OHA_RATE
    ratio_v=$(ratio "$(fig "$f" .latency_us.p99)" "$(fig "oha-echo-$OHA_RATE" .latency_us.p99)")
    goal="-"
    [ "$target" = echo ] || goal="≤ 1.5: $(verdict "$ratio_v" le 1.5)"
    echo "| $target | $(fig "$f" .requests) | $(fig "$f" .latency_us.p50) | $(fig "$f" .latency_us.p99) | $(fig "$f" '.latency_us["p99.9"]') | $(fig "$f" .max_us) | $(fig "$f" .non_2xx) | $(fig "$f" .errors) | $ratio_v | $goal | $(answers_text "$f") |"
  done
  echo
  bad=$(jq -s 'map(.non_2xx + .errors) | add' "$OUT/oha-echo-$OHA_RATE.json" "$OUT/oha-redis-$OHA_RATE.json")
  if [ "$bad" -gt 0 ]; then
    echo "**oha saw $bad non-2xx answers or errors (table above; kinds in the JSON reports): those runs' figures are not clean.**"
  else
    echo "oha saw no non-2xx answer and no error."
  fi
  echo
  echo "oha cannot build a body per request: \`-Z BODIES.jsonl\` sends a line drawn at random, with"
  echo "replacement, from a file of $OHA_BODY_FACTOR× as many one-line bodies as requests, each its own consumer, so"
  echo "~2.5% of requests repeat a consumer already sent (the engine answers those vertical_duplicate:"
  echo "see its answers). Each oha run follows ${WARMUP} s at the same rate that are not recorded. Commands:"
  echo
  echo '```sh'
  for target in echo redis; do fig "oha-$target-$OHA_RATE" .command; done
  echo '```'
  if [ -f "$OUT/echo-open-$OHA_RATE.json" ] && [ -f "$OUT/redis-open-$OHA_RATE.json" ]; then
    echo
    echo "The load generator in this run, open loop $OHA_RATE/s (its consumer mix): p99 echo $(fig "echo-open-$OHA_RATE" .latency_us.p99) µs, Redis $(fig "redis-open-$OHA_RATE" .latency_us.p99) µs, ratio $(ratio "$(fig "redis-open-$OHA_RATE" .latency_us.p99)" "$(fig "echo-open-$OHA_RATE" .latency_us.p99)")."
  fi
}

{
  echo "## Benchmark run $STARTED_AT"
  echo
  echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1); loopback."
  echo "Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$DIRTY. Load average before: $LOAD_BEFORE, after: $LOAD_AFTER."
  if [ "$ONLY" != wrk ]; then summary_loadgen; fi
  if [ "$ONLY" != loadgen ]; then summary_outside; fi
} >"$OUT/summary.md"

echo
cat "$OUT/summary.md"
echo
echo "JSON reports and logs: $OUT/"
