#!/usr/bin/env bash
# Runs every check and test, as CI does. Needs the Rust toolchain, redis-server and
# PostgreSQL's programs; when they are missing it installs Debian's redis-server and
# postgresql packages. The tests start their own redis-server and postgres instances,
# engines and simulated buyers on free loopback ports and never touch a Redis or a database
# they did not start or create: the books' tests use PINGPOST_TEST_POSTGRES (a postgres://
# URL) when it is set, creating and dropping databases of their own there, and otherwise
# start their own PostgreSQL (as the unprivileged user pingpost-test when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

# apt_install.
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  apt_install redis-server
fi
redis-server --version

# Where the testkit looks for them too: Debian's versioned directory, then the PATH.
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null || command -v "$1" >/dev/null; }
need_pg=false
have_pg psql || need_pg=true
if [ -z "${PINGPOST_TEST_POSTGRES:-}" ]; then
  { have_pg initdb && have_pg postgres; } || need_pg=true
fi
if [ "$need_pg" = true ]; then apt_install postgresql; fi
psql --version || true

# Headless Chromium and its WebDriver for the console's browser tests (tests/console.rs).
command -v chromium >/dev/null || apt_install chromium
command -v chromedriver >/dev/null || apt_install chromium-driver

# schemathesis and openapi-spec-validator (PyPI), which tests/schemathesis.rs and
# tests/openapi.rs run against the real binary, in a virtual environment of the tests' own
# (pinned: a new release must not change what passes).
venv=target/test-tools/venv
if [ ! -x "$venv/bin/pip" ]; then
  command -v python3 >/dev/null || apt_install python3
  mkdir -p target/test-tools
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
fi
if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  echo "== installing schemathesis and openapi-spec-validator (PyPI) into $venv"
  "$venv/bin/pip" install -q "schemathesis==4.32.5" "hypothesis==6.170.27" "openapi-spec-validator==0.9.0"
fi
export PINGPOST_SCHEMATHESIS="$PWD/$venv/bin/schemathesis"
export PINGPOST_OPENAPI_SPEC_VALIDATOR="$PWD/$venv/bin/openapi-spec-validator"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== the binary's normal dependencies leave the test code out (features testing, failpoints of the stores, engine and books)"
# Tests turn them on through [dev-dependencies]; a release build must never compile the
# conformance suites, the snapshots or the failpoints. The second tree (with the test
# edges) must show them, or the first check proves nothing.
test_only='pingpost-(store|redis|engine|books) feature "(testing|failpoints)"'
if cargo tree --locked -p pingpost -e features -e normal | grep -E "$test_only"; then
  echo "a normal dependency of pingpost turns on test-only features" >&2
  exit 1
fi
cargo tree --locked -p pingpost -e features | grep -E "$test_only" >/dev/null
echo "== cargo test (embedded store; Redis and Redis Cluster for the store's own tests; PostgreSQL for the books')"
cargo test --workspace --locked
# --workspace, not -p pingpost: cargo unifies features over the packages it builds, so naming one
# package would build every dependency and test again with other features (four more minutes and
# a second target's worth of disk). pingpost-redis's own audit, stats and retention tests share
# names with three below and run again with them; they take seconds.
echo "== integration tests again, on Redis"
PINGPOST_TEST_STORE=redis cargo test --locked --workspace \
  --test checkpoints --test post --test auction_fixtures --test intake --test concurrency --test errors --test privacy --test stats --test audit --test admin --test erasure --test suppression --test security --test console_access --test buyer_adapters --test metrics --test guarantees --test money --test books --test returns --test retention --test repeats --test events --test whatif --test events_outage --test idempotency --test secrets --test strict_buyers --test lead_fields --test test_leads --test partner_docs
echo "== the money tests again, on Redis with the books in PostgreSQL (as production keeps them)"
PINGPOST_TEST_STORE=redis PINGPOST_TEST_BOOKS=postgres cargo test --locked --workspace \
  --test money --test books --test returns --test strict_buyers --test repeats
