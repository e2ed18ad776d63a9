"""The planner's configuration and frame assembly, shared by ``nodes/planner_node`` and the
offline bag replay (``eval/frames``). No rclpy: messages are duck-typed (decoded by
``ros.image_codec`` / ``ros.conversions``), so this runs in the replay and in plain tests.

``FrameAssembler`` keeps the latest route, acceleration and CameraInfo intrinsics (latest
wins, thread-safe), decodes a synchronised camera set to ``(N_cam, H, W, 3)`` RGB in
``CAMERA_NAMES`` order, and turns it plus odometry into ``types.FrameInputs``: rig scaled to
the image size, ``EgoState`` from odometry, command and target point from the
``RouteTracker`` (without a route: LANE_FOLLOW, target straight ahead).
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
import math
import threading
from typing import Any, Iterable, List, NamedTuple, Optional, Tuple

import numpy as np

from orion_lite_ros.layout import CAMERA_NAMES, Command
from orion_lite_ros.nav.route import RouteConfig, RouteTracker
from orion_lite_ros.ros.image_codec import ImageDecodeError, SizeHint, decode_compressed, to_rgb
from orion_lite_ros.ros.rig import Rig
from orion_lite_ros.ros.validation import (
    checked_intrinsics,
    checked_odometry,
    route_points,
)
from orion_lite_ros.types import FrameInputs

IMAGE_TRANSPORTS = ('raw', 'compressed')     # sensor_msgs Image | CompressedImage


def _param(default, doc: str):
    """A config field with a ROS parameter description (as ``nodes.common.param``)."""
    return field(default=default, metadata={'doc': doc})


@dataclass(frozen=True)
class PlannerNodeConfig:
    camera_names: Tuple[str, ...] = _param(CAMERA_NAMES, 'cameras (the six layout names)')
    image_transports: Tuple[str, ...] = _param(('raw',), 'raw|compressed per camera (1 = all)')
    use_camera_info: bool = _param(False, 'intrinsics from CameraInfo when received, else rig')
    rig_file: str = _param('', 'camera rig YAML ("" = config/rig_bench2drive.yaml)')
    slop_s: float = _param(0.05, 'synchroniser slop between camera/odometry stamps (s)')
    queue_size: int = _param(10, 'synchroniser queue per input')
    max_input_age_s: float = _param(1.0, 'inputs older than this (node clock) -> no plan, ERROR')
    publish_autoware: bool = _param(True, 'Autoware Trajectory when importable')
    base_frame_id: str = _param('base_link', 'frame of the output trajectory')
    map_frame_id: str = _param('map', 'frame of odometry and route')
    diagnostics_period_s: float = _param(1.0, 'diagnostics publication period (s)')
    diagnostics_window_s: float = _param(5.0, 'diagnostics levels and counts over this recent '
                                              'window (s)')
    future_tolerance_s: float = _param(0.5, 'inputs stamped further ahead of the node clock '
                                            'are refused (s)')
    planner: str = _param('model', 'model (Orion-Lite) | constant_velocity (baseline) | '
                                   'route_oracle (privileged route follower, for tests)')
    pipeline: bool = _param(True, 'model: plan in two stages on two threads (image encoder | '
                                  'QT-Former, student, publishing), the next set encoded while '
                                  'this one finishes')
    cameras: bool = _param(True, 'synchronise the cameras with the odometry; false: plan from '
                                 'odometry alone (only the planners that read no images: '
                                 'constant_velocity, route_oracle)')

    def __post_init__(self):
        if sorted(self.camera_names) != sorted(CAMERA_NAMES):
            raise ValueError(f'camera_names must be the six cameras {CAMERA_NAMES}, '
                             f'got {self.camera_names}')
        if len(self.image_transports) not in (1, len(self.camera_names)):
            raise ValueError('image_transports needs 1 value or one per camera, got '
                             f'{len(self.image_transports)}')
        bad = [t for t in self.image_transports if t not in IMAGE_TRANSPORTS]
        if bad:
            raise ValueError(f'image_transports must be raw|compressed, got {bad}')
        for name in ('slop_s', 'max_input_age_s', 'diagnostics_period_s',
                     'diagnostics_window_s', 'future_tolerance_s'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'{name} must be finite and > 0, got {value}')
        if self.queue_size < 1:
            raise ValueError(f'queue_size must be >= 1, got {self.queue_size}')
        from orion_lite_ros.planning.baselines import PLANNERS
        if self.planner not in PLANNERS:
            raise ValueError(f'planner must be one of {PLANNERS}, got {self.planner!r}')
        if not self.cameras and self.planner == 'model':
            raise ValueError('cameras: false needs a planner that reads no images '
                             '(constant_velocity, route_oracle), not the model')

    def transport(self, camera: str) -> str:
        if len(self.image_transports) == 1:
            return self.image_transports[0]
        return self.image_transports[self.camera_names.index(camera)]


# -- inference engine (model code imported lazily: torch is heavy) ----------------------------
class EngineError(ValueError):
    """The inference engine refused its configuration; the message shows the config."""


def engine_config_class():
    """``model.engine.EngineConfig`` (the planner declares its fields as parameters)."""
    from orion_lite_ros.model.engine import EngineConfig
    return EngineConfig


def engine_config(**values):
    """``EngineConfig`` from field values; an unknown name or a refused value -> EngineError.
    ``checkpoint='default'`` is resolved (see `resolve_default_checkpoint`)."""
    cls = engine_config_class()
    try:
        return resolve_default_checkpoint(cls(**values))
    except (TypeError, ValueError, FileNotFoundError) as exc:
        raise EngineError(f'{cls.__name__}: {exc}') from exc


def resolve_default_checkpoint(cfg):
    """``checkpoint='default'``: the shipped checkpoint and the engine settings it needs
    (config/default_checkpoint.yaml; they override the given ones); other configs unchanged."""
    from orion_lite_ros.paths import DEFAULT_CHECKPOINT, default_checkpoint
    if cfg.checkpoint != DEFAULT_CHECKPOINT:
        return cfg
    from dataclasses import replace
    shipped = default_checkpoint()
    return replace(cfg, **shipped['engine'], checkpoint=shipped['checkpoint'])


def engine_config_in_effect(cfg):
    """(resolved config, {field: (value given, value in effect)}) for ``cfg``: with
    ``checkpoint: default`` the shipped checkpoint's settings replace the given ones. A value
    no engine can use (``jpeg_quality`` outside 1..100, a missing default checkpoint) ->
    EngineError naming the field."""
    from dataclasses import fields
    try:
        resolved = resolve_default_checkpoint(cfg)
    except (ValueError, FileNotFoundError) as exc:
        raise EngineError(f"parameter 'checkpoint': {exc}") from exc
    if not 1 <= resolved.jpeg_quality <= 100:
        raise EngineError(f"parameter 'jpeg_quality': must be in 1..100, got "
                          f'{resolved.jpeg_quality}')
    changed = {f.name: (getattr(cfg, f.name), getattr(resolved, f.name)) for f in fields(cfg)
               if f.name != 'checkpoint' and getattr(cfg, f.name) != getattr(resolved, f.name)}
    return resolved, changed


def weights_description(requested: str, resolved) -> str:
    """Which weights the planner uses, for its log."""
    if not resolved.checkpoint:
        return 'NONE - RANDOM WEIGHTS (set the checkpoint parameter; tests only)'
    if requested == 'default':
        return f'{resolved.checkpoint} (the shipped student, checkpoint: default)'
    return resolved.checkpoint


def build_engine(cfg):
    """``InferenceEngine(cfg)`` (``checkpoint='default'`` resolved); a value the engine refuses
    (or a missing checkpoint) becomes an ``EngineError`` naming the config."""
    from orion_lite_ros.model.engine import InferenceEngine
    try:
        return InferenceEngine(resolve_default_checkpoint(cfg))
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        raise EngineError(f'model ({cfg}): {exc}') from exc


def _with_acceleration(ego, accel_msg):
    """EgoState with ax/ay from AccelWithCovarianceStamped (ignored when not finite)."""
    if accel_msg is None:
        return ego
    linear = accel_msg.accel.accel.linear
    if not (math.isfinite(linear.x) and math.isfinite(linear.y)):
        return ego
    return replace(ego, ax_mps2=float(linear.x), ay_mps2=float(linear.y))


# -- frame assembly ---------------------------------------------------------------------------
class ImageFault(NamedTuple):
    """Why a camera set was not decoded."""

    camera: str      # camera whose image did not decode; '' when the decoded sizes differ
    reason: str      # ImageDecodeError text, or 'image sizes differ: [...]'


class DecodedSet(NamedTuple):
    """One camera set after `FrameAssembler.decode_set`."""

    images: Optional[np.ndarray]                  # (N_cam, H, W, 3) uint8, or None
    faults: List[ImageFault]
    source_jpeg_quality: Optional[int] = None     # every camera a JPEG of at most this quality
    source_hw: Optional[Tuple[int, int]] = None   # size the images were encoded at


def no_images(num_cams: int) -> DecodedSet:
    """The camera set of a planner that reads no images (the baselines): an empty
    (num_cams, 0, 0, 3) array, no faults."""
    return DecodedSet(np.empty((num_cams, 0, 0, 3), np.uint8), [])


class FrameAssembler:
    """Camera set + odometry -> ``FrameInputs``, with the planner's context inputs.

    ``fill_missing_cameras``: a camera without a message is filled with black (the replay, for
    a camera absent from the whole bag) instead of being an error. ``stop_at_first_fault``:
    decoding stops at the first bad image (the replay reports one reason per set; the node
    decodes all and counts every bad topic).
    """

    def __init__(self, rig: Rig, route_config: RouteConfig = RouteConfig(), *,
                 use_camera_info: bool = False, fill_missing_cameras: bool = False,
                 stop_at_first_fault: bool = False):
        self.rig, self.route_config = rig, route_config
        self.use_camera_info = use_camera_info
        self.fill_missing_cameras = fill_missing_cameras
        self.stop_at_first_fault = stop_at_first_fault
        self._lock = threading.Lock()
        self._route: Optional[RouteTracker] = None
        self._accel = None
        self._camera_k = {}                                   # camera -> (3, 3)
        self.jpeg_size_hint: Optional[SizeHint] = None        # the engine's, when it has one
        self.decode_threads = 1               # compressed camera sets decoded on this many
        self._pool: Optional[ThreadPoolExecutor] = None

    # -- context inputs (latest wins) -----------------------------------------------------------
    def set_route(self, route_xy: np.ndarray) -> Optional[RouteTracker]:
        """New route (map frame, (N, 2) m); navigation restarts on it. An empty, single-point
        or all-NaN route clears the route (None: LANE_FOLLOW, target straight ahead)."""
        points = route_points(route_xy)
        tracker = RouteTracker(points, config=self.route_config) if points is not None else None
        with self._lock:
            self._route = tracker
        return tracker

    def reset_route_progress(self) -> None:
        """The route stays; its progress is searched again on the whole route."""
        with self._lock:
            route = self._route
        if route is not None:
            route.reset()

    def set_acceleration(self, msg) -> None:
        """geometry_msgs/AccelWithCovarianceStamped (or None) for the next EgoState."""
        with self._lock:
            self._accel = msg

    def set_camera_info(self, camera: str, msg) -> None:
        """sensor_msgs/CameraInfo of ``camera``; ignored unless ``use_camera_info``. A K that
        is no pinhole camera raises InputError and the previous K (or the rig's) stays."""
        if self.use_camera_info:
            k = checked_intrinsics(msg)
            with self._lock:
                self._camera_k[camera] = k

    def route_tracker(self) -> Optional[RouteTracker]:
        """The current route's tracker (progress advanced by `frame_inputs`), or None."""
        with self._lock:
            return self._route

    @property
    def has_route(self) -> bool:
        with self._lock:
            return self._route is not None

    # -- per set --------------------------------------------------------------------------------
    def decode(self, cams: Iterable[Tuple[str, Any, Optional[str]]]
               ) -> Tuple[Optional[np.ndarray], List[ImageFault]]:
        """``(camera, msg, topic)`` triples (topic named in decode errors) -> ((N_cam, H, W, 3)
        uint8 in CAMERA_NAMES order, []) or (None, faults in decode order)."""
        decoded = self.decode_set(cams)
        return decoded.images, decoded.faults

    def decode_set(self, cams: Iterable[Tuple[str, Any, Optional[str]]]) -> 'DecodedSet':
        """`decode`, plus the JPEG quality the set was compressed at when every camera is a
        JPEG CompressedImage (else None) and the size it was encoded at. With
        `jpeg_size_hint` set (the engine's), such sets are decoded at the reduced size the
        engine asks for (`frame_inputs` scales CameraInfo intrinsics to it)."""
        cams = list(cams)
        # CompressedImage (rclpy or rosbags types)
        compressed = all(hasattr(msg, 'format') for _, msg, _ in cams)
        hint = self.jpeg_size_hint if compressed else None
        by_name, shapes, faults, qualities, sources = {}, set(), [], [], set()
        for cam, outcome in self._decode_each(cams, hint, compressed):
            if isinstance(outcome, ImageDecodeError):
                faults.append(ImageFault(cam, str(outcome)))
                if self.stop_at_first_fault:
                    break
                continue
            rgb, quality, source_hw = outcome
            by_name[cam] = rgb
            shapes.add(rgb.shape)
            qualities.append(quality)
            sources.add(source_hw)
        if faults:
            return DecodedSet(None, faults)
        if len(shapes) != 1:
            return DecodedSet(None, [ImageFault('', f'image sizes differ: {sorted(shapes)}')])
        missing = [cam for cam in CAMERA_NAMES if cam not in by_name]
        if missing and not self.fill_missing_cameras:
            raise ValueError(f'no image for cameras {missing}')
        black = np.zeros(next(iter(shapes)), np.uint8)
        source_q = None if (missing or None in qualities or not qualities) else max(qualities)
        return DecodedSet(np.stack([by_name.get(cam, black) for cam in CAMERA_NAMES]), [],
                          source_q, sources.pop() if len(sources) == 1 else None)

    def _decode_each(self, cams, hint, compressed: bool):
        """(camera, (rgb, jpeg quality, source (H, W)) or the ImageDecodeError) per camera, in
        order; on `decode_threads` threads when more than one (compressed images: the codecs
        release the GIL, so six JPEGs decode side by side)."""
        def one(item):
            cam, msg, topic = item
            try:
                if hint is not None:
                    decoded = decode_compressed(msg, topic, hint)
                    rgb, quality, source_hw = decoded.rgb, decoded.jpeg_quality, \
                        decoded.source_hw
                else:
                    rgb, quality = to_rgb(msg, topic), None
                    source_hw = rgb.shape[:2]
                return cam, (np.ascontiguousarray(rgb), quality, source_hw)
            except ImageDecodeError as exc:
                return cam, exc
        if self.decode_threads > 1 and compressed and len(cams) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.decode_threads,
                                                thread_name_prefix='decode')
            return list(self._pool.map(one, cams))
        return map(one, cams)

    def frame_inputs(self, stamp_ns: int, images: np.ndarray, odom,
                     source_jpeg_quality: Optional[int] = None,
                     source_hw: Optional[Tuple[int, int]] = None) -> FrameInputs:
        """``images`` (N_cam, H, W, 3) from ``decode`` and nav_msgs/Odometry -> FrameInputs
        stamped ``stamp_ns``; advances the route tracker. ``source_hw``: the size the images
        were encoded at when decoded smaller (CameraInfo K is scaled to the decoded size).
        Non-finite odometry or a zero quaternion raises ``InputError`` (before the route
        tracker moves)."""
        with self._lock:
            accel, route, camera_k = self._accel, self._route, dict(self._camera_k)
        ego = _with_acceleration(checked_odometry(odom), accel)
        if route is not None:
            state = route.update((ego.x_m, ego.y_m), ego.yaw_rad)
            command, target = int(state.command), state.target_point
        else:
            command = int(Command.LANE_FOLLOW)
            target = np.array([self.route_config.target_lookahead_m, 0.0])
        height, width = images.shape[1:3]
        rig = self.rig.scaled(width, height)
        intrinsics = rig.intrinsics()
        scale = np.diag([width / source_hw[1], height / source_hw[0], 1.0]) \
            if source_hw else np.eye(3)
        for i, cam in enumerate(CAMERA_NAMES):
            if cam in camera_k:
                intrinsics[i] = scale @ camera_k[cam]
        return FrameInputs(stamp_ns=stamp_ns, images=images, intrinsics=intrinsics,
                           cam_to_ego=rig.cam_to_ego(), ego=replace(ego, stamp_ns=stamp_ns),
                           command=command, target_point=np.asarray(target, dtype=np.float64),
                           source_jpeg_quality=source_jpeg_quality)
