"""Offline replay of a rosbag2 bag through the planner, with open-loop metrics (no ROS runtime).

``replay(bag, config, planner)`` reads the bag twice: first the small topics (odometry, route,
camera_info, objects) to know the recorded drive, then the cameras and odometry in recorded
order through ``FrameAssembler`` (the node's synchroniser, conversions and navigation). Each
frame set is planned as fast as the machine allows; results go to an ``OpenLoopRecorder``.
Bad input never stops the replay while anything can be evaluated: ``ReplayResult.problems``
says what was skipped and why. The planner is any ``FrameInputs -> PlanResult`` callable;
``make_engine_planner`` builds the inference engine from a checkpoint (deterministic: the
VAE planner's mean, fixed torch seed).
"""
from dataclasses import dataclass, field
import itertools
import time
from typing import Callable, Dict, List, Optional

import numpy as np

from orion_lite_ros.eval.bag_io import BagSource, Problem
from orion_lite_ros.eval.frames import (
    BagTopics,
    FrameAssembler,
    NodeSettings,
    ReplayError,
    clock_guard,
    jump_problem,
    marker_boxes,
    pose2d,
    resolve_topics,
)
from orion_lite_ros.eval.openloop import FrameMetrics, OpenLoopConfig, OpenLoopRecorder
from orion_lite_ros.eval.prefetch import prefetch
from orion_lite_ros.eval.topic_maps import TopicMap, builtin_topic_maps, load_topic_map
from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.nav.route import RouteConfig
from orion_lite_ros.ros.rig import load_rig
from orion_lite_ros.types import FrameInputs, PlanResult, without_images

__all__ = ['BagCheck', 'ReplayConfig', 'ReplayError', 'ReplayResult', 'check_bag', 'replay',
           'detect_topic_map']


@dataclass(frozen=True)
class ReplayConfig:
    topic_map: str = ''              # built-in name or YAML path; '' -> detect from the bag
    typestore: str = 'auto'          # auto | humble | jazzy | kilted
    rig: str = ''                    # rig YAML; '' -> the Bench2Drive rig (as the node)
    node: NodeSettings = NodeSettings()   # the planner node's sync / camera_info settings
    max_frames: int = 0              # 0 -> all
    progress: bool = True            # tqdm bar
    keep_images: int = 4             # front-camera images kept for the plots
    openloop: OpenLoopConfig = OpenLoopConfig()
    route: RouteConfig = RouteConfig()
    prefetch: int = 0                # frame sets read + preprocessed ahead on a thread (0: off;
                                     # on 2 cores it did not help: docs/performance.md)
    batch: int = 0                   # frames per forward pass for a planner that can batch
                                     # them (the engine without temporal memory); 0: 8 there,
                                     # 1 otherwise. Same plans up to float rounding.


@dataclass
class ReplayResult:
    bag: str
    storage: str
    typestore: str
    topic_map: TopicMap
    topics: Optional[BagTopics]
    frames: List[FrameMetrics]
    summary: Dict
    problems: List[Problem]
    log_times_ns: Dict[int, int] = field(default_factory=dict)    # frame stamp -> log time
    images: Dict[int, tuple] = field(default_factory=dict)        # stamp -> (rgb, K, T)
    ego_track: Optional[np.ndarray] = None                        # (N, 4) t, x, y, yaw
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.frames)


def detect_topic_map(bag_topics: Dict[str, tuple]) -> TopicMap:
    """The built-in map whose odometry and front camera (or its /compressed) are in the bag."""
    for name in builtin_topic_maps():
        tm = load_topic_map(name)
        front = tm.cameras.get(CAMERA_NAMES[0], '')
        if tm.odometry in bag_topics and (front in bag_topics
                                         or front + '/compressed' in bag_topics):
            return tm
    return TopicMap()


def _context(src: BagSource, topics: BagTopics, rec: OpenLoopRecorder) -> List[Problem]:
    """First pass: the recorded drive (odometry) and object boxes.

    Odometry whose stamps jump back (another clock before it) restarts the drive: the poses
    before the jump are not on the clock of what follows and are discarded (reported).
    """
    guard, problems = clock_guard(), []
    for m in src.messages([t for t in (topics.odometry, topics.objects) if t]):
        if m.topic == topics.odometry:
            pose = pose2d(m.msg)
            jump = guard.check(m.topic, pose[0])
            if jump is not None:
                rec.clear_odometry()
                problems.append(jump_problem(jump, 'the poses before the jump are discarded'))
            rec.add_odometry(*pose)
        else:
            snap = marker_boxes(m.msg)
            if snap is not None:
                rec.add_objects(*snap)
    return problems


