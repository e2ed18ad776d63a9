"""bridge_node: steps a simulator in lock-step with the ROS driving stack (profile ``sim``).

Per step (fixed ``fixed_delta_s``): ``/clock``, ``/sim/ego/odometry``, six
``/sim/camera/<CAM>/image`` + ``camera_info``; the route once per route on ``/sim/route``
(transient local). Then it waits (``command_timeout_s``) for the ``sensor_msgs/Joy`` on
``/sim/ego/command`` whose header stamp equals the step's stamp; a late or missing command is
counted and replaced per ``on_missing_command`` (reuse_last | brake). With ``driver: expert``
the embedded simulator's privileged expert drives instead (no stack needed). Results JSON is
written after every route; a restart resumes. Driving runs in a worker thread that owns the
simulator (offscreen GL contexts are per thread); the executor only delivers commands.
"""
from pathlib import Path
import threading
import time
import traceback
from typing import List, Optional

from nav_msgs.msg import Odometry
from nav_msgs.msg import Path as PathMsg
from rclpy.node import Node
from rclpy.serialization import serialize_message
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, Joy

from orion_lite_ros.bridge.backend import ControlInput, RouteSpec, SensorFrame
from orion_lite_ros.bridge.config import BridgeConfig
from orion_lite_ros.bridge.episode_runner import (
    Interrupted,
    RouteClaims,
    RunOptions,
    drive_routes,
)
from orion_lite_ros.bridge.lockstep import CommandGate, LockstepConfig
from orion_lite_ros.bridge.results_store import ResultsStore
from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.nodes.common import (
    LATCHED_QOS,
    RELIABLE_QOS,
    SENSOR_QOS,
    CallbackGuard,
    ParameterError,
    declare_config,
    spin_main,
)
from orion_lite_ros.ros.conversions import (
    camera_info_from_intrinsics,
    odometry_from_ego_state,
    path_from_array,
)
from orion_lite_ros.ros.image_codec import rgb_to_image
from orion_lite_ros.ros.time import clock_msg, stamp_to_ns

TOPIC_COMMAND = '/sim/ego/command'
TOPIC_ODOMETRY = '/sim/ego/odometry'
TOPIC_ROUTE = '/sim/route'
TOPIC_CLOCK = '/clock'


def image_topic(cam: str) -> str:
    return f'/sim/camera/{cam}/image'


def info_topic(cam: str) -> str:
    return f'/sim/camera/{cam}/camera_info'


def control_from_joy(msg: Joy) -> ControlInput:
    axes, buttons = list(msg.axes), list(msg.buttons)
    target = float(axes[3]) if len(axes) > 3 else float('nan')
    axes += [0.0] * (3 - len(axes))
    buttons += [0] * (2 - len(buttons))
    return ControlInput(throttle=float(axes[0]), steer=float(axes[1]), brake=float(axes[2]),
                        hand_brake=bool(buttons[0]), reverse=bool(buttons[1]),
                        target_speed_mps=target)


class FramePublisher:
    """All per-step publications (and their bag records)."""

    def __init__(self, node: Node, recorder=None, record_every_n: int = 1):
        self.node, self.recorder, self.every = node, recorder, max(1, record_every_n)
        self.clock = node.create_publisher(Clock, TOPIC_CLOCK, 10)
        self.odom = node.create_publisher(Odometry, TOPIC_ODOMETRY, RELIABLE_QOS)
        self.route = node.create_publisher(PathMsg, TOPIC_ROUTE, LATCHED_QOS)
        self.images = {c: node.create_publisher(Image, image_topic(c), SENSOR_QOS)
                       for c in CAMERA_NAMES}
        self.infos = {c: node.create_publisher(CameraInfo, info_topic(c), RELIABLE_QOS)
                      for c in CAMERA_NAMES}
        self.steps = 0
        if recorder is not None:
            for topic, kind in self.bag_topics():
                recorder.add_topic(topic, kind)

    @staticmethod
    def bag_topics():
        out = [(TOPIC_CLOCK, 'rosgraph_msgs/msg/Clock'), (TOPIC_ROUTE, 'nav_msgs/msg/Path'),
               (TOPIC_ODOMETRY, 'nav_msgs/msg/Odometry'), (TOPIC_COMMAND, 'sensor_msgs/msg/Joy')]
        for c in CAMERA_NAMES:
            out += [(image_topic(c), 'sensor_msgs/msg/Image'),
                    (info_topic(c), 'sensor_msgs/msg/CameraInfo')]
        return out

    def record(self, topic: str, msg, stamp_ns: int, always: bool = False) -> None:
        if self.recorder is not None and (always or self.steps % self.every == 0):
            self.recorder.write(topic, stamp_ns, serialize_message(msg))

    def publish_route(self, route: RouteSpec, stamp_ns: int) -> None:
        msg = path_from_array(route.waypoints_xy, 'map', stamp_ns)
        self.route.publish(msg)
        self.record(TOPIC_ROUTE, msg, stamp_ns, always=True)

    def publish_frame(self, frame: SensorFrame, cameras: bool = True) -> None:
        stamp = frame.sim_time_ns
        pubs = [(TOPIC_CLOCK, self.clock, clock_msg(stamp)),
                (TOPIC_ODOMETRY, self.odom, odometry_from_ego_state(frame.ego))]
        if cameras:
            for cam in CAMERA_NAMES:
                rgb = frame.images[cam]
                pubs.append((info_topic(cam), self.infos[cam], camera_info_from_intrinsics(
                    frame.intrinsics[cam], rgb.shape[1], rgb.shape[0], cam, stamp)))
                pubs.append((image_topic(cam), self.images[cam],
                             rgb_to_image(rgb, 'rgb8', cam, stamp)))
        for topic, pub, msg in pubs:
            pub.publish(msg)
            self.record(topic, msg, stamp)
        self.steps += 1


