"""Trivial and privileged planners every evaluation reports beside the model (pure numpy).

- `constant_velocity_plan`: keep the current speed, drive straight on (the baseline a learned
  planner must beat open and closed loop);
- `route_oracle_plan`: follow the route polyline at a cruise speed (privileged: reads the
  route; proves the controller + simulator loop can finish the routes with a correct path).
Both return (NUM_WAYPOINTS, 2) cumulative ego-frame (REP-103) waypoints, 0.5 s apart.
"""
from dataclasses import dataclass

import numpy as np

from orion_lite_ros.layout import NUM_WAYPOINTS, WAYPOINT_DT_S
from orion_lite_ros.nav.route import interpolate

TIMES_S = WAYPOINT_DT_S * np.arange(1, NUM_WAYPOINTS + 1)


def constant_velocity_plan(speed_mps: float) -> np.ndarray:
    xy = np.zeros((NUM_WAYPOINTS, 2))
    xy[:, 0] = max(0.0, float(speed_mps)) * TIMES_S
    return xy


@dataclass(frozen=True)
class OracleConfig:
    cruise_mps: float = 6.0          # speed the plan asks for on straights
    curve_mps: float = 4.0           # ... and where the route bends
    accel_mps2: float = 2.0          # towards it from the current speed
    curve_heading_rad: float = 0.35  # heading change within the plan that counts as a bend


def route_oracle_plan(route_xy: np.ndarray, route_s: np.ndarray, progress_m: float,
                      ego_xy, ego_yaw_rad: float, speed_mps: float,
                      cfg: OracleConfig = OracleConfig()) -> np.ndarray:
    """Waypoints on the route ahead of the ego's projection (map frame in, ego frame out)."""
    ahead = interpolate(route_xy, route_s, progress_m + np.array([0.0, 10.0, 20.0]))
    d = np.diff(ahead, axis=0)
    bend = abs(np.arctan2(np.sin(np.arctan2(d[1, 1], d[1, 0]) - np.arctan2(d[0, 1], d[0, 0])),
                          np.cos(np.arctan2(d[1, 1], d[1, 0]) - np.arctan2(d[0, 1], d[0, 0]))))
    target = cfg.curve_mps if bend > cfg.curve_heading_rad else cfg.cruise_mps
    v0, dist, s_ahead = max(0.0, float(speed_mps)), 0.0, []
    for _ in TIMES_S:
        v1 = v0 + np.clip(target - v0, -cfg.accel_mps2 * WAYPOINT_DT_S,
                          cfg.accel_mps2 * WAYPOINT_DT_S)
        dist += 0.5 * (v0 + v1) * WAYPOINT_DT_S
        s_ahead.append(dist)
        v0 = v1
    pts = interpolate(route_xy, route_s, progress_m + np.asarray(s_ahead)) - np.asarray(ego_xy)
    c, s = np.cos(ego_yaw_rad), np.sin(ego_yaw_rad)
    return np.stack([c * pts[:, 0] + s * pts[:, 1], -s * pts[:, 0] + c * pts[:, 1]], axis=-1)


class ConstantVelocityPlanner:
    """The constant-velocity baseline behind the planner node's interface (`plan`, `reset`)."""

    name = 'constant_velocity'

    def plan(self, frame, stream: str = 'default'):
        return _result(frame, constant_velocity_plan(frame.ego.speed_mps))

    def reset(self, stream=None) -> None:
        pass


class RouteOraclePlanner:
    """Route-following oracle; `tracker()` returns the node's current RouteTracker (or None:
    then it falls back to constant velocity)."""

    name = 'route_oracle'

    def __init__(self, tracker, cfg: OracleConfig = OracleConfig()):
        self.tracker, self.cfg = tracker, cfg

    def plan(self, frame, stream: str = 'default'):
        route = self.tracker()
        ego = frame.ego
        if route is None or route.progress_m is None or len(route.route_xy) < 2:
            return _result(frame, constant_velocity_plan(ego.speed_mps))
        xy = route_oracle_plan(route.route_xy, route.s, route.progress_m, (ego.x_m, ego.y_m),
                               ego.yaw_rad, ego.speed_mps, self.cfg)
        return _result(frame, xy)

    def reset(self, stream=None) -> None:
        pass


def _result(frame, waypoints: np.ndarray):
    from orion_lite_ros.layout import NUM_COMMANDS
    from orion_lite_ros.types import PlanResult
    return PlanResult(stamp_ns=frame.stamp_ns, waypoints=waypoints.astype(np.float32),
                      all_modes=np.repeat(waypoints[None], NUM_COMMANDS, 0).astype(np.float32),
                      command=int(frame.command), command_requested=int(frame.command),
                      timing_s={'model': 0.0})


PLANNERS = ('model', 'constant_velocity', 'route_oracle')
