"""``DrivingBackend`` on a CARLA server (0.9.15 / 0.9.16 client; no hard pin, a warning on
mismatch). The only module that imports ``carla``, lazily, inside functions.

- Connects with a timeout; no server -> ``CarlaConnectionError`` naming host and port.
- Synchronous world settings (``fixed_delta_s`` 0.05) and a synchronous traffic manager; the
  original settings are remembered and restored by ``close()`` (idempotent; also on error and
  Ctrl-C through ``with CarlaBackend(...)`` or the bridge node's ``finally``).
- Spawns the ego (``vehicle.lincoln.mkz_2020``, role ``hero``) with the six Bench2Drive cameras,
  a collision sensor; images arrive through ``listen`` callbacks into a per-camera queue and are
  matched to the world frame id of the step.
- Route progress, timeout, deviation, blocked, collisions and red lights come from
  ``bridge/route_monitor.py`` (a simplification: inside the CARLA leaderboard its own criteria
  score the run, docs/closed_loop.md).

The seam: everything that talks to the server goes through duck-typed objects (client, world,
traffic manager, actors), so tests drive the settings/teardown logic with fakes.
"""
from dataclasses import dataclass
import json
import queue
import time
from typing import Dict, List, Optional, Sequence, Tuple
import warnings

import numpy as np

from orion_lite_ros.bridge.backend import ControlInput, RouteSpec, SensorFrame, StepStatus
from orion_lite_ros.bridge.route_monitor import (
    MonitorConfig,
    RouteMonitor,
    TraceRecorder,
    world_to_body,
)
from orion_lite_ros.eval.records import RouteRecord
from orion_lite_ros.layout import CAMERA_NAMES, SIM_FIXED_DELTA_S, Command
from orion_lite_ros.ros.frames import (
    carla_angular_velocity_to_ros,
    carla_to_ros_points,
    carla_yaw_deg_to_ros_rad,
    ros_location_to_carla,
    ros_yaw_rad_to_carla_deg,
)
from orion_lite_ros.sim.cameras import BENCH2DRIVE_RIG, cam_to_ego, intrinsics
from orion_lite_ros.types import EgoState

TESTED_VERSIONS = ('0.9.15', '0.9.16')


@dataclass(frozen=True)
class CarlaConfig:
    host: str = 'localhost'
    port: int = 2000
    timeout_s: float = 10.0               # client RPC timeout (connect, load_world, tick)
    tm_port: int = 8000
    fixed_delta_s: float = SIM_FIXED_DELTA_S
    vehicle_blueprint: str = 'vehicle.lincoln.mkz_2020'
    role_name: str = 'hero'
    camera_height: int = 900
    camera_width: int = 1600
    sensor_timeout_s: float = 10.0        # wait for all images of a frame
    load_town: bool = True                # load the route's town when the map differs
    num_background_vehicles: int = 0      # autopilot traffic through the traffic manager
    seed: int = 0
    traffic_radius_m: float = 50.0        # efficiency: mean speed of vehicles within this


class CarlaConnectionError(RuntimeError):
    """No CARLA server answered."""


def import_carla():
    try:
        import carla
    except ImportError as exc:
        raise ImportError('the CARLA backend needs the CARLA Python client: '
                          'pip install carla==0.9.15 (or the wheel of your server)') from exc
    return carla


def connect(config: CarlaConfig, carla_module=None):
    """(client, world); raises ``CarlaConnectionError`` naming host:port when none answers."""
    carla = carla_module or import_carla()
    client = carla.Client(config.host, int(config.port))
    client.set_timeout(float(config.timeout_s))
    try:
        world = client.get_world()
    except RuntimeError as exc:
        raise CarlaConnectionError(
            f'no CARLA server answered at {config.host}:{config.port} within '
            f'{config.timeout_s:g} s ({exc}). Start one (./CarlaUE4.sh -RenderOffScreen '
            f'-carla-rpc-port={config.port}) or set host/port.') from exc
    message = version_warning(client)
    if message:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return client, world


def version_warning(client) -> str:
    """'' when client and server agree on a tested version, else what differs."""
    try:
        client_v, server_v = client.get_client_version(), client.get_server_version()
    except RuntimeError as exc:
        return f'could not read the CARLA versions: {exc}'
    if _major_minor_patch(client_v) != _major_minor_patch(server_v):
        return f'CARLA client {client_v} and server {server_v} differ; things may break'
    if _major_minor_patch(server_v) not in TESTED_VERSIONS:
        return f'CARLA {server_v} is untested here (tested: {", ".join(TESTED_VERSIONS)})'
    return ''


