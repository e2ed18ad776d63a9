"""Training configuration: frozen dataclasses, a YAML file and `key=value` overrides.

The dataclasses hold every default. A YAML file (``config/train_*.yaml``) and command-line
``field=value`` pairs override them by field name; nested fields use a dot
(``loss.mimic_weight=0``). Values on the command line are parsed as YAML scalars, so
``lr=1e-4``, ``max_steps=10`` and ``precision=bf16`` all take their natural type.
"""
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
import typing
from typing import Any, Dict, Iterable, Optional

import yaml

from orion_lite_ros.training.sampling import CURVE_LATERAL_M


@dataclass(frozen=True)
class LossConfig:
    """Orion-Lite distillation losses: weights from the paper, thresholds in metres."""

    mimic_weight: float = 1.0        # L1 between student and teacher planning tokens
    waypoint_weight: float = 3.0     # L1 on step offsets, masked by command and valid future
    map_bound_weight: float = 3.0    # keep-out from predicted lane boundaries
    collision_weight: float = 1.0    # keep-out from predicted agents
    kl_weight: float = 3.0           # KL(future || present) of the VAE planner
    map_bound_dist_m: float = 1.0
    map_score_thresh: float = 0.5    # lane kept as a boundary when its score reaches this
    map_boundary_class: int = 2      # index of the "boundary" class in lane_scores
    collision_lateral_m: float = 1.5
    collision_longitudinal_m: float = 3.0
    collision_radius_m: float = 3.0  # agents farther than this at a step are ignored
    agent_score_thresh: float = 0.5
    agent_max_class: int = 4         # detection classes 0..4 are vehicles (ORION's 9 classes)
    # True: trajectory losses reach the trajectory head only (stop-gradient at the planning
    # token); everything before it learns from the mimic loss alone (mimic-only ablation).
    trajectory_head_only: bool = False
    # Perception supervision from the simulator's ground truth (training/perception.py;
    # target=full on episodes): detection class / box / traffic-light state, map lanes.
    det_weight: float = 0.0
    traffic_weight: float = 0.0
    map_weight: float = 0.0
    # Models with the go/wait gate (model planner.wait_gate): a frame is a "wait" frame when
    # the expert travels less than wait_travel_m by its last valid waypoint (by waypoint
    # wait_horizon when > 0: waiting a while and then driving off is then "wait"); its
    # command's mode of the wait set learns the trajectory, the go set's the others, and the
    # gate learns the label (binary cross-entropy, weight wait_weight).
    wait_weight: float = 1.0
    wait_travel_m: float = 1.0
    wait_horizon: int = 0
    # > 0: departure-aligned targets (losses.depart_aligned). A frame at rest whose expert
    # drives off after at most this many waypoints at rest (its reaction time, e.g. 3 = 1.5 s)
    # is a "go" frame whose trajectory target starts moving now (the at-rest waypoints are
    # dropped, the tail masked): replanned every step, a "rest a while, then go" target is
    # a plan that never goes. Later departures are "wait" frames (horizon rule unused).
    depart_align_steps: int = 0
    # Departure alignment by the recorded label instead of the lead alone: a frame whose
    # expert was held at rest only by its reaction time (episodes' `expert_reaction_hold`,
    # recorded by the datagen: whatever held it had cleared) is a go frame aligned to move
    # now, whatever its lead; other frames at rest go only within depart_align_steps.
    depart_align_hold: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; `out_dir` holds checkpoints, logs and the export."""

    val_sensitivity_batches: int = 4     # target=full: input-sensitivity checks on these
                                         # many validation batches (eval/sensitivity.py)
    # Data
    data_format: str = 'official'        # 'official' (.npz per frame) | 'episodes'
    train_dir: str = 'data/distill/train'
    val_dir: str = ''                    # empty: no validation
    official_frame: str = 'right_forward'  # frame of the official .npz xy data (see docs)
    max_lanes: int = 64                  # episodes only: lanes/agents padded to these counts
    max_agents: int = 32
    sample_cache: str = ''               # episodes: preprocessed-sample cache dir (built once
                                         # by `orion-lite-train --build-cache`, shared by runs)
    # episodes: one teacher's FeatureCache directory (the `cache_dir` that `orion-lite-teacher
    # annotate --cache ROOT` prints) to read planning tokens from where the frames carry none;
    # empty: only `teacher_token` in the frames (annotate --into-episodes). Read by mimic
    # runs only (loss.mimic_weight > 0); their sample cache is keyed by it.
    teacher_features: str = ''
    # Camera preprocessing of episodes for target=full (same meaning as model EngineConfig)
    jpeg_reencode: bool = True
    jpeg_quality: int = 20
    resize_scale: float = 0.0            # 0: source width -> crop_w
    crop_h: int = 320
    crop_w: int = 640
    # Frames whose planned path bends (|lateral| >= curve_lateral_m at a valid waypoint) are
    # drawn `curve_repeat` times per epoch (1: every frame once). Curves are a minority of
    # driving frames and the lateral part of the plan is what a student learns last.
    curve_repeat: int = 1
    curve_lateral_m: float = CURVE_LATERAL_M
    # Frames where the expert drives off from rest (training/sampling.py moveoff_mask) are
    # drawn `moveoff_repeat` times: waiting frames outnumber them and teach a planner that
    # does not yet read its cameras to stay at rest (1: every frame once).
    moveoff_repeat: int = 1
    # Probability per training sample of hiding the ego's motion from the model (speed and
    # forward/lateral acceleration of the CAN bus zeroed, so both the QT-Former's ego token and
    # the route/ego token read "at rest"). Against the inertia shortcut: a planner that reads
    # "speed 0" as "stay" never drives off (issue 16, run 5); with the drop, speed 0 is also
    # what a moving car looks like, so the plan at rest must come from the cameras and route.
    speed_dropout: float = 0.0
    # >= 0: the route/ego token's training-time target-point drop probability
    # (NavConfig.target_dropout, model default 0.1), also when fine-tuning a checkpoint. A high
    # drop leaves the steering of those samples to the command and the cameras (issue 16).
    nav_target_dropout: float = -1.0
    # > 0: the route/ego token also reads the time at rest / this (NavConfig.rest_scale_s);
    # an init_checkpoint without it gets the input with zero weights (plans unchanged)
    nav_rest_scale_s: float = 0.0
    # False: the model reads no planar ego acceleration (OrionLiteConfig.ego_accel_input), also
    # when fine-tuning a checkpoint that did (no weights change: the inputs read as zero)
    ego_accel_input: bool = True
    # Model
    target: str = 'student'              # 'student' (cached tokens) | 'full' (episodes)
    model_preset: str = 'mini'           # OrionLiteConfig.mini() | .orion_lite()
    view_h: int = 0                      # model view size (0: the preset's), e.g. 64 x 128
    view_w: int = 0                      # to train the mini model on a CPU
    # The route/ego token also biases the student's planning query (NavConfig.condition_query;
    # a preset's own value when False). Only for a model built from the preset.
    nav_condition_query: bool = False
    # The student plans go and wait sets with a gate between them (model planner.wait_gate).
    # Only for a model built from the preset.
    plan_wait_gate: bool = False
    # The gate also reads the traffic head's light reading (planner.wait_gate_lights); on an
    # init_checkpoint without it the gate is widened, the new inputs' weights start at zero.
    plan_wait_gate_lights: bool = False
    init_checkpoint: str = ''            # model/checkpoint.py directory to fine-tune from
    freeze_perception: bool = True       # full model: encoder + QT-Former frozen (paper)
    # Optimisation
    batch_size: int = 64
    epochs: int = 20
    max_steps: int = 0                   # > 0: stop after this many optimizer steps
    time_budget_s: float = 0.0           # > 0: stop (and export) after this much training
                                         # wall time; the schedule is fitted to the budget
    lr: float = 5e-5
    weight_decay: float = 1e-4
    betas: tuple = (0.9, 0.999)
    schedule: str = 'cosine'             # 'cosine' | 'step' | 'constant'
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0            # cosine floor, as a fraction of lr
    step_every_epochs: int = 8           # step schedule
    step_gamma: float = 0.1
    grad_clip: float = 1.0
    precision: str = 'auto'              # 'auto' (bf16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16
    seed: int = 0
    num_workers: int = 0
    ddp_find_unused: bool = False
    # Bookkeeping
    out_dir: str = 'runs/train'
    ckpt_every_steps: int = 100          # plus one at every epoch end
    log_every_steps: int = 10
    progress_bar: bool = True
    export_dir: str = ''                 # empty: <out_dir>/export
    loss: LossConfig = field(default_factory=LossConfig)

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out['betas'] = list(self.betas)
        return out


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """Convert a YAML/CLI value to the dataclass field's type (bool/int/float/str/tuple)."""
    kind = annotation if isinstance(annotation, type) else typing.get_origin(annotation)
    if kind is bool:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, bool):
            raise ValueError(f'{name}: expected a bool, got {value!r}')
        return value
    if kind in (int, float):
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if isinstance(value, str):           # YAML 1.1 reads '3e-4' as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f'{name}: expected a number, got {value!r}')
        if kind is int and float(value) != int(value):
            raise ValueError(f'{name}: expected an integer, got {value!r}')
        return kind(value)
    if kind in (tuple, list):
        if isinstance(value, str):
            value = yaml.safe_load(value)
        return tuple(value)
    if kind is str:
        return '' if value is None else str(value)
    return value


