#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: the figure issue 13 works on.
# Unlike a time, an instruction count hardly moves with the machine's load, so one run
# judges a change, on a busy machine too.
#
#   scripts/bench-instructions.sh                           # ~1.5 min after the release build
#   INSTR_REQUESTS=1000 INSTR_CONTRACTS="30" scripts/bench-instructions.sh
#
# Needs valgrind and curl (installs Debian's packages when missing, with sudo unless root).
#
# Targets: (a) the echo ceiling `pingpost-echo` (the same axum stack, no work: see
# crates/pingpost-loadgen/src/echo.rs); (b) `pingpost serve` on the embedded store with one
# offer of 1, 30 and 300 fixed-price contracts, generated as scripts/bench.sh generates them
# (3 contracts per buyer, no filters: every contract is a candidate, checkpoint 3 drops two
# of each buyer's three, so every ping has audit entries); (c) the same market of 30
# contracts bidding in real time (issue 20: what rendering a buyer's own request costs a
# ping), in two variants:
#   30rt-default  each contract has a `bid_url`: pingpost's default bid request, written
#                 once per ping and sent to every buyer asked;
#   30rt-mapped   no `bid_url`; each buyer has `[buyers.calls.bid]`, a JSON request of ten
#                 mapped fields (a secret, a constant, two literals, ping and lead fields,
#                 `int` and `upper` filters), rendered for each call, and an answer read at
#                 a JSON pointer.
# Checkpoint 3 keeps each buyer's best contract before any buyer is asked, so a ping of
# either variant makes 10 bid calls (one per buyer), not 30.
# In both, the buyers are one local process outside valgrind: the simulator's generic
# endpoint (`pingpost buyers`, POST /{buyer}/bid), which takes any JSON body and answers
# {"bid": "10.00"}; the mapped answer reads its price at /bid. The strict `crestline` buyer
# refuses anything but its own six fields, and ten fields of our choosing are the point
# here. The buyers' process is not counted (only the engine runs under valgrind), so its
# speed does not matter, as long as it answers: every answer of these runs must carry one
# bid per buyer (10), and a real-time contract bids only with a price its buyer answered, so
# the figure counts 10 calls answered. Their offer's ping budget and the contracts' bid
# timeout are 10 s (the most allowed), since under valgrind the engine is ~50x slower and a
# call that times out would leave out the very work measured; the fixed-price market's
# 100 ms is not read on its path.
#
# Method. Each target runs twice under `valgrind --tool=callgrind`, each time from a fresh
# start: once receiving W pings, once receiving W + N. The pings are the same in both runs
# and fresh (ping i carries the email instr-<i, 6 digits>@bench.example, never seen before
# by that process; every body has the same length), sent one after the other, each once its
# answer is in, over ONE keep-alive connection by one curl (a config file of W or W + N
# transfers separated by `next`; curl's connection cache reuses the connection, and the
# script checks that exactly one connection was opened and that every answer is a 200,
# "accepted" for the engine). The server is then stopped with a signal it shuts down
# gracefully on, and callgrind writes the process's total instruction count (event Ir,
# every thread: the `totals:` line of its output file, which valgrind also prints as
# "Collected"). Then
#
#   instructions per request = (Ir of the W + N run - Ir of the W run) / N
#
# so start-up, the connection's set-up, the first requests' one-time costs (lazy statics,
# allocator and map growth, metric and log call-site registration) and shutdown cancel out.
# What is left is N requests' work, including what they leave for later: the audit log and
# statistics the shutdown flushes, and freeing the ping records the embedded store holds
# (done at shutdown here, by the sweep in production; ~3.5% of the 30- and 300-contract
# figures). Nothing is sampled, and every figure is printed with both totals so a reader can
# check the arithmetic.
#
# One thing is left out of the count: quanta's clock calibration (`quanta::Clock::new`, run
# once at start for the metrics registry), which loops on the wall clock until its estimate
# settles and so costs a different 3-10 M instructions in every run; counted, it would not
# cancel out (`--toggle-collect` turns collection off inside it).
#
# The servers run on ONE tokio worker thread (TOKIO_WORKER_THREADS=1). With two, which
# thread runs a task, and so which of glibc malloc's per-thread arenas a block comes from and
# goes back to, changes from run to run, and the 30- and 300-contract figures moved by ~1%
# between runs; with one they move by ~0.2% (three runs on this project's machine: echo
# within 0.15%, 1 contract 0.2%, 30 contracts 0.4%, 300 contracts 0.05%), and their level is
# the two-worker one within that ~1%. It also makes a machine with more cores measure the
# same process. What still moves is small: hash maps seeded at random, and the engine's
# timers (configuration poll, books relay, metrics upkeep), which cost ~57 000 instructions
# per second of wall-clock time under valgrind whatever the requests do: under 1% of the
# 1-contract figure.
#
# The callgrind files of every run stay in $OUT (callgrind_annotate FILE shows where the
# instructions go, by function).
#
# Knobs (environment): INSTR_WARMUP (W, 20), INSTR_REQUESTS (N, 200), INSTR_CONTRACTS
# ("1 30 300 30rt-default 30rt-mapped": a number is that many fixed-price contracts,
# <n>rt-default and <n>rt-mapped that many real-time ones), INSTR_WORKER_THREADS (1),
# INSTR_OUT (bench-results/instructions).
set -euo pipefail
cd "$(dirname "$0")/.."

