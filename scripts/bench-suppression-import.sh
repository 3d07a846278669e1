#!/usr/bin/env bash
# Imports one million distinct email+phone rows with `pingpost suppress import` (release
# build) into `pingpost serve`, first on the embedded store, then on a redis-server this
# script starts on a free port (no persistence), whose engine keeps its books in a PostgreSQL
# the script also starts (scripts/lib.sh's start_postgres; `serve` on Redis requires them,
# and an import moves no money). No engine serves metrics (--metrics-listen off). Prints
# wall-clock time and peak RSS of the CLI and of the engine (GNU time -v), and Redis's
# memory. The CSV is written to a temporary directory and removed at the end.
# Usage: scripts/bench-suppression-import.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${1:-1000000}"
TOKEN="bench-admin-token-000000000"
command -v redis-server >/dev/null || { echo "needs redis-server" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 1; }

cargo build --release -p pingpost
BIN="$PWD/target/release/pingpost"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # After the engines, which flush their books into it on the way out.
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT
# free_port, start_postgres and stop_postgres.
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

echo "== generating $ROWS rows"
awk -v n="$ROWS" 'BEGIN { print "email,phone"; for (i = 0; i < n; i++) printf "person%d@example.com,1555%07d\n", i, i }' \
  > "$WORK/list.csv"
ls -l "$WORK/list.csv"

# Peak RSS and wall clock of a GNU time -v report.
summary() {
  grep -E "Elapsed \(wall clock\)|Maximum resident set size" "$1" | sed 's/^\s*/    /'
}

run() { # $1 = label, $2 = store spec, then more `serve` options
  local label="$1" store="$2" port engine_time_pid engine_pid
  shift 2
  port="$(free_port)"
  /usr/bin/time -v -o "$WORK/engine-$label.time" "$BIN" serve --listen "127.0.0.1:$port" --store "$store" "$@" \
    --metrics-listen off --admin-token "$TOKEN" --contracts contracts >"$WORK/engine-$label.out" 2>&1 &
  engine_time_pid=$!
  PIDS+=("$engine_time_pid")
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    kill -0 "$engine_time_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then
    echo "$label: the engine did not start:" >&2
    cat "$WORK/engine-$label.out" >&2
    exit 1
  fi
  engine_pid="$(pgrep -P "$engine_time_pid")"

  echo "== $label: import"
  /usr/bin/time -v -o "$WORK/cli-$label.time" "$BIN" suppress import "$WORK/list.csv" \
    --url "http://127.0.0.1:$port" --admin-token "$TOKEN"
  echo "  CLI:"
  summary "$WORK/cli-$label.time"

  kill -TERM "$engine_pid"
  wait "$engine_time_pid" || true
  echo "  engine (whole run, start to shutdown):"
  summary "$WORK/engine-$label.time"
}

run memory memory

RPORT="$(free_port)"
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
start_postgres
run redis "redis://127.0.0.1:$RPORT" --books "$BOOKS_URL"
echo "  redis: $(redis-cli -p "$RPORT" dbsize) keys, $(redis-cli -p "$RPORT" info memory | grep -E '^used_memory_rss_human' | tr -d '\r')"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
