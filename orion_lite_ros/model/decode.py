"""The heads' raw outputs (LiDAR frame) -> objects and lanes in the REP-103 ego frame, for
visualisation and downstream stacks (one batch item, numpy out).

Boxes follow the official decoder (`denormalize_bbox` of the NMS-free coder): centre
(code 0, 1, 4), sizes exp(code 2, 3, 5) as (w, l, h), yaw atan2(code 6, code 7) in the LiDAR
frame, velocity (code 8, 9). Note the official quirk: the head overwrites code 2 with the
centre's height before this decoder reads it as log w; decoded widths inherit it. No NMS (the
official `get_bboxes` uses a CUDA NMS); the caller filters by score.
"""
from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from orion_lite_ros.model import geometry


@dataclass
class Objects:
    """N detected agents, REP-103 ego frame."""

    scores: np.ndarray           # (N,) max class probability
    labels: np.ndarray           # (N,) class index (the detection head's 9 classes)
    centres: np.ndarray          # (N, 3) m
    sizes: np.ndarray            # (N, 3) w, l, h (m)
    yaws: np.ndarray             # (N,) rad, counter-clockwise from ego x
    velocities: np.ndarray       # (N, 2) m/s
    trajectories: np.ndarray     # (N, M, T, 2) predicted future positions (m), ego frame
    trajectory_scores: np.ndarray   # (N, M) mode probabilities (sigmoid)
    traffic_states: np.ndarray   # (N, 4) sigmoid: red, yellow, green, affects ego


@dataclass
class Lanes:
    scores: np.ndarray           # (L,) max class probability
    labels: np.ndarray           # (L,) map class index
    points: np.ndarray           # (L, P, 3) control points (m), ego frame


def decode_objects(out: Dict[str, torch.Tensor], score_threshold: float = 0.2,
                   item: int = 0) -> Objects:
    prob = out['cls_scores'][item].float().sigmoid()
    scores, labels = prob.max(-1)
    keep = scores >= score_threshold
    code = out['bbox_preds'][item].float()[keep]
    centres_l = code[:, [0, 1, 4]]
    centres = geometry.lidar_points_to_ego(centres_l)
    yaw = geometry.lidar_yaw_to_ego(torch.atan2(code[:, 6], code[:, 7]))
    full = out['traj_preds'][item].float()
    steps = full.shape[-1] // 2
    traj = full[keep].reshape(int(keep.sum()), full.shape[1], steps, 2).cumsum(dim=2)  # head axes
    trajectories = geometry.head_to_rep103(traj) + centres[:, None, None, :2]
    return Objects(
        scores=scores[keep].numpy(), labels=labels[keep].numpy(), centres=centres.numpy(),
        sizes=code[:, [2, 3, 5]].exp().numpy(), yaws=yaw.numpy(),
        velocities=geometry.head_to_rep103(code[:, 8:10]).numpy(),
        trajectories=trajectories.numpy(),
        trajectory_scores=out['traj_cls_scores'][item].float()[keep].sigmoid().numpy(),
        traffic_states=out['traffic_states'][item].float()[keep].sigmoid().numpy())


def decode_lanes(out: Dict[str, torch.Tensor], score_threshold: float = 0.2,
                 item: int = 0) -> Lanes:
    prob = out['lane_cls_one2one'][item].float().sigmoid()
    scores, labels = prob.max(-1)
    keep = scores >= score_threshold
    full = out['lane_preds_one2one'][item].float()
    pts = full[keep].reshape(int(keep.sum()), full.shape[-1] // 3, 3)
    return Lanes(scores=scores[keep].numpy(), labels=labels[keep].numpy(),
                 points=geometry.lidar_points_to_ego(pts).numpy())