def _route_problem(topics: BagTopics, cfg: ReplayConfig) -> List[Problem]:
    if topics.route:
        return []
    how = ('the recorded drive is used as the route' if cfg.node.route_from_drive else
           'LANE_FOLLOW with a target straight ahead, as the node does without a route '
           '(--route-from-drive uses the recorded drive)')
    return [Problem('no_route', '', f'no usable nav_msgs/Path route: {how}')]


def _gap_problems(rec: OpenLoopRecorder, cfg: ReplayConfig, topic: str) -> List[Problem]:
    out = []
    for a, b in rec.track().gaps(cfg.openloop.max_gap_s):
        out.append(Problem('odometry_gap', topic, f'no odometry for {(b - a) / 1e9:.2f} s '
                           f'({a} .. {b} ns): horizons across it are not evaluated'))
    return out


@dataclass
class BagCheck:
    """A bag looked at before anything is built: its topics and what feeds the replay."""

    bag: str
    storage: str
    typestore: str
    topic_map: str
    topics: Dict[str, tuple]            # topic -> (type, message count)
    roles: Dict[str, str]               # topic -> role in the replay
    problems: List[Problem]

    def text(self) -> str:
        lines = [f'bag {self.bag}: {self.storage}, {self.typestore} types, topic map '
                 f'{self.topic_map!r}']
        for topic, (typ, count) in sorted(self.topics.items()):
            role = self.roles.get(topic, '-')
            lines.append(f'  {topic:<44} {typ:<40} {count:>6}  {role}')
        lines += [f'  ! {p.kind} {p.topic}: {p.detail}' for p in self.problems]
        return '\n'.join(lines)


def check_bag(bag, config: ReplayConfig = ReplayConfig()) -> BagCheck:
    """Open the bag, list its topics and check them against the topic map; raises
    ``BagError`` / ``ReplayError`` (with the reasons collected) when nothing can run."""
    src, tm = _open(bag, config)
    try:
        problems = list(src.problems)
        topics = resolve_topics(src.topics, tm, problems, src.undecodable)
        roles = {t: f'camera {c}' for c, t in topics.cameras.items()}
        roles.update({t: f'camera_info {c}' for c, t in topics.camera_info.items()})
        roles.update({t: r for t, r in ((topics.odometry, 'odometry'), (topics.route, 'route'),
                                        (topics.objects, 'objects'),
                                        (topics.acceleration, 'acceleration')) if t})
        return BagCheck(str(bag), src.storage, src.typestore_name, tm.name, src.topics, roles,
                        problems)
    finally:
        src.close()


def _open(bag, cfg: ReplayConfig):
    src = BagSource(bag, cfg.typestore).open()
    tm = load_topic_map(cfg.topic_map) if cfg.topic_map else detect_topic_map(src.topics)
    return src, tm


def replay(bag, config: ReplayConfig = ReplayConfig(),
           planner: Optional[Callable[[FrameInputs], PlanResult]] = None) -> ReplayResult:
    """Replay ``bag`` through ``planner`` (default: the mini engine, untrained weights)."""
    t0 = time.perf_counter()
    src, tm = _open(bag, config)
    try:
        problems = src.problems
        topics = resolve_topics(src.topics, tm, problems, src.undecodable)
        planner = planner or make_engine_planner()     # only once the bag can be replayed
        if hasattr(planner, 'reset'):
            planner.reset()                 # a fresh temporal memory for every replay
        rec = OpenLoopRecorder(config.openloop)
        problems += _context(src, topics, rec)
        if len(rec.track()) == 0:
            raise ReplayError(f'odometry topic {topics.odometry!r} has no readable messages')
        problems += _gap_problems(rec, config, topics.odometry) + _route_problem(topics, config)
        for cam in topics.missing_cameras:
            problems.append(Problem('missing_camera', cam, 'filled with a black image (the '
                                    'node would plan nothing without it)'))
        asm = FrameAssembler(topics, load_rig(config.rig or None), config.node, config.route,
                             drive_xy=rec.track().xy)
        # camera JPEGs decoded straight at the size the engine needs, when it can use that
        asm.frames.jpeg_size_hint = getattr(planner, 'jpeg_size_hint', None)
        asm.frames.decode_threads = getattr(planner, 'decode_threads', 1)
        result = ReplayResult(str(bag), src.storage, src.typestore_name, tm, topics, [], {},
                              problems)
        _run(src, asm, planner, rec, config, result)
    finally:
        src.close()
    for jump in asm.clock.jumps:
        if jump.topic != topics.odometry:        # odometry's jump is reported by _context
            problems.append(jump_problem(jump, 'its queued messages were dropped'))
    for why, n in asm.dropped.items():
        problems.append(Problem('frame_skipped', '', f'{n} frame set(s): {why}'))
    result.frames = rec.frames()
    result.summary = rec.summary(result.frames)
    result.ego_track = rec.odometry()
    result.wall_s = time.perf_counter() - t0
    return result


