"""planner_node: six cameras + odometry + route -> Orion-Lite trajectory.

Inputs (private names, remapped by launch profiles): ``~/input/cameras/<CAM>/image`` (Image
or CompressedImage per ``image_transports``, sensor-data QoS), ``~/input/cameras/<CAM>/
camera_info`` (used with ``use_camera_info``), ``~/input/odometry``, ``~/input/acceleration``
(optional), ``~/input/route`` (nav_msgs/Path, map frame, transient local). The cameras and the
odometry are synchronised; sets go to a worker thread through a latest-wins slot (older sets
dropped and counted). Outputs: ``~/output/trajectory`` (nav_msgs/Path in ``base_frame_id``,
header = front camera stamp, pose k stamped + (k+1) * 0.5 s), ``~/output/markers``,
``~/output/lane_markers`` (the map head's lanes, ego frame), ``/diagnostics``; with
``publish_autoware`` and the message packages importable, as Autoware's learned planners do:
``~/output/autoware_trajectory`` (autoware_planning_msgs/Trajectory in ``map_frame_id``,
starting at the ego pose of the sensor stamp, headings / velocities / accelerations filled),
``~/output/candidate_trajectories`` (all six command modes) and ``~/output/objects``
(autoware_perception_msgs/PredictedObjects from the detection head, map frame).

Faults stop the car, not the node: every synchronised set ends in one outcome of
``planning.health.OUTCOMES`` (planned, dropped, stale, future, bad_image, bad_input, failed),
reported per recent window with latency percentiles; a clock jump backwards or a teleport
resets the model's memory and the route progress (logged once per jump); a callback that
raises is logged and counted. Diagnostics name inputs by their resolved topic names.
"""
from dataclasses import dataclass, fields, replace
import functools
import math
import queue
import threading
import time
from typing import Dict

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import AccelWithCovarianceStamped, Point
from nav_msgs.msg import Odometry, Path
import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from orion_lite_ros.layout import WAYPOINT_DT_S, Command
from orion_lite_ros.nav.route import RouteConfig
from orion_lite_ros.nodes.common import (
    LATCHED_QOS,
    RELIABLE_QOS,
    SENSOR_QOS,
    CallbackGuard,
    LatestSlot,
    ParameterError,
    declare_config,
    diagnostic_status,
    spin_main,
)
from orion_lite_ros.planning import autoware_outputs as aw_out
from orion_lite_ros.planning.frame_assembly import (
    EngineError,
    FrameAssembler,
    PlannerNodeConfig,  # defined there (pure); still importable from here
    build_engine,
    engine_config_class,
    engine_config_in_effect,
    no_images,
    weights_description,
)
from orion_lite_ros.planning.health import OK, WARN, OutcomeWindow, WindowSummary
from orion_lite_ros.planning.jumps import JumpDetector
from orion_lite_ros.ros import autoware as aw_msgs
from orion_lite_ros.ros.conversions import path_from_array, path_to_array
from orion_lite_ros.ros.rig import load_rig
from orion_lite_ros.ros.sync import ClockJumpReset, import_message_filters
from orion_lite_ros.ros.time import ns_to_stamp, stamp_to_ns
from orion_lite_ros.ros.validation import InputError, checked_odometry, future_by_s
from orion_lite_ros.types import FrameInputs, PlanResult

TRANSPORTS = {'raw': Image, 'compressed': CompressedImage}   # PlannerNodeConfig.image_transports


def declare_engine_config(node: Node):
    """EngineConfig fields as parameters (read at start-up; refused at run time)."""
    return declare_config(node, engine_config_class(), read_only=False)


