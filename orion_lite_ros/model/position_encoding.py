"""PETR 3-D position encoding: each feature pixel becomes a ray of `depth_num` points
(linear-increasing depth bins, LID), lifted with the camera intrinsics and cam_to_ego,
normalised to `position_range` and embedded by an MLP (`position_encoder`)."""
from typing import Tuple

import torch

from orion_lite_ros.model.layers import inverse_sigmoid


def lid_depths(depth_num: int, depth_start_m: float, depth_max_m: float) -> torch.Tensor:
    """(D,) depth bins, spacing growing linearly: d_i = start + b * i * (i + 1)."""
    i = torch.arange(depth_num, dtype=torch.float32)
    bin_size = (depth_max_m - depth_start_m) / (depth_num * (1 + depth_num))
    return depth_start_m + bin_size * i * (i + 1)


def ray_points(intrinsics: torch.Tensor, cam_to_ego: torch.Tensor, grid: Tuple[int, int],
               stride: int, depths: torch.Tensor) -> torch.Tensor:
    """3-D points along the ray of every feature pixel, in the ego frame.

    intrinsics (B, N, 3, 3) in pixels of the model view; cam_to_ego (B, N, 4, 4) from the
    camera optical frame; depths (D,). Returns (B, N, gh, gw, D, 3).
    """
    gh, gw = grid
    dev, dt = intrinsics.device, intrinsics.dtype
    v, u = torch.meshgrid(torch.arange(gh, device=dev, dtype=dt) * stride,
                          torch.arange(gw, device=dev, dtype=dt) * stride, indexing='ij')
    pix = torch.stack([u, v, torch.ones_like(u)], dim=-1)                  # (gh, gw, 3)
    rays = torch.einsum('bnij,hwj->bnhwi', torch.linalg.inv(intrinsics), pix)
    pts = rays[..., None, :] * depths.to(dev, dt)[:, None]                 # (B,N,gh,gw,D,3)
    rot, trans = cam_to_ego[..., :3, :3], cam_to_ego[..., :3, 3]
    return torch.einsum('bnij,bnhwdj->bnhwdi', rot, pts) + trans[:, :, None, None, None]


def position_features(points: torch.Tensor, position_range: torch.Tensor) -> torch.Tensor:
    """(B, N, gh, gw, D, 3) ego points -> (B, N * gh * gw, D * 3) PETR input features
    (normalised to `position_range`, inverse sigmoid, depth-major as the official layout);
    the `position_encoder` MLP embeds them."""
    lo, hi = position_range[:3], position_range[3:]
    norm = (points - lo) / (hi - lo)
    return inverse_sigmoid(norm).flatten(-2).flatten(1, 3)
