#!/usr/bin/env bash
# Memory the embedded store keeps per fresh ping: issue 13's "memory per ping" figure.
#
#   scripts/bench-memory.sh                        # ~1 minute after the release build
#   MEM_PINGS=20000 MEM_CONTRACTS=300 scripts/bench-memory.sh
#
# Starts `pingpost serve` on the embedded store with one offer of MEM_CONTRACTS fixed-price
# contracts (the market of scripts/bench-instructions.sh: 3 contracts per buyer, so every
# ping drops two of each buyer's three at checkpoint 3 and writes that many audit entries),
# sends MEM_WARMUP fresh pings, reads the process's resident set (VmRSS), sends MEM_PINGS
# more fresh pings (every one accepted, so every one leaves its ping record, its vertical
# submission and its audit entries behind), reads VmRSS again, and prints
#
#   bytes per ping = (VmRSS after - VmRSS after warm-up) / MEM_PINGS
#
# Pings go one after the other over one keep-alive connection (one curl), as in
# bench-instructions.sh. What a ping keeps lives until its TTL and grace (ping records),
# its window (submissions) or the audit log's retention run out, all far longer than the
# run. The allocator keeps freed memory for reuse, so the figure is what the process holds,
# which is what an operator sizes a machine by. Knobs: MEM_WARMUP (2000), MEM_PINGS (50000),
# MEM_CONTRACTS (30), MEM_OUT (bench-results/memory), MEM_SERVE_ARGS (extra `serve` options).
set -euo pipefail
cd "$(dirname "$0")/.."

WARMUP=${MEM_WARMUP:-2000}
PINGS=${MEM_PINGS:-50000}
CONTRACTS=${MEM_CONTRACTS:-30}
OUT=${MEM_OUT:-bench-results/memory}
KEY=bench-partner-key-0001

command -v curl >/dev/null || { echo "bench-memory.sh needs curl" >&2; exit 1; }
echo "== building release binaries"
cargo build --release --locked -p pingpost
BIN=${CARGO_TARGET_DIR:-target}/release

mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

dir=$(contracts_dir "$CONTRACTS")
# MEM_SERVE_ARGS is split into words on purpose: extra `serve` options, e.g.
# "--audit-max-entries 1" to see what the audit log's share is.
# shellcheck disable=SC2086
# No metrics listener (nothing reads it), so no fixed port to collide on.
PINGPOST_LOG=warn "$BIN/pingpost" serve --listen 127.0.0.1:0 --metrics-listen off --contracts "$dir" --store memory \
  --admin-token bench-admin-token-000000000 ${MEM_SERVE_ARGS:-} >"$WORK/out" 2>"$WORK/err" &
SERVER_PID=$!
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's|^.* listening on \(http://.*\)$|\1|p' "$WORK/out" | head -n1)
  [ -z "$url" ] || break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "pingpost did not start listening" >&2; exit 1; }

rss_kib() { sed -n 's/^VmRSS:\s*\([0-9]*\) kB/\1/p' "/proc/$SERVER_PID/status"; }

# send COUNT FIRST: COUNT fresh pings from number FIRST; fails unless every one is accepted.
send() {
  local count=$1 first=$2 accepted
  curl_config "$url" "$count" "$WORK/pings.curl" "$first"
  curl -s -K "$WORK/pings.curl" >"$WORK/answers"
  accepted=$(grep -o '"status":"accepted"' "$WORK/answers" | wc -l)
  if [ "$accepted" -ne "$count" ]; then
    echo "$accepted of $count pings accepted" >&2
    head -c 2000 "$WORK/answers" >&2
    exit 1
  fi
}

echo "== $WARMUP warm-up pings"
send "$WARMUP" 0
before=$(rss_kib)
echo "== $PINGS measured pings"
send "$PINGS" "$WARMUP"
after=$(rss_kib)
per=$(awk -v a="$after" -v b="$before" -v n="$PINGS" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
{
  echo "## Memory per ping ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo
  echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1). Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo "Embedded store, $CONTRACTS fixed-price contracts, $WARMUP warm-up pings, then $PINGS fresh pings, all accepted."
  echo
  echo "| VmRSS after warm-up | VmRSS after | bytes per ping |"
  echo "|---:|---:|---:|"
  echo "| $((before / 1024)) MiB | $((after / 1024)) MiB | $per |"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
