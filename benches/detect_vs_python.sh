#!/usr/bin/env bash
# Whole-process comparison: `sharpeyes detect` against the Python pipeline (onnxruntime + numpy +
# Pillow, benches/python_detect.py) on the shared photos, the image list repeated: once with both on one
# core, once with both at their defaults on the whole box. Prints images/s of each and the ratio
# (target >= 1.5). Best of 3 runs each.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=/dev/null
source .env.sh
repeat="${REPEAT:-10}"
images=()
for _ in $(seq "$repeat"); do images+=(media/images/*.jpg); done
count=${#images[@]}
cargo build --release --locked --bin sharpeyes >/dev/null 2>&1

best() {
  local best=""
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    best=$(echo "$start $end ${best:-inf}" | awk '{t = $2 - $1; if ($3 == "inf" || t < $3) print t; else print $3}')
  done
  echo "$best"
}

report() {
  awk -v n="$count" -v r="$2" -v p="$3" -v title="$1" 'BEGIN {
    printf "%s: %d images, whole process, best of 3\n", title, n
    printf "  sharpeyes detect  %6.2f s  %6.1f images/s\n", r, n / r
    printf "  python pipeline   %6.2f s  %6.1f images/s\n", p, n / p
    printf "  ratio             %6.2fx (target >= 1.5)\n", p / r
  }'
}

model=(--model models/yolox_nano.toml)
rust=$(best target/release/sharpeyes detect "${model[@]}" --jobs 1 --threads 1 "${images[@]}")
python=$(best .venv/bin/python benches/python_detect.py models/yolox_nano.onnx --threads 1 "${images[@]}")
report "one core each (1 detector, 1 intra-op thread)" "$rust" "$python"

# Each at its default on the whole box: sharpeyes runs one detector per core, the Python pipeline lets
# ONNX Runtime use every core inside the session (intra_op_num_threads = 0).
rust=$(best target/release/sharpeyes detect "${model[@]}" "${images[@]}")
python=$(best .venv/bin/python benches/python_detect.py models/yolox_nano.onnx --threads 0 "${images[@]}")
report "whole box each (defaults: $(nproc) cores)" "$rust" "$python"
