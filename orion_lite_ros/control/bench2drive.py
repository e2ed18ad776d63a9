"""ORION's Bench2Drive waypoint controller, plus Ackermann-style targets (no ROS).

Input: waypoints (NUM_WAYPOINTS, 2) in the REP-103 ego frame (x forward, y left), cumulative
positions WAYPOINT_DT_S apart, and the ego speed. Output: ``types.VehicleCommand`` with CARLA
pedals/steer (steer + = right) and Ackermann targets (front-wheel angle + = left).

Lateral: the aim point is the waypoint or segment midpoint whose distance is closest to
``aim_dist_m``; its bearing in degrees / 90 (CARLA sign) is the steering PID's error, 0 when the
aim point is almost at the car. Longitudinal: desired speed from the first two waypoints, brake
when it is below ``brake_speed_mps`` or the car is ``brake_ratio`` times too fast, else throttle
from the speed PID on the clipped speed gap. Ackermann: a bicycle model through the same aim
point (pure pursuit) gives the front-wheel angle.
"""
from dataclasses import dataclass
import math
from typing import Optional

import numpy as np

from orion_lite_ros.control.pid import PID, PIDConfig
from orion_lite_ros.layout import NUM_WAYPOINTS, WAYPOINT_DT_S
from orion_lite_ros.types import VehicleCommand


@dataclass(frozen=True)
class Bench2DriveControllerConfig:
    turn_kp: float = 1.1
    turn_ki: float = 0.5
    turn_kd: float = 0.4
    turn_window: int = 40              # ticks
    speed_kp: float = 5.0
    speed_ki: float = 0.5
    speed_kd: float = 1.0
    speed_window: int = 40             # ticks
    max_throttle: float = 0.75
    brake_speed_mps: float = 0.05      # desired speed below this -> brake
    brake_ratio: float = 1.1           # speed / desired above this -> brake
    clip_delta_mps: float = 0.25       # speed gap fed to the speed PID is clipped to [0, this]
    aim_dist_m: float = 3.5
    min_aim_dist_m: float = 0.5        # aim point closer than this -> steer error 0
    throttle_cutoff_speed_mps: float = 5.0   # ORION post-processing: no throttle above this
    min_brake: float = 0.05            # brake below this -> 0
    wheelbase_m: float = 2.875         # CARLA Lincoln MKZ (Bench2Drive ego)
    max_front_wheel_angle_rad: float = 0.61
    max_accel_mps2: float = 3.0
    max_decel_mps2: float = 6.0
    accel_time_constant_s: float = 1.0  # acceleration target = speed gap / this
    tick_s: float = 0.05               # the tick the PID gains were tuned at
    max_speed_mps: float = 30.0        # target speed clamp (physical limit of the ego)
    max_waypoint_range_m: float = 150.0  # a waypoint farther than this: implausible -> brake

    def __post_init__(self):
        positive = ('aim_dist_m', 'wheelbase_m', 'max_front_wheel_angle_rad', 'max_accel_mps2',
                    'max_decel_mps2', 'accel_time_constant_s', 'tick_s', 'brake_ratio',
                    'max_speed_mps', 'max_waypoint_range_m')
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'{name} must be finite and > 0, got {value}')
        if not 0.0 <= self.max_throttle <= 1.0:
            raise ValueError(f'max_throttle must be in [0, 1], got {self.max_throttle}')
        if self.clip_delta_mps < 0 or self.brake_speed_mps < 0 or self.min_aim_dist_m < 0:
            raise ValueError('clip_delta_mps, brake_speed_mps and min_aim_dist_m must be >= 0')

    def turn_pid(self) -> PIDConfig:
        return PIDConfig(self.turn_kp, self.turn_ki, self.turn_kd, self.turn_window,
                         tick_s=self.tick_s)

    def speed_pid(self) -> PIDConfig:
        return PIDConfig(self.speed_kp, self.speed_ki, self.speed_kd, self.speed_window,
                         tick_s=self.tick_s)


def desired_speed_mps(waypoints: np.ndarray) -> float:
    """ORION: 0.75 * |wp0| * 2 + 0.25 * |wp1 - wp0| * 2 (waypoints 0.5 s apart)."""
    wp0 = np.linalg.norm(waypoints[0])
    wp1 = np.linalg.norm(waypoints[1] - waypoints[0])
    return float((0.75 * wp0 + 0.25 * wp1) / WAYPOINT_DT_S)


def aim_point(waypoints: np.ndarray, aim_dist_m: float) -> np.ndarray:
    """The waypoint or segment midpoint whose distance from the car is closest to aim_dist_m."""
    mids = 0.5 * (waypoints[1:] + waypoints[:-1])            # (NUM_WAYPOINTS - 1, 2)
    candidates = np.concatenate([waypoints, mids], axis=0)
    dist = np.linalg.norm(candidates, axis=1)
    return candidates[int(np.argmin(np.abs(dist - aim_dist_m)))]


def steer_error(aim: np.ndarray, min_aim_dist_m: float) -> float:
    """Bearing of the aim point in degrees / 90, CARLA sign (+ = right)."""
    if float(np.linalg.norm(aim)) < min_aim_dist_m:
        return 0.0
    return -math.degrees(math.atan2(float(aim[1]), float(aim[0]))) / 90.0


