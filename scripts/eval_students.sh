#!/usr/bin/env bash
# Issue 10 evaluation half (docs/student_experiment.md): every student arm exported by
# scripts/distill_experiment.sh, closed loop through ROS on the held-out routes
# (orion-lite-demo: bridge_node + planner_node + controller_node, lock-step) and open loop on
# held-out expert bags (recorded once). Runs one after the other; CPU is enough.
#
#   WORK=data/distill OUT=out/distill bash scripts/eval_students.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
WORK=${WORK:-data/distill}
OUT=${OUT:-out/distill}
VARIANTS=${VARIANTS:-full gt_only mimic_only}
BAGS=${BAGS:-lead_brake_100001 red_light_100001 stop_sign_100001}
BAG_DIR=${BAG_DIR:-$OUT/bags}
export PYTHONUNBUFFERED=1 MUJOCO_GL=${MUJOCO_GL:-egl}
mkdir -p "$OUT" "$BAG_DIR"
log() { echo "[eval $(date +%T)] $*"; }

for bag in $BAGS; do
  [ -e "$BAG_DIR/$bag" ] && continue
  family=${bag%_*}; seed=${bag##*_}
  log "record $BAG_DIR/$bag (expert, 30 s, cameras 160x256 at 5 Hz)"
  "$BIN/python" -c "from orion_lite_ros.eval.sim_bag import record_sim_bag; \
record_sim_bag('$BAG_DIR/$bag', '$family', $seed, 30.0, 5.0, camera_size_hw=(160, 256))"
done
for v in $VARIANTS; do
  ckpt=$WORK/runs/$v/export
  [ -f "$ckpt/model.safetensors" ] || { log "$v: no export at $ckpt, skipped"; continue; }
  log "$v: closed loop -> $OUT/$v"
  "$BIN/orion-lite-demo" --only planner --checkpoint "$ckpt" --out "$OUT/$v" \
    > "$OUT/demo_$v.log" 2>&1 || log "$v: orion-lite-demo exited $?"
  tail -n 3 "$OUT/demo_$v.log"
  for bag in $BAGS; do
    "$BIN/orion-lite-replay" "$BAG_DIR/$bag" --checkpoint "$ckpt" --single-frame --no-plots \
      --out "$OUT/replay/$v/$bag" > "$OUT/replay_${v}_$bag.log" 2>&1
    log "$v $bag: $(grep 'Bench2Drive avg' "$OUT/replay_${v}_$bag.log")"
  done
done
log done