def make_engine(node: Node, cfg):
    """InferenceEngine for ``cfg`` (from `declare_engine_config`). The checkpoint's own
    settings (``checkpoint: default``) are set on the parameters, so they report the value in
    effect; a value the engine refuses becomes a ParameterError. Logs which weights are used."""
    try:
        resolved, changed = engine_config_in_effect(cfg)
    except EngineError as exc:
        raise ParameterError(str(exc)) from exc
    for name, (given, effect) in changed.items():
        node.get_logger().warning(f'{name}: {effect!r} in effect (the checkpoint needs it; '
                                  f'the parameter said {given!r})')
    if changed:
        node.set_parameters([Parameter(n, value=v[1]) for n, v in changed.items()])
    names = {p.name for p in fields(cfg)}
    node.add_on_set_parameters_callback(lambda params: _refuse_runtime_change(params, names))
    try:
        engine = build_engine(resolved)
    except EngineError as exc:
        raise ParameterError(str(exc)) from exc
    node.get_logger().info(f'weights: {weights_description(cfg.checkpoint, resolved)}')
    return engine


def _refuse_runtime_change(params, names) -> SetParametersResult:
    bad = [p.name for p in params if p.name in names]
    if bad:
        return SetParametersResult(successful=False,
                                   reason=f'{bad} are read at start-up; restart the node')
    return SetParametersResult(successful=True)


@dataclass
class PlannerStats:
    input_sets: int = 0                    # synchronised sets received
    last_model_s: float = math.nan
    last_error: str = ''
    command: int = int(Command.LANE_FOLLOW)
    resets: int = 0                        # clock jumps / teleports


class PlannerNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__('planner_node', **node_kwargs)
        self.config = declare_config(self, PlannerNodeConfig)
        self.route_config = declare_config(self, RouteConfig)
        cfg = self.config
        self.rig = _load_rig(cfg.rig_file)
        self.frames = FrameAssembler(self.rig, self.route_config,
                                     use_camera_info=cfg.use_camera_info)
        self.window = OutcomeWindow(cfg.diagnostics_window_s)
        self.guard = CallbackGuard(self, on_error=lambda name: self.window.record_fault(
            self.get_clock().now().nanoseconds, 'callback_error'))
        self.engine = self._make_planner()
        # camera JPEGs decoded at the size the model needs (when it can use that)
        self.frames.jpeg_size_hint = getattr(self.engine, 'jpeg_size_hint', None)
        self.frames.decode_threads = getattr(self.engine, 'decode_threads', 1)
        self.stats = PlannerStats()
        self.jumps = JumpDetector()
        self.bad_images: Dict[str, int] = {}                  # resolved topic -> count
        self.bad_inputs: Dict[str, int] = {}                  # resolved topic -> count
        self.last_seen: Dict[str, int] = {}                   # input -> header stamp ns
        self._lock = threading.Lock()
        self._make_publishers()
        self._make_subscriptions()
        self._slot = LatestSlot()
        self._handoff = self._make_pipeline()
        self._worker = threading.Thread(target=self._work, daemon=True, name='planner-worker')
        self._worker.start()
        self._finisher = None
        if self._handoff is not None:
            self._finisher = threading.Thread(target=self._finish_work, daemon=True,
                                              name='planner-finish')
            self._finisher.start()
        self.create_timer(cfg.diagnostics_period_s,
                          self.guard.wrap('diagnostics', self._publish_diagnostics))

    def _make_planner(self):
        """The Orion-Lite engine, or a baseline planner (`planner` parameter). The engine's
        parameters are declared either way (one YAML for every mode)."""
        from orion_lite_ros.planning import baselines
        try:
            engine_cfg = declare_engine_config(self)
        except ImportError:                     # no torch: only the baselines can run
            engine_cfg = None
            if self.config.planner == 'model':
                raise
        if self.config.planner == 'constant_velocity':
            return baselines.ConstantVelocityPlanner()
        if self.config.planner == 'route_oracle':
            return baselines.RouteOraclePlanner(self.frames.route_tracker)
        return make_engine(self, engine_cfg)

    def _make_pipeline(self):
        """The one-set hand-over between the two planning stages (`pipeline`), or None: the
        worker runs the image encoder (and the checks, decoding and preprocessing before it),
        the finisher the QT-Former, the student and the publishing; the worker waits while
        the finisher still has a set, so at most two sets are in flight."""
        if not (self.config.pipeline and hasattr(self.engine, 'encode_prepared')):
            return None
        self.engine.use_two_stages()
        return queue.Queue(maxsize=1)

    # -- wiring ---------------------------------------------------------------------------
    def _make_publishers(self):
        self.pub_path = self.create_publisher(Path, '~/output/trajectory', RELIABLE_QOS)
        self.pub_markers = self.create_publisher(MarkerArray, '~/output/markers', RELIABLE_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', RELIABLE_QOS)
        self.pub_lanes = self.create_publisher(MarkerArray, '~/output/lane_markers',
                                               RELIABLE_QOS)
        on = self.config.publish_autoware
        self.pub_autoware = self.pub_candidates = self.pub_objects = None
        if on and aw_msgs.AVAILABLE['trajectory']:
            self.pub_autoware = self.create_publisher(
                aw_msgs.Trajectory, '~/output/autoware_trajectory', RELIABLE_QOS)
        if on and aw_msgs.AVAILABLE['candidates']:
            self.pub_candidates = self.create_publisher(
                aw_msgs.CandidateTrajectories, '~/output/candidate_trajectories', RELIABLE_QOS)
        if on and aw_msgs.AVAILABLE['objects']:
            self.pub_objects = self.create_publisher(
                aw_msgs.PredictedObjects, '~/output/objects', RELIABLE_QOS)

    def _make_subscriptions(self):
        cfg = self.config
        mf = import_message_filters()
        # cameras: false (planners that read no images): odometry alone
        self.synced_cameras = tuple(cfg.camera_names) if cfg.cameras else ()
        cams = self.synced_cameras
        self.input_topics = [f'~/input/cameras/{cam}/image' for cam in cams]
        self.input_topics.append('~/input/odometry')
        types = [TRANSPORTS[cfg.transport(cam)] for cam in cams] + [Odometry]
        qos = [SENSOR_QOS] * len(cams) + [RELIABLE_QOS]
        self._filters = [mf.Subscriber(self, t, topic, qos_profile=q)
                         for t, topic, q in zip(types, self.input_topics, qos)]
        self.resolved = {t: self.resolve_topic_name(t) for t in self.input_topics}
        for f, topic in zip(self._filters, self.input_topics):
            f.registerCallback(self.guard.wrap(topic, self._on_input), topic)
        # before the synchroniser: an input whose stamps fall back (wall clock before /clock)
        # has its queue cleared, else message_filters would drop all its later messages
        self._clock_reset = ClockJumpReset(self._filters, self.input_topics,
                                           on_jump=self._on_clock_jump)
        self._sync = mf.ApproximateTimeSynchronizer(self._filters, cfg.queue_size, cfg.slop_s)
        self._clock_reset.attach(self._sync)
        self._sync.registerCallback(self.guard.wrap('synchroniser', self._on_synced))
        for cam in cfg.camera_names:
            topic = f'~/input/cameras/{cam}/camera_info'
            self.resolved[topic] = self.resolve_topic_name(topic)
            callback = functools.partial(self._on_camera_info, cam, self.resolved[topic])
            self.create_subscription(CameraInfo, topic, self.guard.wrap(topic, callback),
                                     SENSOR_QOS)
        self.create_subscription(AccelWithCovarianceStamped, '~/input/acceleration',
                                 self.guard.wrap('acceleration', self._on_accel), RELIABLE_QOS)
        self.create_subscription(Path, '~/input/route', self.guard.wrap('route', self._on_route),
                                 LATCHED_QOS)

    # -- callbacks (cheap; the worker does the work) -----------------------------------------
    def _on_input(self, msg, topic: str) -> None:
        with self._lock:
            self.last_seen[topic] = stamp_to_ns(msg.header.stamp)

    def _on_clock_jump(self, jump) -> None:
        with self._lock:
            self.stats.last_error = f'{jump.topic}: {jump.describe()}; its queue was cleared'
        self.get_logger().warning(self.stats.last_error, throttle_duration_sec=5.0)

    def _on_camera_info(self, cam: str, topic: str, msg: CameraInfo) -> None:
        try:
            self.frames.set_camera_info(cam, msg)
        except InputError as exc:                # the previous K (or the rig's) stays
            self._bad_input(topic, f'camera_info: {exc}')
            self.window.record_fault(self.get_clock().now().nanoseconds, 'bad_camera_info')

    def _on_accel(self, msg) -> None:
        self.frames.set_acceleration(msg)

    def _on_route(self, msg: Path) -> None:
        tracker = self.frames.set_route(path_to_array(msg))
        if tracker is None:
            self.get_logger().warning(f'route of {len(msg.poses)} poses has fewer than 2 '
                                      'distinct finite points: no route (LANE_FOLLOW)')
            return
        self.get_logger().info(f'route: {len(tracker.route_xy)} points, '
                               f'{tracker.length_m:.0f} m')

    def _on_synced(self, *msgs) -> None:
        now_ns = self.get_clock().now().nanoseconds
        with self._lock:
            self.stats.input_sets += 1
        if self._slot.put((msgs, now_ns, time.monotonic())):
            self.window.record(now_ns, 'dropped')

    # -- worker -----------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._slot.closed:
            item = self._slot.take(timeout_s=0.5)
            if item is not None and not self._run_stage(self._plan, item):
                return

    def _finish_work(self) -> None:
        """The pipeline's second stage (`_make_pipeline`)."""
        while True:
            try:
                item = self._handoff.get(timeout=0.2)
            except queue.Empty:
                if self._slot.closed and not self._worker.is_alive():
                    return
                continue
            if not self._run_stage(self._finish, item):
                return

    def _run_stage(self, stage, item) -> bool:
        """Run `stage(*item)` and record its outcome (None: a later stage records it); False
        once the node is shutting down."""
        try:
            outcome, latency_s = stage(*item)
        except Exception as exc:  # noqa: B902 - keep the node alive; report the fault
            if self._slot.closed:                 # shutting down: publishers may be gone
                return False
            outcome, latency_s = 'failed', math.nan
            self._record_error(f'planning failed: {type(exc).__name__}: {exc}')
            self.get_logger().error(self.stats.last_error, throttle_duration_sec=5.0)
        if outcome is not None:
            self.window.record(self.get_clock().now().nanoseconds, outcome, latency_s)
        return True

    def _hand_over(self, item) -> None:
        while not self._slot.closed:               # dropped when shutting down
            try:
                self._handoff.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _record_error(self, text: str) -> None:
        with self._lock:
            self.stats.last_error = text

    def _plan(self, msgs, synced_ns: int, synced_mono: float):
        """Plan one set; returns its outcome (planning.health.OUTCOMES) and latency (s), or
        (None, nan) when the set went on to the pipeline's second stage."""
        cams, odom = msgs[:-1], msgs[-1]
        stamp_ns = stamp_to_ns((cams[0] if cams else odom).header.stamp)
        now_ns = self.get_clock().now().nanoseconds
        future = self._future_inputs(msgs, now_ns)
        if future:
            self._record_error(f'inputs stamped ahead of the node clock: {future}')
            self.get_logger().warning(self.stats.last_error, throttle_duration_sec=2.0)
            return 'future', math.nan
        stale = self._stale_inputs(msgs, now_ns)
        if stale:
            self._record_error(f'stale inputs: {stale}')
            return 'stale', math.nan
        try:
            ego = checked_odometry(odom)
        except InputError as exc:
            self._bad_input(self.resolved[self.input_topics[-1]], str(exc))
            return 'bad_input', math.nan
        if self._check_jump(stamp_ns, ego):
            self._reset_memory(synced_mono)
        decoded = self._decode(cams) if cams else no_images(len(self.config.camera_names))
        if decoded.images is None:
            return 'bad_image', math.nan
        frame = self.frames.frame_inputs(stamp_ns, decoded.images, odom,
                                         decoded.source_jpeg_quality, decoded.source_hw)
        if self._handoff is None:
            return self._finish(frame, None, False, synced_mono)
        encoded = self.engine.encode_prepared([self.engine.prepare(frame)])
        self._hand_over((frame, encoded, False, synced_mono))
        return None, math.nan

    def _reset_memory(self, synced_mono: float) -> None:
        """Clear the model's memory in set order: at once, or in the pipeline's second stage
        after the set it has (which must not write its memory back over the reset)."""
        if self._handoff is None:
            self.engine.reset(None)
        else:
            self._hand_over((None, None, True, synced_mono))

    def _finish(self, frame, encoded, reset: bool, synced_mono: float):
        """The model (or its second stage, given the first's `encoded`) and the outputs;
        `reset`: clear the model's memory first (`_reset_memory`; frame None: only that)."""
        if reset:
            self.engine.reset(None)
        if frame is None:
            return None, math.nan
        t0 = time.perf_counter()
        if encoded is None:
            result = self.engine.plan(frame, 'default')
            model_s = time.perf_counter() - t0
        else:
            result = self.engine.finish_encoded(encoded, 'default')[0]
            model_s = time.perf_counter() - t0 + encoded.encode_s
        if not _finite_result(result):
            self._record_error('model output not finite; nothing published')
            return 'failed', math.nan
        self._publish_plan(frame.stamp_ns, frame, result)
        with self._lock:
            self.stats.last_model_s = model_s
            self.stats.command = int(frame.command)
        return 'planned', time.monotonic() - synced_mono

    def _check_jump(self, stamp_ns: int, ego) -> bool:
        """Clock jump / teleport: reset the route progress, log once; True: the model's
        memory must be cleared before this set (done where the model's memory is used)."""
        reason = self.jumps.check(stamp_ns, ego.x_m, ego.y_m)
        if not reason:
            return False
        self.frames.reset_route_progress()
        with self._lock:
            self.stats.resets += 1
        self.get_logger().warning(f'{reason}: model memory and route progress reset')
        return True

    def _future_inputs(self, msgs, now_ns: int) -> str:
        limit = self.config.future_tolerance_s
        ahead = [(self.resolved[t], future_by_s(stamp_to_ns(m.header.stamp), now_ns))
                 for t, m in zip(self.input_topics, msgs)]
        return ', '.join(f'{t} +{a:.3g} s' for t, a in ahead if a > limit)

    def _stale_inputs(self, msgs, now_ns: int) -> str:
        limit = self.config.max_input_age_s
        ages = [(self.resolved[topic], (now_ns - stamp_to_ns(m.header.stamp)) * 1e-9)
                for topic, m in zip(self.input_topics, msgs)]
        return ', '.join(f'{t} {a:.2f} s' for t, a in ages if a > limit)

    def _decode(self, cams):
        """The set decoded (`DecodedSet`; images None after reporting the bad topics)."""
        topic_of = {cam: self.resolved[t] for cam, t in
                    zip(self.synced_cameras, self.input_topics)}
        decoded = self.frames.decode_set(
            (cam, msg, topic_of[cam]) for cam, msg in zip(self.synced_cameras, cams))
        for fault in decoded.faults:
            self._bad_image(topic_of.get(fault.camera, 'cameras'), fault.reason)
        return decoded

    def _bad_image(self, topic: str, reason: str) -> None:
        with self._lock:
            self.bad_images[topic] = self.bad_images.get(topic, 0) + 1
            self.stats.last_error = f'bad image: {reason}'
        self.get_logger().warning(f'bad image skipped: {reason}', throttle_duration_sec=2.0)

    def _bad_input(self, topic: str, reason: str) -> None:
        with self._lock:
            self.bad_inputs[topic] = self.bad_inputs.get(topic, 0) + 1
            self.stats.last_error = f'{topic}: {reason}'
        self.get_logger().warning(f'input refused: {topic}: {reason}',
                                  throttle_duration_sec=2.0)

    # -- outputs ----------------------------------------------------------------------------
    def _publish_plan(self, stamp_ns: int, frame: FrameInputs, result: PlanResult) -> None:
        cfg = self.config
        path = path_from_array(result.waypoints, cfg.base_frame_id, stamp_ns, WAYPOINT_DT_S)
        self.pub_path.publish(path)
        stamp = ns_to_stamp(stamp_ns)
        self.pub_markers.publish(plan_markers(result, frame, cfg.base_frame_id, stamp))
        self.pub_lanes.publish(aw_msgs.lane_markers(result.lanes, cfg.base_frame_id, stamp))
        self._publish_autoware(frame, result, stamp)

    def _publish_autoware(self, frame: FrameInputs, result: PlanResult, stamp) -> None:
        """Map frame, the ego pose at the sensor stamp (what Autoware's followers expect)."""
        e, map_id = frame.ego, self.config.map_frame_id
        pose = (e.x_m, e.y_m, e.yaw_rad)
        if self.pub_autoware is not None:
            tr = aw_out.trajectory_in_map(result.waypoints, *pose, e.vx_mps)
            self.pub_autoware.publish(aw_msgs.trajectory_msg(tr, map_id, stamp))
        if self.pub_candidates is not None:
            cands = aw_out.candidate_trajectories(result.all_modes, *pose, e.vx_mps)
            self.pub_candidates.publish(aw_msgs.candidates_msg(cands, map_id, stamp))
        if self.pub_objects is not None and result.objects is not None:
            objs = aw_out.objects_in_map(result.objects, *pose)
            self.pub_objects.publish(aw_msgs.predicted_objects_msg(objs, map_id, stamp))

    def _publish_diagnostics(self) -> None:
        now_ns = self.get_clock().now().nanoseconds
        with self._lock:
            stats = replace(self.stats)
            bad = dict(self.bad_images)
            bad_inputs = dict(self.bad_inputs)
            seen = {self.resolved[t]: ns for t, ns in self.last_seen.items()}
        errors, last_callback_error = self.guard.snapshot()
        topics = [self.resolved[t] for t in self.input_topics]
        stale = stale_topics(seen, topics, now_ns, self.config.max_input_age_s)
        summary = self.window.summary(
            now_ns, f'stale inputs, no plan: {", ".join(stale)}' if stale else '')
        level, message, values = planner_diagnostics(
            summary, stats, bad, bad_inputs, seen, topics, now_ns, self.frames.has_route)
        values['callback_errors'] = sum(errors.values())
        values['last_callback_error'] = last_callback_error
        msg = DiagnosticArray()
        msg.header.stamp = ns_to_stamp(max(now_ns, 0))
        msg.status = [diagnostic_status(f'{self.get_name()}: planning', 'orion_lite', level,
                                        message, values)]
        self.pub_diag.publish(msg)

    def close(self) -> None:
        """Stop the worker (called by the runner and main before destroy_node); a plan in
        progress finishes first (up to 5 s)."""
        self._slot.close()
        self._worker.join(timeout=5.0)
        if self._finisher is not None:
            self._finisher.join(timeout=5.0)


def _finite_result(result: PlanResult) -> bool:
    wps = np.asarray(result.waypoints, dtype=np.float64)
    return wps.shape == (6, 2) and bool(np.all(np.isfinite(wps)))


def stale_topics(seen: Dict[str, int], topics, now_ns: int, max_age_s: float):
    """Inputs never seen or whose last stamp is older than ``max_age_s``."""
    return [t for t in topics if t not in seen or (now_ns - seen[t]) * 1e-9 > max_age_s]


def planner_diagnostics(summary: WindowSummary, stats: PlannerStats, bad: Dict[str, int],
                        bad_inputs: Dict[str, int], seen: Dict[str, int], topics, now_ns: int,
                        have_route: bool):
    """(level, message, values) of the planner's DiagnosticStatus: the window's level, WARN
    at least without a route."""
    values = {'input_sets': stats.input_sets, 'resets_clock_jump_or_teleport': stats.resets,
              'model_ms': stats.last_model_s * 1e3, 'command': Command(stats.command).name,
              'route': 'yes' if have_route else 'no', 'last_error': stats.last_error}
    values.update(summary.values())
    values.update({f'age_s {t}': (now_ns - seen[t]) * 1e-9 if t in seen else math.inf
                   for t in topics})
    values.update({f'bad_images {t}': n for t, n in bad.items()})
    values.update({f'bad_inputs {t}': n for t, n in bad_inputs.items()})
    level, message = summary.level, summary.message
    if level == OK and not have_route:
        level, message = WARN, 'no route: LANE_FOLLOW, target straight ahead'
    return level, message, values


def _load_rig(rig_file: str):
    """The rig YAML; a missing or malformed file is a refused parameter (exit 2, one line)."""
    try:
        return load_rig(rig_file or None)
    except Exception as exc:  # noqa: B902 - OSError, YAMLError, KeyError...: the user's file
        raise ParameterError(f"parameter 'rig_file': cannot load {rig_file!r}: "
                             f'{type(exc).__name__}: {exc}') from exc


def plan_markers(result: PlanResult, frame: FrameInputs, frame_id: str, stamp) -> MarkerArray:
    """Chosen trajectory (green line), other command modes (grey), target point (red)."""
    out = MarkerArray()
    chosen = _line_marker('trajectory', 0, result.waypoints, frame_id, stamp,
                          ColorRGBA(r=0.1, g=0.9, b=0.2, a=1.0), 0.25)
    out.markers.append(chosen)
    for k, mode in enumerate(np.asarray(result.all_modes)):
        if np.all(np.isfinite(mode)):
            out.markers.append(_line_marker('modes', k, mode, frame_id, stamp,
                                            ColorRGBA(r=0.6, g=0.6, b=0.6, a=0.5), 0.08))
    target = Marker(ns='target_point', id=0, type=Marker.SPHERE, action=Marker.ADD)
    target.header.frame_id, target.header.stamp = frame_id, stamp
    target.pose.position.x, target.pose.position.y = (float(v) for v in frame.target_point)
    target.pose.orientation.w = 1.0
    target.scale.x = target.scale.y = target.scale.z = 0.8
    target.color = ColorRGBA(r=1.0, g=0.1, b=0.1, a=1.0)
    text = Marker(ns='command', id=0, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                  text=Command(int(result.command)).name)
    text.header.frame_id, text.header.stamp = frame_id, stamp
    text.pose.position.z, text.pose.orientation.w = 2.5, 1.0
    text.scale.z = 0.8
    text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    out.markers += [target, text]
    return out


def _line_marker(ns: str, mid: int, points, frame_id: str, stamp, color, width: float):
    marker = Marker(ns=ns, id=mid, type=Marker.LINE_STRIP, action=Marker.ADD)
    marker.header.frame_id, marker.header.stamp = frame_id, stamp
    marker.pose.orientation.w = 1.0
    marker.scale.x = width
    marker.color = color
    marker.points = [Point(x=0.0, y=0.0, z=0.0)] + [
        Point(x=float(x), y=float(y), z=0.0) for x, y in np.asarray(points)]
    return marker


def main(args=None) -> int:
    return spin_main('planner_node', PlannerNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
