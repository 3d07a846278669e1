#!/usr/bin/env bash
# Runs every check and test, as CI does. Needs only the Rust toolchain; the tests start
# their own servers (engine, simulated buyers) on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
