"""Bench2Drive rig and CARLA <-> REP-103 frames on known poses."""
import math

import numpy as np
import pytest

from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.ros.frames import (
    carla_angular_velocity_to_ros,
    carla_location_to_ros,
    carla_rotation_to_ros,
    carla_to_ros_points,
    carla_transform_to_ros,
    carla_yaw_deg_to_ros_rad,
    quaternion_from_rpy,
    ros_angular_velocity_to_carla,
    ros_rotation_to_carla,
    ros_transform_to_carla,
    ros_yaw_rad_to_carla_deg,
    rotation_from_rpy,
    rpy_from_rotation,
    yaw_from_quaternion,
)
from orion_lite_ros.ros.rig import intrinsics_from_fov, load_rig, rig_from_dict


@pytest.fixture(scope='module')
def rig():
    return load_rig()


def _project(camera, point_ego):
    """Ego-frame point -> pixel (u, v) through the camera's K and cam_to_ego."""
    point_cam = np.linalg.inv(camera.cam_to_ego) @ np.append(point_ego, 1.0)
    uvw = camera.intrinsics @ point_cam[:3]
    return uvw[:2] / uvw[2], point_cam[2]


def test_front_left_camera_in_rep103():
    assert math.degrees(carla_yaw_deg_to_ros_rad(-55.0)) == pytest.approx(55.0)
    np.testing.assert_allclose(carla_location_to_ros(0.27, -0.55, 1.6), [0.27, 0.55, 1.6])
    assert ros_yaw_rad_to_carla_deg(math.radians(55.0)) == pytest.approx(-55.0)


def test_rig_order_and_size(rig):
    assert rig.names == CAMERA_NAMES
    assert rig.intrinsics().shape == (6, 3, 3) and rig.cam_to_ego().shape == (6, 4, 4)
    assert all((c.width_px, c.height_px, c.z_m) == (1600, 900, 1.6) for c in rig.cameras)


def test_intrinsics_from_fov(rig):
    k = rig.camera('CAM_FRONT').intrinsics
    np.testing.assert_allclose(k, [[1600 / (2 * math.tan(math.radians(35))), 0, 800],
                                   [0, 1600 / (2 * math.tan(math.radians(35))), 450],
                                   [0, 0, 1]])
    assert rig.camera('CAM_BACK').intrinsics[0, 0] == pytest.approx(800 / math.tan(
        math.radians(55)))


@pytest.mark.parametrize('name, yaw_ros_deg, xyz', [
    ('CAM_FRONT', 0.0, (0.80, 0.0, 1.6)),
    ('CAM_FRONT_LEFT', 55.0, (0.27, 0.55, 1.6)),
    ('CAM_FRONT_RIGHT', -55.0, (0.27, -0.55, 1.6)),
    ('CAM_BACK', 180.0, (-2.0, 0.0, 1.6)),
    ('CAM_BACK_LEFT', 110.0, (-0.32, 0.55, 1.6)),
    ('CAM_BACK_RIGHT', -110.0, (-0.32, -0.55, 1.6)),
])
def test_cam_to_ego_optical_axes(rig, name, yaw_ros_deg, xyz):
    transform = rig.camera(name).cam_to_ego
    yaw = math.radians(yaw_ros_deg)
    np.testing.assert_allclose(transform[:3, 3], xyz, atol=1e-12)
    np.testing.assert_allclose(transform[:3, 2], [math.cos(yaw), math.sin(yaw), 0], atol=1e-12)
    np.testing.assert_allclose(transform[:3, 1], [0, 0, -1], atol=1e-12)      # y down
    np.testing.assert_allclose(transform[:3, 0], [math.sin(yaw), -math.cos(yaw), 0],
                               atol=1e-12)                                    # x right
    np.testing.assert_allclose(np.linalg.det(transform[:3, :3]), 1.0)