class StackDriver:
    """Publishes the frame, then waits for the lock-step command from the ROS stack."""

    name = 'stack'

    def __init__(self, publisher: FramePublisher, gate: CommandGate, cfg: BridgeConfig):
        self.pub, self.gate, self.cfg = publisher, gate, cfg
        self._first = True

    def start_route(self, route: RouteSpec) -> None:
        self.gate.reset()
        self._first = True
        self._route = route

    def act(self, frame: SensorFrame) -> ControlInput:
        self.gate.expect(frame.sim_time_ns)
        if not self._first:
            self.pub.publish_frame(frame, cameras=self.cfg.stack_cameras)
            return self.gate.wait()
        # First step of a route: the stack may still be loading its model or matching the
        # best-effort camera topics; the same frame (same stamp) is re-sent until it answers.
        self._first = False
        self.pub.publish_route(self._route, frame.sim_time_ns)
        deadline = time.monotonic() + self.cfg.first_command_timeout_s
        while True:
            self.pub.publish_frame(frame, cameras=self.cfg.stack_cameras)
            remaining = deadline - time.monotonic()
            if (remaining <= 0 or self.gate.poll(min(self.cfg.resend_first_frame_s, remaining))
                    or self.gate.cancelled):
                return self.gate.wait(0.0)

    def route_meta(self):
        return self.gate.stats.as_meta()


class ExpertDriver:
    """The embedded simulator's privileged expert; frames are still published."""

    name = 'expert'

    def __init__(self, publisher: FramePublisher, backend, cameras: bool):
        self.pub, self.backend, self.cameras = publisher, backend, cameras
        self._first = True

    def start_route(self, route: RouteSpec) -> None:
        self._route, self._first = route, True

    def act(self, frame: SensorFrame) -> ControlInput:
        if self._first:
            self.pub.publish_route(self._route, frame.sim_time_ns)
            self._first = False
        self.pub.publish_frame(frame, cameras=self.cameras and bool(frame.images))
        return self._control(frame)

    def _control(self, frame: SensorFrame) -> ControlInput:
        return self.backend.expert_control()

    def route_meta(self):
        return {}


class TeacherDriver(ExpertDriver):
    """The privileged teacher (ground-truth tokens -> waypoints -> Bench2Drive controller)
    drives inside the bridge: its inputs are simulator state, not ROS topics."""

    name = 'teacher'

    def __init__(self, publisher: FramePublisher, backend, cameras: bool, checkpoint: str):
        super().__init__(publisher, backend, cameras)
        from orion_lite_ros.teacher.driver import TeacherDriver as Privileged
        from orion_lite_ros.teacher.model import load_teacher
        self.teacher = Privileged(load_teacher(checkpoint), backend=backend)

    def start_route(self, route: RouteSpec) -> None:
        super().start_route(route)
        self.teacher.start_route(route)

    def _control(self, frame: SensorFrame) -> ControlInput:
        return self.teacher.act(frame)

    def route_meta(self):
        return self.teacher.route_meta()


