#!/usr/bin/env bash
# Shared by the scripts (sourced, not run): Debian packages installed when missing, the
# generated benchmark market, the curl config of fresh pings, a free loopback port and a
# throwaway PostgreSQL for the books of an engine on Redis, a throwaway Redis, and a bench
# script's start and cleanup (bench_start). contracts_dir needs $WORK (a
# scratch dir) and $BIN (the release binaries); curl_config needs $KEY (a partner key of the
# generated market); start_postgres needs $WORK; wait_url waits for a server started in the
# background to print where it listens.

# apt_install PACKAGE: installs a Debian package (with sudo unless root), updating the
# package lists once per script.
apt_updated=false
apt_install() {
  local sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  echo "== installing $1 (Debian package)"
  if [ "$apt_updated" = false ]; then $sudo_cmd apt-get update -qq; apt_updated=true; fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$1" >/dev/null
}

# contracts_dir N: one vertical, one offer "bench", two partners (keys
# bench-partner-key-0001 and -0002), ceil(N/3) buyers of 3 contracts each (as in the example
# contracts/, so checkpoint 3 has work to do), N fixed-price contracts without filters (every
# one a candidate for every ping). Buyers post to $BUYERS_URL/<buyer>/post: by default a
# port nothing listens on, for runs that never post.
contracts_dir() {
  local n=$1 dir="$WORK/contracts-$1"
  mkdir -p "$dir"
  {
    printf '[[verticals]]\nid = "auto"\ndedup_window_days = 30\n\n'
    printf '[[offers]]\nid = "bench"\nvertical = "auto"\nmode = "exclusive"\nping_budget_ms = 100\n\n'
    for key in bench-partner-key-0001 bench-partner-key-0002; do
      printf '[[partners]]\nid = "%s"\napi_key_sha256 = "%s"\noffers = ["bench"]\n\n' \
        "p-${key: -1}" "$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
    done
    for b in $(seq 1 $(((n + 2) / 3))); do
      printf '[[buyers]]\nid = "b%03d"\npost_url = "%s/b%03d/post"\n\n' "$b" "${BUYERS_URL:-http://127.0.0.1:9}" "$b"
    done
    for c in $(seq 1 "$n"); do
      printf '[[contracts]]\nid = "c%04d"\nbuyer = "b%03d"\noffer = "bench"\nprice = "%d.%02d"\n\n' \
        "$c" $(((c + 2) / 3)) $((10 + c % 20)) $((c % 100))
    done
  } >"$dir/market.toml"
  "$BIN/pingpost" check "$dir" >/dev/null
  echo "$dir"
}

# curl_config URL COUNT FILE [FIRST]: COUNT ping transfers, one after the other, each
# followed by a line "<status> <connections opened>"; ping i (from FIRST, 0 by default)
# carries the email instr-<i, 6 digits>@bench.example.
curl_config() {
  local url=$1 count=$2 file=$3 first=${4:-0} i
  for i in $(seq "$first" $((first + count - 1))); do
    [ "$i" -eq "$first" ] || echo next
    printf 'url = "%s/v1/ping"\n' "$url"
    printf 'header = "Authorization: Bearer %s"\n' "$KEY"
    printf 'json = "{\\"offer\\":\\"bench\\",\\"lead\\":{\\"email\\":\\"instr-%06d@bench.example\\",\\"state\\":\\"CA\\",\\"zip\\":\\"90210\\",\\"age\\":34}}"\n' "$i"
    printf 'write-out = "\\n%%{http_code} %%{num_connects}\\n"\n'
  done >"$file"
}


# free_port: a loopback port nothing listens on now (a random high one without python3).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 40000))
}

# wait_url NAME FILE PID: the URL a server printed ("... listening on http://...").
wait_url() {
  local url=""
  for _ in $(seq 1 300); do
    url=$(sed -n 's|^.* listening on \(http://.*\)$|\1|p' "$2" | head -n1)
    [ -z "$url" ] || { echo "$url"; return; }
    kill -0 "$3" 2>/dev/null || { echo "$1 exited:" >&2; cat "$2" >&2; exit 1; }
    sleep 0.1
  done
  echo "$1 never listened" >&2
  exit 1
}