def _major_minor_patch(version: str) -> str:
    return '.'.join(str(version).split('-')[0].split('.')[:3])


class SyncSettings:
    """Synchronous mode with a fixed step; ``restore()`` puts the original settings back."""

    def __init__(self, world, traffic_manager=None, fixed_delta_s: float = SIM_FIXED_DELTA_S):
        self.world, self.tm, self.fixed_delta_s = world, traffic_manager, fixed_delta_s
        self.original = None

    def enable(self) -> None:
        if self.original is None:
            self.original = self.world.get_settings()
        settings = self.world.get_settings()
        settings.synchronous_mode = True
        settings.fixed_delta_seconds = self.fixed_delta_s
        self.world.apply_settings(settings)
        if self.tm is not None:
            self.tm.set_synchronous_mode(True)

    def restore(self) -> None:
        if self.original is None:
            return
        original, self.original = self.original, None
        if self.tm is not None:
            self.tm.set_synchronous_mode(False)
        self.world.apply_settings(original)


class ActorSet:
    """Actors we spawned; ``destroy_all`` stops sensors first and is safe to call twice."""

    def __init__(self):
        self.actors: List = []

    def add(self, actor):
        self.actors.append(actor)
        return actor

    def destroy_all(self) -> List[str]:
        errors = []
        for actor in reversed(self.actors):
            try:
                if hasattr(actor, 'stop') and getattr(actor, 'is_listening', False):
                    actor.stop()
                actor.destroy()
            except RuntimeError as exc:          # already gone on the server
                errors.append(str(exc))
        self.actors = []
        return errors


def bgra_to_rgb(raw: bytes, height: int, width: int) -> np.ndarray:
    """CARLA ``Image.raw_data`` (BGRA, row-major) -> (H, W, 3) uint8 RGB."""
    bgra = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)
    return np.ascontiguousarray(bgra[:, :, 2::-1])


class FrameCollector:
    """Images per camera from ``listen`` callbacks; ``get(frame)`` waits for one frame id."""

    def __init__(self, names: Sequence[str]):
        self.queues: Dict[str, queue.Queue] = {n: queue.Queue() for n in names}

    def callback(self, name: str):
        def on_image(image):
            rgb = bgra_to_rgb(bytes(image.raw_data), image.height, image.width)
            self.queues[name].put((int(image.frame), rgb))
        return on_image

    def get(self, frame: int, timeout_s: float) -> Dict[str, np.ndarray]:
        deadline = time.monotonic() + timeout_s
        out = {}
        for name, q in self.queues.items():
            while True:
                remaining = deadline - time.monotonic()
                try:
                    got, rgb = q.get(timeout=max(remaining, 0.0))
                except queue.Empty:
                    raise TimeoutError(f'camera {name}: no image for frame {frame} within '
                                       f'{timeout_s:g} s') from None
                if got == frame:
                    out[name] = rgb
                    break
                if got > frame:
                    raise TimeoutError(f'camera {name}: skipped frame {frame} (got {got})')
        return out


def ego_state_from_carla(transform, velocity, acceleration, angular_velocity,
                         stamp_ns: int) -> EgoState:
    """CARLA actor kinematics (world frame, left-handed) -> REP-103 ``EgoState``."""
    loc = transform.location
    x, y, z = carla_to_ros_points([loc.x, loc.y, loc.z])
    yaw = carla_yaw_deg_to_ros_rad(transform.rotation.yaw)
    v = carla_to_ros_points([velocity.x, velocity.y, velocity.z])
    a = carla_to_ros_points([acceleration.x, acceleration.y, acceleration.z])
    w = carla_angular_velocity_to_ros([angular_velocity.x, angular_velocity.y,
                                       angular_velocity.z])
    vx, vy = world_to_body(v[0], v[1], yaw)
    ax, ay = world_to_body(a[0], a[1], yaw)
    return EgoState(stamp_ns=int(stamp_ns), x_m=float(x), y_m=float(y), z_m=float(z),
                    yaw_rad=yaw, vx_mps=vx, vy_mps=vy, ax_mps2=ax, ay_mps2=ay,
                    yaw_rate_rps=float(w[2]))


