"""The ego (CAN-bus) token's input, as the official detection head assembles it.

89 values (Orion-Lite configuration; float64, then the model's dtype):
  0        command index of this frame
  1:19     this frame's 18-value CAN bus with its position (0:3) and yaw in degrees (17) zeroed
  19:57    the memory's past CAN-bus rows (frame t-1, t-2): [command, world-frame position
           difference to now, can_bus[3:17], yaw difference in degrees]; zero until written
  57:89    per block of `topk` memory slots (2 blocks), the mean of their 4x4 poses in the
           current LiDAR frame
The CAN-bus layout itself (what `geometry.can_bus_from_ego` builds): 0-1 position (m, map
frame), 2 zero, 3-6 yaw quaternion (w, x, y, z), 7 speed (m/s), 8-9 zero, 10-12 IMU
acceleration (forward, left, up incl. gravity), 13-15 angular rates (yaw rate at 15), 16 yaw
(rad), 17 yaw (deg).
"""
import torch

CAN_BUS_CMD_DIM = 19
PLANAR_ACCEL = (10, 11)          # forward and left IMU acceleration in the CAN bus


def without_planar_accel(can_bus: torch.Tensor) -> torch.Tensor:
    """(B, 18) CAN bus -> a copy with the forward/left acceleration zeroed
    (OrionLiteConfig.ego_accel_input=False)."""
    out = can_bus.clone()
    out[:, list(PLANAR_ACCEL)] = 0.0
    return out


def ego_token_dim(can_bus_len: int, pose_blocks: int) -> int:
    """Width of the ego token input: 19 + 19 per past frame + 16 per pose block (89)."""
    return CAN_BUS_CMD_DIM * (1 + can_bus_len) + 16 * pose_blocks


def current_can_bus(can_bus: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
    """(B, 18), (B,) -> (B, 19) float64: [command, can_bus] with position and yaw (deg) 0."""
    out = torch.cat([command.to(torch.float64)[:, None], can_bus.to(torch.float64)], dim=-1)
    out[:, 1:4] = 0.0
    out[:, 18] = 0.0
    return out


def ego_token_input(can_bus: torch.Tensor, command: torch.Tensor, past_can_bus: torch.Tensor,
                    memory_egopose: torch.Tensor, topk: int) -> torch.Tensor:
    """can_bus (B, 18), command (B,), past_can_bus (B, L, 19), memory_egopose (B, M, 4, 4) in
    the current LiDAR frame -> (B, 19 (1 + L) + 16 M / topk) float64."""
    B = can_bus.shape[0]
    poses = memory_egopose.to(torch.float64).reshape(B, -1, topk, 16).mean(dim=2)
    return torch.cat([current_can_bus(can_bus, command),
                      past_can_bus.to(torch.float64).flatten(1), poses.flatten(1)], dim=-1)
