#!/usr/bin/env bash
# Issue 10 student experiment, data + training half (docs/student_experiment.md):
#   1. token-only expert episodes (no rendering, fast) on training seeds 0..;
#   2. the privileged teacher: trained on those tokens (GPU when present) and scored in closed
#      loop on the held-out routes (physics only, in-process; the ROS-loop score comes from
#      `orion-lite-demo --only teacher` afterwards);
#   3. rendered expert episodes with perturbations on other training seeds (1000..), at the
#      embedded simulator's camera size (config/sim.yaml), the teacher's planning token
#      recorded per frame while recording (datagen teacher_checkpoint=...);
#   4. one sample cache (preprocessed model views, memory-mapped) shared by the runs;
#   5. three students per seed (SEEDS), trained concurrently with the same wall-clock budget:
#      full (mimic + GT), gt_only (mimic weight 0), mimic_only (trajectory head behind a
#      stop-gradient: everything up to the planning token learns from the teacher only);
#      every arm also gets the perception supervision (detection, traffic lights, map) and
#      reads the route/ego token of the mini preset (model NavConfig).
# Datagen runs JOBS processes, time-boxed (episodes cut short are dropped). Every step
# resumes. Closed-loop evaluation of the students runs through ROS afterwards (README).
#
#   WORK=/tmp/distill bash scripts/distill_experiment.sh
#   (VARIANTS=gt_only: no teacher at all; TEACHER_INLINE=0 and TEACHER_EVAL=0 suit 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
WORK=${WORK:-data/distill}
JOBS=${JOBS:-14}
SEEDS_PER_JOB=${SEEDS_PER_JOB:-1}
TOKEN_SEEDS_PER_JOB=${TOKEN_SEEDS_PER_JOB:-2}
DATAGEN_S=${DATAGEN_S:-300}
RENDER_S=${RENDER_S:-$DATAGEN_S}      # time box of the rendered datagen
TRAIN_S=${TRAIN_S:-600}
VARIANTS=${VARIANTS:-full gt_only mimic_only}
SEEDS=${SEEDS:-0}
PERCEPTION_ARGS=${PERCEPTION_ARGS:-loss.det_weight=1.0 loss.traffic_weight=1.0 loss.map_weight=0.5}
TEACHER_ARGS=${TEACHER_ARGS:-epochs=40 batch_size=256 lr=2e-3}
TRAIN_ARGS=${TRAIN_ARGS:-}
TEACHER_EVAL=${TEACHER_EVAL:-1}      # 0: skip the teacher's background closed loop (2-core runs)
# 1: train the teacher on the token-only episodes, then render with its planning token inline;
# 0: render first, train the teacher on the tokens of both, then write its planning token of
#    every rendered frame into a feature cache ($WORK/teacher_features, read by the mimic arms)
TEACHER_INLINE=${TEACHER_INLINE:-1}
# Sample-shaping and optimisation settings shared by the cache and the three runs (they enter
# the cache key), e.g. the CPU scale: "view_h=64 view_w=128 batch_size=16 num_workers=0"
COMMON_ARGS=${COMMON_ARGS:-}
NPROC=$(nproc)
export MUJOCO_GL=${MUJOCO_GL:-egl} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$WORK/logs"
log() { echo "[distill $(date +%T)] $*"; }

# datagen NAME SEED0 SEEDS_PER_JOB ARGS...: JOBS time-boxed processes into $WORK/NAME/train
datagen() {
  local name=$1 seed0=$2 per=$3; shift 3
  [ -f "$WORK/$name.done" ] && return 0
  log "datagen $name: $JOBS jobs x $per seeds from $seed0, at most ${DATAGEN_S}s"
  local pids=()
  for j in $(seq 0 $((JOBS - 1))); do
    timeout "$DATAGEN_S" $PY -m orion_lite_ros.cli.datagen --config config/datagen.yaml "$@" \
      out_dir="$WORK/$name/train" seed_start=$((seed0 + j * per)) num_seeds="$per" \
      > "$WORK/logs/datagen_${name}_$j.log" 2>&1 & pids+=($!)
  done
  timeout "$DATAGEN_S" $PY -m orion_lite_ros.cli.datagen --config config/datagen.yaml "$@" \
    out_dir="$WORK/$name/val" seed_start=$((seed0 + 900)) num_seeds=1 perturbed_per_route=0 \
    > "$WORK/logs/datagen_${name}_val.log" 2>&1 & pids+=($!)
  for p in "${pids[@]}"; do wait "$p" || true; done     # 124 = time box reached
  touch "$WORK/$name.done"
  log "$name: train $(ls "$WORK/$name"/train/*/meta.json | wc -l) episodes, val $(ls "$WORK/$name"/val/*/meta.json | wc -l)"
}

# the teacher (token-only episodes, its training, its planning tokens) only for arms that
# mimic it: VARIANTS=gt_only renders and trains without one
NEED_TEACHER=0
for v in $VARIANTS; do
  if [ "$v" != gt_only ]; then NEED_TEACHER=1; fi
done
if [ "$NEED_TEACHER" = 1 ]; then
  datagen tokens 0 "$TOKEN_SEEDS_PER_JOB" render=false perturbed_per_route=2
fi

