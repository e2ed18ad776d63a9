"""Inference engine: one loaded model, per-stream temporal state, `plan(frame) -> PlanResult`.

    engine = InferenceEngine(EngineConfig(model_preset='mini'))
    result = engine.plan(frame)                  # frame: types.FrameInputs
    engine.reset()                               # new route: clear the stream's memory
"""
from dataclasses import dataclass, replace
import logging
import math
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from orion_lite_ros import layout
from orion_lite_ros.model import geometry, threads
from orion_lite_ros.model.checkpoint import graft_student, load_checkpoint
from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.decode import decode_lanes, decode_objects
from orion_lite_ros.model.orion_lite import OrionLite
from orion_lite_ros.model.preprocess import (
    PreprocessConfig,
    crop_box,
    preprocess_views,
    scaled_min_size,
)
from orion_lite_ros.types import FrameInputs, PlanResult, without_images

LOG = logging.getLogger(__name__)
DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
PERCEPTION_KEYS = ('cls_scores', 'bbox_preds', 'traj_preds', 'traj_cls_scores', 'traffic_states',
                   'lane_cls_one2one', 'lane_preds_one2one')


@dataclass(frozen=True)
class EngineConfig:
    model_preset: str = 'mini'          # OrionLiteConfig preset when no checkpoint is given
    model_config: str = ''              # JSON file of OrionLiteConfig.to_dict() (optional)
    checkpoint: str = ''                # our checkpoint dir / .safetensors, or official .pth
    student_checkpoint: str = ''        # StudentPlanner checkpoint put into the model's student
    device: str = 'auto'                # 'auto' | 'cpu' | 'cuda' | 'cuda:N'
    precision: str = 'fp32'             # 'fp32' | 'fp16' | 'bf16'
    compile: bool = False               # torch.compile the encoder and the student
    cuda_graphs: bool = False           # CUDA graphs via torch.compile(mode='reduce-overhead')
    vae_mode: str = 'sample'            # 'sample' (seeded generator; as the authors' agent,
                                        # which samples the VAE latent) | 'mean' (zero noise)
    seed: int = 0                       # 'sample' mode generator and random-init seed
    jpeg_reencode: bool = True          # as ORION's training data (quality 20)
    jpeg_quality: int = 20
    jpeg_decode: str = 'scaled'         # 'scaled': libjpeg decodes at the DCT scale the view
                                        # needs (same pixels when the view is as large as the
                                        # camera) | 'full': full-resolution decode, as the authors
    jpeg_passthrough_quality: int = 25  # cameras that arrive as JPEGs of at most this quality
                                        # are not re-encoded (they are as compressed as the
                                        # round trip would make them); 0: always re-encode
    resize_scale: float = 0.0           # 0: source width -> crop_w (0.4 for 1600 px)
    crop_h: int = 320
    crop_w: int = 640
    warmup_iters: int = 2
    temporal_memory: bool = True        # False: every frame planned alone (memory cleared),
                                        # for models trained on shuffled single frames
    perception_score_threshold: float = 0.2   # objects / lanes in PlanResult (official
                                              # score_threshold)
    torch_threads: int = 0              # torch intra-op threads; 0: model.threads policy
    preprocess_threads: int = 0         # camera views in parallel; 0: model.threads policy
    blind_views: bool = False           # ablation: the model gets black views (route, ego and
                                        # command unchanged): the plan-without-images baseline
    wait_threshold: float = 0.0         # go/wait-gated students: plan the wait set from this
                                        # wait probability; 0: the checkpoint's
                                        # (planner.wait_threshold, 0.5 when trained)


