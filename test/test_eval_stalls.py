"""eval/stalls.py: stalls found in synthetic drive logs (no ROS)."""
import numpy as np

from orion_lite_ros.eval.stalls import ego_speeds, find_stalls, stalls_of_log

DT_NS = 50_000_000


def _log(speeds, brake):
    stamps = np.arange(len(speeds)) * DT_NS
    x = np.r_[0.0, np.cumsum(np.asarray(speeds[1:]) * 0.05)]
    controls = np.stack([1.0 - np.asarray(brake), np.zeros(len(brake)), brake], axis=1)
    return np.stack([x, np.zeros_like(x)], axis=1), stamps, controls


def test_speeds_from_positions():
    xy, stamps, _ = _log([0.0, 2.0, 2.0, 4.0], [0, 0, 0, 0])
    np.testing.assert_allclose(ego_speeds(xy, stamps), [0.0, 2.0, 2.0, 4.0])


def test_a_held_wait_and_a_throttle_brake_cycle_are_told_apart():
    n = 400                                           # 20 s: drive 5 s, wait 7.5 s, cycle 7.5 s
    speeds = np.r_[np.full(100, 5.0), np.zeros(150), np.tile([0.1, 0.0], 75)]
    brake = np.r_[np.zeros(100), np.ones(150), np.tile([0.0, 1.0], 75)]
    xy, stamps, controls = _log(speeds, brake)
    target = np.r_[np.full(100, 5.0), np.zeros(150), np.full(150, 0.08)]
    stalls = find_stalls(xy, stamps, controls, target, min_s=5.0)
    assert len(stalls) == 1 and n == len(speeds)      # one span: the speed never reaches 0.3
    s = stalls[0]
    assert abs(s.start_s - 5.0) < 0.06 and abs(s.duration_s - 14.95) < 0.06
    assert 0.7 < s.brake_share < 0.8 and 0.45 < s.switch_share < 0.55
    assert abs(s.mean_target_mps - 0.04) < 0.01


def test_short_stops_are_ignored_and_old_logs_have_no_desired_speed(tmp_path):
    speeds = np.r_[np.full(50, 4.0), np.zeros(60), np.full(50, 4.0)]     # a 3 s stop
    xy, stamps, controls = _log(speeds, np.zeros(len(speeds)))
    assert find_stalls(xy, stamps, controls, min_s=5.0) == []
    stall = find_stalls(xy, stamps, controls, min_s=2.0)[0]
    assert np.isnan(stall.mean_target_mps) and stall.brake_share == 0.0
    np.savez(tmp_path / 'r.npz', ego_xy=xy, stamps_ns=stamps, controls=controls)
    assert len(stalls_of_log(tmp_path / 'r.npz', min_s=2.0)) == 1