TEACHER=$WORK/teacher/teacher
train_teacher() {   # train_teacher EPISODES_DIR
  [ -f "$TEACHER/model.safetensors" ] && return 0
  log "teacher: train on $1 ($TEACHER_ARGS)"
  $PY -m orion_lite_ros.cli.teacher train --config config/teacher.yaml \
    episodes_dir="$1" out_dir="$WORK/teacher" load_workers="$NPROC" \
    $TEACHER_ARGS > "$WORK/logs/teacher_train.log" 2>&1
  tail -n 2 "$WORK/logs/teacher_train.log"
}
teacher_eval() {
  if [ "$TEACHER_EVAL" = 1 ] && [ ! -f "$WORK/eval_teacher.json" ]; then
    log "teacher and expert: closed loop on the held-out routes (background)"
    $PY -m orion_lite_ros.cli.teacher eval --checkpoint "$TEACHER" --out "$WORK/eval_teacher.json" \
      > "$WORK/logs/teacher_eval.log" 2>&1 &
    $PY -m orion_lite_ros.cli.teacher eval --expert --out "$WORK/eval_expert.json" \
      > "$WORK/logs/expert_eval.log" 2>&1 &
  fi
}
# = config/sim.yaml cameras
RENDER="camera_height_px=160 camera_width_px=256 skybox=true perturbed_per_route=2"
if [ "$NEED_TEACHER" = 1 ] && [ "$TEACHER_INLINE" = 1 ]; then
  train_teacher "$WORK/tokens/train"
  teacher_eval
  # the teacher's planning token recorded per frame while rendering
  DATAGEN_S=$RENDER_S datagen episodes 1000 "$SEEDS_PER_JOB" $RENDER teacher_checkpoint="$TEACHER"
else
  # render first (all there is without a teacher); the teacher learns from the tokens of
  # every episode (token-only + rendered), then writes its planning token into the frames
  DATAGEN_S=$RENDER_S datagen episodes 1000 "$SEEDS_PER_JOB" $RENDER
  if [ "$NEED_TEACHER" = 1 ]; then
    mkdir -p "$WORK/teacher_episodes"
    for src in tokens episodes; do
      for ep in "$WORK/$src"/train/*; do
        [ -f "$ep/meta.json" ] && ln -sfn "$(realpath "$ep")" "$WORK/teacher_episodes/${src}_$(basename "$ep")"
      done
    done
    train_teacher "$WORK/teacher_episodes"
    teacher_eval
    # into a FeatureCache beside the frames (rewriting every frame's .npz costs as much as
    # recording it); the mimic arms read it through teacher_features=
    for split in train val; do
      [ -f "$WORK/annotated_$split.done" ] && continue
      log "teacher: planning tokens of $WORK/episodes/$split -> $WORK/teacher_features"
      $PY -m orion_lite_ros.cli.teacher annotate --checkpoint "$TEACHER" \
        --episodes "$WORK/episodes/$split" --cache "$WORK/teacher_features" --workers "$NPROC" \
        > "$WORK/logs/annotate_$split.log" 2>&1
      tail -n 1 "$WORK/logs/annotate_$split.log" > "$WORK/annotated_$split.done"
    done
    FEATURES=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["cache_dir"])' \
      "$WORK/annotated_train.done")
    MIMIC_DATA="teacher_features=$FEATURES"
  fi
fi
MIMIC_DATA=${MIMIC_DATA:-}

COMMON="--config config/train_episodes.yaml target=full freeze_perception=false
  train_dir=$WORK/episodes/train val_dir=$WORK/episodes/val sample_cache=$WORK/cache
  batch_size=64 lr=3e-4 warmup_steps=200 epochs=200 time_budget_s=$TRAIN_S
  ckpt_every_steps=500 log_every_steps=50 progress_bar=false num_workers=2 $PERCEPTION_ARGS
  $COMMON_ARGS"
log "sample cache"
$PY -m orion_lite_ros.cli.train $COMMON num_workers="$NPROC" --build-cache
if [ "$NEED_TEACHER" = 1 ]; then    # the mimic arms' own cache (with the teacher's tokens)
  $PY -m orion_lite_ros.cli.train $COMMON num_workers="$NPROC" loss.mimic_weight=1.0 \
    $MIMIC_DATA --build-cache
fi

declare -A LOSS=(
  [full]="loss.mimic_weight=1.0 $MIMIC_DATA"
  [gt_only]="loss.mimic_weight=0.0"
  [mimic_only]="loss.mimic_weight=1.0 loss.trajectory_head_only=true $MIMIC_DATA"
)
for seed in $SEEDS; do
  pids=()
  for v in $VARIANTS; do
    run=$v; [ "$seed" != 0 ] && run=${v}_s$seed
    if [ -f "$WORK/runs/$run/export/model.safetensors" ]; then log "$run: exported already"; continue; fi
    log "train $run (${TRAIN_S}s)"
    $PY -m orion_lite_ros.cli.train $COMMON out_dir="$WORK/runs/$run" seed="$seed" ${LOSS[$v]} \
      $TRAIN_ARGS --resume > "$WORK/logs/train_$run.log" 2>&1 & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
done
wait
tail -n 1 "$WORK/logs/teacher_eval.log" "$WORK/logs/expert_eval.log" 2>/dev/null || true
log "done"