WARMUP=${INSTR_WARMUP:-20}
REQUESTS=${INSTR_REQUESTS:-200}
CONTRACT_COUNTS=${INSTR_CONTRACTS:-"1 30 300 30rt-default 30rt-mapped"}
WORKERS=${INSTR_WORKER_THREADS:-1}
OUT=${INSTR_OUT:-bench-results/instructions}
KEY=bench-partner-key-0001
ADMIN_TOKEN=bench-admin-token-000000000
# How long a server under valgrind may take to start listening (it runs ~50x slower).
START_TIMEOUT_S=300

# apt_install, contracts_dir and curl_config.
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
command -v valgrind >/dev/null || apt_install valgrind
command -v curl >/dev/null || apt_install curl
valgrind --version

echo "== building release binaries (pingpost, pingpost-loadgen, pingpost-echo)"
cargo build --release --locked -p pingpost -p pingpost-loadgen
BIN=${CARGO_TARGET_DIR:-target}/release

mkdir -p "$OUT"
rm -f "$OUT"/*.callgrind "$OUT"/*.log "$OUT"/summary.md
WORK=$(mktemp -d)
SERVER_PID=""
BUYERS_PID=""
cleanup() {
  local pid
  for pid in "$SERVER_PID" "$BUYERS_PID"; do
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The secret the mapped bid request carries (read by the engine from the environment).
export PINGPOST_SECRET_BENCH_BUYER_KEY=bench-buyer-key-0001

# realtime_contracts_dir N REQUEST: contracts_dir's market (the same offer, partners,
# buyers and prices, the prices now only ranking the contracts until their bids are in) with
# its N contracts bidding in real time at the buyers of $BUYERS_URL, through pingpost's
# default bid request (REQUEST=default) or a mapped JSON one of ten fields (mapped).
realtime_contracts_dir() {
  local n=$1 request=$2 dir="$WORK/contracts-$1rt-$2"
  mkdir -p "$dir"
  {
    printf '[[verticals]]\nid = "auto"\ndedup_window_days = 30\n\n'
    printf '[[offers]]\nid = "bench"\nvertical = "auto"\nmode = "exclusive"\nping_budget_ms = 10000\n\n'
    for key in bench-partner-key-0001 bench-partner-key-0002; do
      printf '[[partners]]\nid = "%s"\napi_key_sha256 = "%s"\noffers = ["bench"]\n\n' \
        "p-${key: -1}" "$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
    done
    for b in $(seq 1 $(((n + 2) / 3))); do
      printf '[[buyers]]\nid = "b%03d"\npost_url = "%s/b%03d/post"\n\n' "$b" "$BUYERS_URL" "$b"
      [ "$request" = mapped ] || continue
      printf '[buyers.calls.bid]\nurl = "%s/b%03d/bid"\nmethod = "POST"\nencoding = "json"\n\n' "$BUYERS_URL" "$b"
      cat <<'FIELDS'
[buyers.calls.bid.fields]
ApiKey = "{{ secret('bench_buyer_key') }}"
tagId = "{{ 4417 }}"
"Source.VendorId" = "PP-2207"
"Source.Channel" = "ping"
"Source.PingId" = "{{ ping.id }}"
"Source.Offer" = "{{ ping.offer }}"
"Lead.ZipCode" = "{{ lead.zip }}"
"Lead.State" = "{{ lead.state | upper }}"
"Lead.Age" = "{{ lead.age | int }}"
"Lead.EmailHash" = "{{ email_sha256 }}"

[buyers.calls.bid.answer]  # the simulator's generic buyer: {"bid": "10.00"}
format = "json"
price = "/bid"

FIELDS
    done
    for c in $(seq 1 "$n"); do
      printf '[[contracts]]\nid = "c%04d"\nbuyer = "b%03d"\noffer = "bench"\nprice = "%d.%02d"\nbid_timeout_ms = 10000\n' \
        "$c" $(((c + 2) / 3)) $((10 + c % 20)) $((c % 100))
      [ "$request" = mapped ] || printf 'bid_url = "%s/b%03d/bid"\n' "$BUYERS_URL" $(((c + 2) / 3))
      echo
    done
  } >"$dir/market.toml"
  "$BIN/pingpost" check "$dir" >/dev/null
  echo "$dir"
}

# fields_contracts_dir N: contracts_dir's market, its vertical declaring the example auto
# vertical's fields (contracts/verticals.toml), so every ping's lead is read in its types
# (issue 21: what typed validation costs a ping). The ping's state, zip and age are among
# them; its email is an identifier.
fields_contracts_dir() {
  local n=$1 dir
  dir=$(contracts_dir "$n")
  local fields
  fields=$(sed -n '/^id = "auto"/,/^\]/p' contracts/verticals.toml | sed -n '/^fields = \[/,/^\]/p')
  awk -v fields="$fields" '{ print } /^dedup_window_days = 30$/ && !done { print fields; done = 1 }' \
    "$dir/market.toml" >"$dir/market.tmp"
  mv "$dir/market.tmp" "$dir/market.toml"
  grep -q '^fields = \[' "$dir/market.toml" || { echo "no fields in $dir/market.toml" >&2; exit 1; }
  "$BIN/pingpost" check "$dir" >/dev/null
  mv "$dir" "$dir-fields"
  echo "$dir-fields"
}

# start_buyers: the simulated buyers (natively, not under valgrind), once for every
# real-time variant; sets BUYERS_URL.
start_buyers() {
  [ -z "$BUYERS_PID" ] || return 0
  local out="$WORK/buyers.out" waited=0
  env PINGPOST_LOG=warn "$BIN/pingpost" buyers --listen 127.0.0.1:0 >"$out" 2>"$OUT/buyers.log" &
  BUYERS_PID=$!
  BUYERS_URL=""
  while [ -z "$BUYERS_URL" ]; do
    BUYERS_URL=$(sed -n 's|^.*simulated buyers listening on \(http://[^ ]*\).*$|\1|p' "$out" | head -n1)
    [ -z "$BUYERS_URL" ] || break
    if ! kill -0 "$BUYERS_PID" 2>/dev/null || [ "$waited" -gt 100 ]; then
      echo "the simulated buyers did not start:" >&2
      cat "$OUT/buyers.log" >&2
      exit 1
    fi
    waited=$((waited + 1))
    sleep 0.1
  done
}

# run NAME COUNT BIDS STOP_SIGNAL CMD...: CMD under callgrind, COUNT pings, then stopped
# with STOP_SIGNAL; sets RUN_TOTAL to the run's total instruction count. BIDS=no checks that
# every answer is a 200 (the echo server); a number, that every answer is also an accepted
# ping carrying exactly that many bids (the engine), so a run whose buyers did not answer
# fails rather than measuring less work.
# Not called in a command substitution: the server's pid must reach the exit trap.
run() {
  local name=$1 count=$2 bids=$3 signal=$4
  shift 4
  local out="$WORK/$name.out" log="$OUT/$name.log" file="$OUT/$name.callgrind"
  : >"$out"
  env TOKIO_WORKER_THREADS="$WORKERS" PINGPOST_LOG=warn \
    valgrind --tool=callgrind "--toggle-collect=quanta::Clock::new*" --collect-atstart=yes \
    --callgrind-out-file="$file" "$@" >"$out" 2>"$log" &
  SERVER_PID=$!
  local url="" waited=0
  while [ -z "$url" ]; do
    url=$(sed -n 's|^.* listening on \(http://.*\)$|\1|p' "$out" | head -n1)
    if [ -n "$url" ]; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "$name exited before listening:" >&2
      cat "$log" >&2
      exit 1
    fi
    waited=$((waited + 1))
    if [ "$waited" -gt $((START_TIMEOUT_S * 10)) ]; then
      echo "$name did not listen within $START_TIMEOUT_S s" >&2
      exit 1
    fi
    sleep 0.1
  done
  curl_config "$url" "$count" "$WORK/$name.curl"
  curl -s -K "$WORK/$name.curl" >"$WORK/$name.answers"
  # One connection for every request, every answer a 200 (and accepted, for the engine).
  local check
  check=$(awk '/^[0-9][0-9][0-9] [0-9]+$/ { n++; conns += $2; if ($1 != 200) bad++ }
               END { printf "%d %d %d", n, conns, bad }' "$WORK/$name.answers")
  if [ "$check" != "$count 1 0" ]; then
    echo "$name: expected $count answers of 200 on 1 connection, got (answers, connections, not 200) = $check" >&2
    head -c 2000 "$WORK/$name.answers" >&2
    exit 1
  fi
  if [ "$bids" != no ]; then
    local n
    n=$(grep -o '"status":"accepted"' "$WORK/$name.answers" | wc -l)
    if [ "$n" -ne "$count" ]; then
      echo "$name: $n of $count pings accepted" >&2
      head -c 2000 "$WORK/$name.answers" >&2
      exit 1
    fi
    # Each answer is one line of JSON; its bids are its "bid_id"s.
    n=$(awk -v want="$bids" '/^\{/ { if (gsub(/"bid_id":/, "&") == want) ok++ } END { print ok + 0 }' \
      "$WORK/$name.answers")
    if [ "$n" -ne "$count" ]; then
      echo "$name: $n of $count answers carry $bids bids" >&2
      head -c 2000 "$WORK/$name.answers" >&2
      exit 1
    fi
  fi
  kill -s "$signal" "$SERVER_PID"
  if ! wait "$SERVER_PID"; then
    echo "$name did not exit cleanly after SIG$signal:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  SERVER_PID=""
  local total
  total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$file")
  [ -n "$total" ] || total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$file")
  if [ -z "$total" ]; then
    echo "$name: no instruction total in $file" >&2
    exit 1
  fi
  RUN_TOTAL=$total
}

# measure LABEL BIDS SIGNAL CMD...: the two runs; appends a row to the summary.
ROWS=()
ECHO_PER=""
measure() {
  local label=$1 bids=$2 signal=$3
  shift 3
  local tag=${label// /-} warm full per
  tag=${tag//[^A-Za-z0-9-]/}
  echo "== $label: $WARMUP pings, then $((WARMUP + REQUESTS)) pings, under callgrind"
  run "$tag-w$WARMUP" "$WARMUP" "$bids" "$signal" "$@"
  warm=$RUN_TOTAL
  run "$tag-w$WARMUP-n$REQUESTS" $((WARMUP + REQUESTS)) "$bids" "$signal" "$@"
  full=$RUN_TOTAL
  per=$(awk -v a="$full" -v b="$warm" -v n="$REQUESTS" 'BEGIN { printf "%.0f", (a - b) / n }')
  [ -n "$ECHO_PER" ] || ECHO_PER=$per
  local ratio
  ratio=$(awk -v a="$per" -v b="$ECHO_PER" 'BEGIN { printf "%.2f", a / b }')
  echo "  $per instructions per request ($full - $warm) / $REQUESTS; $ratio x echo"
  ROWS+=("| $label | $warm | $full | $per | $ratio |")
}

STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# The echo server shuts down gracefully on SIGINT only, the engine on SIGTERM or SIGINT.
measure "echo" no INT "$BIN/pingpost-echo" --listen 127.0.0.1:0
for entry in $CONTRACT_COUNTS; do
  n=${entry%%rt-*}
  case $entry in
    *rt-default | *rt-mapped)
      start_buyers
      request=${entry#*rt-}
      dir=$(realtime_contracts_dir "$n" "$request")
      label="memory $n real-time contracts ($request bid request)"
      ;;
    *fields)
      n=${entry%fields}
      dir=$(fields_contracts_dir "$n")
      label="memory $n contracts, the example vertical's fields declared"
      ;;
    *)
      dir=$(contracts_dir "$n")
      label="memory $n contracts"
      ;;
  esac
  # Checkpoint 3 keeps one contract per buyer: one bid per buyer in every answer.
  # No metrics listener: nothing reads it, and an idle one would only add its own start-up.
  measure "$label" $(((n + 2) / 3)) TERM "$BIN/pingpost" serve --listen 127.0.0.1:0 --metrics-listen off \
    --contracts "$dir" --store memory --admin-token "$ADMIN_TOKEN"
done

{
  echo "## Instructions per request ($STARTED_AT)"
  echo
  echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1). $(valgrind --version)."
  echo "Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown). W = $WARMUP warm-up pings, N = $REQUESTS measured pings, one keep-alive connection, TOKIO_WORKER_THREADS=$WORKERS."
  echo
  echo "| target | Ir, W pings | Ir, W + N pings | instructions per request | / echo |"
  echo "|---|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
} >"$OUT/summary.md"
echo
cat "$OUT/summary.md"
echo
echo "callgrind files: $OUT/"
