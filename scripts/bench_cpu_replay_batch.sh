#!/usr/bin/env bash
# Issue 20: replay throughput against the batch size (frames per forward pass), fp32 and bf16,
# on the embedded simulator's cameras. Writes $OUT/replay_sim_b<N>[_bf16].json (replay_fps
# format). About 4 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/perf_replay_batch}
mkdir -p "$OUT"
for b in ${BATCHES:-4 8 16 32}; do
  for p in fp32 bf16; do
    suffix=""; [ "$p" = bf16 ] && suffix=_bf16
    "$PY" -m orion_lite_ros.bench.replay_fps --seconds 16 --hw 160 256 --precision "$p" \
      --batch "$b" --out "$OUT/replay_sim_b$b$suffix.json" > /dev/null
    echo "[replay] batch $b $p"
  done
done
