"""Faults at the input edge, as plain functions (no ROS runtime): quaternions, odometry, routes,
CameraInfo K, future stamps, image sizes, controller limits, clock jumps, diagnostics window."""
import io
import math
import struct
import zlib

import numpy as np
import pytest

from orion_lite_ros.control.bench2drive import (
    Bench2DriveController,
    Bench2DriveControllerConfig,
    finite_command,
)
from orion_lite_ros.planning import health
from orion_lite_ros.planning.frame_assembly import FrameAssembler
from orion_lite_ros.planning.jumps import JumpConfig, JumpDetector
from orion_lite_ros.ros.conversions import camera_info_from_intrinsics, odometry_from_ego_state
from orion_lite_ros.ros.frames import quaternion_from_rpy, yaw_from_quaternion
from orion_lite_ros.ros.image_codec import ImageDecodeError, rgb_to_image, to_rgb
from orion_lite_ros.ros.rig import load_rig
from orion_lite_ros.ros.validation import (
    InputError,
    check_not_future,
    checked_intrinsics,
    checked_odometry,
    route_points,
    unit_quaternion,
)
from orion_lite_ros.types import EgoState


def test_scaled_quaternion_gives_the_same_yaw():
    q = quaternion_from_rpy(0.0, 0.0, math.pi / 2)
    assert math.degrees(yaw_from_quaternion(*[1.05 * v for v in q])) == pytest.approx(90.0)
    assert unit_quaternion(*[2 * v for v in q]) == pytest.approx(q)


@pytest.mark.parametrize('q', [(0, 0, 0, 0), (0, 0, 0, 1e-9), (0, 0, float('nan'), 1)])
def test_zero_or_nan_quaternion_refused(q):
    with pytest.raises(InputError, match='quaternion'):
        unit_quaternion(*q)


def test_odometry_checks():
    odom = odometry_from_ego_state(EgoState(7, 1.0, 2.0, 0.0, 0.4, 3.0))
    q = odom.pose.pose.orientation
    q.x, q.y, q.z, q.w = (1.05 * v for v in (q.x, q.y, q.z, q.w))
    assert checked_odometry(odom).yaw_rad == pytest.approx(0.4)
    odom.pose.pose.orientation.z = odom.pose.pose.orientation.w = 0.0
    with pytest.raises(InputError, match='quaternion'):
        checked_odometry(odom)
    odom = odometry_from_ego_state(EgoState(7, float('nan'), 2.0, 0.0, 0.4, 3.0))
    with pytest.raises(InputError, match='position'):
        checked_odometry(odom)


@pytest.mark.parametrize('points', [np.zeros((0, 2)), [[1.0, 2.0]], [[1.0, 2.0], [1.0, 2.0]],
                                    [[np.nan, 0.0], [np.nan, 1.0]], [[0, 0], [np.inf, 1.0]]])
def test_degenerate_route_is_no_route(points):
    assert route_points(points) is None
    asm = FrameAssembler(load_rig())
    asm.set_route(np.stack([np.arange(10.0), np.zeros(10)], 1))
    assert asm.set_route(np.asarray(points, float).reshape(-1, 2)) is None
    assert not asm.has_route


def test_route_with_some_nan_points_keeps_the_finite_ones():
    route = route_points([[0, 0], [np.nan, 1], [5, 0], [5, 0], [10, 0]])
    np.testing.assert_array_equal(route, [[0, 0], [5, 0], [10, 0]])


