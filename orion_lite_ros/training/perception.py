"""Perception supervision of the QT-Former from the simulator's ground truth (ORION trains
its detection and map heads in its first stage; ours learn here, beside the planner).

Targets, ego frame (REP-103), built per frame from the teacher tokens the episodes record:
  gt_objects (K, 12): x, y, yaw, length, width, class, vx, vy, red, yellow, green, affects_ego
      agents (vehicles -> car, pedestrians -> pedestrian, static -> others) and the stop
      lines on the route ahead (traffic light / traffic sign, with the light's state);
  lane_points (L, P, 2) lane boundaries (already in the batch, docs/training.md).
Losses, LiDAR frame (the heads' own): Hungarian matching (scipy) of queries to targets, then
sigmoid focal classification, L1 on centre / yaw (sin, cos) / log length / velocity, binary
cross entropy on the traffic states of matched signals; lanes: matching on the mean point
distance of the 11 control points (targets resampled), L1 on the points, focal class loss.
"""
from typing import Dict

import numpy as np
from scipy.optimize import linear_sum_assignment
import torch
import torch.nn.functional as F

from orion_lite_ros.model import geometry
from orion_lite_ros.model.student import TRAFFIC_LIGHT_CLASS as TRAFFIC_LIGHT

# ORION's (Bench2Drive) detection classes (traffic light: the class the gate reads)
CAR, TRAFFIC_SIGN, PEDESTRIAN, OTHERS = 0, 4, 7, 8
SIM_CLASS_TO_DET = {0: CAR, 1: PEDESTRIAN, 2: OTHERS}       # sim.world CLASS_*
OBJECT_DIM = 12
LANE_BOUNDARY_CLASS = 2


def object_targets(agents: np.ndarray, agents_mask: np.ndarray, signals: np.ndarray,
                   signals_mask: np.ndarray, max_objects: int):
    """Teacher tokens (tok_agents (A, 7), tok_signals (S, 8)) -> (max_objects, 12), mask."""
    rows = []
    for x, y, yaw, length, width, speed, cls in np.asarray(agents)[np.asarray(agents_mask)]:
        rows.append([x, y, yaw, length, width, SIM_CLASS_TO_DET.get(int(cls), OTHERS),
                     speed * np.cos(yaw), speed * np.sin(yaw), 0, 0, 0, 0])
    for x, y, _, is_sign, red, amber, green, _ in np.asarray(signals)[np.asarray(signals_mask)]:
        rows.append([x, y, 0.0, 0.5, 3.0, TRAFFIC_SIGN if is_sign else TRAFFIC_LIGHT, 0, 0,
                     red, amber, green, 1.0])
    out = np.zeros((max_objects, OBJECT_DIM), np.float32)
    mask = np.zeros(max_objects, bool)
    n = min(len(rows), max_objects)
    if n:
        out[:n] = np.asarray(rows, np.float32)[:n]
        mask[:n] = True
    return out, mask


