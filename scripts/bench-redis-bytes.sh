#!/usr/bin/env bash
# Redis bytes per sale: what a sold lead leaves in Redis (issue 22 item 2's figure).
#
#   scripts/bench-redis-bytes.sh                   # ~2 minutes after the release build
#   BYTES_SALES=5000 scripts/bench-redis-bytes.sh
#
# Starts a redis-server of its own (free loopback port, no persistence), a throwaway
# PostgreSQL for the books (lib.sh's start_postgres), the simulated buyers (`pingpost
# buyers`, which accept every post) and `pingpost serve` on that Redis with the market of
# scripts/bench-instructions.sh (one exclusive offer of BYTES_CONTRACTS fixed-price
# contracts, 3 per buyer). It then sells BYTES_WARMUP leads (a fresh ping, then its post, one
# after the other over one keep-alive connection), waits until the books' relay has emptied
# the outbox, reads Redis's `used_memory` and, by key family, the sum of `MEMORY USAGE` of
# every key; sells BYTES_SALES more, waits for the relay again, reads both again, and prints
#
#   bytes per sale = (used_memory after - used_memory after warm-up) / BYTES_SALES
#
# with the same difference per key family (a key's family is its name with ids, hashes and
# dates replaced by placeholders): what a sale keeps while it may still be returned. Then it
# lets BYTES_LEFT_DAYS (39) days pass the only way Redis allows, by deleting every key whose
# time to live ends by then (what Redis's expiry will have done), and prints what is left per
# sale against the empty store: what a sold lead costs once it has left (the buyer's marks
# and the consumer's submission, kept for the dedup windows' retention, 366 days; the ping's
# audit entries, kept 90 days by default). The pings' own audit entries and vertical marks are
# in both figures, as every sale has its ping. Knobs: BYTES_WARMUP (200), BYTES_SALES (2000),
# BYTES_CONTRACTS (30), BYTES_LEFT_DAYS (39), BYTES_OUT (bench-results/redis-bytes).
set -euo pipefail
cd "$(dirname "$0")/.."

WARMUP=${BYTES_WARMUP:-200}
SALES=${BYTES_SALES:-2000}
CONTRACTS=${BYTES_CONTRACTS:-30}
# The market's return window (7 days, the default) and SETTLED_KEPT (31), and a day.
LEFT_DAYS=${BYTES_LEFT_DAYS:-39}
OUT=${BYTES_OUT:-bench-results/redis-bytes}
KEY=bench-partner-key-0001
ADMIN_TOKEN=bench-admin-token-000000000

for tool in redis-server redis-cli python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench-redis-bytes.sh needs $tool" >&2; exit 1; }
done
echo "== building release binaries"
cargo build --release --locked -p pingpost
BIN=${CARGO_TARGET_DIR:-target}/release

mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  >"$OUT/redis.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
start_postgres

PINGPOST_LOG=warn "$BIN/pingpost" buyers --listen 127.0.0.1:0 >"$WORK/buyers.out" 2>"$OUT/buyers.log" &
PIDS+=("$!")
BUYERS_URL=$(wait_url buyers "$WORK/buyers.out" "$!")
export BUYERS_URL
dir=$(contracts_dir "$CONTRACTS")
PINGPOST_LOG=warn "$BIN/pingpost" serve --listen 127.0.0.1:0 --metrics-listen off --contracts "$dir" \
  --store "redis://127.0.0.1:$REDIS_PORT" --books "$BOOKS_URL" --admin-token "$ADMIN_TOKEN" \
  >"$WORK/engine.out" 2>"$OUT/engine.log" &
PIDS+=("$!")
ENGINE_URL=$(wait_url engine "$WORK/engine.out" "$!")

# sell FIRST COUNT: COUNT fresh leads from number FIRST (lib.sh's sell_leads).
sell() { sell_leads "$ENGINE_URL" "$KEY" bytes "$1" "$2" 0; }

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

# drained: waits until the books' relay has taken every outbox entry (one outbox per buyer).
drained() {
  local key waiting
  for _ in $(seq 1 600); do
    waiting=0
    for key in $(rcli --scan --pattern 'pp:*:outbox'); do
      waiting=$((waiting + $(rcli hlen "$key")))
    done
    [ "$waiting" -eq 0 ] && return 0
    sleep 0.1
  done
  echo "the outbox did not drain" >&2
  exit 1
}

