"""Teacher, token, data-generation and training configs (frozen; YAML overrides by field)."""
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from orion_lite_ros.layout import CAMERA_NAMES


@dataclass(frozen=True)
class TokenConfig:
    """Sizes and ranges of the object-level tokens (ego frame, metres)."""

    max_agents: int = 20
    agent_range_m: float = 40.0
    num_route_points: int = 10
    route_spacing_m: float = 3.0          # route points every 3 m from the ego's projection
    max_lane_segments: int = 24
    lane_points: int = 5                  # points per boundary segment
    lane_step_m: float = 2.0              # spacing of those points (segment = 8 m)
    lane_range_m: float = 30.0
    max_signals: int = 2
    signal_range_m: float = 50.0
    signal_lateral_m: float = 1.5         # stop line on the route: |offset| below this


@dataclass(frozen=True)
class TeacherConfig:
    """`PrivilegedTeacher`: transformer encoder over tokens + a learnable [PLAN] token."""

    d_model: int = 128
    num_layers: int = 3
    num_heads: int = 4
    ffn_dim: int = 256
    dropout: float = 0.0
    token_dim: int = 256                  # planning-token width = OrionLiteConfig.mini().token_dim
    head_hidden: int = 256
    position_scale_m: float = 20.0
    speed_scale_mps: float = 10.0
    tokens: TokenConfig = field(default_factory=TokenConfig)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'TeacherConfig':
        return build_dataclass(cls, data)


@dataclass(frozen=True)
class PerturbConfig:
    """Noise bursts injected on top of the expert's control (the expert then recovers)."""

    gap_s: Tuple[float, float] = (4.0, 9.0)          # time between bursts (uniform)
    duration_s: Tuple[float, float] = (0.4, 1.2)
    steer: Tuple[float, float] = (0.08, 0.3)         # |steer offset|, random sign
    speed_burst_prob: float = 0.3                    # a burst is throttle/brake, not steer
    first_after_s: float = 2.0


@dataclass(frozen=True)
class DatagenConfig:
    out_dir: str = 'data/episodes/train'
    seed_start: int = 0
    num_seeds: int = 20
    families: Tuple[str, ...] = ()                   # empty: every family
    perturbed_per_route: int = 1                     # noisy episodes per route (+ 1 clean)
    camera_height_px: int = 128
    camera_width_px: int = 256
    camera_names: Tuple[str, ...] = CAMERA_NAMES
    render: bool = True                              # False: zero images (token-only data)
    skybox: bool = False
    frame_stride: int = 2                            # record every k-th 20 Hz step
    max_steps: int = 3000
    max_agents_recorded: int = 32
    teacher_checkpoint: str = ''                     # record its planning token per frame
    expert_green_reaction_s: float = 0.0             # the expert waits this long on green
    expert_restart_reaction_s: float = 0.0           # ... and after any constraint clears
    keep_failed: bool = False                        # False: an episode the (perturbed)
    # expert ended failed (timed out, blocked, deviated) goes to <out_dir>/_failed/, out of
    # the training set (a stop at max_steps is no failure)
    perturb: PerturbConfig = field(default_factory=PerturbConfig)
    tokens: TokenConfig = field(default_factory=TokenConfig)


@dataclass(frozen=True)
class TeacherTrainConfig:
    episodes_dir: str = 'data/episodes/train'
    out_dir: str = 'runs/teacher'
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    grad_clip: float = 1.0
    val_every_k_episodes: int = 5                    # every k-th episode (sorted) validates
    seed: int = 0
    num_threads: int = 1                             # >1 hurts on shared 2-core boxes
    device: str = 'auto'                             # auto (CUDA when present) | cpu | cuda
    load_workers: int = 1                            # processes reading the episodes
    model: TeacherConfig = field(default_factory=TeacherConfig)


def build_dataclass(cls, data: Dict[str, Any]):
    """Nested dataclass from a dict; unknown fields are an error; lists become tuples."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f'{cls.__name__}: unknown fields {unknown}')
    default = cls()
    kwargs = {}
    for name, value in data.items():
        current = getattr(default, name)
        if is_dataclass(current):
            kwargs[name] = build_dataclass(type(current), dict(value))
        elif isinstance(current, tuple):
            kwargs[name] = tuple(value)
        elif isinstance(current, float) and not isinstance(value, bool):
            kwargs[name] = float(value)       # YAML reads '2e-3' (no dot) as a string
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _set_path(data: Dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split('.')
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value


def parse_overrides(pairs: Sequence[str]) -> Dict[str, Any]:
    """`a.b=value` pairs -> nested dict; values parsed as YAML scalars / lists."""
    import yaml
    out: Dict[str, Any] = {}
    for pair in pairs:
        if '=' not in pair:
            raise ValueError(f'override {pair!r} is not field=value')
        key, text = pair.split('=', 1)
        _set_path(out, key.strip(), yaml.safe_load(text))
    return out


def _merge(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(cls, path: Optional[str] = None, overrides: Sequence[str] = (),
                section: Optional[str] = None):
    """`cls` from a YAML file (`/**: ros__parameters:` or flat, optional `section`) + overrides."""
    import yaml
    data: Dict[str, Any] = {}
    if path:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if '/**' in data:
            data = data['/**'].get('ros__parameters', {}) or {}
        if section is not None:
            data = data.get(section, {}) or {}
    return build_dataclass(cls, _merge(data, parse_overrides(overrides)))
