"""Input-sensitivity checks of a camera planner: does the plan move when its inputs change?

A planner that ignores its cameras or its ego state passes open-loop L2 against the dataset
mean; these checks make that visible. Perturbations of a model batch (B, N_cam, 3, h, w views
in `layout.CAMERA_NAMES` order, can_bus, target_point):
  black_views    every view black (route and ego unchanged)
  mirror_views   views flipped left-right and the left/right cameras swapped
  ego_stopped    CAN-bus speed set to 0
  mirror_target  the route target point mirrored (y -> -y)
  shift_target   the route target point moved 5 m to the left (mirroring does nothing to a
                 target straight ahead, which most frames have)
Each reports the mean over frames of the largest waypoint displacement (m) of the planned
mode; ~0 means the plan does not read that input.
"""
from typing import Callable, Dict

import torch

from orion_lite_ros.layout import CAMERA_NAMES

_MIRROR = {'CAM_FRONT_LEFT': 'CAM_FRONT_RIGHT', 'CAM_FRONT_RIGHT': 'CAM_FRONT_LEFT',
           'CAM_BACK_LEFT': 'CAM_BACK_RIGHT', 'CAM_BACK_RIGHT': 'CAM_BACK_LEFT'}
MIRROR_ORDER = [CAMERA_NAMES.index(_MIRROR.get(n, n)) for n in CAMERA_NAMES]


def black_views(batch):
    return dict(batch, images=torch.zeros_like(batch['images']))


def mirror_views(batch):
    images = batch['images'][:, MIRROR_ORDER].flip(-1)
    return dict(batch, images=images)


def ego_stopped(batch):
    can_bus = batch['can_bus'].clone()
    can_bus[:, 7] = 0.0
    return dict(batch, can_bus=can_bus)


def mirror_target(batch):
    if batch.get('target_point') is None:
        return batch
    tp = batch['target_point'].clone()
    tp[:, 1] = -tp[:, 1]
    return dict(batch, target_point=tp)


TARGET_SHIFT_M = 5.0


def shift_target(batch):
    if batch.get('target_point') is None:
        return batch
    tp = batch['target_point'].clone()
    tp[:, 1] = tp[:, 1] + TARGET_SHIFT_M
    return dict(batch, target_point=tp)


PERTURBATIONS: Dict[str, Callable] = {'black_views': black_views, 'mirror_views': mirror_views,
                                      'ego_stopped': ego_stopped, 'mirror_target': mirror_target,
                                      'shift_target': shift_target}


def plan_shift_m(base: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """(B, T, 2) plans -> (B,) largest waypoint displacement."""
    return torch.linalg.norm(other.float() - base.float(), dim=-1).max(dim=-1).values


@torch.no_grad()
def sensitivity(plan: Callable, batch) -> Dict[str, float]:
    """plan(batch) -> (B, T, 2) waypoints. Sum over the batch of each shift (divide by the
    frame count), plus the frame count under 'frames'."""
    base = plan(batch)
    out = {'frames': float(base.shape[0])}
    for name, perturb in PERTURBATIONS.items():
        out[name] = float(plan_shift_m(base, plan(perturb(batch))).sum())
    return out


def frame_perturbations(frame) -> Dict[str, object]:
    """The same checks on one `types.FrameInputs` (the replay and the planner's input)."""
    from dataclasses import replace

    import numpy as np
    images = np.asarray(frame.images)
    stopped = replace(frame.ego, vx_mps=0.0, vy_mps=0.0, ax_mps2=0.0)
    tp = np.asarray(frame.target_point, np.float64).copy()
    tp[1] = -tp[1]
    shifted = np.asarray(frame.target_point, np.float64) + np.array([0.0, TARGET_SHIFT_M])
    return {'black_views': replace(frame, images=np.zeros_like(images)),
            'mirror_views': replace(frame, images=np.ascontiguousarray(
                images[MIRROR_ORDER, :, ::-1])),
            'ego_stopped': replace(frame, ego=stopped),
            'mirror_target': replace(frame, target_point=tp),
            'shift_target': replace(frame, target_point=shifted)}


def frame_sensitivity(plan: Callable, frame) -> Dict[str, float]:
    """plan(FrameInputs) -> (T, 2) waypoints; largest waypoint displacement (m) under each
    perturbation of `frame`."""
    import numpy as np
    base = np.asarray(plan(frame), np.float64)
    return {name: float(np.linalg.norm(np.asarray(plan(f), np.float64) - base, axis=-1).max())
            for name, f in frame_perturbations(frame).items()}
