"""Route progress and the simple infractions a backend can check itself (no ROS, no carla).

Used by ``CarlaBackend`` outside the leaderboard: route completion by projecting the ego onto
the route (monotonic progress), route timeout, route deviation, agent blocked, collisions
(debounced per other actor), red lights (one per light) and the leaderboard's min-speed
checkpoints (``eval.leaderboard_criteria``). Inside the CARLA leaderboard its own criteria
(scenario_runner's atomic criteria) produce the official results instead.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from orion_lite_ros.eval.leaderboard_criteria import (
    MinSpeedCheckpoints,
    failed_status,
    min_speed_infraction,
)
from orion_lite_ros.eval.records import (
    COLLISION_PEDESTRIAN,
    COLLISION_STATIC,
    COLLISION_VEHICLE,
    RED_LIGHT,
    ROUTE_DEVIATION,
    ROUTE_TIMEOUT,
    VEHICLE_BLOCKED,
    Infraction,
    KinematicTrace,
)
from orion_lite_ros.nav.route import arc_length, project


@dataclass(frozen=True)
class MonitorConfig:
    end_tolerance_m: float = 3.0          # remaining route below this = route completed
    deviation_m: float = 30.0             # leaderboard's route deviation distance
    blocked_speed_mps: float = 0.1
    blocked_time_s: float = 60.0          # Bench2Drive's ActorBlockedTest (leaderboard: 180)
    collision_debounce_s: float = 2.0     # same other actor within this window: one event
    search_window_m: float = 50.0


def collision_kind(other_type_id: str) -> str:
    """CARLA blueprint id of the other actor -> infraction kind."""
    if other_type_id.startswith('walker.'):
        return COLLISION_PEDESTRIAN
    if other_type_id.startswith('vehicle.'):
        return COLLISION_VEHICLE
    return COLLISION_STATIC


class RouteMonitor:
    def __init__(self, route_xy: np.ndarray, timeout_s: float,
                 config: MonitorConfig = MonitorConfig()):
        self.route_xy = np.asarray(route_xy, dtype=np.float64)      # (N, 2)
        self.s = arc_length(self.route_xy)                           # (N,)
        self.length_m = float(self.s[-1])
        self.timeout_s = timeout_s
        self.config = config
        self.progress_m = 0.0
        self.infractions: List[Infraction] = []
        self.done_reason = ''
        self._slow_since: Optional[float] = None
        self._last_collision: Dict[int, float] = {}
        self._red_lights_run: set = set()
        self.min_speed = MinSpeedCheckpoints(self.length_m)

    @property
    def completion_pct(self) -> float:
        if self.length_m <= 0:
            return 100.0
        if self.length_m - self.progress_m <= self.config.end_tolerance_m:
            return 100.0
        return 100.0 * self.progress_m / self.length_m

    @property
    def done(self) -> bool:
        return bool(self.done_reason)

    def _add(self, kind: str, t: float, xy, detail: str = '') -> Infraction:
        inf = Infraction(kind, float(t), float(xy[0]), float(xy[1]), detail)
        self.infractions.append(inf)
        return inf

    def update(self, t_s: float, xy, speed_mps: float,
               traffic_speed_mps: Optional[float] = None) -> List[Infraction]:
        """Advance with the ego at ``xy`` after ``t_s`` seconds; returns new infractions.
        ``traffic_speed_mps``: mean speed of the traffic around (None: no traffic)."""
        if self.done:
            return []
        xy = np.asarray(xy, dtype=np.float64)
        c = self.config
        s, offset = project(self.route_xy, self.s, xy, self.progress_m - 5.0,
                            self.progress_m + c.search_window_m)
        self.progress_m = max(self.progress_m, s)
        new: List[Infraction] = []
        value = self.min_speed.update(self.progress_m, speed_mps, traffic_speed_mps)
        if value is not None:
            new.append(self._add_min_speed(value, t_s, xy))
        if self.completion_pct >= 100.0:
            self.done_reason = 'Completed'
        elif abs(offset) > c.deviation_m:
            new.append(self._add(ROUTE_DEVIATION, t_s, xy, 'Agent deviated from the route'))
            self.done_reason = 'Failed - Agent deviated from the route'
        elif t_s > self.timeout_s:
            new.append(self._add(ROUTE_TIMEOUT, t_s, xy, 'Route timeout.'))
            self.done_reason = 'Failed - Agent timed out'
        elif self._blocked(t_s, speed_mps):
            new.append(self._add(VEHICLE_BLOCKED, t_s, xy, 'Agent got blocked'))
            self.done_reason = 'Failed - Agent got blocked'
        return new

    def _blocked(self, t_s: float, speed_mps: float) -> bool:
        if speed_mps >= self.config.blocked_speed_mps:
            self._slow_since = None
            return False
        if self._slow_since is None:
            self._slow_since = t_s
        return t_s - self._slow_since >= self.config.blocked_time_s

    def on_collision(self, t_s: float, xy, other_id: int, other_type_id: str
                     ) -> Optional[Infraction]:
        last = self._last_collision.get(other_id)
        self._last_collision[other_id] = t_s
        if last is not None and t_s - last < self.config.collision_debounce_s:
            return None
        detail = f'Agent collided against object with type={other_type_id} and id={other_id}'
        return self._add(collision_kind(other_type_id), t_s, xy, detail)

    def on_red_light(self, t_s: float, xy, light_id: int) -> Optional[Infraction]:
        if light_id in self._red_lights_run:
            return None
        self._red_lights_run.add(light_id)
        return self._add(RED_LIGHT, t_s, xy, f'Agent ran a red light {light_id}')

    def _add_min_speed(self, value: float, t_s: float, xy) -> Infraction:
        inf = min_speed_infraction(value, t_s, xy[0], xy[1])
        self.infractions.append(inf)
        return inf

    def finish(self, t_s: float, xy) -> Optional[Infraction]:
        """End of the route (whoever ended it): the last min-speed stretch, once."""
        value = self.min_speed.finish(self.progress_m)
        return None if value is None else self._add_min_speed(value, t_s, xy)

    def status(self) -> str:
        return self.done_reason or failed_status()      # stopped from outside: 'Failed'


class TraceRecorder:
    """Accumulates the ``KinematicTrace`` of a route."""

    def __init__(self, dt_s: float):
        self.trace = KinematicTrace(dt_s=dt_s)

    def add(self, speed_mps: float, lon_accel: float, lat_accel: float, yaw_rate: float,
            traffic_speed_mps: Optional[float] = None) -> None:
        t = self.trace
        t.speed_mps.append(float(speed_mps))
        t.lon_accel_mps2.append(float(lon_accel))
        t.lat_accel_mps2.append(float(lat_accel))
        t.yaw_rate_rps.append(float(yaw_rate))
        if traffic_speed_mps is not None:
            t.traffic_speed_mps.append(float(traffic_speed_mps))


def world_to_body(vx: float, vy: float, yaw_rad: float) -> Tuple[float, float]:
    """Map-frame vector -> body frame (x forward, y left), REP-103."""
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return float(c * vx + s * vy), float(-s * vx + c * vy)