def camera_mount_carla(name: str) -> Tuple[np.ndarray, float]:
    """(location (3,) in CARLA vehicle coordinates, yaw in CARLA degrees) of a rig camera."""
    pose = BENCH2DRIVE_RIG[name]
    return ros_location_to_carla(pose.x_m, pose.y_m, pose.z_m), ros_yaw_rad_to_carla_deg(
        pose.yaw_rad)


def road_option_to_command(option_value: int) -> int:
    """CARLA ``RoadOption`` value (VOID -1, LEFT 1 .. CHANGELANERIGHT 6) -> ``layout.Command``."""
    return int(Command.LANE_FOLLOW) if option_value < 1 else int(option_value) - 1


def route_file_meta(route: RouteSpec) -> dict:
    """What the leaderboard names a route file's route by: its first scenario's name (the
    results' ``scenario_name``) and type; the route id itself becomes
    ``RouteScenario_<id>_rep0`` in the results (``leaderboard_criteria.leaderboard_route_id``)."""
    if route.extra.get('source') != 'xml':
        return {}
    names = [n for n in route.extra.get('scenario_names', '').split(',') if n]
    return {'scenario_name': names[0] if names else route.scenario,
            'scenario_type': route.scenario, 'repetition': '0'}


def keypoints_from_extra(route: RouteSpec) -> Optional[np.ndarray]:
    text = route.extra.get('keypoints_xyz')
    return None if not text else np.asarray(json.loads(text), dtype=np.float64)


