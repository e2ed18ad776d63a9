#!/usr/bin/env bash
# Issue 10 student experiment, data + training half (docs/student_experiment.md):
#   1. datagen: expert episodes with perturbations on training seeds, rendered at the
#      embedded simulator's camera size (config/sim.yaml); JOBS processes, time-boxed
#      (episodes cut short are dropped);
#   2. the privileged teacher: trained on the episodes' tokens (GPU when present), scored in
#      closed loop on the held-out routes (physics only), its planning token written into
#      every frame (the distillation target);
#   3. one sample cache (preprocessed model views, memory-mapped) shared by the runs;
#   4. three students trained concurrently with the same wall-clock budget:
#      full (mimic + GT), gt_only (mimic weight 0), mimic_only (trajectory head behind a
#      stop-gradient: everything up to the planning token learns from the teacher only).
# Sized for one GPU machine (16 cores); every step resumes. The closed-loop evaluation runs
# through ROS afterwards (orion-lite-demo / scripts in the README).
#
#   WORK=/tmp/distill bash scripts/distill_experiment.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
WORK=${WORK:-data/distill}
TEACHER_ARGS=${TEACHER_ARGS:-epochs=40 batch_size=256 lr=2e-3}
JOBS=${JOBS:-14}
SEEDS_PER_JOB=${SEEDS_PER_JOB:-6}
DATAGEN_S=${DATAGEN_S:-240}
TRAIN_S=${TRAIN_S:-600}
VARIANTS=${VARIANTS:-full gt_only mimic_only}
TRAIN_ARGS=${TRAIN_ARGS:-}
export MUJOCO_GL=${MUJOCO_GL:-egl} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$WORK/logs"
log() { echo "[distill $(date +%T)] $*"; }

CAM="camera_height_px=160 camera_width_px=256 skybox=true"    # = config/sim.yaml
GEN="$PY -m orion_lite_ros.cli.datagen --config config/datagen.yaml $CAM perturbed_per_route=2"
if [ ! -f "$WORK/datagen.done" ]; then
  log "datagen: $JOBS jobs x $SEEDS_PER_JOB seeds, ${DATAGEN_S}s"
  pids=()
  for j in $(seq 0 $((JOBS - 1))); do
    timeout "$DATAGEN_S" $GEN out_dir="$WORK/episodes/train" seed_start=$((j * SEEDS_PER_JOB)) \
      num_seeds="$SEEDS_PER_JOB" > "$WORK/logs/datagen_$j.log" 2>&1 & pids+=($!)
  done
  timeout "$DATAGEN_S" $GEN out_dir="$WORK/episodes/val" seed_start=900 num_seeds=1 \
    perturbed_per_route=0 > "$WORK/logs/datagen_val.log" 2>&1 & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || true; done     # 124 = time box reached
  touch "$WORK/datagen.done"
fi
log "episodes: train $(ls "$WORK"/episodes/train/*/meta.json | wc -l), val $(ls "$WORK"/episodes/val/*/meta.json | wc -l)"

NPROC=$(nproc)
TEACHER=$WORK/teacher/teacher
if [ ! -f "$WORK/annotate.done" ]; then
  log "teacher: train ($TEACHER_ARGS)"
  $PY -m orion_lite_ros.cli.teacher train --config config/teacher.yaml \
    episodes_dir="$WORK/episodes/train" out_dir="$WORK/teacher" load_workers="$NPROC" \
    $TEACHER_ARGS > "$WORK/logs/teacher_train.log" 2>&1
  tail -n 2 "$WORK/logs/teacher_train.log"
  log "teacher: closed loop on the held-out routes (background); annotate"
  $PY -m orion_lite_ros.cli.teacher eval --checkpoint "$TEACHER" --out "$WORK/eval_teacher.json" \
    > "$WORK/logs/teacher_eval.log" 2>&1 &
  $PY -m orion_lite_ros.cli.teacher eval --expert --out "$WORK/eval_expert.json" \
    > "$WORK/logs/expert_eval.log" 2>&1 &
  for split in train val; do
    $PY -m orion_lite_ros.cli.teacher annotate --checkpoint "$TEACHER" --into-episodes \
      --episodes "$WORK/episodes/$split" --workers "$NPROC"
  done
  touch "$WORK/annotate.done"
fi

COMMON="--config config/train_episodes.yaml target=full freeze_perception=false
  train_dir=$WORK/episodes/train val_dir=$WORK/episodes/val sample_cache=$WORK/cache
  batch_size=64 lr=3e-4 warmup_steps=200 epochs=200 time_budget_s=$TRAIN_S
  ckpt_every_steps=500 log_every_steps=50 progress_bar=false"
log "sample cache"
$PY -m orion_lite_ros.cli.train $COMMON num_workers="$NPROC" --build-cache

declare -A LOSS=(
  [full]="loss.mimic_weight=1.0"
  [gt_only]="loss.mimic_weight=0.0"
  [mimic_only]="loss.mimic_weight=1.0 loss.trajectory_head_only=true"
)
pids=()
for v in $VARIANTS; do
  if [ -f "$WORK/runs/$v/export/model.safetensors" ]; then log "$v: exported already"; continue; fi
  log "train $v (${TRAIN_S}s)"
  $PY -m orion_lite_ros.cli.train $COMMON num_workers=2 out_dir="$WORK/runs/$v" ${LOSS[$v]} \
    $TRAIN_ARGS --resume > "$WORK/logs/train_$v.log" 2>&1 & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
wait
tail -n 1 "$WORK/logs/teacher_eval.log" "$WORK/logs/expert_eval.log" || true
log "done"
