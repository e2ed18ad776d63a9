"""Autoware outputs as arrays: map-frame trajectory with kinematics, candidates, objects."""
from types import SimpleNamespace

import numpy as np
import pytest

from orion_lite_ros.planning import autoware_outputs as ao

T = np.arange(1, 7) * 0.5


def test_straight_plan_moves_into_the_map_frame_and_starts_at_the_ego():
    wps = np.stack([5.0 * T, np.zeros(6)], -1)
    tr = ao.trajectory_in_map(wps, 10.0, 5.0, np.pi / 2, 5.0)
    np.testing.assert_allclose(tr.t_s, np.arange(7) * 0.5)
    np.testing.assert_allclose(tr.xy, np.stack([np.full(7, 10.0), 5.0 + 5.0 * tr.t_s], -1),
                               atol=1e-12)
    np.testing.assert_allclose(tr.yaw, np.pi / 2)
    np.testing.assert_allclose(tr.velocity_mps, 5.0)
    np.testing.assert_allclose(tr.accel_mps2, 0.0, atol=1e-12)
    np.testing.assert_allclose(tr.yaw_rate_rps, 0.0, atol=1e-12)


def test_constant_acceleration_is_recovered_at_inner_points():
    v0, a = 4.0, 1.5
    wps = np.stack([v0 * T + 0.5 * a * T ** 2, np.zeros(6)], -1)
    tr = ao.trajectory_in_map(wps, 0.0, 0.0, 0.0, v0)
    t = tr.t_s
    np.testing.assert_allclose(tr.velocity_mps[:-1], v0 + a * t[:-1], atol=1e-12)
    assert tr.velocity_mps[-1] == pytest.approx(v0 + a * (t[-1] - 0.25))   # last segment
    np.testing.assert_allclose(tr.accel_mps2[1:-2], a, atol=1e-12)


def test_arc_headings_and_heading_rate_follow_the_circle():
    r, w = 20.0, 0.2
    wps = np.stack([r * np.sin(w * T), r * (1 - np.cos(w * T))], -1)    # left turn
    tr = ao.trajectory_in_map(wps, 0.0, 0.0, 0.0, r * w)
    np.testing.assert_allclose(tr.yaw[:-1], w * tr.t_s[:-1], atol=1e-12)  # chords symmetric
    np.testing.assert_allclose(tr.yaw_rate_rps[1:-2], w, atol=1e-9)
    np.testing.assert_allclose(tr.velocity_mps[1:-1], 2 * r * np.sin(w * 0.25) / 0.5,
                               atol=1e-12)


def test_standing_still_keeps_the_ego_heading():
    tr = ao.trajectory_in_map(np.zeros((6, 2)), 3.0, 4.0, 1.0, 0.0)
    np.testing.assert_allclose(tr.xy, [[3.0, 4.0]] * 7)
    np.testing.assert_allclose(tr.yaw, 1.0)
    np.testing.assert_allclose(tr.velocity_mps, 0.0)


def test_ego_to_map_round_trip():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(10, 2)) * 20
    x, y, yaw = 12.0, -7.0, 2.3
    m = ao.ego_to_map(pts, x, y, yaw)
    c, s = np.cos(yaw), np.sin(yaw)
    back = np.stack([c * (m[:, 0] - x) + s * (m[:, 1] - y),
                     -s * (m[:, 0] - x) + c * (m[:, 1] - y)], -1)
    np.testing.assert_allclose(back, pts, atol=1e-9)


def test_six_candidates_one_per_command():
    modes = np.stack([np.stack([k * T, np.full(6, float(k))], -1) for k in range(6)])
    cands = ao.candidate_trajectories(modes, 1.0, 2.0, 0.0, 3.0)
    assert len(cands) == 6
    for k, tr in enumerate(cands):
        np.testing.assert_allclose(tr.xy[0], [1.0, 2.0])
        np.testing.assert_allclose(tr.xy[-1], [1.0 + 3.0 * k, 2.0 + k])