def test_projection_of_known_points(rig):
    front = rig.camera('CAM_FRONT')
    uv, depth = _project(front, [10.8, 0.0, 1.6])
    np.testing.assert_allclose(uv, [800, 450]) and depth == pytest.approx(10.0)
    uv, _ = _project(front, [10.8, 1.0, 1.6])          # left of the car -> left in the image
    assert uv[0] < 800
    uv, _ = _project(front, [10.8, 0.0, 0.6])          # below the camera -> lower rows
    assert uv[1] > 450
    left = rig.camera('CAM_FRONT_LEFT')
    direction = np.array([math.cos(math.radians(55)), math.sin(math.radians(55)), 0.0])
    uv, depth = _project(left, np.array([0.27, 0.55, 1.6]) + 5 * direction)
    np.testing.assert_allclose(uv, [800, 450]) and depth == pytest.approx(5.0)


def test_scaled_rig(rig):
    small = rig.scaled(640, 360)
    np.testing.assert_allclose(small.intrinsics()[:, :2, :], 0.4 * rig.intrinsics()[:, :2, :])
    np.testing.assert_array_equal(small.cam_to_ego(), rig.cam_to_ego())
    assert small.camera('CAM_BACK').width_px == 640


def test_missing_camera_is_reported():
    data = {'image_width_px': 10, 'image_height_px': 10,
            'cameras': {'CAM_FRONT': dict(x_m=0, y_m=0, z_m=1, yaw_deg=0, fov_deg=90)}}
    with pytest.raises(ValueError, match='missing'):
        rig_from_dict(data)
    rig = rig_from_dict(data, camera_names=('CAM_FRONT',))
    np.testing.assert_allclose(rig.intrinsics()[0], intrinsics_from_fov(90, 10, 10))
    assert rig.intrinsics()[0, 0, 0] == pytest.approx(5.0)


def test_rotation_conversions_round_trip():
    rpy_carla = (10.0, -20.0, 135.0)
    roll, pitch, yaw = carla_rotation_to_ros(*rpy_carla)
    assert (math.degrees(roll), math.degrees(pitch), math.degrees(yaw)) == pytest.approx(
        (10.0, 20.0, -135.0))
    assert ros_rotation_to_carla(roll, pitch, yaw) == pytest.approx(rpy_carla)
    rotation = rotation_from_rpy(roll, pitch, yaw)
    assert rpy_from_rotation(rotation) == pytest.approx((roll, pitch, yaw))
    q = quaternion_from_rpy(roll, pitch, yaw)
    assert yaw_from_quaternion(*q) == pytest.approx(yaw)
    assert np.linalg.norm(q) == pytest.approx(1.0)


def test_pitch_up_in_carla_raises_the_nose_in_rep103():
    nose = rotation_from_rpy(*carla_rotation_to_ros(0.0, 30.0, 0.0)) @ [1, 0, 0]
    assert nose[2] == pytest.approx(math.sin(math.radians(30)))


def test_transform_round_trip_and_vectors():
    transform = carla_transform_to_ros([1.0, 2.0, 3.0], 0.0, 5.0, 90.0)
    np.testing.assert_allclose(transform[:3, 3], [1.0, -2.0, 3.0])
    # CARLA yaw 90 (clockwise) faces CARLA +y = right = REP-103 -y
    np.testing.assert_allclose(transform[:3, :3] @ [1, 0, 0],
                               [0, -math.cos(math.radians(5)), math.sin(math.radians(5))],
                               atol=1e-12)
    location, roll, pitch, yaw = ros_transform_to_carla(transform)
    np.testing.assert_allclose(location, [1.0, 2.0, 3.0])
    assert (roll, pitch, yaw) == pytest.approx((0.0, 5.0, 90.0))
    np.testing.assert_allclose(carla_to_ros_points([[3.0, 1.0, 0.5]]), [[3.0, -1.0, 0.5]])
    omega = carla_angular_velocity_to_ros([90.0, 45.0, -180.0])
    np.testing.assert_allclose(omega, [math.pi / 2, -math.pi / 4, math.pi])
    np.testing.assert_allclose(ros_angular_velocity_to_carla(omega), [90.0, 45.0, -180.0])
