"""The one place where our interfaces (REP-103) meet the official model's own frames.

Frames (see docs/model.md):
  ego (REP-103)  x forward, y left, z up; origin the vehicle origin.
  LiDAR          x right, y forward, z up; 0.39 m behind and 1.84 m above the ego origin
                 (the Bench2Drive agent's rig). Every 3-D quantity inside the QT-Former
                 heads (reference points, boxes, lanes, pc_range, position_range) is in it.
  world W        the map frame, right-handed (CARLA's world is (x, -y, z)).
  head frame     of the planner's waypoints: x right, y forward (LiDAR axes, ego origin).

The official agent feeds the heads `lidar2img` per view (model-view pixels), `ego_pose` =
lidar2global and the 18-value CAN bus of `can_bus_from_ego`. All pose maths here is float64;
the matrices are cast to float32 where the official code holds float32.
"""
import math

import numpy as np
import torch

from orion_lite_ros.types import EgoState

# LiDAR -> ego (REP-103) of the Bench2Drive agent: x_ego = y_lidar - 0.39, y_ego = -x_lidar,
# z_ego = z_lidar + 1.84.
LIDAR2EGO = np.array([[0.0, 1.0, 0.0, -0.39],
                      [-1.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 1.0, 1.84],
                      [0.0, 0.0, 0.0, 1.0]])
_LIDAR2EGO_T = torch.from_numpy(LIDAR2EGO)    # float64; a tensor constant torch.compile can guard


def _lidar2ego(dtype, device) -> torch.Tensor:
    return _LIDAR2EGO_T.to(device=device, dtype=dtype)


# What an IMU reads on level ground at rest (specific force, up): the official CAN bus
# carries the raw IMU z acceleration, so gravity is in it.
IMU_GRAVITY_MPS2 = 9.81


def rigid_inverse(T: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) rigid transforms -> their inverses (R^T, -R^T t)."""
    out = torch.zeros_like(T)
    rot_t = T[..., :3, :3].transpose(-1, -2)
    out[..., :3, :3] = rot_t
    out[..., :3, 3] = -(rot_t @ T[..., :3, 3:])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def lidar2img(intrinsics: torch.Tensor, cam_to_ego: torch.Tensor) -> torch.Tensor:
    """intrinsics (..., 3, 3) model-view pixels, cam_to_ego (..., 4, 4) optical frame ->
    REP-103 ego -> (..., 4, 4) float32 maps of homogeneous LiDAR points to (u d, v d, d, 1)."""
    K = torch.zeros(*intrinsics.shape[:-2], 4, 4, dtype=torch.float64,
                    device=intrinsics.device)
    K[..., :3, :3] = intrinsics.double()
    K[..., 3, 3] = 1.0
    lidar2ego = _lidar2ego(torch.float64, intrinsics.device)
    lidar2cam = rigid_inverse(cam_to_ego.double()) @ lidar2ego
    return (K @ lidar2cam).float()


def ego2world(can_bus: torch.Tensor) -> torch.Tensor:
    """(B, 18) official CAN bus -> (B, 4, 4) float64: translation (x, y, 0), yaw can_bus[16]."""
    can_bus = can_bus.double()
    yaw = can_bus[:, 16]
    T = torch.zeros(can_bus.shape[0], 4, 4, dtype=torch.float64, device=can_bus.device)
    T[:, 0, 0], T[:, 0, 1] = yaw.cos(), -yaw.sin()
    T[:, 1, 0], T[:, 1, 1] = yaw.sin(), yaw.cos()
    T[:, 2, 2] = T[:, 3, 3] = 1.0
    T[:, 0, 3], T[:, 1, 3] = can_bus[:, 0], can_bus[:, 1]
    return T


def lidar2global(can_bus: torch.Tensor) -> torch.Tensor:
    """(B, 18) -> (B, 4, 4) float64: the official `ego_pose` (the agent's lidar2global)."""
    lidar2ego = _lidar2ego(torch.float64, can_bus.device)
    return ego2world(can_bus) @ lidar2ego


def can_bus_from_ego(ego: EgoState) -> np.ndarray:
    """EgoState (REP-103 map frame, body rates) -> the agent's 18-value CAN bus, float64:
    0-1 x, y (m, map frame), 2 zero, 3-6 quaternion (w, x, y, z) of the yaw, 7 speed (m/s),
    8-9 zero, 10-12 IMU acceleration (forward, left, up incl. gravity), 13-15 angular rates
    (roll, pitch: 0 here; yaw rate counter-clockwise), 16 yaw (rad), 17 yaw (deg)."""
    half = 0.5 * ego.yaw_rad
    out = np.zeros(18, dtype=np.float64)
    out[0:2] = (ego.x_m, ego.y_m)
    out[3:7] = (math.cos(half), 0.0, 0.0, math.sin(half))
    out[7] = ego.speed_mps
    out[10:13] = (ego.ax_mps2, ego.ay_mps2, IMU_GRAVITY_MPS2)
    out[15] = ego.yaw_rate_rps
    out[16] = ego.yaw_rad
    out[17] = math.degrees(ego.yaw_rad)
    return out


def lidar_points_to_ego(points: torch.Tensor) -> torch.Tensor:
    """(..., 3) LiDAR-frame points (m) -> REP-103 ego frame."""
    T = _lidar2ego(points.dtype, points.device)
    return points @ T[:3, :3].T + T[:3, 3]


def head_to_rep103(xy: torch.Tensor) -> torch.Tensor:
    """(..., 2) vectors in the head/LiDAR axes (x right, y forward) -> REP-103 (x fwd, y left)."""
    return torch.stack([xy[..., 1], -xy[..., 0]], dim=-1)


def rep103_to_head(xy: torch.Tensor) -> torch.Tensor:
    """Inverse of `head_to_rep103`."""
    return torch.stack([-xy[..., 1], xy[..., 0]], dim=-1)


def lidar_yaw_to_ego(yaw: torch.Tensor) -> torch.Tensor:
    """Heading about z measured from the LiDAR x axis -> from the ego x axis (rad)."""
    return yaw - math.pi / 2
