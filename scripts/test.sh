#!/usr/bin/env bash
# Runs every check and test, as CI does. Needs the Rust toolchain and redis-server; when
# redis-server (or redis-cli) is missing it installs Debian's redis-server package. The
# tests start their own redis-server instances, engines and simulated buyers on free
# loopback ports and never touch a Redis they did not start.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "== installing redis-server (Debian package)"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
fi
redis-server --version

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (embedded store; Redis and Redis Cluster for the store's own tests)"
cargo test --workspace --locked
echo "== integration tests again, on Redis"
PINGPOST_TEST_STORE=redis cargo test --locked -p pingpost \
  --test checkpoints --test post --test concurrency --test errors --test privacy --test stats --test audit --test admin --test erasure --test suppression --test security --test metrics --test guarantees --test money
