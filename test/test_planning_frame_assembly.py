"""planning.frame_assembly: the planner's config, decoding and FrameInputs assembly shared by
planner_node and the bag replay, tested as plain functions (no ROS runtime)."""
from dataclasses import fields
import subprocess
import sys

import numpy as np
import pytest

from orion_lite_ros.layout import CAMERA_NAMES, Command
from orion_lite_ros.nav.route import RouteConfig, RouteTracker
from orion_lite_ros.planning.frame_assembly import (
    EngineError,
    FrameAssembler,
    ImageFault,
    PlannerNodeConfig,
    engine_config,
    engine_config_class,
)
from orion_lite_ros.ros.conversions import camera_info_from_intrinsics, odometry_from_ego_state
from orion_lite_ros.ros.image_codec import rgb_to_image
from orion_lite_ros.ros.rig import load_rig
from orion_lite_ros.types import EgoState

H, W = 24, 40


def _images(h=H, w=W):
    """Camera i is filled with the value 10 * (i + 1) (recognisable after stacking)."""
    return {cam: np.full((h, w, 3), 10 * (i + 1), np.uint8) for i, cam in enumerate(CAMERA_NAMES)}


def _triples(images, order=CAMERA_NAMES, bad=()):
    out = []
    for cam in order:
        msg = rgb_to_image(images[cam], 'bgr8')
        if cam in bad:
            msg.encoding = '16UC1'
        out.append((cam, msg, f'/cam/{cam}'))
    return out


def _odom(x=0.0, y=0.0, yaw=0.0, stamp_ns=5):
    return odometry_from_ego_state(EgoState(stamp_ns, x, y, 0.0, yaw, 3.0))


def test_module_imports_no_rclpy():
    code = ('import sys, orion_lite_ros.planning.frame_assembly; '
            'bad = [m for m in sys.modules if m.split(".")[0] == "rclpy" '
            'or m == "orion_lite_ros.nodes.common"]; assert not bad, bad')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_planner_node_reexports_the_config():
    pytest.importorskip('rclpy')
    from orion_lite_ros.nodes import planner_node
    assert planner_node.PlannerNodeConfig is PlannerNodeConfig
    assert set(planner_node.TRANSPORTS) == {'raw', 'compressed'}


def test_config_defaults_docs_and_validation():
    cfg = PlannerNodeConfig()
    assert (cfg.queue_size, cfg.slop_s, cfg.use_camera_info) == (10, 0.05, False)
    assert all(f.metadata['doc'] for f in fields(PlannerNodeConfig))   # ROS descriptions
    mixed = PlannerNodeConfig(image_transports=tuple(
        'compressed' if c == 'CAM_BACK' else 'raw' for c in CAMERA_NAMES))
    assert mixed.transport('CAM_BACK') == 'compressed' and mixed.transport('CAM_FRONT') == 'raw'
    with pytest.raises(ValueError, match='raw|compressed'):
        PlannerNodeConfig(image_transports=('theora',))
    with pytest.raises(ValueError, match='six cameras'):
        PlannerNodeConfig(camera_names=CAMERA_NAMES[:5])
    with pytest.raises(ValueError, match='slop_s'):
        PlannerNodeConfig(slop_s=0.0)
    assert not PlannerNodeConfig(planner='constant_velocity', cameras=False).cameras
    with pytest.raises(ValueError, match='reads no images'):
        PlannerNodeConfig(cameras=False)          # the model needs its cameras


def test_frame_without_images_for_the_baselines():
    from orion_lite_ros.planning.baselines import ConstantVelocityPlanner
    from orion_lite_ros.planning.frame_assembly import no_images
    decoded = no_images(len(CAMERA_NAMES))
    assert decoded.images.shape == (6, 0, 0, 3) and decoded.faults == []
    frame = FrameAssembler(load_rig()).frame_inputs(7, decoded.images, _odom(stamp_ns=7))
    assert frame.images.size == 0 and np.isfinite(frame.cam_to_ego).all()
    plan = ConstantVelocityPlanner().plan(frame)
    np.testing.assert_allclose(plan.waypoints[-1], [9.0, 0.0])      # 3 m/s for 3 s


def test_decode_stacks_in_camera_names_order_whatever_the_input_order():
    images = _images()
    asm = FrameAssembler(load_rig())
    stack, faults = asm.decode(_triples(images, order=tuple(reversed(CAMERA_NAMES))))
    assert faults == [] and stack.shape == (6, H, W, 3) and stack.dtype == np.uint8
    for i, cam in enumerate(CAMERA_NAMES):
        np.testing.assert_array_equal(stack[i], images[cam])


def test_decode_reports_every_bad_camera_or_only_the_first():
    bad = ('CAM_FRONT_LEFT', 'CAM_BACK')
    stack, faults = FrameAssembler(load_rig()).decode(_triples(_images(), bad=bad))
    assert stack is None and [f.camera for f in faults] == list(bad)
    assert '/cam/CAM_FRONT_LEFT' in faults[0].reason and '16UC1' in faults[0].reason
    stack, faults = FrameAssembler(load_rig(), stop_at_first_fault=True).decode(
        _triples(_images(), bad=bad))
    assert stack is None and [f.camera for f in faults] == ['CAM_FRONT_LEFT']


