"""Per-step infraction checks, route completion and the kinematic trace of one route."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

import numpy as np

from orion_lite_ros.eval import records as rec
from orion_lite_ros.eval.leaderboard_criteria import (
    MinSpeedCheckpoints,
    OutsideRouteLanes,
    min_speed_infraction,
)
from orion_lite_ros.sim import geometry as geo
from orion_lite_ros.sim.agents import RED, StopLine
from orion_lite_ros.sim.world import CLASS_PEDESTRIAN, CLASS_STATIC, World

COLLISION_KIND = {0: rec.COLLISION_VEHICLE, CLASS_PEDESTRIAN: rec.COLLISION_PEDESTRIAN,
                  CLASS_STATIC: rec.COLLISION_STATIC}
STATUS_COMPLETED = 'Completed'
STATUS_DEVIATED = 'Failed - Agent deviated from the route'
STATUS_BLOCKED = 'Failed - Agent got blocked'
STATUS_TIMEOUT = 'Failed - Agent timed out'


@dataclass(frozen=True)
class InfractionConfig:
    outside_lane_tolerance_m: float = 2.0   # |offset from the route| that counts as another lane
    route_deviation_m: float = 8.0          # ends the route
    blocked_speed_mps: float = 0.1
    blocked_time_s: float = 90.0            # ends the route
    stop_speed_mps: float = 0.1             # a stop at a sign must get below this
    stop_zone_m: float = 6.0                # ... within this distance before the line
    completion_margin_m: float = 2.0
    traffic_radius_m: float = 50.0


@dataclass
class InfractionMonitor:
    world: World
    route_timeout_s: float
    cfg: InfractionConfig = InfractionConfig()
    infractions: List[rec.Infraction] = field(default_factory=list)
    status: str = ''
    done: bool = False
    trace: Optional[rec.KinematicTrace] = None
    _hit: Set[str] = field(default_factory=set)
    _prev_front: Dict[str, float] = field(default_factory=dict)
    _stopped_at: Set[str] = field(default_factory=set)
    _outside: bool = False
    _slow_s: float = 0.0
    _lanes: OutsideRouteLanes = field(default_factory=OutsideRouteLanes)
    _lanes_index: Optional[int] = None       # the route's one outside-lanes event
    _min_speed: Optional[MinSpeedCheckpoints] = None
    _progress_m: float = 0.0

    def __post_init__(self):
        self.trace = rec.KinematicTrace(dt_s=self.world.dt_s)
        self._prev_front = {k: v for k, v in self._line_distances().items()}
        self._min_speed = MinSpeedCheckpoints(self.world.tracker.length_m)
        self._progress_m = self.world.tracker.progress_m

    @property
    def completion_pct(self) -> float:
        t = self.world.tracker
        return float(np.clip(100.0 * t.progress_m / max(t.length_m, 1e-6), 0.0, 100.0))

    def update(self) -> List[str]:
        """Check the step just simulated; returns the kinds of new infractions."""
        before = len(self.infractions)
        passed_m = self.world.tracker.progress_m - self._progress_m
        self._progress_m = self.world.tracker.progress_m
        self._record_trace()
        self._check_collisions()
        self._check_lines()
        self._check_lanes(passed_m)
        self._check_end()
        return [i.kind for i in self.infractions[before:]]

    def _add(self, kind: str, detail: str = '') -> None:
        w = self.world
        self.infractions.append(rec.Infraction(kind, round(w.time_s, 3), w.ego.x_m, w.ego.y_m,
                                               detail))

    def _add_min_speed(self, percentage: Optional[float]) -> None:
        if percentage is not None:
            w = self.world
            self.infractions.append(min_speed_infraction(percentage, round(w.time_s, 3),
                                                         w.ego.x_m, w.ego.y_m))

    def _record_trace(self) -> None:
        e, w = self.world.ego, self.world
        self.trace.speed_mps.append(float(abs(e.speed_mps)))
        self.trace.lon_accel_mps2.append(float(e.ax_mps2))
        self.trace.lat_accel_mps2.append(float(e.ay_mps2))
        self.trace.yaw_rate_rps.append(float(e.yaw_rate_rps))
        near = [v.speed_mps for v in w.vehicles if v.active
                if np.hypot(v.pose()[0] - e.x_m, v.pose()[1] - e.y_m) < self.cfg.traffic_radius_m]
        traffic = float(np.mean(near)) if near else None
        self.trace.traffic_speed_mps.append(0.0 if traffic is None else traffic)
        self._add_min_speed(self._min_speed.update(w.tracker.progress_m, e.speed_mps, traffic))

    def _check_collisions(self) -> None:
        ego = self.world.ego_actor()
        corners = ego.corners()
        for a in self.world.actors():
            if a.actor_id in self._hit or np.hypot(a.x_m - ego.x_m, a.y_m - ego.y_m) > 8.0:
                continue
            if geo.boxes_overlap(corners, a.corners()):
                self._hit.add(a.actor_id)
                self.world.stopped_agents.add(a.actor_id)
                self._add(COLLISION_KIND[a.cls], a.actor_id)

    def _lines(self) -> Dict[str, StopLine]:
        out = {li.light_id: li.stop_line for li in self.world.lights}
        out.update({s.sign_id: s.stop_line for s in self.world.stop_signs})
        return out

    def _line_distances(self) -> Dict[str, float]:
        """Signed distance of the ego front past each stop line it is aligned with."""
        e, half = self.world.ego, 0.5 * self.world.ego_params.length_m
        front = (e.x_m + half * np.cos(e.yaw_rad), e.y_m + half * np.sin(e.yaw_rad))
        out = {}
        for key, line in self._lines().items():
            lon, lat = line.signed_distance(front)
            aligned = np.cos(e.yaw_rad - line.heading_rad) > 0.5
            if aligned and abs(lat) <= line.half_width_m + 1.0:
                out[key] = lon
        return out

    def _check_lines(self) -> None:
        now = self._line_distances()
        states = self.world.light_states()
        sign_ids = {s.sign_id for s in self.world.stop_signs}
        for key, lon in now.items():
            if key in sign_ids and -self.cfg.stop_zone_m <= lon <= 0.0 and \
                    abs(self.world.ego.speed_mps) < self.cfg.stop_speed_mps:
                self._stopped_at.add(key)
            prev = self._prev_front.get(key)
            if prev is None or not (prev < 0.0 <= lon):
                continue
            if states.get(key) == RED:
                self._add(rec.RED_LIGHT, key)
            if key in sign_ids and key not in self._stopped_at:
                self._add(rec.STOP_SIGN, key)
        self._prev_front = now

    def _check_lanes(self, passed_m: float) -> None:
        w = self.world
        xy = (w.ego.x_m, w.ego.y_m)
        lateral = abs(w.tracker.lateral_m)
        if lateral > self.cfg.route_deviation_m:
            self._add(rec.ROUTE_DEVIATION, f'{lateral:.1f} m from the route')
            self._finish(STATUS_DEVIATED)
            return
        outside = not w.road_map.in_junction(xy) and (
            lateral > self.cfg.outside_lane_tolerance_m or not w.road_map.on_road(xy))
        self._lanes.update(passed_m, outside)
        self._outside = outside
        self._refresh_outside_lanes()

    def _refresh_outside_lanes(self) -> None:
        """One event per route, first placed where it began, its % updated as the ego goes."""
        first = self.infractions[self._lanes_index] if self._lanes_index is not None else None
        w = self.world
        inf = self._lanes.infraction(*((first.time_s, first.x_m, first.y_m) if first else
                                       (round(w.time_s, 3), w.ego.x_m, w.ego.y_m)))
        if inf is None:
            return
        if first is None:
            self._lanes_index = len(self.infractions)
            self.infractions.append(inf)
        else:
            self.infractions[self._lanes_index] = inf

    def _check_end(self) -> None:
        w = self.world
        if self.done:
            return
        if w.tracker.progress_m >= w.tracker.length_m - self.cfg.completion_margin_m:
            self._finish(STATUS_COMPLETED)
            return
        self._slow_s = self._slow_s + w.dt_s if abs(w.ego.speed_mps) < \
            self.cfg.blocked_speed_mps else 0.0
        if self._slow_s >= self.cfg.blocked_time_s:
            self._add(rec.VEHICLE_BLOCKED)
            self._finish(STATUS_BLOCKED)
        elif w.time_s >= self.route_timeout_s:
            self._add(rec.ROUTE_TIMEOUT)
            self._finish(STATUS_TIMEOUT)

    def _finish(self, status: str) -> None:
        self.done, self.status = True, status
        self.finish()

    def finish(self) -> None:
        """End of the route, whoever ended it: the last min-speed stretch (once)."""
        self._add_min_speed(self._min_speed.finish(self.world.tracker.progress_m))