def test_camera_info_k_checks():
    k = np.array([[100.0, 0.0, 20.0], [0.0, 100.0, 12.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(checked_intrinsics(camera_info_from_intrinsics(k, 40, 24)), k)
    for bad, why in ((np.zeros((3, 3)), 'focal'), (k * np.nan, 'finite'),
                     (np.diag([100.0, 100.0, 0.0]), 'pinhole'),
                     (np.array([[100.0, 0, 400], [0, 100, 12], [0, 0, 1]]), 'principal')):
        with pytest.raises(InputError, match=why):
            checked_intrinsics(camera_info_from_intrinsics(bad, 40, 24))
    asm = FrameAssembler(load_rig(), use_camera_info=True)
    with pytest.raises(InputError):
        asm.set_camera_info('CAM_BACK', camera_info_from_intrinsics(np.zeros((3, 3)), 40, 24))


def test_future_stamps_refused_beyond_the_tolerance():
    check_not_future('odometry', 1_200_000_000, 1_000_000_000, 0.5)
    with pytest.raises(InputError, match='ahead'):
        check_not_future('odometry', 3600 * 10**9, 10**9, 0.5)
    check_not_future('odometry', 3600 * 10**9, 0, 0.5)     # sim time before the first /clock


def test_empty_and_huge_images_refused():
    msg = rgb_to_image(np.zeros((4, 4, 3), np.uint8))
    msg.width = msg.height = 0
    msg.step, msg.data = 0, b''
    with pytest.raises(ImageDecodeError, match='empty'):
        to_rgb(msg, '/cam')
    from PIL import Image as PilImage
    from sensor_msgs.msg import CompressedImage
    buffer = io.BytesIO()
    PilImage.new('L', (6000, 6000)).save(buffer, format='PNG')     # 36 Mpx in ~40 KB
    big = CompressedImage(format='png', data=buffer.getvalue())
    with pytest.raises(ImageDecodeError, match='not decompressed'):
        to_rgb(big, '/cam')
    # a header declaring 20000x20000 (Pillow's own bomb limit): refused, never decoded
    data = bytearray(big.data)
    data[16:24] = struct.pack('>II', 20000, 20000)
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(data[12:29])))
    with pytest.raises(ImageDecodeError, match='/cam'):
        to_rgb(CompressedImage(format='png', data=bytes(data)), '/cam')


def test_controller_outputs_finite_and_clamped():
    ctl = Bench2DriveController()
    for wps in (np.full((6, 2), 1e30), np.full((6, 2), np.nan), np.zeros((3, 2))):
        cmd = ctl.step(wps, 2.0, 0.05)
        assert (cmd.throttle, cmd.brake, cmd.target_speed_mps) == (0.0, 1.0, 0.0)
    fast = np.stack([np.arange(1, 7) * 70.0, np.zeros(6)], 1)     # 140 m/s, within range
    cmd = Bench2DriveController(Bench2DriveControllerConfig(max_waypoint_range_m=1000.0)).step(
        fast, 2.0, 0.05)
    assert cmd.target_speed_mps == 30.0 and finite_command(cmd)
    assert 0.0 <= cmd.throttle <= 0.75 and -1.0 <= cmd.steer <= 1.0


def test_controller_accepts_a_longer_path_using_its_first_six_poses():
    wps = np.stack([np.arange(1, 11) * 2.0, np.zeros(10)], 1)
    cmd = Bench2DriveController().step(wps, 2.0, 0.05)
    assert cmd.brake == 0.0 and cmd.target_speed_mps == pytest.approx(4.0)


def test_jump_detector():
    det = JumpDetector(JumpConfig())
    assert det.check(10 * 10**9, 0.0, 0.0) == ''
    assert det.check(10 * 10**9 + 50_000_000, 0.5, 0.0) == ''
    assert 'back' in det.check(5 * 10**9, 0.5, 0.0)
    assert det.check(5 * 10**9 + 50_000_000, 0.6, 0.0) == ''
    assert 'teleport' in det.check(5 * 10**9 + 100_000_000, 300.0, 0.0)
    assert det.count == 2


def test_route_tracker_reset_after_teleport():
    asm = FrameAssembler(load_rig())
    tracker = asm.set_route(np.stack([np.arange(0.0, 200.0, 1.0), np.zeros(200)], 1))
    tracker.update((150.0, 0.0), 0.0)
    tracker.update((150.0, 0.0), 0.0)
    assert tracker.progress_m == pytest.approx(150.0)
    assert tracker.update((0.0, 0.0), 0.0).progress_m > 100.0     # window: walks back slowly
    asm.reset_route_progress()
    assert tracker.update((0.0, 0.0), 0.0).progress_m == pytest.approx(0.0)


def test_window_levels_follow_recent_outcomes():
    win = health.OutcomeWindow(window_s=2.0)
    s = 10**9
    assert win.summary(0).level == health.OK                        # just started
    assert win.summary(3 * s).level == health.ERROR                 # silent for a window
    for k in range(10):
        win.record(3 * s + k * 10**8, 'bad_image')
    assert win.summary(4 * s).level == health.ERROR                 # faults only: nothing planned
    win.record(4 * s, 'planned', 0.05)
    win.record(4 * s, 'planned', 0.15)
    summary = win.summary(4 * s)
    assert summary.level == health.WARN and summary.counts['bad_image'] == 10
    assert summary.latency_ms['p50'] == pytest.approx(100.0)
    for k in range(30):
        win.record(6 * s + k * 10**8, 'planned', 0.1)
    summary = win.summary(int(9.5 * s))
    assert summary.level == health.OK                               # old faults forgotten
    assert summary.totals['bad_image'] == 10 and summary.counts['bad_image'] == 0
    assert health.window_summary([], {}, 'stale input /cam').level == health.ERROR
