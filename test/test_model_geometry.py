"""REP-103 <-> the official model's frames (model/geometry.py): round trips, and our rig +
preprocessing + CAN bus against the agent inputs the golden reference was made with."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.model import geometry
from orion_lite_ros.model.preprocess import PreprocessConfig, crop_box, view_matrix
from orion_lite_ros.ros.rig import load_rig
from orion_lite_ros.types import EgoState

GOLDEN = Path(__file__).resolve().parents[2] / 'shared' / 'golden' / 'qtformer'
needs_golden = pytest.mark.skipif(not (GOLDEN / 'meta.json').is_file(),
                                  reason=f'no golden reference at {GOLDEN} (ships beside the '
                                         'checkout, not in it)')


def _golden():
    from safetensors.torch import load_file
    return json.loads((GOLDEN / 'meta.json').read_text()), load_file(
        str(GOLDEN / 'inputs.safetensors'))


def _ego_from_sensors(frame) -> EgoState:
    """The agent's raw CARLA sensors -> our EgoState (REP-103 map frame)."""
    s = frame['sensor']
    return EgoState(stamp_ns=int(round(frame['timestamp'] * 1e9)), x_m=s['pos_carla'][0],
                    y_m=-s['pos_carla'][1], z_m=0.0, yaw_rad=-s['compass'] + math.pi / 2,
                    vx_mps=s['speed'], ax_mps2=s['accel_carla'][0],
                    ay_mps2=-s['accel_carla'][1], yaw_rate_rps=-s['gyro_carla'][2])


def test_rigid_inverse_round_trip():
    g = torch.Generator().manual_seed(0)
    yaw = torch.rand(5, generator=g, dtype=torch.float64) * 6
    can = torch.zeros(5, 18, dtype=torch.float64)
    can[:, 0:2] = torch.randn(5, 2, generator=g, dtype=torch.float64) * 1e4
    can[:, 16] = yaw
    T = geometry.lidar2global(can)
    eye = torch.eye(4, dtype=torch.float64).expand(5, 4, 4)
    assert torch.allclose(geometry.rigid_inverse(T) @ T, eye, atol=1e-9)


def test_lidar_frame_axes():
    """LiDAR x right, y forward, z up; origin 0.39 m behind, 1.84 m above the ego origin."""
    pts = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    ego = geometry.lidar_points_to_ego(pts)
    assert torch.allclose(ego, torch.tensor([[-0.39, -1.0, 1.84], [0.61, 0.0, 1.84],
                                             [-0.39, 0.0, 1.84]], dtype=torch.float64))
    xy = torch.tensor([[0.3, -2.0]])
    assert torch.equal(geometry.rep103_to_head(geometry.head_to_rep103(xy)), xy)
    assert torch.allclose(geometry.head_to_rep103(torch.tensor([[1.0, 0.0]])),
                          torch.tensor([[0.0, -1.0]]))          # head +x = right = REP-103 -y
    assert float(geometry.lidar_yaw_to_ego(torch.tensor(math.pi / 2))) == 0.0


def test_can_bus_layout():
    ego = EgoState(stamp_ns=0, x_m=1.0, y_m=2.0, z_m=0.5, yaw_rad=math.pi / 2, vx_mps=3.0,
                   vy_mps=4.0, ax_mps2=0.5, ay_mps2=-0.2, yaw_rate_rps=0.1)
    cb = geometry.can_bus_from_ego(ego)
    assert cb.shape == (18,) and cb.dtype == np.float64
    assert np.allclose(cb[0:3], (1.0, 2.0, 0.0))           # the agent writes z = 0
    assert np.allclose(cb[3:7], (math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)))
    assert cb[7] == pytest.approx(5.0)
    assert np.allclose(cb[10:13], (0.5, -0.2, geometry.IMU_GRAVITY_MPS2))
    assert cb[15] == pytest.approx(0.1)
    assert cb[16] == pytest.approx(math.pi / 2) and cb[17] == pytest.approx(90.0)


@needs_golden
def test_can_bus_and_ego_pose_equal_the_agents():
    meta, inputs = _golden()
    for i, frame in enumerate(meta['frames']):
        cb = geometry.can_bus_from_ego(_ego_from_sensors(frame))
        np.testing.assert_allclose(cb, inputs['can_bus'][i].numpy(), rtol=0, atol=1e-12)
        pose = geometry.lidar2global(torch.as_tensor(cb)[None])[0]
        assert torch.allclose(pose, inputs['ego_pose_f64'][i], atol=1e-12)
        assert torch.allclose(pose.float(), inputs['ego_pose'][i], atol=1e-6)
        inv = geometry.rigid_inverse(pose).float()
        assert torch.allclose(inv, inputs['ego_pose_inv'][i], atol=2e-6)


@needs_golden
def test_our_rig_and_preprocessing_give_the_agents_lidar2img():
    """Bench2Drive rig YAML + our 1600x900 -> 640x640 view mapping = the agent's lidar2img."""
    meta, inputs = _golden()
    rig = {cam.name: cam for cam in load_rig().cameras}
    box = crop_box((900, 1600), PreprocessConfig(resize_scale=0.4, crop_h=320, crop_w=640))
    A = view_matrix(box, (640, 640))
    for n, name in enumerate(meta['conventions']['view_order']):
        cam = rig[name]
        K = torch.as_tensor(A @ cam.intrinsics)
        ours = geometry.lidar2img(K, torch.as_tensor(cam.cam_to_ego))
        theirs = inputs['lidar2img'][n]
        assert torch.allclose(ours, theirs, rtol=1e-6, atol=2e-4), (name, ours - theirs)
    assert set(meta['conventions']['view_order']) == set(CAMERA_NAMES)
