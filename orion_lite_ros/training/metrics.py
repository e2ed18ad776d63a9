"""Open-loop planning metrics accumulated over a validation pass."""
from typing import Dict

import torch

from orion_lite_ros.layout import WAYPOINT_DT_S

# Waypoint k (0-based) is at (k + 1) * 0.5 s.
STEP_1S, STEP_2S, STEP_3S = (round(t / WAYPOINT_DT_S) - 1 for t in (1.0, 2.0, 3.0))


class OpenLoopL2:
    """L2 (m) between planned and ground-truth waypoints at 1/2/3 s and averaged over the
    steps within 2 s (the UniAD/Bench2Drive-style number), over valid steps only."""

    def __init__(self):
        self.sums = torch.zeros(0)
        self.counts = torch.zeros(0)

    def update(self, waypoints: torch.Tensor, gt_future: torch.Tensor, gt_mask: torch.Tensor):
        """waypoints, gt_future (B, T, 2) cumulative; gt_mask (B, T)."""
        err = torch.linalg.norm(waypoints.float() - gt_future.float(), dim=-1)   # (B, T)
        mask = gt_mask.float()
        sums, counts = (err * mask).sum(0).cpu().double(), mask.sum(0).cpu().double()
        if self.sums.numel() == 0:
            self.sums, self.counts = sums, counts
        else:
            self.sums, self.counts = self.sums + sums, self.counts + counts

    def state(self) -> torch.Tensor:
        """Sums and counts in one tensor (for an all-reduce across ranks)."""
        return torch.cat([self.sums, self.counts])

    @staticmethod
    def compute(state: torch.Tensor) -> Dict[str, float]:
        sums, counts = state.chunk(2)
        per_step = sums / counts.clamp(min=1)
        within_2s = slice(0, STEP_2S + 1)
        avg = sums[within_2s].sum() / counts[within_2s].sum().clamp(min=1)
        return {'l2_1s': float(per_step[STEP_1S]), 'l2_2s': float(per_step[STEP_2S]),
                'l2_3s': float(per_step[STEP_3S]), 'l2_avg_2s': float(avg)}
