#!/usr/bin/env bash
# Issue 20: the encoder's fused GEMMs, before/after in one run on the same machine.
# BEFORE=<checkout of the commit before> (a git worktree; its package shadows the editable
# install because `python -m` puts the working directory first on sys.path). Writes
# $OUT/{before,after}_*.json and $OUT/ab.md (the engine rows name the shipped weights directly,
# so they plan with temporal memory, frame by frame; the replay rows take `default`, whose
# settings plan each frame alone, in batches). About 12 minutes on 2 cores; run it on a quiet
# machine (nothing else running).
set -euo pipefail
cd "$(dirname "$0")/.."
HERE=$(pwd)
PY=${PY:-$HERE/.venv/bin/python}
OUT=${OUT:-$HERE/results/perf_fused_encoder}
BEFORE=${BEFORE:?set BEFORE to a checkout of the commit before the change}
mkdir -p "$OUT"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
run() {   # run <tag> <dir>
  local tag=$1 dir=$2
  (cd "$dir"
   for t in 1 0; do
     "$PY" -m orion_lite_ros.cli.bench --checkpoint "$HERE/checkpoints/mini_embedded_lights" \
       --device cpu --iters 40 --warmup 5 --threads $t --images natural --hw 160 256 \
       --out "$OUT/${tag}_engine_sim_t$t.json" > /dev/null
     "$PY" -m orion_lite_ros.cli.bench --checkpoint "$HERE/checkpoints/mini_embedded_lights" \
       --device cpu --iters 30 --warmup 3 --threads $t --images natural \
       --out "$OUT/${tag}_engine_1600x900_t$t.json" > /dev/null
   done
   for b in 8 16; do
     "$PY" -m orion_lite_ros.bench.replay_fps --checkpoint default \
       --seconds 20 --hw 160 256 --batch $b --out "$OUT/${tag}_replay_sim_b$b.json" > /dev/null
   done
   echo "[ab] $tag done")
}
for round in 1 2; do      # interleaved, twice: the machine's drift shows as round-to-round spread
  run "before_r$round" "$BEFORE"
  run "after_r$round" "$HERE"
done
"$PY" scripts/ab_table.py "$OUT" > "$OUT/ab.md"
cat "$OUT/ab.md"
