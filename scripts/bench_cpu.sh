#!/usr/bin/env bash
# Issue-20 CPU benchmarks, one run, side by side: engine stages before/after, thread settings
# quiet and under load (BUSY extra spinning processes), the planner node end to end over DDS,
# offline replay. Writes results/perf/*.json and docs tables via orion_lite_ros.bench.perf_table.
#   bash scripts/bench_cpu.sh            (about 10 minutes on 2 cores; run on a quiet machine)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/perf}
ITERS=${ITERS:-20}
E2E_S=${E2E_S:-12}
mkdir -p "$OUT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
bench() { "$PY" -m orion_lite_ros.cli.bench --checkpoint default --device cpu --iters "$ITERS" \
  --warmup 3 --out "$OUT/$1.json" "${@:2}" > /dev/null; echo "[bench] $1"; }
busy() { for _ in $(seq "$1"); do "$PY" -c 'while True: pass' & done; }
stop_busy() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop_busy EXIT
for img in noise natural; do
  # before: the issue's measurement settings (full decode, serial views, 1 and 2 torch threads)
  bench "engine_before_t1_$img" --images "$img" --jpeg-decode full --preprocess-threads 1 --threads 1
  bench "engine_before_t2_$img" --images "$img" --jpeg-decode full --preprocess-threads 1 --threads 2
  bench "engine_full_auto_$img" --images "$img" --jpeg-decode full
  bench "engine_after_auto_$img" --images "$img"
done
bench engine_after_t1_natural --images natural --threads 1
bench engine_after_t2_natural --images natural --threads 2
bench engine_sim_auto --images natural --hw 160 256
bench engine_sim_auto_compile --images natural --hw 160 256 --compile
for n in 1 2; do
  busy "$n"; sleep 1
  bench "engine_before_t2_natural_busy$n" --images natural --jpeg-decode full --preprocess-threads 1 --threads 2
  bench "engine_after_t1_natural_busy$n" --images natural --threads 1
  bench "engine_after_auto_natural_busy$n" --images natural
  stop_busy
done
e2e() { "$PY" -m orion_lite_ros.bench.planner_e2e --seconds "$E2E_S" --out "$OUT/$1.json" "${@:2}" \
  > /dev/null; echo "[e2e] $1"; }
e2e e2e_1600x900_10hz --hw 900 1600 --rate 10
e2e e2e_1600x900_10hz_before --hw 900 1600 --rate 10 --jpeg-decode full --preprocess-threads 1 --threads 2
e2e e2e_1600x900_10hz_jpeg20 --hw 900 1600 --rate 10 --jpeg-quality 20
e2e e2e_1600x900_10hz_jpeg90 --hw 900 1600 --rate 10 --jpeg-quality 90
e2e e2e_sim_20hz --hw 160 256 --rate 20
e2e e2e_sim_20hz_compile --hw 160 256 --rate 20 --compile
e2e e2e_sim_20hz_busy1 --hw 160 256 --rate 20 --busy 1
rf() { "$PY" -m orion_lite_ros.bench.replay_fps --out "$OUT/$1.json" "${@:2}" > /dev/null; \
  echo "[replay] $1"; }
rf replay_sim --seconds 8 --hw 160 256
rf replay_1600x900_jpeg_q90 --seconds 4 --hw 900 1600 --compressed --jpeg-quality 90
rf replay_1600x900_jpeg_q20 --seconds 4 --hw 900 1600 --compressed --jpeg-quality 20
"$PY" -m orion_lite_ros.bench.perf_table "$OUT"
