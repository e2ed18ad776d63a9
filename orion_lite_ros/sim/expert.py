"""Privileged expert: reads the true world, follows the route, obeys rules, yields.

Longitudinal: a target speed from the tightest constraint (cruise, curves, leaders, stop
lines, junction conflicts, pedestrians) tracked by a speed PID. Lateral: pure pursuit on the
route, expressed as CARLA steer. Output is the same ControlInput a learned driver would send.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from orion_lite_ros.bridge.backend import ControlInput
from orion_lite_ros.sim import geometry as geo
from orion_lite_ros.sim.agents import AMBER, GREEN, RED
from orion_lite_ros.sim.world import CLASS_PEDESTRIAN, World


@dataclass(frozen=True)
class ExpertConfig:
    cruise_speed_mps: float = 8.0
    max_lat_accel_mps2: float = 2.0
    plan_decel_mps2: float = 3.5
    standstill_gap_m: float = 4.0
    time_gap_s: float = 1.0
    corridor_margin_m: float = 0.4
    conflict_distance_m: float = 2.4
    conflict_before_s: float = 1.0
    conflict_after_s: float = 1.8
    stop_sign_wait_s: float = 1.0
    # held at rest this long after its light turns green (a driver's reaction): the frames
    # "at rest, green, about to go" that a student needs to learn a restart from the lamp
    green_reaction_s: float = 0.0
    # held at rest this long after whatever held it there clears (a stop sign served, a
    # crossing car gone, the oncoming lane free, a light turned green): the same restart
    # frames for every constraint, not only lights; 0 = drive off on the first free step
    restart_reaction_s: float = 0.0
    speed_kp: float = 0.6
    speed_ki: float = 0.15
    speed_kd: float = 0.0
    max_throttle: float = 0.75


@dataclass
class PID:
    """PID with explicit dt and a clamped integral."""

    kp: float
    ki: float
    kd: float
    integral_limit: float = 2.0
    _integral: float = 0.0
    _prev: Optional[float] = None

    def reset(self) -> None:
        self._integral, self._prev = 0.0, None

    def update(self, error: float, dt_s: float, freeze_integral: bool = False) -> float:
        if not freeze_integral:
            self._integral = float(np.clip(self._integral + error * dt_s, -self.integral_limit,
                                           self.integral_limit))
        deriv = 0.0 if self._prev is None else (error - self._prev) / dt_s
        self._prev = error
        return self.kp * error + self.ki * self._integral + self.kd * deriv


@dataclass
class Conflict:
    """Where an agent's path meets the route: route [s0, s1], agent path [p0, p1]."""

    agent_index: int
    s0: float
    s1: float
    p0: float
    p1: float


def time_to_cover(distance_m: float, speed_mps: float, v_max: float, accel: float = 1.5
                  ) -> float:
    d, v = max(distance_m, 0.0), max(speed_mps, 0.0)
    if v >= v_max:
        return d / max(v, 0.1)
    t_acc = (v_max - v) / accel
    d_acc = 0.5 * (v + v_max) * t_acc
    if d <= d_acc:
        return (-v + np.sqrt(v * v + 2 * accel * d)) / accel
    return t_acc + (d - d_acc) / v_max


def find_conflicts(world: World, cfg: ExpertConfig) -> List[Conflict]:
    """Route stretches shared with agent paths that the agent reaches from elsewhere."""
    route, s_route = world.tracker.xy, world.tracker.s_cum
    h_route = geo.headings(route)
    out = []
    for i, v in enumerate(world.vehicles):
        near = geo.distance_to_polyline(route, v.path_xy) < cfg.conflict_distance_m
        idx = np.flatnonzero(near)
        if len(idx) == 0:
            continue
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        for run in runs:
            p0, _ = geo.project(v.path_xy, v.s_cum, route[run[0]])
            p1, _ = geo.project(v.path_xy, v.s_cum, route[run[-1]])
            _, _, h_agent = geo.interp_pose(v.path_xy, v.s_cum, p0)
            s0, s1 = s_route[run[0]], s_route[run[-1]]
            if np.cos(h_agent - h_route[run[0]]) > 0.7:   # same direction: merging stretch
                s1, p1 = min(s1, s0 + 12.0), min(p1, p0 + 12.0)
            out.append(Conflict(i, float(s0), float(s1), float(min(p0, p1)), float(max(p0, p1))))
    return out


