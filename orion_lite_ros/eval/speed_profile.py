"""How far and how fast a planner plans to drive, by the ego's speed: the figure that shows a
plan which only keeps the current speed (a closed-loop fixed point that open-loop L2 hides).

The embedded controller (control/bench2drive.py, as ORION's) aims for the speed read from the
first two waypoints. A planner whose first waypoints keep the speed it reads never accelerates
once the car moves slowly, however far its later waypoints reach: on frames the expert drives off
from (0.5-3 m/s) its aimed-for speed equals the current one instead of the expert's.
`speed_profile` bins frames by speed and puts planned, expert and constant-velocity figures side
by side; `speed_sweep` plans the same frames with the speed input set to fixed values
(acceleration zeroed, as when cruising), which shows whether the plan reads the speed input as
"the speed to keep".
"""
from typing import Callable, Dict, Sequence

import torch

from orion_lite_ros.control.bench2drive import desired_speed_mps
from orion_lite_ros.layout import WAYPOINT_DT_S

SPEED_BINS_MPS = (0.0, 0.5, 1.0, 3.0, 6.0, float('inf'))


def distance_at(waypoints: torch.Tensor, mask: torch.Tensor, horizon_s: float) -> torch.Tensor:
    """(B, T, 2) cumulative waypoints (every WAYPOINT_DT_S), (B, T) validity -> (B,) straight-line
    distance of the waypoint at `horizon_s`; NaN where that waypoint is invalid."""
    index = int(round(horizon_s / WAYPOINT_DT_S)) - 1
    if not 0 <= index < waypoints.shape[1]:
        raise ValueError(f'horizon {horizon_s} s outside the {waypoints.shape[1]} waypoints')
    dist = torch.linalg.norm(waypoints[:, index].float(), dim=-1)
    return torch.where(mask[:, index].bool(), dist, torch.full_like(dist, float('nan')))


def desired_speeds(waypoints: torch.Tensor) -> torch.Tensor:
    """(B, T, 2) waypoints -> (B,) the speed the controller aims for (desired_speed_mps)."""
    wps = waypoints.detach().float().cpu().numpy()
    return torch.tensor([desired_speed_mps(w) for w in wps], dtype=torch.float32)


def speed_profile(plan: torch.Tensor, expert: torch.Tensor, mask: torch.Tensor,
                  speed: torch.Tensor, horizon_s: float = 3.0,
                  bins: Sequence[float] = SPEED_BINS_MPS) -> Dict[str, Dict[str, float]]:
    """plan, expert (N, T, 2) cumulative waypoints, mask (N, T) of the expert's, speed (N,) m/s.
    Per speed bin 'lo-hi': frames, mean speed, the mean distance at `horizon_s` planned, driven
    by the expert and kept by constant velocity (speed x horizon), and the speed the controller
    would aim for from the plan and from the expert's future (both first waypoints valid);
    bins without a frame whose expert waypoint at `horizon_s` is valid are left out."""
    if not (plan.shape == expert.shape and plan.shape[:2] == mask.shape
            and speed.shape == plan.shape[:1]):
        raise ValueError(f'shapes disagree: plan {tuple(plan.shape)}, expert '
                         f'{tuple(expert.shape)}, mask {tuple(mask.shape)}, '
                         f'speed {tuple(speed.shape)}')
    planned = distance_at(plan, torch.ones_like(mask), horizon_s)
    driven = distance_at(expert, mask, horizon_s).cpu()
    planned, speed = planned.cpu(), speed.float().cpu()
    aim_plan, aim_expert = desired_speeds(plan), desired_speeds(expert)
    out = {}
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = (speed >= lo) & (speed < hi) & ~driven.isnan()
        if not sel.any():
            continue
        out[f'{lo:g}-{hi:g}'] = {
            'frames': int(sel.sum()), 'speed_mps': _mean(speed, sel),
            'plan_m': _mean(planned, sel), 'expert_m': _mean(driven, sel),
            'constant_velocity_m': round(_mean(speed, sel) * horizon_s, 3),
            'plan_desired_mps': _mean(aim_plan, sel),
            'expert_desired_mps': _mean(aim_expert, sel)}
    return out


def _mean(values: torch.Tensor, sel: torch.Tensor) -> float:
    return round(float(values[sel].mean()), 3)


@torch.no_grad()
def speed_sweep(plan: Callable, batch: dict, speeds_mps: Sequence[float],
                horizon_s: float = 3.0) -> Dict[str, Dict[str, float]]:
    """plan(batch) -> (B, T, 2) waypoints. The batch planned with its CAN-bus speed set to each
    of `speeds_mps` and its acceleration zeroed: for each ('v=2'), the mean planned distance at
    `horizon_s` ('plan_m'; a plan that keeps the speed it reads gives v x horizon) and the mean
    speed the controller would aim for ('desired_mps'; below v the car slows, equal to v it
    keeps v for good)."""
    out = {}
    for v in speeds_mps:
        can_bus = batch['can_bus'].clone()
        can_bus[:, 7] = float(v)
        can_bus[:, 10:12] = 0.0
        waypoints = plan(dict(batch, can_bus=can_bus))
        dist = distance_at(waypoints, torch.ones(waypoints.shape[:2]), horizon_s)
        out[f'v={v:g}'] = {'plan_m': float(dist.mean()),
                           'desired_mps': float(desired_speeds(waypoints).mean())}
    return out
