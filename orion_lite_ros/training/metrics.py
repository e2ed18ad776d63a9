"""Open-loop planning metrics accumulated over a validation pass."""
from typing import Dict

import torch

from orion_lite_ros.layout import WAYPOINT_DT_S
from orion_lite_ros.training.sampling import CURVE_LATERAL_M, curve_mask

# Waypoint k (0-based) is at (k + 1) * 0.5 s.
STEP_1S, STEP_2S, STEP_3S = (round(t / WAYPOINT_DT_S) - 1 for t in (1.0, 2.0, 3.0))


class OpenLoopL2:
    """L2 (m) between planned and ground-truth waypoints at 1/2/3 s and averaged over the
    steps within 2 s (the UniAD/Bench2Drive-style number), over valid steps only.

    Curve frames (`training.sampling.curve_mask`: a valid ground-truth waypoint >=
    CURVE_LATERAL_M sideways) with a valid 3 s waypoint also give the
    lateral error at 3 s (`lat_err_curve_3s`, m) and how far the plans bend
    (`bend_curve_3s`: planned lateral offset at 3 s in the direction of the true one, over
    the true one; 1 = bends as much as the expert, 0 = drives straight on)."""

    def __init__(self):
        self.sums = torch.zeros(0)
        self.counts = torch.zeros(0)
        self.curve = torch.zeros(4, dtype=torch.float64)   # lat err, count, bend num, bend den

    def update(self, waypoints: torch.Tensor, gt_future: torch.Tensor, gt_mask: torch.Tensor):
        """waypoints, gt_future (B, T, 2) cumulative; gt_mask (B, T)."""
        err = torch.linalg.norm(waypoints.float() - gt_future.float(), dim=-1)   # (B, T)
        mask = gt_mask.float()
        sums, counts = (err * mask).sum(0).cpu().double(), mask.sum(0).cpu().double()
        if self.sums.numel() == 0:
            self.sums, self.counts = sums, counts
        else:
            self.sums, self.counts = self.sums + sums, self.counts + counts
        gt_y, plan_y = gt_future[..., 1].float(), waypoints[..., 1].float()
        curve = torch.from_numpy(curve_mask(gt_future.detach().float().cpu().numpy(),
                                            mask.detach().cpu().numpy(), CURVE_LATERAL_M))
        curve = curve.to(mask.device) & (mask[:, STEP_3S] > 0)
        if curve.any():
            gt3, plan3 = gt_y[curve, STEP_3S], plan_y[curve, STEP_3S]
            self.curve += torch.stack([(plan3 - gt3).abs().sum(), curve.sum(),
                                       (plan3 * torch.sign(gt3)).sum(),
                                       gt3.abs().sum()]).cpu().double()

    def state(self) -> torch.Tensor:
        """Sums and counts in one tensor (for an all-reduce across ranks)."""
        return torch.cat([self.sums, self.counts, self.curve])

    @staticmethod
    def compute(state: torch.Tensor) -> Dict[str, float]:
        sums, counts = state[:-4].chunk(2)
        lat_err, n_curve, bend_num, bend_den = (float(v) for v in state[-4:])
        per_step = sums / counts.clamp(min=1)
        within_2s = slice(0, STEP_2S + 1)
        avg = sums[within_2s].sum() / counts[within_2s].sum().clamp(min=1)
        out = {'l2_1s': float(per_step[STEP_1S]), 'l2_2s': float(per_step[STEP_2S]),
               'l2_3s': float(per_step[STEP_3S]), 'l2_avg_2s': float(avg)}
        if n_curve > 0:
            out.update(lat_err_curve_3s=lat_err / n_curve,
                       bend_curve_3s=bend_num / max(bend_den, 1e-9))
        return out