# sell_leads URL KEY NAME FIRST COUNT SALES: COUNT fresh leads (emails NAME-<n>@bench.example,
# n from FIRST; a phone of their own each) pinged to the offer `bench` and posted, one after
# the other over one keep-alive connection with partner key KEY; fails unless each is sold,
# to SALES buyers when SALES is above 0.
sell_leads() {
  python3 - "$@" <<'EOF'
import http.client, json, sys, urllib.parse, zlib
url, key, name = sys.argv[1], sys.argv[2], sys.argv[3]
first, count, buyers = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
u = urllib.parse.urlparse(url)
con = http.client.HTTPConnection(u.hostname, u.port)
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
area = 500 + zlib.crc32(name.encode()) % 400
def call(path, body):
    con.request("POST", path, json.dumps(body), headers)
    r = con.getresponse()
    answer = json.loads(r.read())
    if r.status != 200:
        sys.exit(f"{path} answered {r.status}: {answer}")
    return answer
for i in range(first, first + count):
    lead = {"email": f"{name}-{i:07d}@bench.example", "phone": f"{area}{i:07d}", "state": "CA", "zip": "90210", "age": 34}
    ping = call("/v1/ping", {"offer": "bench", "lead": lead})
    post = call("/v1/post", {"ping_id": ping["ping_id"], "lead": lead})
    if post.get("status") != "sold" or (buyers > 0 and len(post.get("sales", [])) != buyers):
        sys.exit(f"lead {i} was not sold as asked ({buyers or 'any'} buyers): {post}")
EOF
}

# ---- a throwaway PostgreSQL for the books --------------------------------------------------
# `pingpost serve` on a shared store (Redis) refuses to start with the books in its own
# process, so every engine on Redis gets --books "$BOOKS_URL". What follows mirrors
# crates/pingpost-testkit/src/postgres.rs: initdb into $WORK/postgres with trust
# authentication, `postgres` on a free loopback port with its unix socket in that directory.
# PostgreSQL refuses to run as root, so as root both run as the unprivileged system user
# pingpost-test (created when missing) through `setpriv`, which switches user and then execs
# the program: the script's child is `postgres` itself, and stopping it stops the server
# (`runuser` and `su` fork and wait instead, and would leave the server running).

PG_USER=pingpost-test
POSTGRES_PID=""