@dataclass
class Expert:
    world: World
    cfg: ExpertConfig = ExpertConfig()
    conflicts: List[Conflict] = field(default_factory=list)
    _speed_pid: PID = None
    _stop_done: set = field(default_factory=set)
    _stop_wait_s: float = 0.0
    _v_curve: np.ndarray = None
    _held_at_rest: bool = False       # a constraint holds the ego at rest (restart reaction)
    _reaction_s: float = 0.0          # time at rest since that constraint cleared
    _reacted: bool = False            # reacted since the ego last drove (no creep cycles)
    reaction_hold: bool = False       # last step: held at rest only by a reaction time (the
                                      # constraints had cleared; a "go" frame for training)

    def __post_init__(self):
        self._speed_pid = PID(self.cfg.speed_kp, self.cfg.speed_ki, self.cfg.speed_kd)
        self.conflicts = find_conflicts(self.world, self.cfg)
        xy = self.world.tracker.xy
        h = geo.headings(xy)
        kappa = np.abs(geo.wrap_angle(np.gradient(np.unwrap(h)))) / np.maximum(
            np.gradient(self.world.tracker.s_cum), 1e-3)
        kappa = np.convolve(kappa, np.ones(5) / 5, mode='same')
        self._v_curve = np.sqrt(self.cfg.max_lat_accel_mps2 / np.maximum(kappa, 1e-4))
        self._lines = self._route_lines()

    # ------------------------------------------------------------------ geometry
    def _ego_s(self) -> float:
        return self.world.tracker.progress_m

    def _route_lines(self) -> List[Tuple[str, float, bool]]:
        """(id, route s, is_stop_sign) of stop lines lying on the route."""
        t, out = self.world.tracker, []
        items = [(li.light_id, li.stop_line, False) for li in self.world.lights]
        items += [(s.sign_id, s.stop_line, True) for s in self.world.stop_signs]
        for key, line, is_sign in items:
            s, lat = geo.project(t.xy, t.s_cum, line.xy)
            _, _, h = geo.interp_pose(t.xy, t.s_cum, s)
            if abs(lat) < 1.5 and np.cos(h - line.heading_rad) > 0.7:
                out.append((key, s, is_sign))
        return out

    # ------------------------------------------------------------------ constraints
    def _v_stop(self, gap_m: float, v_obj: float = 0.0) -> float:
        return float(np.sqrt(max(0.0, v_obj * v_obj + 2 * self.cfg.plan_decel_mps2 * gap_m)))

    def _curve_speed(self, s: float) -> float:
        i0 = int(s)
        i1 = min(len(self._v_curve), i0 + 40)
        if i0 >= i1:
            return self.cfg.cruise_speed_mps
        ahead = np.arange(i0, i1) - s
        return float(np.min(np.sqrt(self._v_curve[i0:i1] ** 2
                                    + 2 * self.cfg.plan_decel_mps2 * np.maximum(ahead, 0))))

    def _obstacle_speed(self, s_ego: float) -> float:
        w, t, cfg = self.world, self.world.tracker, self.cfg
        half_l, half_w = 0.5 * w.ego_params.length_m, 0.5 * w.ego_params.width_m
        lo = max(0, int(s_ego) - 2)
        v = np.inf
        for a in w.actors():
            if np.hypot(a.x_m - w.ego.x_m, a.y_m - w.ego.y_m) > 60.0:
                continue
            points = [(a.x_m, a.y_m)]
            if a.cls == CLASS_PEDESTRIAN and a.speed_mps > 0:
                d = np.array([np.cos(a.yaw_rad), np.sin(a.yaw_rad)])
                points += [np.array([a.x_m, a.y_m]) + d * a.speed_mps * k * 0.5
                           for k in range(1, 7)]
            for p in points:
                s, lat = geo.project(t.xy, t.s_cum, p, lo, lo + 70)
                if s <= s_ego or abs(lat) > half_w + 0.5 * a.width_m + cfg.corridor_margin_m:
                    continue
                _, _, h = geo.interp_pose(t.xy, t.s_cum, s)
                v_obj = max(0.0, a.speed_mps * float(np.cos(a.yaw_rad - h)))
                gap = s - s_ego - half_l - 0.5 * a.length_m
                margin = cfg.standstill_gap_m + cfg.time_gap_s * abs(w.ego.speed_mps)
                v = min(v, self._v_stop(gap - margin, v_obj))
        return v

    def _line_speed(self, s_ego: float) -> float:
        w = self.world
        v = np.inf
        states = w.light_states()
        for key, gap, is_sign in self._lines_ahead(s_ego):
            if is_sign:
                v = min(v, self._stop_sign_speed(key, gap))
                continue
            state = states.get(key)
            can_stop = gap > w.ego.speed_mps ** 2 / (2 * 3.5)
            if state == RED or (state == AMBER and can_stop):
                v = min(v, self._v_stop(gap) if gap > 0.3 else 0.0)
        return v

    def _lines_ahead(self, s_ego: float):
        """(id, gap m, is_stop_sign) of the route's stop lines not yet passed."""
        front = s_ego + 0.5 * self.world.ego_params.length_m
        for key, s_line, is_sign in self._lines:
            gap = s_line - front - 1.0
            if gap >= -1.0:
                yield key, gap, is_sign

    def _green_hold(self, s_ego: float) -> bool:
        """At rest at the line of an on-route light in its green reaction time."""
        if self.cfg.green_reaction_s <= 0:
            return False
        states = self.world.light_states()
        return any(states.get(key) == GREEN and self._reacting(key, gap)
                   for key, gap, is_sign in self._lines_ahead(s_ego) if not is_sign)

    def _reacting(self, light_id: str, gap_m: float) -> bool:
        """Stopped at the line of a light that turned green less than green_reaction_s ago."""
        if self.cfg.green_reaction_s <= 0 or gap_m > 4.0 or abs(self.world.ego.speed_mps) > 0.05:
            return False
        light = next(li for li in self.world.lights if li.light_id == light_id)
        return light.cycle_time_s(self.world.time_s) < self.cfg.green_reaction_s

    def _stop_sign_speed(self, key: str, gap_m: float) -> float:
        if key in self._stop_done:
            return np.inf
        if gap_m < 4.0 and abs(self.world.ego.speed_mps) < 0.05:
            self._stop_wait_s += self.world.dt_s
            if self._stop_wait_s >= self.cfg.stop_sign_wait_s:
                self._stop_done.add(key)
                return np.inf
        return self._v_stop(gap_m) if gap_m > 0.3 else 0.0

    def _conflict_speed(self, s_ego: float) -> float:
        w, cfg = self.world, self.cfg
        half_l = 0.5 * w.ego_params.length_m
        front, v_ego = s_ego + half_l, max(w.ego.speed_mps, 0.0)
        v = np.inf
        for c in self.conflicts:
            agent = w.vehicles[c.agent_index]
            a_front, a_rear = agent.s_m + 0.5 * agent.length_m, agent.s_m - 0.5 * agent.length_m
            if front >= c.s0 - 0.5 or a_rear > c.p1:
                continue   # the ego is committed, or the agent has gone past
            gap = c.s0 - front - 2.0
            if gap < v_ego ** 2 / (2 * 6.0) - 0.5:
                continue   # too late to stop before the zone: go through
            va = max(agent.speed_mps, 0.1)
            a_in = max(0.0, c.p0 - a_front) / va
            a_out = (c.p1 - a_rear) / va
            t_in = time_to_cover(c.s0 - front, v_ego, cfg.cruise_speed_mps)
            t_out = time_to_cover(c.s1 - s_ego + half_l, v_ego, cfg.cruise_speed_mps)
            if a_in < t_out + cfg.conflict_after_s and a_out > t_in - cfg.conflict_before_s:
                v = min(v, self._v_stop(gap) if gap > 0.3 else 0.0)
        return v

    def target_speed_mps(self) -> float:
        """The tightest constraint's speed; called once per step (it advances the restart
        reaction's clock). Sets `reaction_hold`."""
        s = self._ego_s()
        free = float(min(self.cfg.cruise_speed_mps, self._curve_speed(s),
                         self._obstacle_speed(s), self._line_speed(s),
                         self._conflict_speed(s)))
        v = self._restart_reaction(0.0 if self._green_hold(s) else free)
        self.reaction_hold = v < 0.1 <= free
        return v

    def _restart_reaction(self, v_target: float) -> float:
        """Hold 0 for restart_reaction_s at rest after a constraint that held the ego at
        rest clears (the route's start is no such constraint). Once per stop: a crawl that
        comes to rest again before it reaches 1 m/s (an obstacle at the margin) does not
        wait again."""
        if self.cfg.restart_reaction_s <= 0:
            return v_target
        speed = abs(self.world.ego.speed_mps)
        if speed > 1.0:
            self._reacted = False
        if speed > 0.05:
            self._held_at_rest = False
            return v_target
        if v_target < 0.1:
            self._held_at_rest = not self._reacted
            self._reaction_s = 0.0
            return v_target
        if not self._held_at_rest:
            return v_target
        self._reaction_s += self.world.dt_s
        if self._reaction_s < self.cfg.restart_reaction_s:
            return 0.0
        self._held_at_rest, self._reacted = False, True
        return v_target

    def steer(self) -> float:
        """Pure pursuit on the route, as CARLA steer (+ = right)."""
        w, t = self.world, self.world.tracker
        e = w.ego
        look = float(np.clip(3.0 + 0.5 * abs(e.speed_mps), 4.0, 10.0))
        x, y, _ = geo.interp_pose(t.xy, t.s_cum, self._ego_s() + look)
        dx, dy = x - e.x_m, y - e.y_m
        alpha = np.arctan2(dy, dx) - e.yaw_rad
        dist = max(np.hypot(dx, dy), 1.0)
        delta = np.arctan2(2.0 * w.ego_params.wheelbase_m * np.sin(alpha), dist)
        return float(np.clip(-delta / w.ego_params.max_wheel_angle_rad, -1.0, 1.0))

    def run_step(self) -> ControlInput:
        """One control from the current world state."""
        v_target = self.target_speed_mps()
        v = self.world.ego.speed_mps
        error = v_target - v
        steer = self.steer()
        if v_target < 0.1 and v < 1.0:
            self._speed_pid.reset()
            return ControlInput(throttle=0.0, steer=steer, brake=1.0)
        if error < -0.3:
            brake = float(np.clip(0.3 + 0.4 * (v - v_target), 0.0, 1.0))
            self._speed_pid.update(error, self.world.dt_s, freeze_integral=True)
            return ControlInput(throttle=0.0, steer=steer, brake=brake)
        u = self._speed_pid.update(error, self.world.dt_s)
        throttle = float(np.clip(u, 0.0, self.cfg.max_throttle))
        return ControlInput(throttle=throttle, steer=steer, brake=0.0)
