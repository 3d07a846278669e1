#!/usr/bin/env bash
# The window what-if's answer time over a long, busy history (issue 23: 7 days of 2 000 pings
# a second, under 5 s):
#
#   scripts/bench-whatif.sh                                   # ~1 minute after the release build
#   WHATIF_DAYS=90 WHATIF_CONTRACTS=300 scripts/bench-whatif.sh
#
# The what-if reads the event log's rollup (`pingpost_events.gap_counts`: per day, contract or
# vertical and gap, the pings that reached the window and what they sold), which the writer
# keeps as it writes the events; so the history is generated straight into it, as the writer
# would have left it after WHATIF_DAYS days of WHATIF_RATE pings a second to one offer of
# WHATIF_CONTRACTS contracts (every ping reaching every contract's window, 80 % of them from
# consumers the buyer never bought, the rest spread over gaps of 0 to 365 days, one in ten
# sold at $10.00). A throwaway PostgreSQL (lib.sh's start_postgres) holds it; `pingpost serve`
# (embedded store, `--events` on that database, the market of scripts/bench-instructions.sh)
# answers `GET /v1/admin/whatif` over HTTP, for a contract's window and for the vertical's,
# WHATIF_TRIES times each; the slowest of each is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

DAYS=${WHATIF_DAYS:-7}
RATE=${WHATIF_RATE:-2000}
CONTRACTS=${WHATIF_CONTRACTS:-30}
TRIES=${WHATIF_TRIES:-5}
OUT=${WHATIF_OUT:-bench-results/whatif}
ADMIN_TOKEN=bench-admin-token-000000000

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
bench_start bench-whatif.sh python3 curl
echo "== building release binaries"
cargo build --release --locked -p pingpost
BIN=${CARGO_TARGET_DIR:-target}/release
start_postgres

dir=$(contracts_dir "$CONTRACTS")
PINGPOST_LOG=warn "$BIN/pingpost" serve --listen 127.0.0.1:0 --metrics-listen off --contracts "$dir" \
  --store memory --events "$BOOKS_URL" --admin-token "$ADMIN_TOKEN" >"$WORK/engine.out" 2>"$OUT/engine.log" &
PIDS+=("$!")
ENGINE_URL=$(wait_url engine "$WORK/engine.out" "$!")

echo "== generating the rollup of $DAYS days at $RATE pings/s, $CONTRACTS contracts"
per_day=$((RATE * 86400))
start=$(date +%s.%N)
# Gap -1 (none known) holds 80 % of a key's pings; gaps 0..365 share the rest evenly.
pg_sql "$BOOKS_URL" "
  INSERT INTO pingpost_events.gap_counts (day, scope, key, gap, pings, sales, revenue)
  SELECT d::date, s.scope, s.key, g, p, p / 10, (p / 10) * 1000
  FROM generate_series(current_date - $((DAYS - 1)), current_date, interval '1 day') AS d
  CROSS JOIN (SELECT 0::int2 AS scope, 'c' || lpad(c::text, 4, '0') AS key FROM generate_series(1, $CONTRACTS) c
              UNION ALL SELECT 1::int2, 'auto') AS s
  CROSS JOIN LATERAL (SELECT g::int2 AS g, CASE WHEN g = -1 THEN $per_day * 8 / 10 ELSE $per_day * 2 / 10 / 366 END::int8 AS p
                      FROM generate_series(-1, 365) g) AS gaps
  ON CONFLICT DO NOTHING"
pg_sql "$BOOKS_URL" "ANALYZE pingpost_events.gap_counts"
rows=$(pg_sql "$BOOKS_URL" "SELECT count(*) FROM pingpost_events.gap_counts")
pings=$(pg_sql "$BOOKS_URL" "SELECT sum(pings) FROM pingpost_events.gap_counts WHERE scope = 0 AND key = 'c0001'")
echo "   $rows rollup rows ($(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s); c0001's pings: $pings"

since=$(date -u -d "-$((DAYS - 1)) days" +%F)
# slowest QUERY: the slowest of TRIES answers, in seconds, and one answer in $OUT.
slowest() {
  local worst=0 t
  for _ in $(seq 1 "$TRIES"); do
    t=$(curl -fsS -o "$OUT/answer.json" -w '%{time_total}' -H "Authorization: Bearer $ADMIN_TOKEN" \
      "$ENGINE_URL/v1/admin/whatif?$1&since=$since")
    worst=$(python3 -c "print(max($worst, $t))")
  done
  echo "$worst"
}
contract=$(slowest "contract=c0001&window_days=60")
cp "$OUT/answer.json" "$OUT/contract.json"
vertical=$(slowest "vertical=auto&window_days=60")
cp "$OUT/answer.json" "$OUT/vertical.json"
echo "   contract c0001, 30 → 60 days: slowest of $TRIES ${contract}s: $(cat "$OUT/contract.json")"
echo "   vertical auto, 30 → 60 days:  slowest of $TRIES ${vertical}s"
{
  echo "days $DAYS rate $RATE contracts $CONTRACTS rollup_rows $rows"
  echo "contract_whatif_s $contract"
  echo "vertical_whatif_s $vertical"
} >"$OUT/summary.txt"
