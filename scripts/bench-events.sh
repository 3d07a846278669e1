#!/usr/bin/env bash
# The lead event log's writer against the engine's own ping rate, in one run (issue 23):
#
#   scripts/bench-events.sh                        # ~3 minutes after the release build
#   EVENTS_DURATION=60 scripts/bench-events.sh
#
# Starts a redis-server of its own, a throwaway PostgreSQL (lib.sh's start_postgres: the
# books, and the event log in its own schema of the same database, as `--events` falls back
# to), and `pingpost serve` on that Redis with the 30-contract market of
# scripts/bench-instructions.sh (offer `bench`). Then, with `pingpost-loadgen`:
#
# 1. Full rate, the writer running: closed loop (EVENTS_CONNECTIONS connections) for
#    EVENTS_DURATION seconds. The engine's ping rate is the loadgen's throughput; every second
#    the engine's `pingpost_events_lag_seconds` is read (the oldest waiting event's age after
#    each relay pass). When the load ends, what still waits is counted and the time until the
#    outbox is empty measured: the writer's lag at the engine's full rate, bounded or not.
# 2. The writer's own ceiling: PostgreSQL is paused (SIGSTOP: its connections hang, as on a
#    stalled database), the same load runs for EVENTS_DURATION seconds, so its events (each
#    ping's, its audit hits, the nodes' counters) wait in Redis; PostgreSQL resumes (SIGCONT)
#    and the backlog's drain is timed until the outbox is empty: pings written per second,
#    with everything that came with them, while only the writer works. The ratio of that to
#    phase 1's ping rate is how far past the engine's full rate the writer goes.
#
# Every ping's event must be in the log at the end, once (rows = answered pings, checked).
# Knobs: EVENTS_DURATION (20), EVENTS_CONNECTIONS (32), EVENTS_CONTRACTS (30),
# EVENTS_OUT (bench-results/events).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${EVENTS_DURATION:-20}
CONNECTIONS=${EVENTS_CONNECTIONS:-32}
CONTRACTS=${EVENTS_CONTRACTS:-30}
OUT=${EVENTS_OUT:-bench-results/events}
ADMIN_TOKEN=bench-admin-token-000000000

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
bench_start bench-events.sh redis-server redis-cli python3 curl jq
# A paused PostgreSQL (phase 2) would never see the signal that stops it.
bench_before_cleanup() {
  [ -z "${POSTGRES_PID:-}" ] || kill -CONT "$POSTGRES_PID" 2>/dev/null || true
  pkill -CONT -u pingpost-test postgres 2>/dev/null || true
}
echo "== building release binaries"
cargo build --release --locked -p pingpost -p pingpost-loadgen
BIN=${CARGO_TARGET_DIR:-target}/release

start_redis
start_postgres

dir=$(contracts_dir "$CONTRACTS")
PINGPOST_LOG=warn "$BIN/pingpost" serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --contracts "$dir" \
  --store "redis://127.0.0.1:$REDIS_PORT" --books "$BOOKS_URL" --admin-token "$ADMIN_TOKEN" \
  >"$WORK/engine.out" 2>"$OUT/engine.log" &
ENGINE_PID=$!
PIDS+=("$ENGINE_PID")
ENGINE_URL=$(wait_url engine "$WORK/engine.out" "$ENGINE_PID")
METRICS=$(sed -n 's|^pingpost metrics on ||p' "$WORK/engine.out" | head -n1)

rows() { pg_sql "$BOOKS_URL" "SELECT count(*) FROM pingpost_events.lead_events"; }
lag() { curl -fsS "$METRICS" | sed -n 's/^pingpost_events_lag_seconds \(.*\)$/\1/p'; }

# waiting_entries: what waits in the outbox, every kind (pings' events, sales, audit hits,
# counters), over its sixteen shards (crates/pingpost-redis/src/keys.rs). Named, not scanned:
# a SCAN of every key each poll would take Redis's one thread from the relay it measures.
outbox_shards() { for n in $(seq 0 15); do echo "pp:{ev:$n}:$1"; done; }
waiting_entries() {
  outbox_shards events_at | sed 's/^/ZCARD /' | redis-cli -p "$REDIS_PORT" | awk '{ n += $1 } END { print n + 0 }'
}

# drained: waits until the outbox is empty; answers the seconds it took.
drained() {
  local start
  start=$(date +%s.%N)
  for _ in $(seq 1 6000); do
    [ "$(waiting_entries)" -eq 0 ] && break
    sleep 0.1
  done
  python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')"
}

# cpu PID...: the CPU seconds (user + system) these processes have used so far.
cpu() {
  local ticks=0 pid f
  for pid in "$@"; do
    # Fields 14 and 15 of /proc/PID/stat, counted after the command's closing parenthesis.
    f=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    ticks=$((ticks + $(echo "$f" | awk '{ print $12 + $13 }')))
  done
  python3 -c "print(f'{$ticks / $(getconf CLK_TCK):.2f}')"
}

