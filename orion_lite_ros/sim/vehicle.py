"""Ego vehicle: kinematic bicycle (centre-of-gravity form) with pedal -> force dynamics.

Defaults approximate CARLA's Lincoln MKZ 2020 used by Bench2Drive: 4.89 x 2.12 m, wheelbase
2.875 m, max front-wheel angle 70 deg at steer = 1 (CARLA's physics default; the effective
turn is limited by ``max_lat_accel_mps2`` as tyres would), ~0-100 km/h in ~10 s with full
throttle, 8 m/s^2 braking with brake = 1.
"""
from dataclasses import dataclass

import numpy as np

from orion_lite_ros.sim.geometry import wrap_angle


@dataclass(frozen=True)
class VehicleParams:
    length_m: float = 4.89
    width_m: float = 2.12
    height_m: float = 1.50
    wheelbase_m: float = 2.875
    rear_axle_to_cg_m: float = 1.40
    max_wheel_angle_rad: float = np.radians(70.0)
    steer_time_constant_s: float = 0.10     # first-order steering lag
    max_lat_accel_mps2: float = 8.0         # tyre limit on |v * yaw_rate|
    engine_accel_mps2: float = 4.6          # full throttle at low speed
    engine_power_per_mass_w_kg: float = 52.0  # power limit at speed
    drag_coef_per_m: float = 0.00045       # aerodynamic deceleration = k v^2
    rolling_decel_mps2: float = 0.15
    max_brake_decel_mps2: float = 8.0
    max_reverse_speed_mps: float = 5.0


@dataclass
class VehicleState:
    x_m: float = 0.0
    y_m: float = 0.0
    yaw_rad: float = 0.0
    speed_mps: float = 0.0        # signed along the body x axis (negative in reverse)
    wheel_angle_rad: float = 0.0  # REP-103: positive = left
    ax_mps2: float = 0.0
    ay_mps2: float = 0.0
    yaw_rate_rps: float = 0.0
    slip_rad: float = 0.0

    @property
    def vx_mps(self) -> float:
        return self.speed_mps * float(np.cos(self.slip_rad))

    @property
    def vy_mps(self) -> float:
        return self.speed_mps * float(np.sin(self.slip_rad))


def longitudinal_accel(p: VehicleParams, speed_mps: float, throttle: float, brake: float,
                       reverse: bool) -> float:
    """Acceleration along the direction of travel from pedals (m/s^2)."""
    v = abs(speed_mps)
    engine = min(p.engine_accel_mps2, p.engine_power_per_mass_w_kg / max(v, 1e-3))
    drive = float(np.clip(throttle, 0, 1)) * engine * (-1.0 if reverse else 1.0)
    resist = p.drag_coef_per_m * v * v + (p.rolling_decel_mps2 if v > 0.01 else 0.0)
    stop = resist + float(np.clip(brake, 0, 1)) * p.max_brake_decel_mps2
    return drive - np.sign(speed_mps) * stop if v > 0.01 else drive


def step_vehicle(p: VehicleParams, s: VehicleState, throttle: float, steer: float, brake: float,
                 dt_s: float, reverse: bool = False, hand_brake: bool = False) -> VehicleState:
    """Advance one step. ``steer`` in CARLA sign (+1 = right)."""
    if hand_brake:
        brake = 1.0
    target = -float(np.clip(steer, -1, 1)) * p.max_wheel_angle_rad
    alpha = min(1.0, dt_s / max(p.steer_time_constant_s, 1e-6))
    wheel = s.wheel_angle_rad + alpha * (target - s.wheel_angle_rad)
    acc = longitudinal_accel(p, s.speed_mps, throttle, brake, reverse)
    v_new = s.speed_mps + acc * dt_s
    if s.speed_mps * v_new < 0 or (abs(s.speed_mps) < 0.01 and throttle <= 0):
        v_new = 0.0 if np.sign(v_new) != (-1 if reverse else 1) or throttle <= 0 else v_new
    v_new = float(np.clip(v_new, -p.max_reverse_speed_mps, 100.0))
    slip = float(np.arctan(p.rear_axle_to_cg_m / p.wheelbase_m * np.tan(wheel)))
    v_mid = 0.5 * (s.speed_mps + v_new)
    yaw_rate = v_mid * np.cos(slip) * np.tan(wheel) / p.wheelbase_m
    limit = p.max_lat_accel_mps2 / max(abs(v_mid), 1e-3)
    yaw_rate = float(np.clip(yaw_rate, -limit, limit))
    heading = s.yaw_rad + 0.5 * yaw_rate * dt_s + slip
    return VehicleState(
        x_m=s.x_m + v_mid * np.cos(heading) * dt_s, y_m=s.y_m + v_mid * np.sin(heading) * dt_s,
        yaw_rad=float(wrap_angle(s.yaw_rad + yaw_rate * dt_s)), speed_mps=v_new,
        wheel_angle_rad=float(wheel), ax_mps2=(v_new - s.speed_mps) / dt_s,
        ay_mps2=float(v_mid * yaw_rate), yaw_rate_rps=yaw_rate, slip_rad=slip)
