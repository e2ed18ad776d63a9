"""Orion-Lite distillation losses (plain torch, REP-103 ego frame, metres).

Conventions of every function here:
- waypoints are cumulative ego-frame positions, x forward / y left, 0.5 s apart:
  `all_modes (B, M, T, 2)`, `waypoints (B, T, 2)` (the mode of the active command);
- `gt_mask (B, T)` is 1 where the ground-truth future exists;
- reductions follow the official training code, so that the paper's weights keep their
  meaning: a weighted sum divided by the number of elements of the (unmasked) tensor.
"""
from typing import Dict

import torch
import torch.nn.functional as F

from orion_lite_ros.training.config import LossConfig
from orion_lite_ros.training.perception import detection_loss, map_loss

_FAR_M = 1.0e6


def step_offsets(positions: torch.Tensor) -> torch.Tensor:
    """(…, T, 2) cumulative positions -> per-step displacements (first one from the origin)."""
    first = positions[..., :1, :]
    return torch.cat([first, positions[..., 1:, :] - positions[..., :-1, :]], dim=-2)


def feature_mimic_l1(student_token: torch.Tensor, teacher_token: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between planning tokens (B, D)."""
    return F.l1_loss(student_token, teacher_token.to(student_token.dtype))


def waypoint_l1(all_modes: torch.Tensor, gt_future: torch.Tensor, gt_mask: torch.Tensor,
                command_onehot: torch.Tensor) -> torch.Tensor:
    """L1 on step offsets of every mode, weighted by the command one-hot and the valid mask.

    all_modes (B, M, T, 2), gt_future (B, T, 2), gt_mask (B, T), command_onehot (B, M).
    Divided by B*M*T*2 as in the official code (so only the commanded mode contributes,
    at 1/M of a plain mean over it).
    """
    pred = step_offsets(all_modes)
    target = step_offsets(gt_future).unsqueeze(1).expand_as(pred)
    weight = command_onehot[:, :, None, None] * gt_mask[:, None, :, None]
    return ((pred - target).abs() * weight).sum() / pred.numel()


def wait_labels(gt_future: torch.Tensor, gt_mask: torch.Tensor, travel_m: float,
                horizon: int = 0):
    """(B,) float: 1 where the expert's position at its last valid waypoint is less than
    `travel_m` from the origin (it stays at rest), and `has_future` (B,) bool.
    `horizon` > 0: only the first `horizon` waypoints count (a frame whose expert waits a
    while and then drives off is a wait frame: the go set learns only moving off now).
    gt_future (B, T, 2) cumulative, gt_mask (B, T)."""
    if horizon > 0:
        gt_future, gt_mask = gt_future[:, :horizon], gt_mask[:, :horizon]
    valid = gt_mask > 0
    has_future = valid.any(dim=-1)
    T = gt_mask.shape[-1]
    steps = torch.arange(T, device=gt_mask.device).expand_as(gt_mask)
    last = torch.where(valid, steps, torch.full_like(steps, -1)).max(dim=-1).values.clamp(min=0)
    end = gt_future[torch.arange(gt_future.shape[0], device=gt_future.device), last]
    return (torch.linalg.norm(end.float(), dim=-1) < travel_m).float(), has_future


def depart_aligned(gt_future: torch.Tensor, gt_mask: torch.Tensor, travel_m: float,
                   max_lead: int, rest_m: float = 0.3, hold=None):
    """Departure-aligned targets and go/wait labels (LossConfig.depart_align_steps/_hold).

    lead = the leading valid waypoints within `rest_m` of the origin (the expert still at
    rest). A go frame travels `travel_m` by its last valid waypoint and has lead <=
    `max_lead`, or (with `hold` (B,), 1 where the expert was held only by its reaction
    time) any lead where hold is set. A go frame's future is shifted `lead` waypoints
    earlier (the tail masked): it learns to drive off now. wait (B,) = 1 - go.
    Returns (gt_future, gt_mask, wait, has_future); gt_future (B, T, 2), gt_mask (B, T)."""
    stays, has_future = wait_labels(gt_future, gt_mask, travel_m)
    moved = stays < 0.5
    T = gt_mask.shape[-1]
    at_rest = (torch.linalg.norm(gt_future.float(), dim=-1) < rest_m) & (gt_mask > 0)
    lead = torch.cumprod(at_rest.to(torch.int64), dim=-1).sum(dim=-1)          # (B,)
    free = lead <= max_lead
    if hold is not None:
        free = free | (hold.reshape(-1) > 0.5)
    go = moved & free
    shift = torch.where(go, lead, torch.zeros_like(lead))
    idx = torch.arange(T, device=gt_mask.device)[None, :] + shift[:, None]     # (B, T)
    inside = idx < T
    idx = idx.clamp(max=T - 1)
    future = torch.gather(gt_future, 1, idx[..., None].expand(-1, -1, gt_future.shape[-1]))
    mask = torch.gather(gt_mask, 1, idx) * inside.to(gt_mask.dtype)
    return future, mask, (~go).float(), has_future


def gate_targets(batch: Dict[str, torch.Tensor], cfg: LossConfig):
    """(gt_future, gt_mask, wait, has_future) the gated planner trains on (`cfg`'s rule)."""
    future, mask = batch['gt_future'], batch['gt_mask'].float()
    if cfg.depart_align_hold:
        if 'reaction_hold' not in batch:
            raise KeyError("loss.depart_align_hold needs episodes recorded with the expert's "
                           'reaction label (expert_reaction_hold: datagen with '
                           'expert_restart_reaction_s > 0)')
        return depart_aligned(future, mask, cfg.wait_travel_m, cfg.depart_align_steps,
                              hold=batch['reaction_hold'])
    if cfg.depart_align_steps > 0:
        return depart_aligned(future, mask, cfg.wait_travel_m, cfg.depart_align_steps)
    wait, has_future = wait_labels(future, mask, cfg.wait_travel_m, cfg.wait_horizon)
    return future, mask, wait, has_future


def gated_waypoint_l1(gated_modes: torch.Tensor, gt_future: torch.Tensor, gt_mask: torch.Tensor,
                      command_onehot: torch.Tensor, wait: torch.Tensor) -> torch.Tensor:
    """`waypoint_l1` over the go and wait sets (B, 2, M, T, 2): a frame trains its command's
    mode of the set its label `wait` (B,) picks; the same scale as `waypoint_l1`."""
    w = wait[:, None].to(command_onehot.dtype)
    onehot = torch.cat([command_onehot * (1 - w), command_onehot * w], dim=1)   # (B, 2M)
    return 2.0 * waypoint_l1(gated_modes.flatten(1, 2), gt_future, gt_mask, onehot)


def _segments_cross(p0, p1, q0, q1, eps: float = 1e-9) -> torch.Tensor:
    """Whether segments p0->p1 and q0->q1 (…, 2) intersect (parallel ones never do)."""
    d1, d2, r = p1 - p0, q1 - q0, q0 - p0
    det = d1[..., 0] * d2[..., 1] - d1[..., 1] * d2[..., 0]
    ok = det.abs() > eps
    safe = torch.where(ok, det, torch.ones_like(det))
    t = (r[..., 0] * d2[..., 1] - r[..., 1] * d2[..., 0]) / safe
    u = (r[..., 0] * d1[..., 1] - r[..., 1] * d1[..., 0]) / safe
    return ok & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)


def map_boundary_loss(waypoints: torch.Tensor, lane_points: torch.Tensor,
                      boundary_valid: torch.Tensor, gt_mask: torch.Tensor,
                      dist_m: float = 1.0) -> torch.Tensor:
    """Keep-out of `dist_m` from lane boundaries; stops counting once the plan crosses one.

    waypoints (B, T, 2); lane_points (B, L, P, 2) polylines; boundary_valid (B, L) bool.
    Per step: max(dist_m - distance to the nearest boundary point, 0). From the first step whose
    segment (previous waypoint -> this one) crosses the nearest boundary polyline on, the loss is
    zero (the plan is already on the other side; pushing it back would be wrong).
    """
    B, T, _ = waypoints.shape
    if lane_points.shape[1] == 0 or lane_points.shape[2] == 0:
        return waypoints.sum() * 0.0
    pts = torch.where(boundary_valid[:, :, None, None], lane_points.to(waypoints.dtype),
                      torch.full_like(lane_points, _FAR_M, dtype=waypoints.dtype))
    dist = torch.linalg.norm(waypoints[:, :, None, None, :] - pts[:, None], dim=-1)  # (B,T,L,P)
    inst_dist = dist.min(dim=-1).values                                              # (B,T,L)
    nearest_d, nearest_l = inst_dist.min(dim=-1)                                     # (B,T)
    poly = pts[torch.arange(B, device=pts.device)[:, None], nearest_l]               # (B,T,P,2)
    starts = torch.cat([torch.zeros_like(waypoints[:, :1]), waypoints[:, :-1]], dim=1)
    crossed = _segments_cross(starts[:, :, None].detach(), waypoints[:, :, None].detach(),
                              poly[:, :, :-1], poly[:, :, 1:]).any(dim=-1)           # (B,T)
    before_crossing = (torch.cumsum(crossed.int(), dim=1) == 0).to(waypoints.dtype)
    loss = F.relu(dist_m - nearest_d) * before_crossing * gt_mask
    return loss.sum() / (B * T)


def select_agent_futures(agent_xy: torch.Tensor, agent_future: torch.Tensor,
                         agent_score: torch.Tensor, agent_mode_score: torch.Tensor,
                         score_thresh: float = 0.5, max_class: int = 4):
    """Most likely future of each confident vehicle, as absolute ego-frame positions.

    agent_xy (B, A, 2); agent_future (B, A, M, T, 2) step offsets; agent_score (B, A, K) class
    scores; agent_mode_score (B, A, M). Returns positions (B, A, T, 2) and valid (B, A).
    """
    best_score, best_class = agent_score.max(dim=-1)
    valid = (best_score >= score_thresh) & (best_class <= max_class)
    mode = agent_mode_score.argmax(dim=-1)                                     # (B, A)
    idx = mode[:, :, None, None, None].expand(-1, -1, 1, *agent_future.shape[-2:])
    offsets = torch.gather(agent_future, 2, idx).squeeze(2)                    # (B, A, T, 2)
    return agent_xy[:, :, None, :] + torch.cumsum(offsets, dim=-2), valid


def collision_loss(waypoints: torch.Tensor, agent_positions: torch.Tensor,
                   agent_valid: torch.Tensor, gt_mask: torch.Tensor, lateral_m: float = 1.5,
                   longitudinal_m: float = 3.0, radius_m: float = 3.0) -> torch.Tensor:
    """Keep-out from agents: per step, among agents within `radius_m`, the smallest |dy| must
    exceed `lateral_m` and the smallest |dx| `longitudinal_m` (hinge on each).

    waypoints (B, T, 2); agent_positions (B, A, T, 2) absolute at the same steps; agent_valid
    (B, A). Divided by B*T*2 as in the official code.
    """
    B, T, _ = waypoints.shape
    if agent_positions.shape[1] == 0:
        return waypoints.sum() * 0.0
    rel = waypoints[:, None] - agent_positions.to(waypoints.dtype)             # (B, A, T, 2)
    near = agent_valid[:, :, None] & (torch.linalg.norm(rel, dim=-1) <= radius_m)
    gap = torch.where(near[..., None], rel.abs(), torch.full_like(rel, _FAR_M))
    min_gap = gap.min(dim=1).values                                            # (B, T, 2)
    lon = F.relu(longitudinal_m - min_gap[..., 0])
    lat = F.relu(lateral_m - min_gap[..., 1])
    return ((lon + lat) * gt_mask).sum() / (B * T * 2)


def vae_kl(present_mu: torch.Tensor, present_log_sigma: torch.Tensor, future_mu: torch.Tensor,
           future_log_sigma: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """KL(N(future) || N(present)) summed over the latent, zero for frames without a future.

    All (B, ..., latent); valid (B,) bool/float. Mean over the batch.
    """
    var_f = torch.exp(2.0 * future_log_sigma)
    var_p = torch.exp(2.0 * present_log_sigma)
    kl = (present_log_sigma - future_log_sigma - 0.5
          + (var_f + (future_mu - present_mu) ** 2) / (2.0 * var_p))
    kl = kl.reshape(kl.shape[0], -1, kl.shape[-1]).sum(dim=-1)                 # (B, S)
    return (kl * valid.to(kl.dtype)[:, None]).mean()


def distillation_losses(out: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor],
                        cfg: LossConfig) -> Dict[str, torch.Tensor]:
    """All loss terms (unweighted, float32) and their weighted sum under 'total'.

    `out` is the StudentPlanner/OrionLite output dict; `batch` the training batch (see
    docs/training.md). Terms whose inputs the batch lacks, or whose weight is 0, are skipped.
    """
    terms = {}
    wp = out['waypoints'].float()
    mask = batch['gt_mask'].float()
    if cfg.mimic_weight and 'teacher_token' in batch:
        terms['mimic'] = feature_mimic_l1(out['planning_token'].float(), batch['teacher_token'])
    gated = out.get('gated_modes')
    if gated is not None:
        gate_future, gate_mask, wait, has_future = gate_targets(batch, cfg)
    if cfg.waypoint_weight and gated is not None:
        terms['waypoint'] = gated_waypoint_l1(gated.float(), gate_future.float(), gate_mask,
                                              batch['command_onehot'].float(), wait)
    elif cfg.waypoint_weight:
        terms['waypoint'] = waypoint_l1(out['all_modes'].float(), batch['gt_future'].float(),
                                        mask, batch['command_onehot'].float())
    if cfg.wait_weight and gated is not None:
        bce = F.binary_cross_entropy_with_logits(out['wait_logit'].float(), wait,
                                                 reduction='none')
        terms['wait'] = (bce * has_future).sum() / has_future.sum().clamp(min=1)
    if cfg.map_bound_weight and 'lane_points' in batch:
        valid = batch['lane_scores'][..., cfg.map_boundary_class] >= cfg.map_score_thresh
        terms['map_bound'] = map_boundary_loss(wp, batch['lane_points'].float(), valid, mask,
                                               cfg.map_bound_dist_m)
    if cfg.collision_weight and 'agent_xy' in batch:
        pos, valid = select_agent_futures(
            batch['agent_xy'].float(), batch['agent_future'].float(), batch['agent_score'],
            batch['agent_mode_score'], cfg.agent_score_thresh, cfg.agent_max_class)
        terms['collision'] = collision_loss(wp, pos, valid, mask, cfg.collision_lateral_m,
                                            cfg.collision_longitudinal_m, cfg.collision_radius_m)
    if cfg.kl_weight and out.get('future_mu') is not None:
        terms['kl'] = vae_kl(out['present_mu'].float(), out['present_log_sigma'].float(),
                             out['future_mu'].float(), out['future_log_sigma'].float(),
                             mask.any(dim=-1) if mask.dtype == torch.bool else mask.sum(-1) > 0)
    weights = {'mimic': cfg.mimic_weight, 'waypoint': cfg.waypoint_weight,
               'map_bound': cfg.map_bound_weight, 'collision': cfg.collision_weight,
               'kl': cfg.kl_weight, 'wait': cfg.wait_weight, 'det_cls': cfg.det_weight,
               'det_box': cfg.det_weight,
               'det_traffic': cfg.traffic_weight, 'map_cls': cfg.map_weight,
               'map_pts': cfg.map_weight}
    terms.update(perception_terms(out, batch, cfg))
    terms = {k: torch.nan_to_num(v) for k, v in terms.items()}
    terms['total'] = sum(weights[k] * v for k, v in terms.items())
    return terms


def perception_terms(out: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor],
                     cfg: LossConfig) -> Dict[str, torch.Tensor]:
    """Detection / traffic-light / map terms when weighted and the inputs exist."""
    terms = {}
    if (cfg.det_weight or cfg.traffic_weight) and 'cls_scores' in out and 'gt_objects' in batch:
        det = detection_loss(out, batch['gt_objects'], batch['gt_objects_mask'])
        if cfg.det_weight:
            terms.update(det_cls=det['det_cls'], det_box=det['det_box'])
        if cfg.traffic_weight:
            terms['det_traffic'] = det['det_traffic']
    if cfg.map_weight and 'lane_cls_one2one' in out and 'lane_points' in batch:
        valid = batch['lane_scores'][..., cfg.map_boundary_class] >= cfg.map_score_thresh
        terms.update(map_loss(out, batch['lane_points'], valid))
    return terms


def wait_gate_stats(out: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor],
                    cfg: LossConfig) -> Dict[str, float]:
    """Validation figures of the go/wait gate over the frames with a future: `wait_acc`
    (the gate's decision `out['wait']` = the label), `wait_label_rate`, `wait_pred_rate`."""
    _, _, wait, has = gate_targets(batch, cfg)
    pred, has = out['wait'].float(), has.float()
    n = has.sum().clamp(min=1)
    return {'wait_acc': float(((pred == wait).float() * has).sum() / n),
            'wait_label_rate': float((wait * has).sum() / n),
            'wait_pred_rate': float((pred * has).sum() / n)}
