#!/usr/bin/env bash
# Issue-20 follow-up, one run: batched replay and bf16 (AMX) on the CPU, beside fp32.
# Writes $OUT/*.json (default results/perf_batch) (same formats as scripts/bench_cpu.sh). About 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/perf_batch}
mkdir -p "$OUT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
bench() { "$PY" -m orion_lite_ros.cli.bench --checkpoint default --device cpu --iters 30 \
  --warmup 3 --out "$OUT/$1.json" "${@:2}" > /dev/null; echo "[bench] $1"; }
rf() { "$PY" -m orion_lite_ros.bench.replay_fps --out "$OUT/$1.json" "${@:2}" > /dev/null; \
  echo "[replay] $1"; }
e2e() { "$PY" -m orion_lite_ros.bench.planner_e2e --seconds 12 --out "$OUT/$1.json" "${@:2}" \
  > /dev/null; echo "[e2e] $1"; }
bench engine_sim_auto --images natural --hw 160 256
bench engine_sim_auto_bf16 --images natural --hw 160 256 --precision bf16
bench engine_after_auto_natural --images natural
bench engine_after_auto_natural_bf16 --images natural --precision bf16
rf replay_sim --seconds 8 --hw 160 256
rf replay_sim_bf16 --seconds 8 --hw 160 256 --precision bf16
rf replay_1600x900_jpeg_q20 --seconds 4 --hw 900 1600 --compressed --jpeg-quality 20
rf replay_1600x900_jpeg_q90 --seconds 4 --hw 900 1600 --compressed --jpeg-quality 90
e2e e2e_sim_20hz --hw 160 256 --rate 20
e2e e2e_sim_20hz_bf16 --hw 160 256 --rate 20 --precision bf16
e2e e2e_1600x900_10hz_jpeg20 --hw 900 1600 --rate 10 --jpeg-quality 20
e2e e2e_1600x900_10hz_jpeg20_bf16 --hw 900 1600 --rate 10 --jpeg-quality 20 --precision bf16
e2e e2e_sim_20hz_no_pipeline --hw 160 256 --rate 20 --no-pipeline
e2e e2e_1600x900_10hz_jpeg20_no_pipeline --hw 900 1600 --rate 10 --jpeg-quality 20 --no-pipeline
e2e e2e_sim_20hz_events --hw 160 256 --rate 20 --executor events
e2e e2e_1600x900_10hz_jpeg20_events --hw 900 1600 --rate 10 --jpeg-quality 20 --executor events
"$PY" -m orion_lite_ros.bench.decode_set --hw 900 1600 --quality 20 90 --out "$OUT/decode_set_1600x900.json" \
  > /dev/null; echo "[decode] decode_set_1600x900"
"$PY" -m orion_lite_ros.bench.perf_table "$OUT"
