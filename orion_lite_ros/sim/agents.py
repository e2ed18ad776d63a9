"""Other road users: IDM vehicles on lane paths, pedestrians, traffic lights, signs, obstacles."""
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from orion_lite_ros.sim import geometry as geo

GREEN, AMBER, RED = 'green', 'amber', 'red'


@dataclass(frozen=True)
class IdmParams:
    max_accel_mps2: float = 1.5
    comfort_decel_mps2: float = 2.5
    time_headway_s: float = 1.4
    min_gap_m: float = 2.5
    max_decel_mps2: float = 9.0


def idm_accel(p: IdmParams, speed_mps: float, desired_mps: float, gap_m: float,
              lead_speed_mps: float) -> float:
    """Intelligent Driver Model acceleration; ``gap_m`` = inf when nothing is ahead."""
    free = 1.0 - (speed_mps / max(desired_mps, 0.1)) ** 4 if desired_mps > 0.1 else -1.0
    if not np.isfinite(gap_m):
        return float(np.clip(p.max_accel_mps2 * free, -p.max_decel_mps2, p.max_accel_mps2))
    dv = speed_mps - lead_speed_mps
    s_star = p.min_gap_m + max(0.0, speed_mps * p.time_headway_s + speed_mps * dv / (
        2.0 * np.sqrt(p.max_accel_mps2 * p.comfort_decel_mps2)))
    acc = p.max_accel_mps2 * (free - (s_star / max(gap_m, 0.1)) ** 2)
    return float(np.clip(acc, -p.max_decel_mps2, p.max_accel_mps2))


@dataclass
class AgentVehicle:
    """A vehicle following ``path_xy`` with IDM; scripted hard braking via ``brake_trigger_s``."""

    agent_id: str
    path_xy: np.ndarray                 # (N, 2) map frame
    s_m: float
    speed_mps: float
    desired_speed_mps: float
    length_m: float = 4.6
    width_m: float = 1.9
    rgba: Tuple[float, float, float, float] = (0.15, 0.3, 0.8, 1.0)
    stop_lines: Tuple[Tuple[float, str], ...] = ()   # (path s of the stop line, light id)
    brake_trigger_s: Optional[float] = None          # ego route progress that starts braking
    brake_decel_mps2: float = 7.0
    brake_hold_s: float = 3.0                        # standstill before driving on
    yield_entry_s: Optional[float] = None            # stop here while the ego is in a junction
    idm: IdmParams = IdmParams()
    braking: bool = False
    held_s: float = 0.0
    s_cum: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.s_cum = geo.arc_length(self.path_xy)

    @property
    def active(self) -> bool:
        """False once the vehicle has driven off the end of its path (despawned)."""
        return self.s_m <= self.s_cum[-1]

    def pose(self) -> Tuple[float, float, float]:
        x, y, yaw = geo.interp_pose(self.path_xy, self.s_cum, self.s_m)
        if self.s_m > self.s_cum[-1]:  # past the end: keep going straight
            extra = self.s_m - self.s_cum[-1]
            x, y = x + extra * np.cos(yaw), y + extra * np.sin(yaw)
        return x, y, yaw

    def advance(self, accel_mps2: float, dt_s: float) -> float:
        if self.braking:
            accel_mps2 = min(accel_mps2, -self.brake_decel_mps2)
            self.held_s += dt_s if self.speed_mps <= 0.0 else 0.0
            if self.held_s >= self.brake_hold_s:
                self.braking, self.brake_trigger_s = False, None
        v_new = max(0.0, self.speed_mps + accel_mps2 * dt_s)
        self.s_m += 0.5 * (self.speed_mps + v_new) * dt_s
        acc = (v_new - self.speed_mps) / dt_s
        self.speed_mps = v_new
        return acc


@dataclass
class Pedestrian:
    """Walks ``walk_distance_m`` along ``heading_rad`` once the ego passes ``trigger_s``."""

    agent_id: str
    start_xy: np.ndarray
    heading_rad: float
    walk_speed_mps: float = 1.5
    walk_distance_m: float = 8.0
    trigger_s: float = 0.0
    walked_m: float = 0.0
    walking: bool = False
    radius_m: float = 0.3
    height_m: float = 1.75

    def position(self) -> np.ndarray:
        direction = np.array([np.cos(self.heading_rad), np.sin(self.heading_rad)])
        return self.start_xy + self.walked_m * direction

    @property
    def speed_mps(self) -> float:
        return self.walk_speed_mps if self.walking else 0.0

    def advance(self, ego_route_s: float, dt_s: float) -> None:
        if not self.walking and self.walked_m == 0.0 and ego_route_s >= self.trigger_s:
            self.walking = True
        if self.walking:
            self.walked_m = min(self.walk_distance_m, self.walked_m + self.walk_speed_mps * dt_s)
            self.walking = self.walked_m < self.walk_distance_m


@dataclass(frozen=True)
class StopLine:
    """A line across a lane: traffic moving along ``heading_rad`` must stop before it."""

    xy: Tuple[float, float]
    heading_rad: float
    half_width_m: float

    def signed_distance(self, xy) -> Tuple[float, float]:
        """(longitudinal past the line, lateral) of a point (+ = beyond the line)."""
        d = np.asarray(xy[:2], float) - np.asarray(self.xy)
        c, s = np.cos(self.heading_rad), np.sin(self.heading_rad)
        return float(d[0] * c + d[1] * s), float(-d[0] * s + d[1] * c)


@dataclass(frozen=True)
class TrafficLight:
    """Fixed cycle; ``offset_s`` shifts where in the cycle t=0 falls."""

    light_id: str
    stop_line: StopLine
    head_xyz: Tuple[float, float, float]
    facing_yaw_rad: float              # direction the lamps face (towards approaching traffic)
    green_s: float = 10.0
    amber_s: float = 3.0
    red_s: float = 12.0
    offset_s: float = 0.0

    def cycle_time_s(self, time_s: float) -> float:
        """Seconds since the current cycle began (the cycle begins with green)."""
        return (time_s + self.offset_s) % (self.green_s + self.amber_s + self.red_s)

    def state(self, time_s: float) -> str:
        t = self.cycle_time_s(time_s)
        if t < self.green_s:
            return GREEN
        return AMBER if t < self.green_s + self.amber_s else RED


@dataclass(frozen=True)
class StopSign:
    sign_id: str
    stop_line: StopLine
    sign_xy: Tuple[float, float]
    facing_yaw_rad: float


@dataclass(frozen=True)
class StaticObstacle:
    obstacle_id: str
    kind: str                    # 'parked_car' | 'cone'
    x_m: float
    y_m: float
    yaw_rad: float
    length_m: float
    width_m: float
    height_m: float
    rgba: Tuple[float, float, float, float] = (0.6, 0.6, 0.6, 1.0)
