"""Open-loop metric math on trajectories known exactly (no bag, no model)."""
import math

import numpy as np
import pytest

from orion_lite_ros.eval.openloop import (
    NS,
    EgoTrack,
    OpenLoopConfig,
    OpenLoopRecorder,
    future_truth,
    plan_headings,
    summarize,
)
from orion_lite_ros.eval.report import compare_runs

V = 5.0                                             # m/s, straight along +x
STEPS = np.arange(1, 7) * 0.5                       # waypoint times (s)


def straight_recorder(duration_s=10.0, hz=20.0, gap=None, objects=None):
    rec = OpenLoopRecorder()
    for t in np.arange(0.0, duration_s + 1e-9, 1.0 / hz):
        if gap and gap[0] <= t < gap[1]:
            continue
        rec.add_odometry(int(round(t * NS)), V * t, 0.0, 0.0)
    for t in np.arange(0.0, duration_s + 1e-9, 0.1):
        if objects is not None:
            rec.add_objects(int(round(t * NS)), objects)
    return rec


def perfect_plan():
    return np.stack([V * STEPS, np.zeros(6)], -1)


def test_perfect_planner_has_zero_error():
    rec = straight_recorder()
    rec.add_plan(0, perfect_plan())
    s = rec.summary()
    assert s['l2_1s_m'] == pytest.approx(0.0, abs=1e-12)
    assert s['l2_3s_m'] == pytest.approx(0.0, abs=1e-12)
    assert s['l2_b2d_avg_2s_m'] == pytest.approx(0.0, abs=1e-12)
    assert s['heading_err_3s_deg'] == pytest.approx(0.0, abs=1e-9)


def test_known_errors_lateral_offset_and_overshoot():
    rec = straight_recorder()
    lateral = perfect_plan() + [0.0, 1.0]           # 1 m to the left everywhere
    rec.add_plan(0, lateral)
    overshoot = perfect_plan() * [1.1, 1.0]          # 10 % too fast: error 0.1 * v * t
    rec.add_plan(NS, overshoot)
    frames = rec.frames()
    np.testing.assert_allclose(frames[0].l2_m, np.ones(6), atol=1e-12)
    np.testing.assert_allclose(frames[1].l2_m, 0.1 * V * STEPS, atol=1e-12)
    s = summarize(frames)
    assert s['l2_1s_m'] == pytest.approx((1.0 + 0.5) / 2)
    assert s['l2_3s_m'] == pytest.approx((1.0 + 1.5) / 2)
    # Bench2Drive: mean over 0.5, 1.0, 1.5, 2.0 s, then over frames.
    b2d_overshoot = np.mean(0.1 * V * STEPS[:4])
    assert s['l2_b2d_avg_2s_m'] == pytest.approx((1.0 + b2d_overshoot) / 2)
    assert s['l2_avg_2s_m'] == pytest.approx(s['l2_b2d_avg_2s_m'])


def test_heading_error_of_rotated_plan():
    rec = straight_recorder()
    a = math.radians(10.0)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    rec.add_plan(0, perfect_plan() @ rot.T)
    s = rec.summary()
    assert s['heading_err_1s_deg'] == pytest.approx(10.0, abs=1e-9)
    assert s['heading_err_3s_deg'] == pytest.approx(10.0, abs=1e-9)
    assert math.isnan(plan_headings(np.zeros((6, 2)), 0.2)[0])   # standing still: no heading


def test_horizon_not_covered_at_end_and_across_a_gap():
    rec = straight_recorder(duration_s=10.0, gap=(4.0, 5.0))
    for t in (0.0, 3.0, 8.0):
        rec.add_plan(int(t * NS), perfect_plan())
    frames = rec.frames()
    assert np.all(np.isfinite(frames[0].l2_m))                   # 0..3 s: covered
    assert np.isfinite(frames[1].l2_m[0])                        # 3.5 s ok, 4.0 s in the gap
    assert np.all(np.isnan(frames[1].l2_m[1:]))                  # and nothing after it
    assert np.isfinite(frames[2].l2_m[3]) and np.isnan(frames[2].l2_m[4])   # bag ends at 10 s
    s = summarize(frames)
    assert s['frames_covering_1s'] == 2 and s['frames_covering_3s'] == 1
    assert rec.track().gaps(0.5) == [(int(3.95 * NS), int(5.0 * NS))]


