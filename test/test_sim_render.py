"""Embedded simulator cameras: headless MuJoCo rendering shows what it should."""
import numpy as np
import pytest

from orion_lite_ros.bridge.backend import ControlInput
from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.sim.backend import EmbeddedBackend, scenario_route
from orion_lite_ros.sim.config import SimConfig

pytest.importorskip('mujoco')


def _red_mask(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., k].astype(int) for k in range(3))
    return (r > 180) & (g < 80) & (b < 80)


@pytest.fixture(scope='module')
def stopped_at_red():
    """The expert waits at the red light of the red_light scenario."""
    be = EmbeddedBackend(SimConfig())
    be.load_route(scenario_route('red_light', 5))
    light = be.world.lights[0]
    for _ in range(600):
        be.apply_and_tick(be.expert_control())
        if be.world.ego.speed_mps < 0.05 and be.world.tracker.progress_m > 50:
            break
    assert light.state(be.world.time_s) == 'red'
    frame = be.sensors()
    yield be, frame
    be.close()


def test_frame_layout_and_intrinsics(stopped_at_red):
    _, frame = stopped_at_red
    assert list(frame.images) == list(CAMERA_NAMES)
    for name in CAMERA_NAMES:
        assert frame.images[name].shape == (160, 256, 3)
        assert frame.images[name].dtype == np.uint8
        k = frame.intrinsics[name]
        assert k[0, 2] == 128 and k[1, 2] == 80
    # front camera: 70 deg horizontal FOV, optical z is ego +x, optical x is ego -y
    np.testing.assert_allclose(frame.intrinsics['CAM_FRONT'][0, 0], 128 / np.tan(np.radians(35)))
    t = frame.cam_to_ego['CAM_FRONT']
    np.testing.assert_allclose(t[:3, 2], [1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(t[:3, 0], [0, -1, 0], atol=1e-9)
    np.testing.assert_allclose(t[:3, 3], [0.8, 0.0, 1.6])


def _pixel(be, frame, name, xyz):
    """Pixel (row, col) of a map-frame point in camera ``name``."""
    e = be.world.ego
    c, s = np.cos(e.yaw_rad), np.sin(e.yaw_rad)
    dx, dy = xyz[0] - e.x_m, xyz[1] - e.y_m
    p_ego = np.array([c * dx + s * dy, -s * dx + c * dy, xyz[2], 1.0])
    p_cam = np.linalg.inv(frame.cam_to_ego[name]) @ p_ego
    u, v, w = frame.intrinsics[name] @ p_cam[:3]
    assert w > 0
    return int(v / w), int(u / w)


def _lamp_crop(be, frame, light, lamp_dz_m, image=None):
    row, col = _pixel(be, frame, 'CAM_FRONT', np.array(light.head_xyz) + [0, 0, lamp_dz_m])
    img = frame.images['CAM_FRONT'] if image is None else image
    return img[max(row - 4, 0):row + 5, max(col - 4, 0):col + 5]


def test_red_light_is_red_in_the_front_camera(stopped_at_red):
    be, frame = stopped_at_red
    light = be.world.lights[0]
    assert _red_mask(_lamp_crop(be, frame, light, 0.4)).sum() >= 4   # top lamp lit red
    assert _red_mask(frame.images['CAM_FRONT'][80:]).sum() == 0     # nothing red on the road
    while light.state(be.world.time_s) != 'green':
        be.apply_and_tick(ControlInput(brake=1.0))
    frame = be.sensors()
    assert _red_mask(_lamp_crop(be, frame, light, 0.4)).sum() == 0
    green = _lamp_crop(be, frame, light, -0.4).astype(int)
    assert ((green[..., 1] > 180) & (green[..., 0] < 100)).sum() >= 4


def test_projected_lead_vehicle_lands_on_its_pixels():
    """A point of a car ahead, projected with intrinsics and cam_to_ego, hits car colour."""
    be = EmbeddedBackend(SimConfig())
    be.load_route(scenario_route('lead_brake', 1))
    frame = be.sensors()
    lead = be.world.vehicles[0]
    x, y, _ = lead.pose()
    row, col = _pixel(be, frame, 'CAM_FRONT', (x, y, 0.6))
    px = frame.images['CAM_FRONT'][row, col].astype(int)
    assert np.abs(px - np.array(lead.rgba[:3]) * 255).max() < 90, px
    be.close()