def front_wheel_angle_rad(aim: np.ndarray, wheelbase_m: float, limit_rad: float,
                          min_aim_dist_m: float) -> float:
    """Bicycle model through the aim point: curvature 2 y / d^2, angle atan(L * curvature)."""
    dist_sq = float(aim[0] ** 2 + aim[1] ** 2)
    if dist_sq < min_aim_dist_m ** 2:
        return 0.0
    angle = math.atan(wheelbase_m * 2.0 * float(aim[1]) / dist_sq)
    return float(np.clip(angle, -limit_rad, limit_rad))


def valid_waypoints(waypoints, max_range_m: float = math.inf) -> Optional[np.ndarray]:
    """(NUM_WAYPOINTS, 2) float array, or None when the shape is wrong, a value not finite
    or a waypoint farther than ``max_range_m``. Longer paths: the first NUM_WAYPOINTS."""
    try:
        wps = np.asarray(waypoints, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if wps.ndim != 2 or wps.shape[0] < NUM_WAYPOINTS or wps.shape[1] != 2:
        return None
    wps = wps[:NUM_WAYPOINTS]
    if not np.all(np.isfinite(wps)) or float(np.max(np.abs(wps))) > max_range_m:
        return None
    return wps


def finite_command(cmd: VehicleCommand) -> bool:
    return all(math.isfinite(float(v)) for v in (
        cmd.throttle, cmd.steer, cmd.brake, cmd.target_speed_mps, cmd.steering_angle_rad,
        cmd.acceleration_mps2))


class Bench2DriveController:
    """Stateful (two PIDs); one ``step`` per control tick."""

    def __init__(self, config: Bench2DriveControllerConfig = Bench2DriveControllerConfig()):
        self.config = config
        self.turn_pid = PID(config.turn_pid())
        self.speed_pid = PID(config.speed_pid())
        self.last = self.brake_command()

    def reset(self) -> None:
        self.turn_pid.reset()
        self.speed_pid.reset()
        self.last = self.brake_command()

    def brake_command(self) -> VehicleCommand:
        """Full brake, steering held at the last command."""
        last = getattr(self, 'last', None)
        steer = last.steer if last is not None else 0.0
        angle = last.steering_angle_rad if last is not None else 0.0
        return VehicleCommand(throttle=0.0, steer=steer, brake=1.0, target_speed_mps=0.0,
                              steering_angle_rad=angle,
                              acceleration_mps2=-self.config.max_decel_mps2)

    def safe_stop(self) -> VehicleCommand:
        """Brake with steer held; the speed PID restarts from zero afterwards."""
        self.speed_pid.reset()
        self.last = self.brake_command()
        return self.last

    def step(self, waypoints, speed_mps: float, dt_s: float) -> VehicleCommand:
        """One control tick. Invalid or implausible waypoints, or a non-finite speed or dt ->
        ``safe_stop()``. Every output is finite and within its limits."""
        cfg = self.config
        wps = valid_waypoints(waypoints, cfg.max_waypoint_range_m)
        if wps is None or not math.isfinite(speed_mps) or not math.isfinite(dt_s):
            return self.safe_stop()
        speed = max(0.0, float(speed_mps))
        aim = aim_point(wps, cfg.aim_dist_m)
        steer = float(np.clip(self.turn_pid.update(steer_error(aim, cfg.min_aim_dist_m), dt_s),
                              -1.0, 1.0))
        desired = min(desired_speed_mps(wps), cfg.max_speed_mps)
        throttle, brake = self._pedals(desired, speed, dt_s)
        target = 0.0 if brake > 0.0 and desired < cfg.brake_speed_mps else desired
        accel = float(np.clip((target - speed) / cfg.accel_time_constant_s,
                              -cfg.max_decel_mps2, cfg.max_accel_mps2))
        angle = front_wheel_angle_rad(aim, cfg.wheelbase_m, cfg.max_front_wheel_angle_rad,
                                      cfg.min_aim_dist_m)
        cmd = VehicleCommand(throttle=throttle, steer=steer, brake=brake,
                             target_speed_mps=target, steering_angle_rad=angle,
                             acceleration_mps2=accel)
        if not finite_command(cmd):
            return self.safe_stop()
        self.last = cmd
        return cmd

    def _pedals(self, desired: float, speed: float, dt_s: float):
        """(throttle, brake) with ORION's braking rule and post-processing."""
        cfg = self.config
        brake_on = desired < cfg.brake_speed_mps or (
            desired > 0.0 and speed / desired > cfg.brake_ratio)
        delta = float(np.clip(desired - speed, 0.0, cfg.clip_delta_mps))
        throttle = float(np.clip(self.speed_pid.update(delta, dt_s), 0.0, cfg.max_throttle))
        brake = 1.0 if brake_on else 0.0
        if brake_on:
            throttle = 0.0
        if brake < cfg.min_brake:
            brake = 0.0
        if throttle > brake:
            brake = 0.0
        if speed > cfg.throttle_cutoff_speed_mps:
            throttle = 0.0
        return throttle, float(np.clip(brake, 0.0, 1.0))
