# The two commands of the README. Both run scripts/setup.sh first (idempotent), which installs the
# system packages, the ONNX Runtime virtualenv and links the shared model and media.
SHELL := /bin/bash

.PHONY: setup build demo test bench

setup:
	bash scripts/setup.sh

build: setup
	source .env.sh && cargo build --release --workspace

## The demo: simulated cameras from the shared media, the full pipeline, API on http://127.0.0.1:8080
demo:
	bash scripts/demo.sh

## Every test: unit, property and end-to-end (real RTSP server, real detector, real SQLite)
test:
	bash scripts/test.sh

## Benchmarks: figures and ratios to their baselines (never asserted)
bench: setup
	source .env.sh && cargo bench --bench inference
	bash benches/detect_vs_python.sh
	source .env.sh && cargo bench --bench sensor_throughput
	source .env.sh && cargo bench --bench camera_capacity
	source .env.sh && cargo bench --bench case_engine
	source .env.sh && cargo bench --bench static_object
	source .env.sh && cargo bench --bench case_list
	source .env.sh && cargo bench --bench alert_latency
	bash benches/plates_vs_python.sh