def test_frame_without_recorded_pose_is_not_evaluated():
    rec = straight_recorder(duration_s=2.0)
    rec.add_plan(int(5 * NS), perfect_plan())
    f = rec.frames()[0]
    assert f.truth_xy is None and np.all(np.isnan(f.l2_m))
    assert rec.summary()['l2_1s_m'] is None


def test_collision_proxy_with_box_beside_the_path():
    box = np.array([[10.0, 3.5, 0.0, 4.0, 2.0]])   # x, y, yaw, length, width (map)
    rec = straight_recorder(objects=box)
    rec.add_plan(0, perfect_plan())                 # passes the box: clear
    swerve = perfect_plan() + [0.0, 3.5]            # drives into the box's lane
    rec.add_plan(int(0.1 * NS), swerve)
    frames = rec.frames()
    assert np.nansum(frames[0].collision) == 0
    # swerve: ego centre x = 0.5 + 5 t; overlap while |x - 10| < 4.45 -> steps 1.5 .. 2.5 s
    np.testing.assert_array_equal(frames[1].collision, [0, 0, 1, 1, 1, 0])
    col = rec.summary()['collision']
    assert col['rate_1s'] == 0.0 and col['rate_2s'] == 0.5 and col['rate_3s'] == 0.5


def test_collision_not_counted_where_the_recording_overlaps():
    on_path = np.array([[10.0, 0.0, 0.0, 4.0, 2.0]])   # e.g. the ego's own box
    rec = straight_recorder(objects=on_path)
    rec.add_plan(0, perfect_plan())
    assert np.all(np.isnan(rec.frames()[0].collision[2:5]))


def test_ego_track_yaw_unwrapped_interpolation():
    track = EgoTrack.from_samples([0, NS], [[0, 0], [1, 0]], [math.pi - 0.1, -math.pi + 0.1])
    _, yaw, ok = track.pose_at([NS // 2], 2.0)
    assert ok[0] and abs(abs(yaw[0]) - math.pi) < 1e-9


def test_future_truth_is_in_the_ego_frame():
    rec = OpenLoopRecorder()
    for t in np.arange(0, 5.01, 0.05):             # driving along +y (yaw 90 deg)
        rec.add_odometry(int(round(t * NS)), 100.0, V * t, math.pi / 2)
    truth = future_truth(rec.track(), 0, OpenLoopConfig())
    np.testing.assert_allclose(truth.xy, perfect_plan(), atol=1e-9)


def _report(frames):
    return {'frames': [{'stamp_ns': s, 'waypoints': w, 'command': 3} for s, w in frames]}


def test_compare_runs_lists_differing_missing_extra():
    a = [(1, [[1.0, 0.0]] * 6), (2, [[2.0, 0.0]] * 6), (3, [[3.0, 0.0]] * 6)]
    b = [(1, [[1.0, 0.0]] * 6), (2, [[2.0, 0.5]] * 6), (4, [[3.0, 0.0]] * 6)]
    rep = compare_runs(_report(b), _report(a), tolerance_m=0.1)
    assert not rep.passed
    assert [d['stamp_ns'] for d in rep.differing] == [2]
    assert rep.differing[0]['max_diff_m'] == pytest.approx(0.5)
    assert rep.missing == [3] and rep.extra == [4]
    assert compare_runs(_report(a), _report(a), 0.0).passed


def test_summary_reports_constant_velocity_baseline():
    """Straight drive at 5 m/s: the constant-velocity baseline is exact; a standing plan is
    not, and the summary says which beats which."""
    from orion_lite_ros.eval.openloop import OpenLoopRecorder
    from orion_lite_ros.eval.report import _baseline_line
    rec = OpenLoopRecorder()
    for k in range(100):
        t = k * 100_000_000
        rec.add_odometry(t, 0.5 * k, 0.0, 0.0)
    for k in range(5, 60, 5):
        rec.add_plan(k * 100_000_000, np.zeros((6, 2)))
    s = rec.summary()
    assert s['constant_velocity']['l2_3s_m'] < 1e-6
    assert s['l2_3s_m'] > 14.0
    assert 'does NOT beat' in _baseline_line(s)