def test_decode_refuses_different_sizes():
    images = _images()
    images['CAM_BACK'] = np.zeros((H, W + 2, 3), np.uint8)
    stack, faults = FrameAssembler(load_rig()).decode(_triples(images))
    assert stack is None
    assert faults == [ImageFault('', f'image sizes differ: {[(H, W, 3), (H, W + 2, 3)]}')]


def test_missing_camera_is_an_error_unless_filled_black():
    images = _images()
    present = [c for c in CAMERA_NAMES if c != 'CAM_BACK']
    with pytest.raises(ValueError, match='CAM_BACK'):
        FrameAssembler(load_rig()).decode(_triples(images, order=present))
    stack, faults = FrameAssembler(load_rig(), fill_missing_cameras=True).decode(
        _triples(images, order=present))
    back = CAMERA_NAMES.index('CAM_BACK')
    assert faults == [] and not stack[back].any()
    np.testing.assert_array_equal(stack[0], images[CAMERA_NAMES[0]])


def test_frame_inputs_without_route_lane_follow_and_rig_scaled():
    rig = load_rig()
    asm = FrameAssembler(rig, RouteConfig(target_lookahead_m=12.0))
    stack, _ = asm.decode(_triples(_images()))
    frame = asm.frame_inputs(123, stack, _odom(4.0, 1.0, 0.3, stamp_ns=99))
    assert not asm.has_route
    assert frame.stamp_ns == 123 and frame.ego.stamp_ns == 123
    assert (frame.ego.x_m, frame.ego.y_m) == pytest.approx((4.0, 1.0))
    assert frame.ego.yaw_rad == pytest.approx(0.3)
    assert frame.command == int(Command.LANE_FOLLOW)
    np.testing.assert_array_equal(frame.target_point, [12.0, 0.0])
    assert frame.target_point.dtype == np.float64
    scaled = rig.scaled(W, H)
    np.testing.assert_allclose(frame.intrinsics, scaled.intrinsics())
    assert frame.intrinsics[0, 0, 2] == pytest.approx(W / 2)
    np.testing.assert_allclose(frame.cam_to_ego, scaled.cam_to_ego())
    assert frame.images is stack


def test_frame_inputs_follow_the_route():
    route = np.stack([np.arange(0.0, 200.0, 2.0), np.zeros(100)], axis=1)
    asm = FrameAssembler(load_rig())
    tracker = asm.set_route(route)
    assert asm.has_route and tracker.length_m == pytest.approx(198.0)
    stack, _ = asm.decode(_triples(_images()))
    frame = asm.frame_inputs(1, stack, _odom(0.0, 2.0))          # 2 m left of the route
    expected = RouteTracker(route, config=RouteConfig()).update((0.0, 2.0), 0.0)
    assert frame.command == int(expected.command)
    np.testing.assert_allclose(frame.target_point, expected.target_point)
    np.testing.assert_allclose(frame.target_point, [15.0, -2.0], atol=0.5)


def test_camera_info_replaces_rig_intrinsics_only_when_enabled():
    k = np.array([[100.0, 0.0, 20.0], [0.0, 100.0, 12.0], [0.0, 0.0, 1.0]])
    info = camera_info_from_intrinsics(k, W, H)
    stack, _ = FrameAssembler(load_rig()).decode(_triples(_images()))
    for enabled in (True, False):
        asm = FrameAssembler(load_rig(), use_camera_info=enabled)
        asm.set_camera_info('CAM_BACK', info)
        frame = asm.frame_inputs(1, stack, _odom())
        back = CAMERA_NAMES.index('CAM_BACK')
        assert np.allclose(frame.intrinsics[back], k) == enabled
        np.testing.assert_allclose(frame.intrinsics[0], load_rig().scaled(W, H).intrinsics()[0])


def test_acceleration_reaches_the_ego_state():
    accel = pytest.importorskip('geometry_msgs.msg').AccelWithCovarianceStamped()
    accel.accel.accel.linear.x = 1.5
    asm = FrameAssembler(load_rig())
    stack, _ = asm.decode(_triples(_images()))
    assert asm.frame_inputs(1, stack, _odom()).ego.ax_mps2 == pytest.approx(0.0)
    asm.set_acceleration(accel)
    assert asm.frame_inputs(2, stack, _odom()).ego.ax_mps2 == pytest.approx(1.5)


def test_engine_errors_name_the_config():
    pytest.importorskip('torch')
    with pytest.raises(EngineError, match='not_a_field'):
        engine_config(not_a_field=1)
    from orion_lite_ros.planning.frame_assembly import build_engine
    with pytest.raises(EngineError, match=r'^model \(EngineConfig\(.*int8'):
        build_engine(engine_config(precision='int8', warmup_iters=0))


def test_engine_config_in_effect_reports_the_checkpoint_settings():
    pytest.importorskip('torch')
    from orion_lite_ros.planning.frame_assembly import (
        engine_config_in_effect,
        weights_description,
    )
    resolved, changed = engine_config_in_effect(engine_config_class()(
        checkpoint='default', temporal_memory=True))
    assert resolved.temporal_memory is False
    assert changed['temporal_memory'] == (True, False) and 'checkpoint' not in changed
    assert 'shipped student' in weights_description('default', resolved)
    assert 'RANDOM' in weights_description('', engine_config_class()())
    with pytest.raises(EngineError, match='jpeg_quality'):
        engine_config_in_effect(engine_config_class()(jpeg_quality=500))
