"""Discontinuities in the input stream (no ROS): the clock going backwards (a simulator reset,
``ros2 bag play --loop``) or the ego teleporting (a new episode, a relocalisation).

After either, the model's temporal memory holds frames from another timeline (negative ages)
and the route tracker's monotonic progress search is in the wrong place: the planner resets
both. ``JumpDetector.check`` says whether the frame is such a discontinuity and why.
"""
from dataclasses import dataclass
import math
from typing import Optional, Tuple


@dataclass(frozen=True)
class JumpConfig:
    max_backwards_s: float = 0.0        # a stamp earlier than the last by more -> jump
    max_gap_s: float = 10.0             # stamps further apart than this -> new timeline
    max_speed_mps: float = 60.0         # ego displacement faster than this -> teleport
    min_teleport_m: float = 5.0         # ... and at least this far (stamp jitter)


class JumpDetector:
    """Remembers the last (stamp, position); ``check`` returns the reason of a discontinuity
    ('' for none) and then remembers the new frame."""

    def __init__(self, config: JumpConfig = JumpConfig()):
        self.config = config
        self._last: Optional[Tuple[int, float, float]] = None
        self.count = 0

    def reset(self) -> None:
        self._last = None

    def check(self, stamp_ns: int, x_m: float, y_m: float) -> str:
        last, self._last = self._last, (int(stamp_ns), float(x_m), float(y_m))
        if last is None:
            return ''
        reason = jump_reason(last, self._last, self.config)
        self.count += int(bool(reason))
        return reason


def jump_reason(last: Tuple[int, float, float], now: Tuple[int, float, float],
                cfg: JumpConfig) -> str:
    """Why ``now`` (stamp_ns, x_m, y_m) cannot follow ``last``; '' when it can."""
    dt_s = (now[0] - last[0]) * 1e-9
    if dt_s < -cfg.max_backwards_s:
        return f'clock jumped back {-dt_s:.3g} s'
    if dt_s > cfg.max_gap_s:
        return f'clock jumped ahead {dt_s:.3g} s'
    dist_m = math.hypot(now[1] - last[1], now[2] - last[2])
    if dist_m > max(cfg.min_teleport_m, cfg.max_speed_mps * dt_s):
        return f'ego moved {dist_m:.3g} m in {dt_s:.3g} s (teleport)'
    return ''