# load NAME: the closed-loop run; its report in $OUT/NAME.json.
load() {
  "$BIN/pingpost-loadgen" --url "$ENGINE_URL" --offer bench --key bench-partner-key-0001 --key bench-partner-key-0002 \
    --connections "$CONNECTIONS" --duration "${DURATION}s" --warmup 1s --json "$OUT/$1.json" >"$OUT/$1.txt" 2>"$OUT/$1.log"
}

# answered: the live pings the engine has answered (`pingpost_pings_total`, every outcome).
answered() {
  curl -fsS "$METRICS" | awk '/^pingpost_pings_total/ { n += $NF } END { printf "%d\n", n }'
}

echo "== 1. full rate, the writer running ($CONNECTIONS connections, ${DURATION}s)"
max_lag=0
load full &
LOAD=$!
while kill -0 "$LOAD" 2>/dev/null; do
  l=$(lag || echo 0)
  max_lag=$(python3 -c "print(max($max_lag, ${l:-0}))")
  sleep 1
done
wait "$LOAD"
rate=$(jq '.throughput_rps | floor' "$OUT/full.json")
echo "   engine: $rate pings/s; largest event lag seen: ${max_lag}s"
behind=$(waiting_entries)
caught_up=$(drained)
echo "   at the load's end $behind events waited; the log caught up ${caught_up}s later ($(rows) rows)"

echo "== 2. the writer's ceiling: PostgreSQL paused under the same load, then resumed"
pids=$(pgrep -u pingpost-test -x postgres | tr '\n' ' ')
hits_before=$(pg_sql "$BOOKS_URL" "SELECT coalesce(sum(cardinality(checkpoints)), 0) FROM pingpost_events.hit_events")
# shellcheck disable=SC2086
kill -STOP $pids
load paused
entries=$(waiting_entries)
waiting=$(outbox_shards events | sed 's/^/HKEYS /' | redis-cli -p "$REDIS_PORT" | grep -vc ':' || true)
pg_cpu_before=$(cpu $(pgrep -u pingpost-test -x postgres))
engine_cpu_before=$(cpu "$ENGINE_PID")
redis_cpu_before=$(cpu "$REDIS_PID")
# shellcheck disable=SC2086
kill -CONT $pids
# Pings' events: ids without a kind prefix (`sale:`, `hits:`, `counts:`).
echo "   $entries events waited in Redis, $waiting of them pings'"
took=$(drained)
# Where the drain's time went: PostgreSQL's processes (its backends live on in the pool), the
# engine's relay (nothing else runs in it now) and Redis.
pg_cpu=$(python3 -c "print(f'{$(cpu $(pgrep -u pingpost-test -x postgres)) - $pg_cpu_before:.1f}')")
engine_cpu=$(python3 -c "print(f'{$(cpu "$ENGINE_PID") - $engine_cpu_before:.1f}')")
redis_cpu=$(python3 -c "print(f'{$(cpu "$REDIS_PID") - $redis_cpu_before:.1f}')")
echo "   CPU seconds while draining: PostgreSQL $pg_cpu, the engine's relay $engine_cpu, Redis $redis_cpu"
after=$(rows)
hits=$(($(pg_sql "$BOOKS_URL" "SELECT coalesce(sum(cardinality(checkpoints)), 0) FROM pingpost_events.hit_events") - hits_before))
drain=$(python3 -c "print(int($waiting / max($took, 0.01)))")
echo "   drained in ${took}s: $drain pings/s written (their $hits audit hits with them); the log holds $after rows"
dups=$(pg_sql "$BOOKS_URL" "SELECT count(*) - count(DISTINCT ping_id) FROM pingpost_events.lead_events")
pings=$(answered)
echo "   pings answered: $pings; rows written twice: $dups"
[ "$dups" -eq 0 ] || { echo "an event was written twice" >&2; exit 1; }
[ "$after" -eq "$pings" ] || { echo "the log holds $after events for $pings pings" >&2; exit 1; }
python3 -c "print(f'   the writer goes {$drain / max($rate, 1):.1f}x past the engine\'s full rate')"
{
  echo "engine_pings_per_s $rate"
  echo "max_lag_s $max_lag behind_at_end $behind caught_up_s $caught_up"
  echo "backlog_entries $entries backlog_pings $waiting backlog_hits $hits"
  echo "drain_s $took cpu_s postgres $pg_cpu engine $engine_cpu redis $redis_cpu"
  echo "writer_pings_per_s $drain"
  echo "rows $after"
} >"$OUT/summary.txt"
