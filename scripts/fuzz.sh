#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) with cargo-fuzz on the nightly toolchain, and
# prints the inputs run and the crashes found by this run per target (older crash files in
# fuzz/artifacts/<target>/ are not counted again). Exits 1 when a target found a crash or stopped with
# an error, naming it.
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
# Seeds: the project's own valid inputs, so that the fuzzer starts from what the parsers accept.
seed() { mkdir -p "fuzz/corpus/$1"; cp -n "${@:2}" "fuzz/corpus/$1/" 2>/dev/null || true; }
seed configuration config/*.toml
seed manifest models/*.toml
seed open311_photo media/images/000000009769.jpg media/images/000000000285.jpg
mkdir -p fuzz/corpus/sensor_payload fuzz/corpus/api_json
printf '\000{"open": true, "tilt_deg": 30.0, "ts": "2026-11-23T10:00:00Z"}' >fuzz/corpus/sensor_payload/manhole
printf '\002{"level_cm": 120.5}' >fuzz/corpus/sensor_payload/water
printf '{"action": "dispatch", "note": "to the street office"}' >fuzz/corpus/api_json/action
printf '{"matchers": {"camera": "cam-01"}, "starts_at": "2026-11-24T00:00:00Z", "ends_at": "2026-11-25T00:00:00Z", "comment": "x"}' >fuzz/corpus/api_json/silence
mkdir -p target/fuzz-logs
printf '%-16s %12s %8s\n' target inputs crashes
failed=()
for target in "${targets[@]}"; do
    log="target/fuzz-logs/$target.log"
    known=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | sort || true)
    status=0
    cargo +nightly fuzz run -O "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    found=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | sort || true)
    crashes=$(comm -13 <(printf '%s\n' "$known") <(printf '%s\n' "$found") | grep -c . || true)
    printf '%-16s %12s %8s\n' "$target" "${runs:-?}" "$crashes"
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        echo "  $target: status $status, $crashes new crash file(s): see $log and fuzz/artifacts/$target/" >&2
        failed+=("$target")
    fi
done
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzzing failed: ${failed[*]}" >&2
    exit 1
fi
