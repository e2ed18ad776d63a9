"""Odometry, Path and CameraInfo conversions."""
import math

from geometry_msgs.msg import AccelWithCovarianceStamped
import numpy as np
import pytest

from orion_lite_ros.ros.conversions import (
    camera_info_from_intrinsics,
    ego_state_from_odometry,
    headings_along,
    intrinsics_from_camera_info,
    odometry_from_ego_state,
    path_from_array,
    path_to_array,
    path_yaws,
)
from orion_lite_ros.ros.time import stamp_to_ns
from orion_lite_ros.types import EgoState


def test_odometry_round_trip():
    ego = EgoState(stamp_ns=5_000_000_123, x_m=10.0, y_m=-3.0, z_m=0.5, yaw_rad=2.5,
                   vx_mps=7.0, vy_mps=-0.2, yaw_rate_rps=0.3)
    msg = odometry_from_ego_state(ego)
    assert (msg.header.frame_id, msg.child_frame_id) == ('map', 'base_link')
    assert msg.pose.pose.orientation.z == pytest.approx(math.sin(1.25))
    back = ego_state_from_odometry(msg)
    assert back.stamp_ns == ego.stamp_ns
    for name in ('x_m', 'y_m', 'z_m', 'yaw_rad', 'vx_mps', 'vy_mps', 'yaw_rate_rps'):
        assert getattr(back, name) == pytest.approx(getattr(ego, name)), name


def test_odometry_with_acceleration():
    msg = odometry_from_ego_state(EgoState(0, 0.0, 0.0, 0.0, -3.0, 1.0))
    accel = AccelWithCovarianceStamped()
    accel.accel.accel.linear.x, accel.accel.accel.linear.y = 1.5, -0.5
    ego = ego_state_from_odometry(msg, accel)
    assert (ego.ax_mps2, ego.ay_mps2) == (1.5, -0.5)
    assert ego.yaw_rad == pytest.approx(-3.0)


def test_path_round_trip_with_stamps():
    points = np.array([[1.0, 0.0], [2.0, 1.0], [2.0, 1.0], [2.0, 3.0]])
    msg = path_from_array(points, 'base_link', stamp_ns=1_000_000_000, dt_s=0.5)
    np.testing.assert_allclose(path_to_array(msg), points)
    assert path_to_array(msg, dims=3).shape == (4, 3)
    stamps = [stamp_to_ns(p.header.stamp) for p in msg.poses]
    assert stamps == [1_500_000_000, 2_000_000_000, 2_500_000_000, 3_000_000_000]
    np.testing.assert_allclose(path_yaws(msg), [math.pi / 4] * 3 + [math.pi / 2])


def test_path_3d_and_explicit_yaws():
    points = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 2.0]])
    msg = path_from_array(points, 'map', 0, yaws_rad=[0.1, -0.2])
    np.testing.assert_allclose(path_to_array(msg, 3), points)
    np.testing.assert_allclose(path_yaws(msg), [0.1, -0.2])
    assert all(stamp_to_ns(p.header.stamp) == 0 for p in msg.poses)
    assert path_to_array(path_from_array(np.zeros((0, 2)), 'map', 0)).shape == (0, 2)
    with pytest.raises(ValueError):
        path_from_array(np.zeros((3, 4)), 'map', 0)
    np.testing.assert_allclose(headings_along([[0, 0], [0, -1]]), [-math.pi / 2] * 2)


def test_camera_info_from_intrinsics():
    k = np.array([[1142.5, 0.0, 800.0], [0.0, 1142.5, 450.0], [0.0, 0.0, 1.0]])
    msg = camera_info_from_intrinsics(k, 1600, 900, frame_id='CAM_FRONT', stamp_ns=42)
    assert (msg.width, msg.height, msg.header.frame_id) == (1600, 900, 'CAM_FRONT')
    np.testing.assert_allclose(np.reshape(msg.p, (3, 4))[:, :3], k)
    np.testing.assert_allclose(np.reshape(msg.p, (3, 4))[:, 3], 0.0)
    np.testing.assert_allclose(intrinsics_from_camera_info(msg), k)
    msg.k = [0.0] * 9
    np.testing.assert_allclose(intrinsics_from_camera_info(msg), k)
    with pytest.raises(ValueError):
        camera_info_from_intrinsics(np.eye(4), 1, 1)
