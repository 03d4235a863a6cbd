#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) with cargo-fuzz on the nightly toolchain, and
# prints the inputs run and the crashes found per target. Crashes are kept in fuzz/artifacts/<target>/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-60}"
bash scripts/setup.sh >/dev/null
# shellcheck source=/dev/null
source .env.sh
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=(sensor_payload configuration manifest open311_photo api_json)
cargo +nightly fuzz build -O
mkdir -p target/fuzz-logs
printf '%-16s %12s %8s\n' target inputs crashes
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    log="target/fuzz-logs/$target.log"
    status=0
    cargo +nightly fuzz run -O "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    crashes=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | wc -l)
    printf '%-16s %12s %8s\n' "$target" "${runs:-?}" "$crashes"
    if [ "$status" -ne 0 ]; then
        echo "  $target stopped with status $status: see $log" >&2
    fi
done