def resolve_device(name: str) -> torch.device:
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    device = torch.device(name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device {name!r} requested but CUDA is not available')
    return device


def build_model(cfg: EngineConfig):
    """-> (OrionLite, OrionLiteConfig): from the checkpoint, else random init (warned); then
    `student_checkpoint`, if given, replaces its student planner."""
    model, model_cfg = _host_model(cfg)
    if cfg.student_checkpoint:
        model, model_cfg = graft_student(model, model_cfg, cfg.student_checkpoint)
        LOG.info('student planner from %s (output frame %s)', cfg.student_checkpoint,
                 model_cfg.planner.output_frame)
    return model, model_cfg


def _host_model(cfg: EngineConfig):
    if cfg.checkpoint:
        model, model_cfg = load_checkpoint(cfg.checkpoint)
        if not isinstance(model, OrionLite):
            raise ValueError(f'{cfg.checkpoint} holds a {type(model).__name__}, not OrionLite'
                             ' (a StudentPlanner goes in EngineConfig.student_checkpoint)')
        return model, model_cfg
    if cfg.model_config:
        import json
        with open(cfg.model_config) as f:
            model_cfg = OrionLiteConfig.from_dict(json.load(f))
    else:
        model_cfg = OrionLiteConfig.preset(cfg.model_preset)
    random_part = 'encoder + QT-Former' if cfg.student_checkpoint else 'Orion-Lite'
    LOG.warning('!!! NO CHECKPOINT: %s (%r) runs with RANDOM WEIGHTS; its waypoints are '
                'meaningless. Set EngineConfig.checkpoint. !!!', random_part, model_cfg.name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)                 # reproducible random init
        return OrionLite(model_cfg), model_cfg


def with_wait_threshold(model, model_cfg, threshold: float):
    """`model_cfg` (and the student's own config) with the go/wait gate deciding "wait" from
    `threshold`; refused for models without the gate or a threshold outside (0, 1)."""
    if not model_cfg.planner.wait_gate:
        raise ValueError('wait_threshold: the model has no go/wait gate (planner.wait_gate)')
    if not 0.0 < threshold < 1.0:
        raise ValueError(f'wait_threshold must be in (0, 1), got {threshold}')
    new = replace(model_cfg, planner=replace(model_cfg.planner, wait_threshold=float(threshold)))
    model.cfg = new
    model.student_model.cfg = new
    return new


class InferenceEngine:
    """Holds the model on its device; temporal memory per stream name."""

    def __init__(self, cfg: EngineConfig = EngineConfig()):
        if cfg.precision not in DTYPES:
            raise ValueError(f'precision must be one of {sorted(DTYPES)}, got {cfg.precision!r}')
        if cfg.vae_mode not in ('mean', 'sample'):
            raise ValueError(f"vae_mode must be 'mean' or 'sample', got {cfg.vae_mode!r}")
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.dtype = DTYPES[cfg.precision]
        model, self.model_cfg = build_model(cfg)
        if cfg.wait_threshold:
            self.model_cfg = with_wait_threshold(model, self.model_cfg, cfg.wait_threshold)
        self.model = model.to(self.device, self.dtype).eval()
        self.threads = threads.plan_threads(cfg.torch_threads, cfg.preprocess_threads,
                                            self.device.type)
        threads.apply(self.threads)
        # compiled graphs guard on torch's thread count: a governor changing it would
        # recompile them (tens of seconds) mid-run, so a compiled engine keeps its plan
        self.governor = None if cfg.compile else threads.governor_for(
            self.threads, cfg.torch_threads, self.device.type)
        self.preprocess_cfg = PreprocessConfig(cfg.jpeg_reencode, cfg.jpeg_quality,
                                               cfg.resize_scale, cfg.crop_h, cfg.crop_w,
                                               cfg.jpeg_decode, self.threads.preprocess)
        self._views: Optional[np.ndarray] = None       # (N, 3, h, w) uint8, reused
        self._passthrough_cfg = replace(self.preprocess_cfg, jpeg_reencode=False)
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self._streams: Dict[str, Optional[dict]] = {}
        self._rest_since: Dict[str, Optional[int]] = {}   # stream -> stamp its rest began
        self._warned_commands = set()
        self._maybe_compile()
        self.warmup(cfg.warmup_iters)

    @property
    def view_hw(self):
        return self.model_cfg.encoder.img_h, self.model_cfg.encoder.img_w

    def _maybe_compile(self) -> None:
        if not (self.cfg.compile or self.cfg.cuda_graphs):
            return
        mode = None
        if self.cfg.cuda_graphs:
            if self.device.type != 'cuda':
                LOG.warning('cuda_graphs needs a CUDA device; ignored on %s', self.device)
            else:
                mode = 'reduce-overhead'
        self.model.img_backbone.compile(mode=mode)
        self.model.student_model.compile(mode=mode)
        if mode is None:
            # the QT-Former's ~4,300 small ops are where fusion pays most on a CPU (six
            # 128x256 views, 1 thread: 48 -> 37-40 ms with it, 45 ms without); not under CUDA
            # graphs, whose replays would overwrite the memory tensors it keeps across frames
            self.model.qt_former.compile()

    def warmup(self, iters: int) -> None:
        """Run `iters` synthetic frames on a private stream (kernels, allocator, compile)."""
        if iters <= 0:
            return
        frame = synthetic_frame(self.model_cfg, stamp_ns=0)
        for i in range(iters):
            self.plan(frame.__class__(**{**frame.__dict__, 'stamp_ns': i * 100_000_000}),
                      stream='__warmup__')
        self.reset('__warmup__')

    def reset(self, stream: Optional[str] = 'default') -> None:
        """Clear a stream's temporal memory; all streams when stream is None, which also
        restarts the latent sampler's generator (a new episode plans as a fresh agent would,
        whatever routes this engine drove before it)."""
        if stream is None:
            self._streams.clear()
            self._rest_since.clear()
            self.generator.manual_seed(self.cfg.seed)
        else:
            self._streams.pop(stream, None)
            self._rest_since.pop(stream, None)

    def command_for(self, requested: int) -> int:
        """The command the head plans with: `requested`, or LANE_FOLLOW when the checkpoint's
        head never saw training data for it (`planner.trained_commands`)."""
        trained = self.model_cfg.planner.trained_commands
        if not trained or int(requested) in trained:
            return int(requested)
        fallback = int(layout.Command.LANE_FOLLOW)
        if int(requested) not in self._warned_commands:
            self._warned_commands.add(int(requested))
            LOG.warning('command %s has no training data in this checkpoint (trained: %s): '
                        'planning with LANE_FOLLOW', layout.Command(int(requested)).name,
                        [layout.Command(c).name for c in trained])
        return fallback if fallback in trained else int(trained[0])

    def plan(self, frame: FrameInputs, stream: str = 'default') -> PlanResult:
        return self.run_prepared(self.prepare(frame), stream)

    def passes_through(self, jpeg_quality: Optional[int]) -> bool:
        """Whether views decoded from JPEGs of `jpeg_quality` skip the JPEG round trip."""
        return (self.cfg.jpeg_reencode and jpeg_quality is not None
                and int(jpeg_quality) <= self.cfg.jpeg_passthrough_quality)

    @property
    def decode_threads(self) -> int:
        """Threads a camera set's compressed images may be decoded on before `prepare` (the
        views' preprocessing threads: the two never run at once)."""
        return self.threads.preprocess

    def jpeg_size_hint(self, src_hw, jpeg_quality: Optional[int]):
        """The smallest (w, h) a camera JPEG of `src_hw` pixels may be decoded at (libjpeg
        DCT scaling) for the same views, or None (decode it whole): given when its pixels go
        to the views without a round trip, `jpeg_decode` is 'scaled' and the crop geometry is
        relative to the image width (`resize_scale` 0)."""
        reencode = self.cfg.jpeg_reencode and not self.passes_through(jpeg_quality)
        if reencode or self.cfg.resize_scale or self.preprocess_cfg.jpeg_decode != 'scaled':
            return None
        return scaled_min_size(src_hw, crop_box(src_hw, self.preprocess_cfg), self.view_hw)

    def prepare(self, frame: FrameInputs, reuse_buffer: bool = True,
                keep_images: bool = True) -> 'PreparedFrame':
        """Validate and preprocess `frame` (CPU only: may run on another thread than the
        model, with `reuse_buffer=False` so that frames prepared ahead keep their views).
        `keep_images=False`: the prepared frame holds its views but not the camera images
        (the model needs only the views; replay holds a batch of prepared frames, and at
        1600x900 their camera images are 26 MB each)."""
        t0 = time.perf_counter()
        validate_frame(frame, self.model_cfg.encoder.num_cams)
        requested = int(frame.command)
        frame = replace(frame, command=self.command_for(requested))
        cfg = self._passthrough_cfg if self.passes_through(frame.source_jpeg_quality) \
            else self.preprocess_cfg
        views, K = self._views_of(frame, reuse_buffer, cfg)
        if not keep_images:
            frame = without_images(frame)
        return PreparedFrame(frame, requested, views, K, time.perf_counter() - t0)

    def run_prepared(self, prep: 'PreparedFrame', stream: str = 'default') -> PlanResult:
        return self._plan_prepared([prep], stream)[0]

    def run_prepared_batch(self, preps: Sequence['PreparedFrame'],
                           stream: str = 'default') -> List[PlanResult]:
        """Plan independently prepared frames in one forward pass (batch = len(preps)); what
        offline replay does to amortise the model's per-call cost. Only without temporal
        memory, where every frame is planned alone anyway; plans equal `run_prepared`'s frame
        by frame up to float rounding (with `vae_mode: sample` the latent draws differ). Each
        result's model time is the batch's share."""
        if self.cfg.temporal_memory:
            raise ValueError('run_prepared_batch needs temporal_memory off (frames with memory '
                             'depend on the previous one); use run_prepared')
        return self._plan_prepared(preps, stream) if preps else []

    def _plan_prepared(self, preps: Sequence['PreparedFrame'], stream: str) -> List[PlanResult]:
        return self.finish_encoded(self.encode_prepared(preps), stream)

    def encode_prepared(self, preps: Sequence['PreparedFrame']) -> 'EncodedFrames':
        """The first stage of planning `preps`: the image backbone (no temporal state). With
        `finish_encoded`, the two stages may run on two threads at once (a pipeline: the next
        frame's encoder beside this frame's QT-Former and student; see `use_two_stages`)."""
        t0 = time.perf_counter()
        per_frame = [self._to_tensors(p.frame, p.views, p.intrinsics) for p in preps]
        inputs = per_frame[0] if len(per_frame) == 1 else {
            k: torch.cat([f[k] for f in per_frame]) for k in per_frame[0]}
        images = inputs.pop('images')
        lidar2img = geometry.lidar2img(inputs.pop('intrinsics'), inputs.pop('cam_to_ego'))
        t1 = self._sync_time()
        if self.governor is not None:
            threads.set_torch_threads(self.governor.update())
        with torch.inference_mode():
            feats = self.model.encode(images)
        t2 = self._sync_time()
        return EncodedFrames(tuple(preps), feats, lidar2img, inputs, tuple(images.shape[-2:]),
                             convert_s=t1 - t0, encode_s=t2 - t1)

    def finish_encoded(self, enc: 'EncodedFrames', stream: str = 'default') -> List[PlanResult]:
        """The second stage: QT-Former (with the stream's temporal memory) and student; one
        PlanResult per frame of `enc`, in order. Frames of one stream must be finished in the
        order they were taken."""
        t1 = time.perf_counter()
        out = self._run(enc, stream)
        waypoints = out['waypoints'].float().cpu().numpy()
        t2 = time.perf_counter()
        n = len(enc.preps)
        model_s, convert_s = (enc.encode_s + t2 - t1) / n, enc.convert_s / n
        all_modes = out['all_modes'].float().cpu().numpy()
        tokens = out['planning_token'].float().cpu().numpy()
        wait = out['wait_prob'].float().cpu().numpy() if 'wait_prob' in out else None
        cpu = {k: v.cpu() for k, v in out.items() if k in PERCEPTION_KEYS}
        thr = self.cfg.perception_score_threshold
        results = []
        for i, prep in enumerate(enc.preps):
            pre = prep.preprocess_s + convert_s
            frame = prep.frame
            results.append(PlanResult(
                stamp_ns=frame.stamp_ns, waypoints=waypoints[i], all_modes=all_modes[i],
                command=int(frame.command), planning_token=tokens[i],
                timing_s={'preprocess': pre, 'model': model_s, 'total': pre + model_s},
                objects=decode_objects(cpu, thr, item=i), lanes=decode_lanes(cpu, thr, item=i),
                command_requested=prep.command_requested,
                wait_prob=None if wait is None else float(wait[i])))
        return results

    def use_two_stages(self) -> None:
        """`encode_prepared` and `finish_encoded` will run on two threads at once. On the CPU
        each keeps its own share of the cores: torch's pool stays at the plan's size (half of
        them; two callers of an all-core pool would oversubscribe them, see model/threads.py)
        and the governor stops. Explicit `torch_threads` and other devices are unchanged."""
        if self.device.type != 'cpu' or self.cfg.torch_threads:
            return
        self.governor = None
        threads.set_torch_threads(self.threads.torch)

    def _sync_time(self) -> float:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _run(self, enc: 'EncodedFrames', stream: str) -> Dict[str, torch.Tensor]:
        noise = 'mean' if self.cfg.vae_mode == 'mean' else self.generator
        self.model.set_memory(self._streams.get(stream) if self.cfg.temporal_memory else None)
        x = enc.inputs
        rest_s = self._rest_times(enc.preps, stream)
        try:
            with torch.inference_mode():
                out = self.model.forward_features(
                    enc.feats, enc.lidar2img, x['can_bus'], x['command'], noise=noise,
                    timestamp_s=x['timestamp_s'], view_hw=enc.view_hw,
                    target_point=x['target_point'], rest_s=rest_s)
            if self.cfg.temporal_memory:
                self._streams[stream] = self.model.get_memory()
        finally:
            self.model.set_memory(None)
        return out

    def _rest_times(self, preps, stream: str) -> Optional[torch.Tensor]:
        """(B,) seconds at rest of `preps` (in order), continuing the stream's rest; None
        when the model has no rest input (nav.rest_scale_s)."""
        if not (self.model_cfg.nav.enabled and self.model_cfg.nav.rest_scale_s > 0):
            return None
        from orion_lite_ros.model.nav_token import rest_times
        frames = [p.frame for p in preps]
        rest, self._rest_since[stream] = rest_times(
            [f.stamp_ns for f in frames], [f.ego.speed_mps for f in frames],
            self._rest_since.get(stream))
        return torch.tensor(rest, dtype=torch.float32, device=self.device)

    def _views_of(self, frame: FrameInputs, reuse_buffer: bool, cfg: PreprocessConfig):
        n = np.asarray(frame.images).shape[0]
        out = None
        if reuse_buffer:
            if self._views is None or self._views.shape[0] != n:
                self._views = np.empty((n, 3) + tuple(self.view_hw), np.uint8)
            out = self._views
        return preprocess_views(frame.images, np.asarray(frame.intrinsics, np.float64),
                                self.view_hw, cfg, out=out)

    def _to_tensors(self, frame: FrameInputs, views: np.ndarray,
                    K: np.ndarray) -> Dict[str, torch.Tensor]:
        dev = self.device

        def t(a, dtype=torch.float32):
            return torch.as_tensor(np.asarray(a), dtype=dtype).unsqueeze(0).to(dev)
        images = t(views, torch.uint8)
        return {
            'images': torch.zeros_like(images) if self.cfg.blind_views else images,
            'intrinsics': t(K),
            'cam_to_ego': t(np.asarray(frame.cam_to_ego, np.float32)),
            'can_bus': t(geometry.can_bus_from_ego(frame.ego), torch.float64),
            'command': t(int(frame.command), torch.long).reshape(1),
            'timestamp_s': t(frame.stamp_ns * 1e-9, torch.float64).reshape(1),
            'target_point': t(np.asarray(frame.target_point, np.float32)),
        }


@dataclass(frozen=True)
class EncodedFrames:
    """Frames after `InferenceEngine.encode_prepared`: backbone features and the rest of the
    model's inputs, ready for `finish_encoded`."""
    preps: Tuple['PreparedFrame', ...]
    feats: torch.Tensor                 # (B, N_cam, gh, gw, C)
    lidar2img: torch.Tensor             # (B, N_cam, 4, 4) model-view pixels
    inputs: Dict[str, torch.Tensor]     # can_bus, command, timestamp_s, target_point
    view_hw: Tuple[int, int]
    convert_s: float
    encode_s: float


@dataclass(frozen=True)
class PreparedFrame:
    """A frame after `InferenceEngine.prepare`: its views, ready for the model."""
    frame: FrameInputs                  # with the command the head plans with
    command_requested: int
    views: np.ndarray                   # (N_cam, 3, h, w) uint8
    intrinsics: np.ndarray              # (N_cam, 3, 3) float32, of the views
    preprocess_s: float


def validate_frame(frame: FrameInputs, num_cams: int = layout.NUM_CAMERAS) -> None:
    """Raise ValueError with a clear message for inputs the model cannot take."""
    img = np.asarray(frame.images)
    if img.ndim != 4 or img.shape[-1] != 3:
        raise ValueError(f'images must be (N_cam, H, W, 3) RGB, got shape {img.shape}')
    if img.shape[0] != num_cams:
        raise ValueError(f'expected {num_cams} camera views ({", ".join(layout.CAMERA_NAMES)}'
                         f'), got {img.shape[0]}')
    if img.dtype != np.uint8:
        raise ValueError(f'images must be uint8, got {img.dtype}')
    for name, arr, shape in (('intrinsics', frame.intrinsics, (num_cams, 3, 3)),
                             ('cam_to_ego', frame.cam_to_ego, (num_cams, 4, 4))):
        arr = np.asarray(arr)
        if arr.shape != shape:
            raise ValueError(f'{name} must have shape {shape}, got {arr.shape}')
        if not np.all(np.isfinite(arr)):
            raise ValueError(f'{name} contains NaN or inf')
    bad = [k for k, v in frame.ego.__dict__.items()
           if k != 'stamp_ns' and not math.isfinite(float(v))]
    if bad:
        raise ValueError(f'ego state has non-finite values in {bad}')
    if not 0 <= int(frame.command) < layout.NUM_COMMANDS:
        raise ValueError(f'command must be in 0..{layout.NUM_COMMANDS - 1} (layout.Command), '
                         f'got {frame.command}')


def synthetic_frame(cfg: OrionLiteConfig, stamp_ns: int = 0, src_hw=(900, 1600),
                    seed: int = 0) -> FrameInputs:
    """A plausible random frame (Bench2Drive-like rig) for warm-up, tests and benchmarks."""
    from orion_lite_ros.types import EgoState
    rng = np.random.default_rng(seed)
    n = cfg.encoder.num_cams
    H, W = src_hw
    f = W / (2 * math.tan(math.radians(35)))
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]], dtype=np.float64)
    yaws = np.radians([0, -55, 55, 180, 110, -110])[:n]
    cam_to_ego = np.stack([_optical_to_ego(y, 1.6) for y in yaws])
    ego = EgoState(stamp_ns=stamp_ns, x_m=0.0, y_m=0.0, z_m=0.0, yaw_rad=0.0, vx_mps=5.0)
    return FrameInputs(stamp_ns=stamp_ns,
                       images=rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8),
                       intrinsics=np.repeat(K[None], n, 0), cam_to_ego=cam_to_ego, ego=ego,
                       command=int(layout.Command.LANE_FOLLOW),
                       target_point=np.array([10.0, 0.0]))


def _optical_to_ego(yaw: float, z: float) -> np.ndarray:
    """Camera optical frame (x right, y down, z forward) -> ego (REP-103), camera yawed."""
    optical = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    rz = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0],
                   [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = rz @ optical
    T[:3, 3] = (0.0, 0.0, z)
    return T
