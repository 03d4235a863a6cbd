#!/usr/bin/env bash
# The demo: `sharpeyes simcam` serves the shared photos of a parked truck and of a parked car (HyperLPR's,
# its plate read onto the case) and the traffic clip as RTSP
# cameras, and `sharpeyes run` analyses them with config/demo.toml. A parking case for the truck camera
# appears within about 30 s; the traffic camera (cars that never stop) opens none. Ctrl-C stops both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# shellcheck source=/dev/null
source .env.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --bin sharpeyes
bin="$root/target/release/sharpeyes"
"$bin" check-config config/demo.toml

# 8 Mbit/s, as a 1080p camera streams: at lower rates the plate's characters blur away.
"$bin" simcam --listen 127.0.0.1:8554 --bitrate 8000 \
  truck=media/images/000000009769.jpg \
  plate=media/plates/hyperlpr_test_img.jpg \
  traffic=media/traffic.mp4 &
simcam_pid=$!
trap 'kill -TERM "$simcam_pid" 2>/dev/null || true; wait "$simcam_pid" 2>/dev/null || true' EXIT

cat <<'HELP'

sharpeyes demo — dashboard and API on http://127.0.0.1:8080
  sign in with demo-operator, demo-dispatcher, demo-handler, demo-inspector or demo-admin
  curl -s -H 'Authorization: Bearer demo-operator' http://127.0.0.1:8080/api/v1/cases
  curl -s -H 'Authorization: Bearer demo-operator' http://127.0.0.1:8080/api/v1/cameras
  curl -s -H 'Authorization: Bearer demo-operator' -o evidence.jpg http://127.0.0.1:8080/api/v1/cases/1/evidence/0
Ctrl-C stops the demo.

HELP
"$bin" run --config config/demo.toml
