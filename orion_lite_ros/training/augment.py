"""Training-time input augmentation of the full model's ego inputs (`TrainConfig.speed_dropout`).

Pure torch functions of a batch; the trainer applies them to the model's inputs only (losses
and the constant-velocity baseline keep reading the real ego state).
"""
from typing import Optional

import torch

# CAN-bus entries that tell the model how the ego moves (model/can_bus.py layout): speed (7)
# and forward / lateral acceleration (10, 11). The vertical one (12) carries gravity and stays.
EGO_MOTION_INDICES = (7, 10, 11)


def check_speed_dropout(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f'speed_dropout must be in [0, 1), got {p}')


def hide_ego_motion(can_bus: torch.Tensor, p: float,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """(B, 18) CAN bus -> a copy in which each sample's speed and forward/lateral acceleration
    are zeroed with probability `p` (the rest unchanged)."""
    check_speed_dropout(p)
    if can_bus.ndim != 2 or can_bus.shape[1] <= max(EGO_MOTION_INDICES):
        raise ValueError(f'can_bus must be (B, 18), got {tuple(can_bus.shape)}')
    if p == 0.0:
        return can_bus
    drop = (torch.rand(can_bus.shape[0], generator=generator) < p).to(can_bus.device)
    cols = list(EGO_MOTION_INDICES)
    out = can_bus.clone()
    out[:, cols] = torch.where(drop[:, None], 0, can_bus[:, cols])
    return out
