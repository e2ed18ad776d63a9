"""ORION Bench2Drive controller as pure functions (REP-103 waypoints in, CARLA pedals out)."""
import math

import numpy as np
import pytest

from orion_lite_ros.control.bench2drive import (
    Bench2DriveController,
    Bench2DriveControllerConfig,
    aim_point,
    desired_speed_mps,
)


def _straight(speed_mps):
    t = np.arange(1, 7) * 0.5
    return np.stack([t * speed_mps, np.zeros(6)], axis=1)


def _arc(speed_mps, radius_m):
    """Cumulative waypoints on a circle; radius > 0 curves left (REP-103)."""
    s = np.arange(1, 7) * 0.5 * speed_mps
    phi = s / abs(radius_m)
    y = np.sign(radius_m) * abs(radius_m) * (1 - np.cos(phi))
    return np.stack([abs(radius_m) * np.sin(phi), y], axis=1)


def _run(wps, speed, ticks=20, ctrl=None):
    ctrl = ctrl or Bench2DriveController()
    for _ in range(ticks):
        cmd = ctrl.step(wps, speed, 0.05)
    return cmd


def test_desired_speed_and_aim_point():
    wps = _straight(4.0)
    assert desired_speed_mps(wps) == pytest.approx(4.0)
    np.testing.assert_allclose(aim_point(wps, 3.5), [4.0, 0.0])   # wp1 at 4 m (mid 3 m)


def test_straight_accelerates_without_steering():
    cmd = _run(_straight(4.0), speed=2.0)
    assert cmd.throttle > 0.3 and cmd.brake == 0.0
    assert cmd.throttle <= 0.75
    assert cmd.steer == pytest.approx(0.0) and cmd.steering_angle_rad == pytest.approx(0.0)
    assert cmd.target_speed_mps == pytest.approx(4.0) and cmd.acceleration_mps2 > 0


@pytest.mark.parametrize('radius, sign', [(15.0, +1), (-15.0, -1)])
def test_curve_sign(radius, sign):
    cmd = _run(_arc(4.0, radius), speed=4.0)
    assert -sign * cmd.steer > 0.1                     # CARLA: + = right
    assert sign * cmd.steering_angle_rad > 0.05        # REP-103: + = left
    # bicycle model through a point on a circle of radius R: atan(L / R)
    assert abs(cmd.steering_angle_rad) == pytest.approx(math.atan(2.875 / 15.0), rel=0.05)


def test_stop_and_overspeed_brake():
    stop = _run(np.zeros((6, 2)), speed=3.0)
    assert stop.brake == 1.0 and stop.throttle == 0.0 and stop.target_speed_mps == 0.0
    over = _run(_straight(3.0), speed=4.0)               # 4 / 3 > brake_ratio 1.1
    assert over.brake == 1.0 and over.throttle == 0.0 and over.acceleration_mps2 < 0


def test_throttle_cutoff_and_limits():
    cfg = Bench2DriveControllerConfig()
    cmd = _run(_straight(8.0), speed=5.5)
    assert cmd.throttle == 0.0 and cmd.brake == 0.0    # ORION: no throttle above 5 m/s
    free = Bench2DriveControllerConfig(throttle_cutoff_speed_mps=math.inf)
    cmd = _run(_straight(8.0), speed=5.5, ctrl=Bench2DriveController(free))
    assert 0.0 < cmd.throttle <= cfg.max_throttle


def test_windup_is_limited():
    """A long-held turn error must not push the steer beyond what the window allows."""
    ctrl = Bench2DriveController()
    hard_left = _arc(4.0, 6.0)
    for _ in range(2000):
        cmd = ctrl.step(hard_left, 4.0, 0.05)
    assert -1.0 <= cmd.steer < 0
    # once the path is straight again the steer recovers within the 40-tick window
    for _ in range(41):
        cmd = ctrl.step(_straight(4.0), 4.0, 0.05)
    assert abs(cmd.steer) < 1e-9


@pytest.mark.parametrize('bad', [np.full((6, 2), np.nan), np.ones((5, 2)), 'junk',
                                 np.array([[1.0, np.inf]] * 6)])
def test_invalid_waypoints_brake_with_steer_held(bad):
    ctrl = Bench2DriveController()
    good = _run(_arc(4.0, 15.0), 4.0, ctrl=ctrl)
    cmd = ctrl.step(bad, 4.0, 0.05)
    assert cmd.brake == 1.0 and cmd.throttle == 0.0
    assert cmd.steer == good.steer and cmd.steering_angle_rad == good.steering_angle_rad
    values = [cmd.throttle, cmd.steer, cmd.brake, cmd.target_speed_mps, cmd.steering_angle_rad]
    assert all(math.isfinite(v) for v in values)


def test_nan_speed_brakes():
    assert Bench2DriveController().step(_straight(4.0), math.nan, 0.05).brake == 1.0


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match='max_throttle'):
        Bench2DriveControllerConfig(max_throttle=1.5)
    with pytest.raises(ValueError, match='wheelbase_m'):
        Bench2DriveControllerConfig(wheelbase_m=0.0)