# families FILE: the sum of MEMORY USAGE per key family, and used_memory, into FILE.
families() {
  python3 - "$REDIS_PORT" >"$1" <<'EOF'
import re, subprocess, sys, collections
port = sys.argv[1]
def cli(*args):
    return subprocess.run(["redis-cli", "-p", port, *args], capture_output=True, text=True, check=True).stdout
sums = collections.Counter()
counts = collections.Counter()
for key in cli("--scan", "--pattern", "pp:*").split():
    fam = re.sub(r"[0-9a-f]{64}", "<hash>", key)
    fam = re.sub(r"[0-9a-f]{32}(-\d+)?", "<id>", fam)
    fam = re.sub(r"\d{4}-\d{2}-\d{2}", "<day>", fam)
    fam = re.sub(r"\d{10}", "<hour>", fam)
    fam = re.sub(r"b\d{3}", "<buyer>", fam)
    fam = re.sub(r"c\d{4}", "<contract>", fam)
    sums[fam] += int(cli("MEMORY", "USAGE", key, "SAMPLES", "0").strip() or 0)
    counts[fam] += 1
used = re.search(r"^used_memory:(\d+)", cli("INFO", "memory"), re.M).group(1)
print(f"used_memory {used}")
for fam in sorted(sums):
    print(f"family {fam} {counts[fam]} {sums[fam]}")
EOF
}

# expire_within DAYS: deletes every key whose time to live ends within DAYS, as Redis's own
# expiry will have done once that many days have passed (its clock cannot be moved); answers
# how many keys went.
expire_within() {
  rcli EVAL "
    local cursor, n = '0', 0
    repeat
      local r = redis.call('SCAN', cursor, 'MATCH', 'pp:*', 'COUNT', 1000)
      cursor = r[1]
      for _, k in ipairs(r[2]) do
        local t = redis.call('PTTL', k)
        if t >= 0 and t <= tonumber(ARGV[1]) then redis.call('DEL', k); n = n + 1 end
      end
    until cursor == '0'
    return n" 0 "$(($1 * 86400000))"
}

families "$WORK/empty"
echo "== warm-up: $WARMUP sales"
sell 0 "$WARMUP"
drained
families "$WORK/before"
echo "== measured: $SALES sales"
sell "$WARMUP" "$SALES"
drained
families "$WORK/after"
echo "== $LEFT_DAYS days later: the settled sales have left (keys expiring by then deleted: $(expire_within "$LEFT_DAYS"))"
families "$WORK/left"

python3 - "$WORK/before" "$WORK/after" "$SALES" "$CONTRACTS" "$WORK/empty" "$WORK/left" "$((WARMUP + SALES))" "$LEFT_DAYS" <<'EOF' | tee "$OUT/summary.md"
import sys
def read(path):
    used, fams = 0, {}
    for line in open(path):
        parts = line.split()
        if parts[0] == "used_memory":
            used = int(parts[1])
        else:
            fams[parts[1]] = (int(parts[2]), int(parts[3]))
    return used, fams
def table(title, base, then, n, label):
    (u0, f0), (u1, f1) = read(base), read(then)
    print(f"{title}\n")
    print(f"used_memory: {u0} ({label}) -> {u1}: **{(u1 - u0) / n:.0f} bytes per sale**\n")
    print("| key family | keys before | keys after | MEMORY USAGE per sale |")
    print("|---|---:|---:|---:|")
    for fam in sorted(set(f0) | set(f1)):
        k0, b0 = f0.get(fam, (0, 0))
        k1, b1 = f1.get(fam, (0, 0))
        if b1 != b0:
            print(f"| `{fam}` | {k0} | {k1} | {(b1 - b0) / n:.0f} |")
n, total, left_days = int(sys.argv[3]), int(sys.argv[7]), sys.argv[8]
table(f"## Redis bytes per sale ({n} sales of a {sys.argv[4]}-contract exclusive offer, every one sold)",
      sys.argv[1], sys.argv[2], n, "after the warm-up")
print()
table(f"## After it has left: {left_days} days on, every key expiring by then gone ({total} sales in all)",
      sys.argv[5], sys.argv[6], total, "empty")
EOF