def make_backend(cfg: BridgeConfig):
    if cfg.backend == 'carla':
        from orion_lite_ros.bridge.carla_backend import CarlaBackend, CarlaConfig
        return CarlaBackend(CarlaConfig(
            host=cfg.carla_host, port=cfg.carla_port, timeout_s=cfg.carla_timeout_s,
            tm_port=cfg.carla_tm_port, fixed_delta_s=cfg.fixed_delta_s,
            num_background_vehicles=cfg.carla_num_background_vehicles))
    from orion_lite_ros.sim.backend import EmbeddedBackend
    from orion_lite_ros.sim.config import SimConfig
    render = ((cfg.driver == 'stack' and cfg.stack_cameras) or bool(cfg.record_bag)
              or cfg.save_frames_every_n > 0 or cfg.video_every_n > 0)
    return EmbeddedBackend(SimConfig(fixed_delta_s=cfg.fixed_delta_s, render=render))


def select_routes(cfg: BridgeConfig) -> List[RouteSpec]:
    if cfg.backend == 'carla':
        from orion_lite_ros.bridge.route_xml import load_route_specs
        if not cfg.route_file:
            raise ParameterError("parameter 'route_file': backend carla needs a route XML")
        routes = load_route_specs(cfg.route_file, cfg.route_ids or None)
    else:
        from orion_lite_ros.sim.backend import evaluation_route, heldout_routes
        routes = list(heldout_routes())
        if cfg.route_ids:
            by_id = {r.route_id: r for r in routes}
            try:
                routes = [by_id.get(r) or evaluation_route(r) for r in cfg.route_ids]
            except ValueError as exc:
                raise ParameterError(f"parameter 'routes': {exc}; held-out ids: "
                                     f'{sorted(by_id)}') from exc
    return routes[:cfg.num_routes] if cfg.num_routes > 0 else routes


def checked_routes(cfg: BridgeConfig) -> List[RouteSpec]:
    """`select_routes`, its failures as refused parameters naming the route setting."""
    try:
        return select_routes(cfg)
    except ParameterError:
        raise
    except (OSError, ValueError) as exc:          # RouteXmlError is a ValueError
        name = 'route_file' if cfg.backend == 'carla' else 'routes'
        raise ParameterError(f"parameter '{name}': {exc}") from exc


