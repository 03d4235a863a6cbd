#!/usr/bin/env bash
# Runs every test of the workspace after the set-up. Used by `make test` and by CI (.ci/run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# shellcheck source=/dev/null
source .env.sh
export PATH="$HOME/.cargo/bin:$PATH"
# Release profile: the end-to-end tests run the detector on live video, and the demo shares the build.
# Benchmarks are built (so they keep compiling) but not run: `make bench` runs them.
cargo build --release --workspace --all-targets --locked
cargo test --release --workspace --lib --bins --tests --locked
cargo test --release --workspace --doc --locked