def test_objects_move_into_the_map_with_autoware_labels():
    yaw_obj = 0.5
    objects = SimpleNamespace(
        scores=np.array([0.9, 0.8, 0.7]), labels=np.array([0, 6, 7]),        # car, light, ped
        centres=np.array([[10.0, 0.0, 0.8], [5.0, 5.0, 3.0], [0.0, -4.0, 0.9]]),
        sizes=np.array([[1.9, 4.5, 1.6], [0.5, 0.5, 1.0], [0.6, 0.6, 1.8]]),        # w, l, h
        yaws=np.array([yaw_obj, 0.0, 0.0]),
        velocities=np.array([[3.0 * np.cos(yaw_obj), 3.0 * np.sin(yaw_obj)], [0, 0], [0, 0]]),
        trajectories=np.zeros((3, 2, 6, 2)) + np.array([[10.0, 0.0], [5, 5], [0, -4]])[
            :, None, None, :] + np.stack([np.arange(1, 7.0), np.zeros(6)], -1),
        trajectory_scores=np.array([[0.7, 0.3], [0.5, 0.5], [0.9, 0.1]]))
    out = ao.objects_in_map(objects, 1.0, 2.0, np.pi / 2)
    assert out.label.tolist() == [ao.CAR, ao.PEDESTRIAN]                # light dropped
    np.testing.assert_allclose(out.xyz[0], [1.0, 12.0, 0.8], atol=1e-12)
    np.testing.assert_allclose(out.xyz[1], [5.0, 2.0, 0.9], atol=1e-12)
    assert out.yaw[0] == pytest.approx(yaw_obj + np.pi / 2)
    np.testing.assert_allclose(out.velocity_body[0], [3.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(out.size_lwh[0], [4.5, 1.9, 1.6])
    np.testing.assert_allclose(out.paths_xy[0, 0, 0], [1.0, 13.0], atol=1e-12)  # +1 m ego x
    np.testing.assert_allclose(out.path_yaw[0, 0], np.pi / 2, atol=1e-12)
    np.testing.assert_allclose(out.path_confidence[1], [0.9, 0.1])


def test_lane_markers_one_strip_per_lane_after_a_clear():
    from builtin_interfaces.msg import Time
    from visualization_msgs.msg import Marker

    from orion_lite_ros.ros.autoware import lane_markers
    lanes = SimpleNamespace(scores=np.array([0.9, 0.1, 0.6]), labels=np.array([0, 2, 7]),
                            points=np.arange(3 * 11 * 3, dtype=float).reshape(3, 11, 3))
    out = lane_markers(lanes, 'base_link', Time(sec=3), min_score=0.3)
    assert out.markers[0].action == Marker.DELETEALL
    strips = out.markers[1:]
    assert [m.id for m in strips] == [1, 3]                  # the 0.1 lane left out
    assert all(m.type == Marker.LINE_STRIP and m.header.frame_id == 'base_link'
               and m.header.stamp.sec == 3 for m in strips)
    assert len(strips[1].points) == 11 and strips[1].points[0].x == lanes.points[2, 0, 0]
    assert len(lane_markers(None, 'base_link', Time()).markers) == 1




def test_autoware_trajectory_message_when_importable():
    pytest.importorskip('autoware_planning_msgs')
    from builtin_interfaces.msg import Time

    from orion_lite_ros.ros.autoware import trajectory_msg
    tr = ao.trajectory_in_map(np.stack([5.0 * T, np.zeros(6)], -1), 10.0, 5.0, np.pi / 2, 5.0)
    msg = trajectory_msg(tr, 'map', Time(sec=7))
    assert msg.header.frame_id == 'map' and msg.header.stamp.sec == 7
    assert len(msg.points) == 7
    p0, p6 = msg.points[0], msg.points[6]
    assert (p0.pose.position.x, p0.pose.position.y) == (10.0, 5.0)
    assert p6.pose.position.y == pytest.approx(20.0)
    assert p6.time_from_start.sec == 3 and p0.longitudinal_velocity_mps == pytest.approx(5.0)
    assert p6.pose.orientation.z == pytest.approx(np.sin(np.pi / 4))


def test_candidates_and_objects_messages_when_importable():
    pytest.importorskip('autoware_internal_planning_msgs')
    pytest.importorskip('autoware_perception_msgs')
    from builtin_interfaces.msg import Time

    from orion_lite_ros.ros.autoware import candidates_msg, predicted_objects_msg
    modes = np.stack([np.stack([k * T, np.zeros(6)], -1) for k in range(6)])
    msg = candidates_msg(ao.candidate_trajectories(modes, 0.0, 0.0, 0.0, 1.0), 'map', Time())
    assert len(msg.candidate_trajectories) == 6 and len(msg.generator_info) == 6
    assert len({bytes(c.generator_id.uuid) for c in msg.candidate_trajectories}) == 6
    objects = SimpleNamespace(
        scores=np.array([0.9]), labels=np.array([0]), centres=np.array([[10.0, 0.0, 0.8]]),
        sizes=np.array([[1.9, 4.5, 1.6]]), yaws=np.array([0.0]), velocities=np.array([[2.0, 0]]),
        trajectories=np.zeros((1, 2, 6, 2)), trajectory_scores=np.array([[0.6, 0.4]]))
    out = predicted_objects_msg(ao.objects_in_map(objects, 0.0, 0.0, 0.0), 'map', Time())
    [o] = out.objects
    assert o.classification[0].label == ao.CAR and o.shape.dimensions.x == pytest.approx(4.5)
    assert len(o.kinematics.predicted_paths) == 2
