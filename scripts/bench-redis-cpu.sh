#!/usr/bin/env bash
# Where a ping on Redis spends its CPU: redis-server, the engine and wrk, per fresh ping,
# during a closed-loop wrk run (issue 13's "what is left" for the Redis throughput figure).
#
#   scripts/bench-redis-cpu.sh                  # ~30 s after the release build
#   CPU_DURATION=30 scripts/bench-redis-cpu.sh
#
# Starts a redis-server of its own (free port, no persistence), a PostgreSQL of its own for
# the books (scripts/lib.sh's start_postgres: `serve` on Redis requires them; nothing here
# moves money, so it is idle), the simulated buyers and `pingpost serve` on that Redis with
# the benchmark market of 30 fixed-price contracts (scripts/lib.sh's contracts_dir; no
# metrics listener, nothing reads it), warms up with 3 s of wrk, then reads each process's CPU
# time (utime + stime in /proc/<pid>/stat) around `wrk -t1 -c32 -d${CPU_DURATION}s` with
# scripts/bench/wrk-fresh-ping.lua (a consumer of its own per request, email and phone), and
# prints CPU microseconds per ping for each, then redis-server's `INFO commandstats`
# (microseconds per call of each command; a script's time includes the commands inside it).
# Knobs: CPU_DURATION (10), CPU_OUT (bench-results/redis-cpu).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${CPU_DURATION:-10}
OUT=${CPU_OUT:-bench-results/redis-cpu}
for tool in redis-server redis-cli wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench-redis-cpu.sh needs $tool (Debian: redis-server, wrk, curl)" >&2; exit 1; }
done
echo "== building release binaries"
cargo build --release --locked -p pingpost
BIN=${CARGO_TARGET_DIR:-target}/release

mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # After the engine, which flushes its books into it on the way out.
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT
# contracts_dir, free_port, wait_url, start_postgres and stop_postgres.
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# cpu_ticks PID: the process's user + system CPU time, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
start_postgres

PINGPOST_LOG=warn "$BIN/pingpost" buyers --listen 127.0.0.1:0 >"$WORK/buyers.out" 2>&1 &
PIDS+=("$!")
BUYERS_URL=$(wait_url buyers "$WORK/buyers.out" "$!")
export BUYERS_URL
dir=$(contracts_dir 30)
PINGPOST_LOG=warn "$BIN/pingpost" serve --listen 127.0.0.1:0 --metrics-listen off --contracts "$dir" \
  --store "redis://127.0.0.1:$REDIS_PORT" --books "$BOOKS_URL" --admin-token bench-admin-token-000000000 \
  >"$WORK/engine.out" 2>&1 &
ENGINE_PID=$!
PIDS+=("$ENGINE_PID")
url=$(wait_url engine "$WORK/engine.out" "$ENGINE_PID")

keys=bench-partner-key-0001,bench-partner-key-0002
script=scripts/bench/wrk-fresh-ping.lua
echo "== warm-up, 3 s"
wrk -t1 -c32 -d3s -s "$script" "$url/v1/ping" "warm$RANDOM$RANDOM" bench "$keys" email+phone >/dev/null
redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
redis0=$(cpu_ticks "$REDIS_PID")
engine0=$(cpu_ticks "$ENGINE_PID")
echo "== wrk -t1 -c32 -d${DURATION}s"
# Started directly (not in a function, which would run it in a subshell) so that its PID is
# wrk's own.
wrk -t1 -c32 -d"${DURATION}s" -s "$script" "$url/v1/ping" "run$RANDOM$RANDOM" bench "$keys" email+phone >"$OUT/wrk.txt" &
WRK_PID=$!
# wrk's own CPU, read just before it exits.
sleep "$(echo "$DURATION - 0.3" | bc)"
wrk_ticks=$(cpu_ticks "$WRK_PID" 2>/dev/null || echo 0)
wait "$WRK_PID"
redis1=$(cpu_ticks "$REDIS_PID")
engine1=$(cpu_ticks "$ENGINE_PID")
redis-cli -p "$REDIS_PORT" info commandstats | grep '^cmdstat_' >"$OUT/commandstats.txt"

requests=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
hz=$(getconf CLK_TCK)
per_ping() { echo "scale=1; $1 * 1000000 / $hz / $requests" | bc; }
{
  echo "## Redis: CPU per fresh ping ($(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD))"
  echo
  echo "Machine: $(nproc) cores. wrk -t1 -c32 -d${DURATION}s, 30 fixed-price contracts, email and phone, redis-server on the same machine."
  echo "$(grep 'Requests/sec' "$OUT/wrk.txt" | tr -s ' '), $requests pings."
  echo
  echo "| process | CPU µs per ping |"
  echo "|---|---:|"
  echo "| redis-server | $(per_ping $((redis1 - redis0))) |"
  echo "| pingpost serve | $(per_ping $((engine1 - engine0))) |"
  echo "| wrk (to ${DURATION}s - 0.3 s) | $(per_ping "$wrk_ticks") |"
  echo
  echo "redis-server's commands (INFO commandstats, the measured run only), by time:"
  echo
  echo '```'
  sed 's/^cmdstat_//' "$OUT/commandstats.txt" | awk -F'[:,=]' '{printf "%-16s calls %9d  usec %9d  per call %6.2f\n", $1, $3, $5, $7}' | sort -k5 -rn
  echo '```'
} | tee "$OUT/summary.md"