def from_dict(cls, data: Dict[str, Any]):
    """Build dataclass `cls` from a (nested) dict; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f'{cls.__name__}: unknown field(s) {unknown}; known: {sorted(known)}')
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if is_dataclass(hint):
            kwargs[name] = from_dict(hint, value or {})
        else:
            kwargs[name] = _coerce(value, hint, f'{cls.__name__}.{name}')
    return cls(**kwargs)


def apply_overrides(cfg, overrides: Iterable[str]):
    """Return `cfg` with `field=value` / `nested.field=value` strings applied."""
    for item in overrides:
        if '=' not in item:
            raise ValueError(f'override {item!r} is not of the form field=value')
        key, value = item.split('=', 1)
        cfg = _set_path(cfg, key.strip().split('.'), value)
    return cfg


def _set_path(cfg, path, value):
    hints = typing.get_type_hints(type(cfg))
    name = path[0]
    if name not in hints:
        known = sorted(f.name for f in fields(cfg))
        raise ValueError(f'{type(cfg).__name__}: unknown field {name!r}; known: {known}')
    if len(path) > 1:
        return replace(cfg, **{name: _set_path(getattr(cfg, name), path[1:], value)})
    return replace(cfg, **{name: _coerce(value, hints[name], name)})


def load_config(path: Optional[str] = None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Defaults <- YAML file (plain mapping or ROS-style `/**: ros__parameters:`) <- overrides."""
    data: Dict[str, Any] = {}
    if path:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if '/**' in data:
            data = data['/**'].get('ros__parameters', {})
    return apply_overrides(from_dict(TrainConfig, data), overrides)
