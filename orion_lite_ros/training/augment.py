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
    _check(can_bus, p)
    if p == 0.0:
        return can_bus
    return _hidden(can_bus, _drops(can_bus.shape[0], p, generator).to(can_bus.device))


def _check(can_bus: torch.Tensor, p: float) -> None:
    check_speed_dropout(p)
    if can_bus.ndim != 2 or can_bus.shape[1] <= max(EGO_MOTION_INDICES):
        raise ValueError(f'can_bus must be (B, 18), got {tuple(can_bus.shape)}')


def _drops(n: int, p: float, generator: Optional[torch.Generator]) -> torch.Tensor:
    return torch.rand(n, generator=generator) < p


def _hidden(can_bus: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
    cols = list(EGO_MOTION_INDICES)
    out = can_bus.clone()
    out[:, cols] = torch.where(drop[:, None], 0, can_bus[:, cols])
    return out


def hide_ego_inputs(batch: dict, p: float, generator: Optional[torch.Generator] = None) -> dict:
    """`batch` with `hide_ego_motion`'s drop applied to its CAN bus and, for the same
    samples, its time at rest (`rest_s`, when present) zeroed: a dropped sample shows no ego
    motion. The same draws as `hide_ego_motion` (one per sample)."""
    can_bus = batch['can_bus']
    _check(can_bus, p)
    if p == 0.0:
        return batch
    drop = _drops(can_bus.shape[0], p, generator).to(can_bus.device)
    out = dict(batch, can_bus=_hidden(can_bus, drop))
    if 'rest_s' in batch:
        out['rest_s'] = torch.where(drop, torch.zeros_like(batch['rest_s']), batch['rest_s'])
    return out

