#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: the figure issue 13 works on.
# Unlike a time, an instruction count hardly moves with the machine's load, so one run
# judges a change, on a busy machine too.
#
#   scripts/bench-instructions.sh                           # ~30 s after the release build
#   INSTR_REQUESTS=1000 INSTR_CONTRACTS="30" scripts/bench-instructions.sh
#
# Needs valgrind and curl (installs Debian's packages when missing, with sudo unless root).
#
# Targets: (a) the echo ceiling `pingpost-echo` (the same axum stack, no work: see
# crates/pingpost-loadgen/src/echo.rs); (b) `pingpost serve` on the embedded store with one
# offer of 1, 30 and 300 fixed-price contracts, generated as scripts/bench.sh generates them
# (3 contracts per buyer, no filters: every contract is a candidate, checkpoint 3 drops two
# of each buyer's three, so every ping has audit entries).
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
# ("1 30 300"), INSTR_WORKER_THREADS (1), INSTR_OUT (bench-results/instructions).
set -euo pipefail
cd "$(dirname "$0")/.."

WARMUP=${INSTR_WARMUP:-20}
REQUESTS=${INSTR_REQUESTS:-200}
CONTRACT_COUNTS=${INSTR_CONTRACTS:-"1 30 300"}
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
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# run NAME COUNT ACCEPTED STOP_SIGNAL CMD...: CMD under callgrind, COUNT pings, then stopped
# with STOP_SIGNAL; sets RUN_TOTAL to the run's total instruction count. ACCEPTED=yes checks
# that every answer is an accepted ping (the engine), no that it is a 200 (the echo server).
# Not called in a command substitution: the server's pid must reach the exit trap.
run() {
  local name=$1 count=$2 accepted=$3 signal=$4
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
  if [ "$accepted" = yes ]; then
    local n
    n=$(grep -o '"status":"accepted"' "$WORK/$name.answers" | wc -l)
    if [ "$n" -ne "$count" ]; then
      echo "$name: $n of $count pings accepted" >&2
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

# measure LABEL ACCEPTED SIGNAL CMD...: the two runs; appends a row to the summary.
ROWS=()
ECHO_PER=""
measure() {
  local label=$1 accepted=$2 signal=$3
  shift 3
  local tag=${label// /-} warm full per
  echo "== $label: $WARMUP pings, then $((WARMUP + REQUESTS)) pings, under callgrind"
  run "$tag-w$WARMUP" "$WARMUP" "$accepted" "$signal" "$@"
  warm=$RUN_TOTAL
  run "$tag-w$WARMUP-n$REQUESTS" $((WARMUP + REQUESTS)) "$accepted" "$signal" "$@"
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
for n in $CONTRACT_COUNTS; do
  dir=$(contracts_dir "$n")
  # No metrics listener: nothing reads it, and an idle one would only add its own start-up.
  measure "memory $n contracts" yes TERM "$BIN/pingpost" serve --listen 127.0.0.1:0 --metrics-listen off \
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