class CarlaBackend:
    """``DrivingBackend`` against a CARLA server. Use as a context manager or call ``close``."""

    def __init__(self, config: CarlaConfig = CarlaConfig(), carla_module=None,
                 client=None, world=None):
        self.config = config
        self.fixed_delta_s = config.fixed_delta_s
        self._carla = carla_module
        if client is None:
            client, world = connect(config, carla_module)
        self.client, self.world = client, world or client.get_world()
        self.tm = client.get_trafficmanager(int(config.tm_port))
        self.settings = SyncSettings(self.world, self.tm, config.fixed_delta_s)
        self.actors = ActorSet()
        self.route_actors = ActorSet()
        self._closed = False
        self._reset_route_state()
        self.settings.enable()

    @property
    def carla(self):
        if self._carla is None:
            self._carla = import_carla()
        return self._carla

    def _reset_route_state(self) -> None:
        self.route: Optional[RouteSpec] = None
        self.monitor: Optional[RouteMonitor] = None
        self.trace: Optional[TraceRecorder] = None
        self.ego = None
        self.collector: Optional[FrameCollector] = None
        self._frame, self._t0, self._wall0 = 0, 0.0, 0.0
        self._traffic_speed: Optional[float] = None
        self._camera_size_hw = (self.config.camera_height, self.config.camera_width)

    # -- route set-up -----------------------------------------------------------------------
    def load_route(self, route: RouteSpec, camera_size_hw: Optional[Sequence[int]] = None
                   ) -> None:
        self._teardown_route()
        self._ensure_town(route.town)
        route = self._trace_on_map(route)
        if camera_size_hw is not None:
            self._camera_size_hw = (int(camera_size_hw[0]), int(camera_size_hw[1]))
        self.route = route
        self.monitor = RouteMonitor(route.waypoints_xy, route.timeout_s, MonitorConfig())
        self.trace = TraceRecorder(self.fixed_delta_s)
        self.ego = self._spawn_ego(route)
        self._spawn_sensors()
        self._spawn_background()
        self._frame = self.world.tick()
        self._t0 = self._sim_time_s()
        self._wall0 = time.monotonic()

    @property
    def active_route(self) -> Optional[RouteSpec]:
        """The route as driven (densified on the road network when possible)."""
        return self.route

    def _ensure_town(self, town: str) -> None:
        if not town or not self.config.load_town:
            return
        current = self.world.get_map().name.split('/')[-1]
        if current != town:
            self.settings.restore()
            self.world = self.client.load_world(town)
            self.settings = SyncSettings(self.world, self.tm, self.config.fixed_delta_s)
            self.settings.enable()

    def _trace_on_map(self, route: RouteSpec) -> RouteSpec:
        """Densify XML keypoints along the road network (CARLA's ``agents`` package)."""
        keypoints = keypoints_from_extra(route)
        if keypoints is None:
            return route
        try:
            from agents.navigation.global_route_planner import GlobalRoutePlanner
        except ImportError:
            warnings.warn('CARLA agents package not importable (add PythonAPI/carla to '
                          'PYTHONPATH): route densified linearly', RuntimeWarning, stacklevel=2)
            return route
        grp = GlobalRoutePlanner(self.world.get_map(), 1.0)
        xy, cmds = [], []
        for a, b in zip(keypoints[:-1], keypoints[1:]):
            for wp, option in grp.trace_route(self._location(a), self._location(b)):
                loc = wp.transform.location
                xy.append(carla_to_ros_points([loc.x, loc.y, loc.z])[:2])
                cmds.append(road_option_to_command(int(option.value)))
        return RouteSpec(route.route_id, route.scenario, route.abilities, np.asarray(xy),
                         tuple(cmds), route.town, route.seed, route.timeout_s, route.extra)

    def _location(self, xyz_ros) -> object:
        x, y, z = ros_location_to_carla(*xyz_ros)
        return self.carla.Location(x=float(x), y=float(y), z=float(z))

    def _spawn_ego(self, route: RouteSpec):
        carla = self.carla
        bp = self.world.get_blueprint_library().find(self.config.vehicle_blueprint)
        bp.set_attribute('role_name', self.config.role_name)
        p0, p1 = route.waypoints_xy[0], route.waypoints_xy[min(1, len(route.waypoints_xy) - 1)]
        yaw = float(np.arctan2(p1[1] - p0[1], p1[0] - p0[0]))
        loc = self._location((p0[0], p0[1], 0.0))
        ground = self.world.get_map().get_waypoint(loc)
        loc.z = ground.transform.location.z + 0.5 if ground is not None else 0.5
        transform = carla.Transform(loc, carla.Rotation(yaw=ros_yaw_rad_to_carla_deg(yaw)))
        return self.route_actors.add(self.world.spawn_actor(bp, transform))

    def _spawn_sensors(self) -> None:
        carla, lib = self.carla, self.world.get_blueprint_library()
        h, w = self._camera_size_hw
        self.collector = FrameCollector(CAMERA_NAMES)
        for name in CAMERA_NAMES:
            bp = lib.find('sensor.camera.rgb')
            for key, value in (('image_size_x', w), ('image_size_y', h),
                               ('fov', np.degrees(BENCH2DRIVE_RIG[name].hfov_rad))):
                bp.set_attribute(key, str(value))
            loc, yaw = camera_mount_carla(name)
            mount = carla.Transform(carla.Location(*map(float, loc)), carla.Rotation(yaw=yaw))
            cam = self.route_actors.add(self.world.spawn_actor(bp, mount, attach_to=self.ego))
            cam.listen(self.collector.callback(name))
        collision = self.route_actors.add(self.world.spawn_actor(
            lib.find('sensor.other.collision'), carla.Transform(), attach_to=self.ego))
        collision.listen(self._on_collision)

    def _spawn_background(self) -> None:
        n = self.config.num_background_vehicles
        if n <= 0:
            return
        rng = np.random.default_rng(self.config.seed)
        blueprints = self.world.get_blueprint_library().filter('vehicle.*')
        spawn_points = self.world.get_map().get_spawn_points()
        for i in rng.permutation(len(spawn_points))[:n]:
            bp = blueprints[int(rng.integers(len(blueprints)))]
            actor = self.world.try_spawn_actor(bp, spawn_points[int(i)])
            if actor is not None:
                self.route_actors.add(actor).set_autopilot(True, int(self.config.tm_port))

    # -- stepping ---------------------------------------------------------------------------
    def _sim_time_s(self) -> float:
        return float(self.world.get_snapshot().timestamp.elapsed_seconds)

    def _ego_state(self) -> EgoState:
        e = self.ego
        stamp_ns = int(round(self._sim_time_s() * 1e9))
        return ego_state_from_carla(e.get_transform(), e.get_velocity(), e.get_acceleration(),
                                    e.get_angular_velocity(), stamp_ns)

    def sensors(self) -> SensorFrame:
        images = self.collector.get(self._frame, self.config.sensor_timeout_s)
        size = self._camera_size_hw
        ego = self._ego_state()
        return SensorFrame(
            sim_time_ns=ego.stamp_ns, images=images,
            intrinsics={n: intrinsics(BENCH2DRIVE_RIG[n], size) for n in CAMERA_NAMES},
            cam_to_ego={n: cam_to_ego(BENCH2DRIVE_RIG[n]) for n in CAMERA_NAMES}, ego=ego)

    def apply_and_tick(self, control: ControlInput) -> StepStatus:
        self.ego.apply_control(self.carla.VehicleControl(
            throttle=float(control.throttle), steer=float(control.steer),
            brake=float(control.brake), hand_brake=bool(control.hand_brake),
            reverse=bool(control.reverse)))
        self._frame = self.world.tick()
        ego = self._ego_state()
        t = self._sim_time_s() - self._t0
        before = len(self.monitor.infractions)
        self._check_red_light(t, ego)
        self._refresh_traffic_speed(ego)
        self.monitor.update(t, (ego.x_m, ego.y_m), ego.speed_mps, self._traffic_speed)
        self._record_trace(ego)
        new = [i.kind for i in self.monitor.infractions[before:]]
        return StepStatus(done=self.monitor.done,
                          route_completion_pct=self.monitor.completion_pct, new_infractions=new)

    def _refresh_traffic_speed(self, ego: EgoState) -> None:
        if len(self.trace.trace.speed_mps) % 10 == 0:
            self._traffic_speed = self._nearby_traffic_speed(ego)

    def _record_trace(self, ego: EgoState) -> None:
        traffic = self._traffic_speed
        self.trace.add(ego.speed_mps, ego.ax_mps2, ego.ay_mps2, ego.yaw_rate_rps,
                       0.0 if traffic is None else traffic)

    def _nearby_traffic_speed(self, ego: EgoState) -> Optional[float]:
        """Mean speed of the vehicles around the ego; None when there are none."""
        speeds = []
        for actor in self.world.get_actors().filter('vehicle.*'):
            if actor.id == self.ego.id:
                continue
            loc = actor.get_location()
            if np.hypot(loc.x - ego.x_m, -loc.y - ego.y_m) <= self.config.traffic_radius_m:
                v = actor.get_velocity()
                speeds.append(float(np.hypot(v.x, v.y)))
        return float(np.mean(speeds)) if speeds else None

    def _check_red_light(self, t: float, ego: EgoState) -> None:
        """Simple check: moving (> 1 m/s) inside a red light's trigger volume."""
        if not self.ego.is_at_traffic_light() or ego.speed_mps < 1.0:
            return
        light = self.ego.get_traffic_light()
        if light is not None and light.get_state() == self.carla.TrafficLightState.Red:
            self.monitor.on_red_light(t, (ego.x_m, ego.y_m), int(light.id))

    def _on_collision(self, event) -> None:
        if self.monitor is None:
            return
        other = event.other_actor
        loc = self.ego.get_location() if self.ego is not None else None
        xy = (loc.x, -loc.y) if loc is not None else (0.0, 0.0)
        t = float(event.timestamp) - self._t0
        self.monitor.on_collision(t, xy, int(other.id), str(other.type_id))

    # -- results and teardown -------------------------------------------------------------
    def finish_route(self) -> RouteRecord:
        m, route = self.monitor, self.route
        ego = self._ego_state() if self.ego is not None else None
        m.finish(self._sim_time_s() - self._t0, (ego.x_m, ego.y_m) if ego else (0.0, 0.0))
        record = RouteRecord(
            route_id=route.route_id, scenario=route.scenario, abilities=route.abilities,
            route_length_m=m.length_m, route_completion_pct=m.completion_pct,
            infractions=list(m.infractions),
            status='Completed' if m.done_reason == 'Completed' else m.status(),
            game_time_s=self._sim_time_s() - self._t0,
            system_time_s=time.monotonic() - self._wall0, trace=self.trace.trace,
            meta={'backend': 'carla', 'town': route.town,
                  'carla_server': str(self.client.get_server_version()),
                  **route_file_meta(route)})
        self._teardown_route()
        return record

    def _teardown_route(self) -> None:
        self.route_actors.destroy_all()
        self.ego = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._teardown_route()
            self.actors.destroy_all()
        finally:
            self.settings.restore()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