def _expected_frames(src: BagSource, topics: BagTopics) -> int:
    return int(src.topics.get(topics.cameras[CAMERA_NAMES[0]], ('', 0))[1])


def _frames(src, asm, wanted, prepare, keep=frozenset()):
    """(log time, frame, prepared) per frame set, in recorded order. Once prepared, a frame
    whose index is not in `keep` drops its camera images: a batch in flight then holds views,
    not full-size camera sets (at 1600x900, holding eight of those halved the replay's speed)."""
    index = 0
    for m in src.messages(wanted):
        for frame in asm.feed(m):
            prepared = None
            if prepare is not None:
                prepared = prepare(frame)
                if index not in keep:
                    frame = without_images(frame)
            yield m.log_time_ns, frame, prepared
            index += 1


AUTO_BATCH = 8


def batch_size(planner, cfg: ReplayConfig) -> int:
    """Frames planned per call: `cfg.batch` (0: AUTO_BATCH) for a planner that can batch."""
    if cfg.batch < 0:
        raise ValueError(f'ReplayConfig.batch must be >= 0, got {cfg.batch}')
    if not getattr(planner, 'can_batch', False):
        return 1
    return cfg.batch or AUTO_BATCH


def _chunks(items, size: int, limit: int):
    """Lists of up to `size` items, at most `limit` items in all (0: no limit)."""
    items = itertools.islice(items, limit or None)
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _run(src, asm, planner, rec, cfg: ReplayConfig, result: ReplayResult) -> None:
    topics = result.topics
    expected = _expected_frames(src, topics)
    keep = set(np.linspace(0, max(expected - 1, 0), cfg.keep_images).astype(int).tolist()) \
        if cfg.keep_images and expected else set()
    wanted = [t for t in asm.topics_needed() if t]
    bar = _progress(cfg.progress, expected)
    # A planner with prepare()/run() (the engine) has its next frame decoded and preprocessed
    # on the prefetch thread while it plans the current one, and plans `batch` at a time
    # when no temporal memory links the frames.
    staged = hasattr(planner, 'prepare') and hasattr(planner, 'run')
    batch = batch_size(planner, cfg) if staged else 1
    items = prefetch(_frames(src, asm, wanted, planner.prepare if staged else None, keep),
                     cfg.prefetch)
    count = 0
    try:
        for chunk in _chunks(items, batch, cfg.max_frames):
            for (log_time_ns, frame, _), plan, latency in _plan_chunk(planner, chunk, batch):
                rec.add_plan(frame.stamp_ns, plan.waypoints, plan.command, latency)
                if count in keep:
                    result.images[frame.stamp_ns] = (frame.images[0].copy(),
                                                      frame.intrinsics[0], frame.cam_to_ego[0])
                result.log_times_ns[frame.stamp_ns] = log_time_ns
                count += 1
                bar.update(1)
    finally:
        items.close()
        bar.close()


def _plan_chunk(planner, chunk, batch: int):
    """[(item, plan, latency s)]: the planner's cost per frame, wherever it ran (the
    preprocessing on the prefetch thread counts; a batch's time is shared by its frames)."""
    t = time.perf_counter()
    if batch > 1:
        plans = planner.run_batch([prepared for _, _, prepared in chunk])
    else:
        plans = [planner(frame) if prepared is None else planner.run(prepared)
                 for _, frame, prepared in chunk]
    share = (time.perf_counter() - t) / len(chunk)
    return [(item, plan, share + (item[2].preprocess_s if item[2] is not None else 0.0))
            for item, plan in zip(chunk, plans)]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(enabled: bool, total: int):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total or None, unit='frame', desc='replay', dynamic_ncols=True)


def make_engine_planner(checkpoint: str = '', preset: str = 'mini', device: str = 'cpu',
                        seed: int = 0, temporal_memory: bool = True, precision: str = 'fp32'
                        ) -> Callable[[FrameInputs], PlanResult]:
    """The inference engine as a planner callable (imports torch lazily)."""
    from orion_lite_ros.eval.engine_planner import build_engine_planner
    return build_engine_planner(checkpoint, preset, device, seed, temporal_memory, precision)