# pg_bin NAME: a PostgreSQL program, Debian's newest /usr/lib/postgresql/<version>/bin first,
# then the PATH; nothing when there is none.
pg_bin() {
  local d major best="" best_major=-1
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/$1" ] || continue
    major=${d#/usr/lib/postgresql/}
    major=${major%%/*}
    major=${major%%.*}
    [[ $major =~ ^[0-9]+$ ]] || continue
    if [ "$major" -gt "$best_major" ]; then best_major=$major; best="$d/$1"; fi
  done
  if [ -n "$best" ]; then echo "$best"; else command -v "$1" || true; fi
}

# pg_as_user: sets PG_AS, the words put before a PostgreSQL program to run it as the
# unprivileged user when the script runs as root (creating the user when missing); none else.
PG_AS=()
pg_as_user() {
  PG_AS=()
  [ "$(id -u)" -eq 0 ] || return 0
  # Another script may create it meanwhile: only its absence afterwards is an error.
  id -u "$PG_USER" >/dev/null 2>&1 \
    || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$PG_USER" 2>/dev/null \
    || id -u "$PG_USER" >/dev/null 2>&1 \
    || { echo "useradd $PG_USER failed, and PostgreSQL does not run as root" >&2; exit 1; }
  PG_AS=(setpriv "--reuid=$(id -u "$PG_USER")" "--regid=$(id -g "$PG_USER")" --clear-groups --)
}

# pg_sql URL SQL: runs one statement; fails fast when the server does not answer yet.
pg_sql() {
  PGCONNECT_TIMEOUT=2 "$(pg_bin psql)" -X -q -tA -v ON_ERROR_STOP=1 -d "$1" -c "$2" </dev/null
}

# start_postgres: the server and one database in it. Sets POSTGRES_PID and exports
# BOOKS_URL; the script's exit trap calls stop_postgres. Call it in the script's own shell
# (not in a command substitution), so that the server is the script's child.
start_postgres() {
  local dir="$WORK/postgres" port admin_url attempt
  [ -n "$(pg_bin initdb)" ] || apt_install postgresql
  mkdir -p "$dir"
  pg_as_user
  if [ "${#PG_AS[@]}" -gt 0 ]; then
    chown "$PG_USER:" "$dir"
    # mktemp -d made $WORK 0700: the user must be able to pass through it to its directory.
    chmod a+x "$WORK"
  fi
  if ! "${PG_AS[@]}" "$(pg_bin initdb)" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1; then
    echo "initdb in $dir failed (as root, every parent directory must be searchable by $PG_USER):" >&2
    cat "$dir/initdb.log" >&2
    exit 1
  fi
  for attempt in 1 2 3 4 5 6 7 8; do
    port=$(free_port)
    # Throwaway data: no waiting on the disk.
    "${PG_AS[@]}" "$(pg_bin postgres)" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off >/dev/null 2>"$dir/log" &
    POSTGRES_PID=$!
    admin_url="postgres://postgres@127.0.0.1:$port/postgres"
    for _ in $(seq 1 300); do
      pg_sql "$admin_url" "SELECT 1" >/dev/null 2>&1 && break
      kill -0 "$POSTGRES_PID" 2>/dev/null || break
      sleep 0.1
    done
    if pg_sql "$admin_url" "SELECT 1" >/dev/null 2>&1; then
      pg_sql "$admin_url" "CREATE DATABASE pingpost_books TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
      export BOOKS_URL="postgres://postgres@127.0.0.1:$port/pingpost_books"
      echo "== PostgreSQL for the books on 127.0.0.1:$port ($("$(pg_bin postgres)" --version))"
      return 0
    fi
    # Its port was taken meanwhile (it exited), or it never answered: try another.
    stop_postgres
    echo "  postgres did not start on port $port (attempt $attempt)" >&2
  done
  echo "postgres did not start; its log:" >&2
  cat "$dir/log" >&2
  exit 1
}

# stop_postgres: stops the server start_postgres started, if any. SIGQUIT is PostgreSQL's
# immediate shutdown: it ends its processes and frees its shared memory (which SIGKILL would
# leave behind); nothing is kept anyway.
stop_postgres() {
  [ -n "$POSTGRES_PID" ] || return 0
  kill -QUIT "$POSTGRES_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$POSTGRES_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$POSTGRES_PID" 2>/dev/null || true
  wait "$POSTGRES_PID" 2>/dev/null || true
  POSTGRES_PID=""
}

# bench_start NAME TOOL...: what a benchmark script does first: checks that it has its tools,
# makes $OUT and a scratch directory $WORK, and on exit stops what it started (the pids in
# $PIDS, the PostgreSQL of start_postgres) and removes $WORK. A script that leaves something
# to undo first (a paused process) defines bench_before_cleanup.
bench_start() {
  local name=$1 tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name needs $tool" >&2; exit 1; }
  done
  mkdir -p "$OUT"
  WORK=$(mktemp -d)
  PIDS=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local pid
  if declare -F bench_before_cleanup >/dev/null; then bench_before_cleanup; fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_postgres
  rm -rf "$WORK"
}

# start_redis: a throwaway redis-server on a free loopback port, nothing kept on disk, its log
# in $OUT/redis.log. Sets REDIS_PORT and REDIS_PID (also in $PIDS); answers once it does.
start_redis() {
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    >"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server did not answer on port $REDIS_PORT" >&2
  exit 1
}