class BridgeNode(Node):
    """``backend_factory(config)`` and ``routes`` replace the simulator and the route list
    (tests, embedding); by default they come from the parameters."""

    def __init__(self, backend_factory=None, routes=None, **node_kwargs):
        super().__init__('bridge_node', **node_kwargs)
        self.config = declare_config(self, BridgeConfig)
        cfg = self.config
        self._backend_factory = backend_factory or make_backend
        # Routes chosen now: a wrong route id or route file is the user's error (exit 2).
        self._routes = list(routes) if routes is not None else checked_routes(cfg)
        self.gate = CommandGate(LockstepConfig(cfg.command_timeout_s, cfg.on_missing_command))
        self.output_dir = Path(cfg.output_dir)
        self.recorder = self._make_recorder()
        self.frames = FramePublisher(self, self.recorder, cfg.record_every_n)
        self.guard = CallbackGuard(self)
        self.create_subscription(Joy, TOPIC_COMMAND, self.guard.wrap('command', self._on_command),
                                 RELIABLE_QOS)
        self.film = None
        if cfg.video_every_n > 0:
            from orion_lite_ros.bridge.film import FilmRecorder
            self.film = FilmRecorder(cfg.video_every_n, self.output_dir / 'videos')
            self.create_subscription(PathMsg, cfg.plan_topic,
                                     self.guard.wrap('plan', self._on_plan), RELIABLE_QOS)
        self._backend = None
        self.done = threading.Event()
        self.error: Optional[str] = None
        self.records: list = []
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name='bridge-driving', daemon=True)
        self._worker.start()

    def _make_recorder(self):
        if not self.config.record_bag:
            return None
        from orion_lite_ros.bridge.recorder import BagRecorder
        return BagRecorder(self.config.record_bag)

    def _on_command(self, msg: Joy) -> None:
        stamp_ns = stamp_to_ns(msg.header.stamp)
        self.gate.offer(stamp_ns, control_from_joy(msg))
        self.frames.record(TOPIC_COMMAND, msg, stamp_ns, always=True)

    def _on_plan(self, msg: PathMsg) -> None:
        from orion_lite_ros.ros.conversions import path_to_array
        self.film.set_plan(path_to_array(msg))

    def _stack_ready(self) -> bool:
        cams = CAMERA_NAMES if self.config.stack_cameras else ()
        inputs = [TOPIC_ODOMETRY] + [image_topic(c) for c in cams]
        return (self.count_publishers(TOPIC_COMMAND) > 0
                and all(self.count_subscribers(t) > 0 for t in inputs))

    def _wait_for_stack(self) -> bool:
        """Until the stack subscribes to the inputs and publishes the command."""
        deadline = time.monotonic() + self.config.wait_for_stack_s
        while time.monotonic() < deadline and not self._stop.is_set():
            if self._stack_ready():
                return True
            time.sleep(0.1)
        return False

    def _run(self) -> None:
        cfg, backend = self.config, None
        try:
            routes = self._routes
            store = ResultsStore(self.output_dir / 'results.json', [r.route_id for r in routes],
                                 run_key=cfg.effective_run_key, resume=cfg.resume,
                                 sensors=list(CAMERA_NAMES), extra={'driver': cfg.driver},
                                 metric_dir=self.output_dir / 'metric_info')
            backend = self._backend_factory(cfg)
            self._backend = backend
            driver = self._make_driver(backend)
            pending = store.pending([r.route_id for r in routes])
            self.get_logger().info(f'{len(routes)} routes, {len(pending)} to drive '
                                   f'(driver {cfg.driver}, backend {cfg.backend})')
            options = RunOptions(cfg.camera_size_hw, cfg.max_steps_per_route or None,
                                 self.output_dir / 'logs')
            shared = {'claim': RouteClaims(cfg.route_claims_dir)} if cfg.route_claims_dir else {}
            self.records = drive_routes(backend, routes, driver, store, options,
                                        on_step=self._on_step, should_stop=self._stop.is_set,
                                        on_route_done=self._log_route, **shared)
        except Interrupted as exc:
            self.get_logger().warning(str(exc))
        except Exception as exc:  # noqa: B902 - report anything from the simulator, then stop
            self.error = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'bridge stopped: {self.error}\n{traceback.format_exc()}')
        finally:
            self._close_resources(backend)
            self.done.set()

    def _make_driver(self, backend):
        if self.config.driver == 'expert':
            return ExpertDriver(self.frames, backend, cameras=self.config.record_bag != '')
        if self.config.driver == 'teacher':
            return TeacherDriver(self.frames, backend, self.config.record_bag != '',
                                 self.config.teacher_checkpoint)
        if not self._wait_for_stack():
            self.get_logger().warning(
                f'stack not ready after {self.config.wait_for_stack_s:g} s (no publisher on '
                f'{TOPIC_COMMAND} or no subscriber on the cameras/odometry); driving anyway')
        return StackDriver(self.frames, self.gate, self.config)

    def _on_step(self, route, frame, control, status) -> None:
        if self.film is not None:
            self.film.on_step(route, frame, self._backend)
        if self.config.progress_every_n > 0 and (
                self.frames.steps % self.config.progress_every_n == 1 or status.done):
            from orion_lite_ros.bridge.results_store import write_progress
            write_progress(self.output_dir / 'progress.json', route.route_id,
                           self.frames.steps, status.route_completion_pct, status.done)
        n = self.config.save_frames_every_n
        if n > 0 and self.frames.steps % n == 1 and frame.images:
            from PIL import Image as PilImage
            folder = self.output_dir / 'frames' / route.route_id
            folder.mkdir(parents=True, exist_ok=True)
            PilImage.fromarray(frame.images[CAMERA_NAMES[0]]).save(
                folder / f'{self.frames.steps:05d}.png')

    def _log_route(self, record) -> None:
        if self.film is not None:
            try:
                video = self.film.finish(record.route_id)
                if video is not None:
                    self.get_logger().info(f'video: {video}')
            except Exception as exc:  # noqa: B902 - a failed video must not stop the run
                self.get_logger().warning(f'video of {record.route_id} failed: {exc}')
        self.get_logger().info(
            f'route {record.route_id}: completion {record.route_completion_pct:.1f} %, '
            f'{len(record.infractions)} infractions, {record.status}, '
            f"{record.meta.get('steps_per_s', '?')} steps/s, "
            f"missing commands {record.meta.get('commands_missing', '-')}")

    def _close_resources(self, backend) -> None:
        for closer in (getattr(backend, 'close', None), getattr(self.recorder, 'close', None)):
            if closer is None:
                continue
            try:
                closer()
            except Exception as exc:  # noqa: B902 - teardown must reach the other closers
                self.get_logger().error(f'teardown: {exc}')

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop driving (the current route is not recorded; finished ones stay in
        results.json) and release the simulator; a step waiting for its command returns."""
        self._stop.set()
        self.gate.cancel()
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(timeout_s)


def main(args=None) -> int:
    return spin_main('bridge_node', BridgeNode, args,
                     until=lambda node: node.done.is_set() and node.config.exit_when_done,
                     exit_code=lambda node: 1 if node.error else 0)


if __name__ == '__main__':
    raise SystemExit(main())
