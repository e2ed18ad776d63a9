"""Model configuration: one frozen dataclass tree, two presets (`mini`, `orion_lite`).

`orion_lite()` is the paper scale (Orion-Lite, arXiv 2604.08266; sizes of ORION's stage-3
config). `mini()` keeps the topology (six views, ViT with rotary/SwiGLU/window+global
attention, PETR decoders, memories, student decoder, VAE planner) at a size whose six-view
forward runs in milliseconds on a CPU.
"""
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Dict, Tuple

from orion_lite_ros import layout

# Frames of the VAE head's raw xy: REP-103 ego (x forward, y left) or ORION's Bench2Drive ego
# frame (x right, y forward), in which the official Orion-Lite/ORION weights were trained.
OUTPUT_FRAMES = ('rep103', 'right_forward')


@dataclass(frozen=True)
class EncoderConfig:
    """EVA-02 ViT image encoder, run per camera view."""

    num_cams: int = layout.NUM_CAMERAS
    img_h: int = 640                    # model view size, pixels
    img_w: int = 640
    patch_size: int = 16
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_hidden: int = 2730              # SwiGLU hidden, int(1024 * 8 / 3)
    window_size: int = 16               # tokens per side of a local window
    global_blocks: Tuple[int, ...] = (2, 5, 8, 11, 14, 17, 20, 23)
    rope_pt_seq_len: int = 16           # rotary grid of pre-training (tokens per side)
    pretrain_img_size: int = 224        # pos_embed grid = 224 / 16 = 14 (+ cls slot)
    pixel_mean: Tuple[float, ...] = (123.675, 116.28, 103.53)   # RGB, 0..255
    pixel_std: Tuple[float, ...] = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class QTFormerConfig:
    """Detection head (scene queries + instance memory), map head, ego token."""

    embed_dims: int = 256
    num_heads: int = 8
    num_layers: int = 6
    ffn_dim: int = 2048
    memory_ffn_dim: int = 512           # motion / memory decoders
    num_det_queries: int = 600
    num_propagated: int = 300           # top-k instances carried to the next frame
    memory_len: int = 600
    num_scene_queries: int = 256
    scene_memory_len: int = 256
    num_memory_queries: int = 16
    num_det_classes: int = 9
    code_size: int = 10
    num_tl_outputs: int = 4
    motion_modes: int = 6
    motion_steps: int = 6
    num_lane_queries: int = 1800
    num_lane_propagated: int = 300
    lane_memory_len: int = 600
    num_map_classes: int = 6
    n_control: int = 11                 # lane control points
    num_map_tokens: int = 256
    depth_num: int = 64                 # PETR depth bins (LID)
    depth_start_m: float = 1.0
    position_range: Tuple[float, ...] = (-61.2, -61.2, -10.0, 61.2, 61.2, 10.0)   # PETR, m
    pc_range: Tuple[float, ...] = (-51.2, -51.2, -5.0, 51.2, 51.2, 3.0)  # reference points, m
    pe_hidden: int = 1024               # position_encoder hidden width
    nerf_freqs: int = 6                 # sin/cos frequencies of the NeRF encoding
    can_bus_hidden: int = 1024
    frame_dt_s: float = 0.1             # assumed frame spacing when no timestamp is given


@dataclass(frozen=True)
class StudentConfig:
    """Student planning decoder (the LLM's replacement)."""

    hidden_dim: int = 1024
    num_layers: int = 6
    num_heads: int = 16
    ffn_dim: int = 4096
    dropout: float = 0.1


@dataclass(frozen=True)
class PlannerConfig:
    """ORION's VAE generative planner."""

    latent_dim: int = 32
    gru_layers: int = 4                 # GRU hidden = token_dim / gru_layers
    num_modes: int = layout.NUM_COMMANDS
    num_waypoints: int = layout.NUM_WAYPOINTS
    min_log_sigma: float = -5.0
    max_log_sigma: float = 5.0
    # Frame of the head's raw waypoints (and of the GT future its future distribution reads):
    # 'rep103' | 'right_forward' (official weights). StudentPlanner converts, so its outputs
    # and `gt_future` input are always REP-103.
    output_frame: str = 'rep103'

    def __post_init__(self):
        if self.output_frame not in OUTPUT_FRAMES:
            raise ValueError(f'planner.output_frame must be one of {OUTPUT_FRAMES}, '
                             f'got {self.output_frame!r}')


@dataclass(frozen=True)
class OrionLiteConfig:
    name: str = 'orion_lite'
    token_dim: int = 4096               # width of the planner's tokens and planning token
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    qtformer: QTFormerConfig = field(default_factory=QTFormerConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)

    @property
    def num_tokens(self) -> int:
        """Tokens the planner reads: scene + 1 ego + map (513 at paper scale)."""
        return self.qtformer.num_scene_queries + 1 + self.qtformer.num_map_tokens

    @classmethod
    def orion_lite(cls) -> 'OrionLiteConfig':
        return cls()

    @classmethod
    def mini(cls) -> 'OrionLiteConfig':
        enc = EncoderConfig(img_h=128, img_w=256, embed_dim=128, depth=4, num_heads=4,
                            mlp_hidden=int(128 * 8 / 3), window_size=4, global_blocks=(1, 3),
                            rope_pt_seq_len=4, pretrain_img_size=64)
        qt = QTFormerConfig(embed_dims=64, num_heads=4, num_layers=2, ffn_dim=128,
                            memory_ffn_dim=64, num_det_queries=32, num_propagated=16,
                            memory_len=32, num_scene_queries=16, scene_memory_len=16,
                            num_memory_queries=4, num_lane_queries=24, num_lane_propagated=8,
                            lane_memory_len=16, num_map_tokens=16, depth_num=16,
                            pe_hidden=128, can_bus_hidden=128)
        student = StudentConfig(hidden_dim=128, num_layers=2, num_heads=4, ffn_dim=512)
        return cls(name='mini', token_dim=256, encoder=enc, qtformer=qt, student=student)

    @classmethod
    def preset(cls, name: str) -> 'OrionLiteConfig':
        presets = {'mini': cls.mini, 'orion_lite': cls.orion_lite}
        if name not in presets:
            raise ValueError(f'unknown model preset {name!r}; choose one of {sorted(presets)}')
        return presets[name]()

    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe nested dict (tuples become lists)."""
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'OrionLiteConfig':
        return _build(cls, data)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _build(cls, data: Dict[str, Any]):
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f'{cls.__name__}: unknown fields {sorted(unknown)}')
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name) if name in known else None
        if is_dataclass(default):
            kwargs[name] = _build(type(default), value)
        elif isinstance(default, tuple):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)
