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
GRU_STATE_LAYOUTS = ('per_item', 'official')


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
    """Detection head (scene queries, history tokens, instance memory, ego token) and map
    head (lanes, lane memory, map tokens); names after the official head arguments."""

    embed_dims: int = 256
    num_heads: int = 8
    num_layers: int = 6
    ffn_dim: int = 2048
    memory_ffn_dim: int = 512           # motion / memory decoders
    num_det_queries: int = 600          # num_query
    num_propagated: int = 300           # memory rows that become queries
    det_topk: int = 300                 # topk_proposals: rows written per frame
    memory_len: int = 600
    num_scene_queries: int = 256        # num_extra
    scene_memory_len: int = 256         # scence_memory_len
    num_memory_queries: int = 16        # num_memory: history tokens per frame
    use_memory: bool = True             # history tokens + scene memory (Orion-Lite)
    with_mask: bool = True              # instances / lanes do not see scene / map tokens
    can_bus_len: int = 2                # past CAN-bus frames in the ego token
    num_det_classes: int = 9
    code_size: int = 10
    num_tl_outputs: int = 4
    motion_modes: int = 6
    motion_steps: int = 6
    num_lane_queries: int = 1800        # num_lane (one-to-one first)
    num_lanes_one2one: int = 300
    lane_topk: int = 300
    lane_memory_len: int = 600
    num_map_classes: int = 6
    n_control: int = 11                 # lane control points
    num_map_tokens: int = 256           # map head's num_extra
    depth_num: int = 64                 # PETR depth bins (LID)
    depth_start_m: float = 1.0
    position_range: Tuple[float, ...] = (-61.2, -61.2, -10.0, 61.2, 61.2, 10.0)   # LiDAR, m
    pc_range: Tuple[float, ...] = (-51.2, -51.2, -5.0, 51.2, 51.2, 3.0)  # LiDAR, m
    pe_hidden: int = 1024               # position_encoder hidden width
    nerf_freqs: int = 6                 # frequencies of the NeRF encoding
    can_bus_hidden: int = 1024
    memory_reset_gap_s: float = 2.0     # memories clear after a gap this long
    frame_dt_s: float = 0.05            # assumed frame spacing when no timestamp is given

    def __post_init__(self):
        problems = []
        if self.memory_len % self.det_topk:
            problems.append('memory_len must be a multiple of det_topk (ego-token pose blocks)')
        if self.num_propagated > self.memory_len:
            problems.append('num_propagated must not exceed memory_len')
        if self.lane_topk > self.num_lanes_one2one:
            problems.append('lane_topk must not exceed num_lanes_one2one')
        if self.num_lanes_one2one > self.num_lane_queries:
            problems.append('num_lanes_one2one must not exceed num_lane_queries')
        if problems:
            raise ValueError('QTFormerConfig: ' + '; '.join(problems))

    @property
    def ego_token_dim(self) -> int:
        """Input width of `can_bus_embed`: 19 x (1 + can_bus_len) + 16 per pose block (89)."""
        return 19 * (1 + self.can_bus_len) + 16 * (self.memory_len // self.det_topk)

    @property
    def num_history_tokens(self) -> int:
        return self.num_memory_queries if self.use_memory else 0


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
    # GRU initial state from the planning token: 'per_item' splits each item's token into
    # `gru_layers` chunks; 'official' reshapes the (1, B, D) token batch to (layers, B, D /
    # layers) as the authors' code does (mixes items for B > 1; equal at B = 1): for
    # fine-tuning the authors' checkpoint the way it was trained.
    gru_state_layout: str = 'per_item'
    # Command modes the head was trained on (empty: all). The engine plans an untrained mode
    # with LANE_FOLLOW instead (and says so) rather than letting an untrained mode drive.
    trained_commands: Tuple[int, ...] = ()
    # Our students only (False in the authors' model, whose keys stay unchanged): the head
    # plans every command twice, a "go" and a "wait" (stay at rest) set of modes, and a
    # linear head on the planning token (`wait_head`) says which one drives. A single L2
    # plan averages the two where the expert may wait or drive off from rest (a red light
    # or a green one), a crawl that neither waits nor goes (issue 16, run 5); gated, the
    # go plan stays a drive-off and the choice is a classification the cameras can make.
    wait_gate: bool = False
    wait_threshold: float = 0.5         # wait probability from which the wait plan drives
    # Our students only: the gate also reads the QT-Former's own traffic-light reading (the
    # class logit and the four state logits of its most confident traffic-light query), not
    # only the planning token: a trained traffic head tells a green lamp from a red one where
    # the planning token did not carry it to the gate (issue 16, run 11).
    wait_gate_lights: bool = False

    def __post_init__(self):
        if self.wait_gate_lights and not self.wait_gate:
            raise ValueError('planner.wait_gate_lights needs planner.wait_gate')
        if self.output_frame not in OUTPUT_FRAMES:
            raise ValueError(f'planner.output_frame must be one of {OUTPUT_FRAMES}, '
                             f'got {self.output_frame!r}')
        if self.gru_state_layout not in GRU_STATE_LAYOUTS:
            raise ValueError(f'planner.gru_state_layout must be one of {GRU_STATE_LAYOUTS}, '
                             f'got {self.gru_state_layout!r}')


@dataclass(frozen=True)
class NavConfig:
    """Route + ego token for our own students (not part of Orion-Lite: off in the
    `orion_lite` preset, so the authors' checkpoint is unchanged). One extra token appended
    after the QT-Former's, from the route target point (ego frame) and the ego's speed,
    acceleration and yaw rate (normalised); in training the target point gets noise and is
    dropped sometimes, so the model must not rely on it alone."""

    enabled: bool = False
    hidden: int = 128
    target_scale_m: float = 20.0        # target point / this
    speed_scale_mps: float = 10.0
    accel_scale_mps2: float = 5.0
    target_noise_m: float = 0.5         # training: Gaussian noise on the target point
    target_dropout: float = 0.1         # training: probability of zeroing the target point
    # Also add the token's embedding (projected) to the student's planning query, so route and
    # ego state reach the planning token through the decoder's residual stream instead of only
    # through cross-attention (which run 3 of issue 16 measured as not learned in 2 k steps).
    # Opt-in (model_config / nav.condition_query=true): a grafted standalone student would
    # otherwise plan differently in its host.
    condition_query: bool = False
    # > 0: a 7th input, the time the ego has been at rest (speed below nav_token.REST_SPEED_MPS
    # since that frame) / this, clipped at 1: how long it has waited at a stop sign or after a
    # constraint cleared is not in a single frame (issue 16 run 14). 0: off (6 inputs).
    rest_scale_s: float = 0.0


@dataclass(frozen=True)
class OrionLiteConfig:
    name: str = 'orion_lite'
    token_dim: int = 4096               # width of the planner's tokens and planning token
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    qtformer: QTFormerConfig = field(default_factory=QTFormerConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    nav: NavConfig = field(default_factory=NavConfig)
    # False (our students only; the authors' model reads it): the CAN bus's planar ego
    # acceleration (can_bus.PLANAR_ACCEL) reads as zero for every token (the QT-Former's ego
    # token, its memory rows, the route/ego token). A plan that reads its own acceleration
    # keeps whatever speed it has: started from rest, the car settles at a crawl where the
    # acceleration died out (issue 16, run 15).
    ego_accel_input: bool = True

    @property
    def num_tokens(self) -> int:
        """Tokens the planner reads: scene + history + 1 ego + map (529 at paper scale),
        + 1 route/ego token when `nav.enabled`."""
        q = self.qtformer
        return (q.num_scene_queries + q.num_history_tokens + 1 + q.num_map_tokens
                + int(self.nav.enabled))

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
                            det_topk=16, memory_len=32, num_scene_queries=16,
                            scene_memory_len=16, num_memory_queries=4, num_lane_queries=24,
                            num_lanes_one2one=8, lane_topk=8, lane_memory_len=16,
                            num_map_tokens=16, depth_num=16, pe_hidden=128,
                            can_bus_hidden=128)
        student = StudentConfig(hidden_dim=128, num_layers=2, num_heads=4, ffn_dim=512)
        return cls(name='mini', token_dim=256, encoder=enc, qtformer=qt, student=student,
                   nav=NavConfig(enabled=True))

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
