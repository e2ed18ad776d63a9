"""Route + ego token of our own students (`NavConfig`; not in the authors' model).

Inputs (normalised): the route target point in the ego frame (x, y) / target_scale_m, and
from the CAN bus the speed / speed_scale_mps, forward and lateral acceleration /
accel_scale_mps2 (gravity is not in them) and the yaw rate (rad/s); with `rest_scale_s` also
the time at rest (`rest_times`) / rest_scale_s, clipped at 1. An MLP makes one token of
the planner's width, appended after the QT-Former's tokens; with `condition_query` a linear
map of the same embedding is also added to the student's planning query (`query_bias`).
In training the target point is perturbed (Gaussian noise, random drop) against the known
shortcut of steering by it alone.
"""
from typing import Optional

import torch
from torch import nn

from orion_lite_ros.model.config import OrionLiteConfig

NAV_INPUTS = 6
REST_SPEED_MPS = 0.1     # below this the ego is at rest (the stop-sign criterion's speed)


def nav_inputs(cfg) -> int:
    """Inputs of the token's MLP for NavConfig `cfg`."""
    return NAV_INPUTS + (1 if cfg.rest_scale_s > 0 else 0)


def rest_times(stamps_ns, speeds_mps, since_ns: Optional[int] = None):
    """Seconds each frame has been at rest (speed < REST_SPEED_MPS since the first frame of
    its run at rest; 0 when moving), frames in time order; `since_ns`: the stamp the current
    rest began at before the first frame (a stream's state), None when moving.
    Returns (list of seconds, since_ns after the last frame)."""
    out = []
    for stamp, speed in zip(stamps_ns, speeds_mps):
        if abs(float(speed)) >= REST_SPEED_MPS:
            since_ns = None
        elif since_ns is None:
            since_ns = int(stamp)
        out.append(0.0 if since_ns is None else max(0.0, (int(stamp) - since_ns) * 1e-9))
    return out, since_ns


def nav_features(can_bus: torch.Tensor, target_point: Optional[torch.Tensor], cfg,
                 rest_s: Optional[torch.Tensor] = None) -> torch.Tensor:
    """can_bus (B, 18) official layout, target_point (B, 2) ego frame (m) or None, rest_s (B,)
    seconds at rest or None (0) -> (B, nav_inputs(cfg))."""
    B = can_bus.shape[0]
    if target_point is None:
        target_point = torch.zeros(B, 2, device=can_bus.device)
    cb = can_bus.float()
    parts = [target_point.float().to(cb.device) / cfg.target_scale_m,
             cb[:, 7:8] / cfg.speed_scale_mps, cb[:, 10:12] / cfg.accel_scale_mps2,
             cb[:, 15:16]]
    if cfg.rest_scale_s > 0:
        rest = torch.zeros(B, device=cb.device) if rest_s is None else \
            rest_s.float().reshape(B).to(cb.device)
        parts.append((rest / cfg.rest_scale_s).clamp(0.0, 1.0)[:, None])
    return torch.cat(parts, dim=-1)


class NavToken(nn.Module):
    def __init__(self, cfg: OrionLiteConfig):
        super().__init__()
        self.cfg = cfg.nav
        self.mlp = nn.Sequential(nn.Linear(nav_inputs(cfg.nav), cfg.nav.hidden), nn.ReLU(),
                                 nn.Linear(cfg.nav.hidden, cfg.nav.hidden), nn.ReLU(),
                                 nn.Linear(cfg.nav.hidden, cfg.token_dim))
        self.query_proj = (nn.Linear(cfg.token_dim, cfg.student.hidden_dim)
                           if cfg.nav.condition_query else None)

    def forward(self, can_bus: torch.Tensor, target_point: Optional[torch.Tensor],
                rest_s: Optional[torch.Tensor] = None) -> torch.Tensor:
        """-> (B, 1, token_dim)."""
        if self.training and target_point is not None:
            target_point = target_point.float()
            noise = torch.randn_like(target_point) * self.cfg.target_noise_m
            keep = (torch.rand(target_point.shape[0], 1, device=target_point.device)
                    >= self.cfg.target_dropout).float()
            target_point = (target_point + noise) * keep
        feats = nav_features(can_bus, target_point, self.cfg, rest_s)
        return self.mlp(feats.to(self.mlp[0].weight.dtype))[:, None]

    def query_bias(self, token: torch.Tensor) -> Optional[torch.Tensor]:
        """The token (B, 1, token_dim) -> (B, 1, student hidden) added to the planning query,
        or None without `condition_query`."""
        return None if self.query_proj is None else self.query_proj(token)