def sigmoid_focal(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25,
                  gamma: float = 2.0) -> torch.Tensor:
    """Element-wise sigmoid focal loss (RetinaNet), summed by the caller."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    p_t = p * targets + (1 - p) * (1 - targets)
    a_t = alpha * targets + (1 - alpha) * (1 - targets)
    return a_t * ce * (1 - p_t) ** gamma


def _ego_to_lidar_xy(xy: torch.Tensor) -> torch.Tensor:
    """(..., 2) ego-frame points -> LiDAR-frame xy (x right, y forward)."""
    shifted = xy.clone()
    shifted[..., 0] = shifted[..., 0] - float(geometry.LIDAR2EGO[0, 3])   # +0.39 m
    return geometry.rep103_to_head(shifted)


def _match(cost: torch.Tensor):
    rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
    return torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)


def detection_loss(out: Dict[str, torch.Tensor], gt: torch.Tensor, gt_mask: torch.Tensor
                   ) -> Dict[str, torch.Tensor]:
    """out: cls_scores (B, A, 9), bbox_preds (B, A, 10), traffic_states (B, A, 4);
    gt (B, K, 12) ego frame, gt_mask (B, K) -> det_cls, det_box, det_traffic (means)."""
    logits, boxes = out['cls_scores'].float(), out['bbox_preds'].float()
    traffic = out['traffic_states'].float()
    B, A, C = logits.shape
    cls_target = torch.zeros_like(logits)
    box_terms, tl_terms, n_gt = [], [], 0
    for b in range(B):
        g = gt[b][gt_mask[b].bool()].float()
        if len(g) == 0:
            continue
        n_gt += len(g)
        centre = _ego_to_lidar_xy(g[:, :2])
        labels = g[:, 5].long()
        prob = logits[b].sigmoid()
        cost = 2.0 * (1.0 - prob[:, labels]) + 0.25 * torch.cdist(boxes[b, :, :2], centre, p=1)
        qi, gi = _match(cost)
        cls_target[b, qi, labels[gi]] = 1.0
        yaw_l = g[gi, 2] + np.pi / 2
        vel_l = geometry.rep103_to_head(g[gi, 6:8])
        box_terms.append(torch.cat([
            (boxes[b, qi, :2] - centre[gi]).abs() / 10.0,
            (boxes[b, qi, 6:8] - torch.stack([yaw_l.sin(), yaw_l.cos()], -1)).abs(),
            (boxes[b, qi, 3:4] - g[gi, 3:4].clamp(min=0.1).log()).abs(),
            (boxes[b, qi, 8:10] - vel_l).abs() / 5.0], dim=-1).sum(-1))
        signal = (labels[gi] == TRAFFIC_LIGHT) | (labels[gi] == TRAFFIC_SIGN)
        if signal.any():
            tl_terms.append(F.binary_cross_entropy_with_logits(
                traffic[b, qi[signal]], g[gi[signal], 8:12], reduction='none').sum(-1))
    norm = max(1, n_gt)
    zero = logits.sum() * 0.0
    return {'det_cls': sigmoid_focal(logits, cls_target).sum() / norm,
            'det_box': torch.cat(box_terms).sum() / norm if box_terms else zero,
            'det_traffic': torch.cat(tl_terms).mean() if tl_terms else zero}


def resample_polyline(points: torch.Tensor, count: int) -> torch.Tensor:
    """(L, P, 2) polylines -> (L, count, 2) points evenly spaced in index (P >= 2)."""
    L, P, _ = points.shape
    at = torch.linspace(0, P - 1, count, device=points.device)
    lo = at.floor().long().clamp(max=P - 2)
    w = (at - lo.float())[None, :, None]
    return points[:, lo] * (1 - w) + points[:, lo + 1] * w


def map_loss(out: Dict[str, torch.Tensor], lane_points: torch.Tensor, lane_valid: torch.Tensor
             ) -> Dict[str, torch.Tensor]:
    """out: lane_cls_one2one (B, O, 6), lane_preds_one2one (B, O, P*3); lane_points (B, L, Q, 2)
    ego-frame boundaries, lane_valid (B, L) -> map_cls, map_pts."""
    logits = out['lane_cls_one2one'].float()
    B, n_q, _ = logits.shape
    preds = out['lane_preds_one2one'].float().view(B, n_q, -1, 3)[..., :2]     # LiDAR xy
    P = preds.shape[2]
    target_cls = torch.zeros_like(logits)
    pts_terms, n_gt = [], 0
    for b in range(B):
        lanes = lane_points[b][lane_valid[b].bool()].float()
        if len(lanes) == 0 or lanes.shape[1] < 2:
            continue
        lanes = _ego_to_lidar_xy(resample_polyline(lanes, P))                  # (L, P, 2)
        n_gt += len(lanes)
        dist = (preds[b][:, None] - lanes[None]).abs().sum(-1).mean(-1)         # (O, L)
        cost = dist + (1.0 - logits[b, :, LANE_BOUNDARY_CLASS].sigmoid())[:, None]
        qi, gi = _match(cost)
        target_cls[b, qi, LANE_BOUNDARY_CLASS] = 1.0
        pts_terms.append(dist[qi, gi] / 10.0)
    norm = max(1, n_gt)
    zero = logits.sum() * 0.0
    return {'map_cls': sigmoid_focal(logits, target_cls).sum() / norm,
            'map_pts': torch.cat(pts_terms).sum() / norm if pts_terms else zero}
