"""Ego state encoding as ORION builds it.

18-value CAN bus (index: meaning), REP-103 ego/map frame:
  0-2 position (m), 3-6 yaw quaternion (w, x, y, z), 7 speed (m/s), 8-9 unused (0),
  10-12 acceleration (m/s^2, body), 13-15 angular velocity (rad/s, body), 16 yaw (rad),
  17 yaw (deg).
19 values: the command index prepended. 89 values (input of the ego token MLP): the current
19, the two previous frames' 19, and those frames' poses relative to the current ego frame
(2 x flattened 4x4).
"""
import math

import numpy as np
import torch

from orion_lite_ros.layout import CAN_BUS_DIM
from orion_lite_ros.types import EgoState

NUM_PAST_FRAMES = 2
CAN_BUS_CMD_DIM = CAN_BUS_DIM + 1
EGO_HISTORY_DIM = (1 + NUM_PAST_FRAMES) * CAN_BUS_CMD_DIM + NUM_PAST_FRAMES * 16   # 89


def can_bus_from_ego(ego: EgoState) -> np.ndarray:
    """EgoState -> (18,) float32."""
    half = 0.5 * ego.yaw_rad
    out = np.zeros(CAN_BUS_DIM, dtype=np.float32)
    out[0:3] = (ego.x_m, ego.y_m, ego.z_m)
    out[3:7] = (math.cos(half), 0.0, 0.0, math.sin(half))
    out[7] = ego.speed_mps
    out[10:12] = (ego.ax_mps2, ego.ay_mps2)
    out[15] = ego.yaw_rate_rps
    out[16] = ego.yaw_rad
    out[17] = math.degrees(ego.yaw_rad)
    return out


def with_command(can_bus: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
    """(B, 18), (B,) -> (B, 19): command index first."""
    return torch.cat([command.to(can_bus.dtype)[:, None], can_bus], dim=-1)


def pose_from_can_bus(can_bus: torch.Tensor) -> torch.Tensor:
    """(B, 18) -> (B, 4, 4) ego-to-map transform from position and yaw (rad)."""
    yaw = can_bus[:, 16]
    pose = torch.zeros(can_bus.shape[0], 4, 4, dtype=can_bus.dtype, device=can_bus.device)
    pose[:, 0, 0], pose[:, 0, 1] = yaw.cos(), -yaw.sin()
    pose[:, 1, 0], pose[:, 1, 1] = yaw.sin(), yaw.cos()
    pose[:, 2, 2] = 1.0
    pose[:, 3, 3] = 1.0
    pose[:, :3, 3] = can_bus[:, 0:3]
    return pose


def relative_pose(current: torch.Tensor, past: torch.Tensor) -> torch.Tensor:
    """(B, 4, 4), (B, ..., 4, 4) ego-to-map -> past-ego-to-current-ego transforms."""
    inv = torch.linalg.inv(current)
    while inv.dim() < past.dim():
        inv = inv.unsqueeze(1)
    return inv @ past


def ego_history_features(current: torch.Tensor, past: torch.Tensor,
                         past_rel_poses: torch.Tensor) -> torch.Tensor:
    """current (B, 19), past (B, 2, 19), past_rel_poses (B, 2, 4, 4) -> (B, 89)."""
    return torch.cat([current, past.flatten(1), past_rel_poses.flatten(1)], dim=-1)
