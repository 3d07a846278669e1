#!/usr/bin/env bash
# How the sales spread over a 3-master Redis Cluster (issue 22 item 1's load run): the real
# engine on a cluster of its own, ten buyers, every lead sold to all ten.
#
#   scripts/bench-cluster-spread.sh                  # ~1 minute after the release build
#   SPREAD_LEADS=1000 scripts/bench-cluster-spread.sh
#
# Starts three redis-servers in cluster mode (free loopback ports, no persistence) joined by
# `redis-cli --cluster create`, a throwaway PostgreSQL for the books (lib.sh), the simulated
# buyers (`pingpost buyers`, which accept every post) and `pingpost serve` on the cluster with
# lib.sh's 30-contract market (10 buyers of 3 contracts) made multisell to 10 buyers, so each
# lead is sold once to every buyer and the buyers carry equal volume. After SPREAD_WARMUP
# leads (scripts loaded everywhere), it resets every master's statistics, sells SPREAD_LEADS
# more, and reads per master from `INFO commandstats` the scripts it ran (EVALSHA calls less
# those refused NOSCRIPT, plus EVAL) and, by SCAN, the sale entries it holds. A sale is two
# scripts on its buyer's slot (reserve_sale, settle_sale); a ping's admission and
# confirmation run on the consumer's slots, which spread evenly whatever the buyers.
# Knobs: SPREAD_WARMUP (20), SPREAD_LEADS (300), SPREAD_OUT (bench-results/cluster-spread).
set -euo pipefail
cd "$(dirname "$0")/.."

WARMUP=${SPREAD_WARMUP:-20}
LEADS=${SPREAD_LEADS:-300}
OUT=${SPREAD_OUT:-bench-results/cluster-spread}
KEY=bench-partner-key-0001
ADMIN_TOKEN=bench-admin-token-000000000

for tool in redis-server redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "bench-cluster-spread.sh needs $tool" >&2; exit 1; }
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

PORTS=()
for i in 1 2 3; do
  port=$(free_port)
  mkdir -p "$WORK/redis-$i"
  (cd "$WORK/redis-$i" && exec redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --cluster-enabled yes --cluster-config-file nodes.conf --daemonize no) >"$OUT/redis-$i.log" 2>&1 &
  PIDS+=("$!")
  PORTS+=("$port")
done
for port in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create $(for p in "${PORTS[@]}"; do printf '127.0.0.1:%s ' "$p"; done) \
  --cluster-replicas 0 --cluster-yes >"$OUT/cluster-create.log" 2>&1
for port in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do
    redis-cli -p "$port" cluster info | grep -q cluster_state:ok && break
    sleep 0.1
  done
done
STORE=$(for p in "${PORTS[@]}"; do printf 'redis://127.0.0.1:%s,' "$p"; done)
STORE=${STORE%,}
start_postgres

PINGPOST_LOG=warn "$BIN/pingpost" buyers --listen 127.0.0.1:0 >"$WORK/buyers.out" 2>"$OUT/buyers.log" &
PIDS+=("$!")
BUYERS_URL=$(wait_url buyers "$WORK/buyers.out" "$!")
export BUYERS_URL
dir=$(contracts_dir 30)
sed -i 's/^mode = "exclusive"$/mode = "multisell"\nmax_buyers = 10/' "$dir/market.toml"
"$BIN/pingpost" check "$dir" >/dev/null
PINGPOST_LOG=warn "$BIN/pingpost" serve --listen 127.0.0.1:0 --metrics-listen off --contracts "$dir" \
  --store "$STORE" --books "$BOOKS_URL" --admin-token "$ADMIN_TOKEN" \
  >"$WORK/engine.out" 2>"$OUT/engine.log" &
PIDS+=("$!")
ENGINE_URL=$(wait_url engine "$WORK/engine.out" "$!")

# sell FIRST COUNT: COUNT fresh leads from number FIRST (lib.sh's sell_leads).
sell() { sell_leads "$ENGINE_URL" "$KEY" spread "$1" "$2" 10; }

echo "== warm-up: $WARMUP leads"
sell 0 "$WARMUP"
for port in "${PORTS[@]}"; do redis-cli -p "$port" config resetstat >/dev/null; done
echo "== measured: $LEADS leads, 10 sales each"
sell "$WARMUP" "$LEADS"

python3 - "$LEADS" "${PORTS[@]}" <<'EOF' | tee "$OUT/summary.md"
import re, subprocess, sys
leads, ports = int(sys.argv[1]), sys.argv[2:]
def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", port, *args], capture_output=True, text=True, check=True).stdout
def stat(info, cmd, field):
    m = re.search(rf"^cmdstat_{cmd}:.*?\b{field}=(\d+)", info, re.M)
    return int(m.group(1)) if m else 0
rows = []
for port in ports:
    info = cli(port, "INFO", "commandstats")
    scripts = stat(info, "evalsha", "calls") - stat(info, "evalsha", "failed_calls") + stat(info, "eval", "calls") - stat(info, "eval", "failed_calls")
    entries = len(cli(port, "--scan", "--pattern", "pp:{b:*}:sale:*").split())
    buyers = sorted({k.split("}")[0][len("pp:{b:"):] for k in cli(port, "--scan", "--pattern", "pp:{b:*}:sales").split()})
    rows.append((port, scripts, entries, buyers))
total_scripts = sum(r[1] for r in rows)
total_entries = sum(r[2] for r in rows)
print(f"## {leads} leads sold to 10 buyers each on a 3-master cluster\n")
print("| master | buyers whose slot it holds | sale entries | share | scripts run (all) | share |")
print("|---|---|---:|---:|---:|---:|")
for i, (port, scripts, entries, buyers) in enumerate(rows, 1):
    print(f"| {i} | {', '.join(buyers)} | {entries} | {100 * entries / max(total_entries, 1):.0f}% | {scripts} | {100 * scripts / max(total_scripts, 1):.0f}% |")
print(f"\nsale scripts (two per sale entry) on the busiest master: {100 * max(r[2] for r in rows) / max(total_entries, 1):.0f}%")
EOF
