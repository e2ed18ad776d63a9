"""Where a closed-loop drive got stuck, from its drive log (no ROS).

A drive log (``bridge/episode_runner.DriveLog``, ``<out>/<run>/logs/<route>.npz``) holds the
ego path, the controls and the driver's desired speed per tick. ``find_stalls`` returns the
spans where the car stood (speed below ``speed_mps`` for at least ``min_s``) with what the
controls did meanwhile: a car that brakes throughout waits on purpose; one that switches
between throttle and brake on most ticks is caught in a limit cycle of plan and controller
(a plan that asks for a crawl brakes as soon as the car moves).
"""
from dataclasses import asdict, dataclass
from typing import List

import numpy as np


@dataclass(frozen=True)
class Stall:
    start_s: float               # route time the span began
    duration_s: float
    brake_share: float           # ticks with brake > 0
    switch_share: float          # ticks whose brake on/off differs from the tick before
    mean_speed_mps: float
    mean_target_mps: float       # the driver's desired speed (nan where it sent none)

    def as_dict(self) -> dict:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def ego_speeds(ego_xy: np.ndarray, stamps_ns: np.ndarray) -> np.ndarray:
    """(N,) speed from successive positions (the first tick: 0)."""
    xy = np.asarray(ego_xy, dtype=np.float64).reshape(-1, 2)
    t = np.asarray(stamps_ns, dtype=np.float64) * 1e-9
    if len(xy) < 2:
        return np.zeros(len(xy))
    dt = np.maximum(np.diff(t), 1e-6)
    return np.r_[0.0, np.linalg.norm(np.diff(xy, axis=0), axis=1) / dt]


def find_stalls(ego_xy, stamps_ns, controls, target_speed=None, speed_mps: float = 0.3,
                min_s: float = 5.0) -> List[Stall]:
    """Spans of at least `min_s` with the speed below `speed_mps`, in route order."""
    t = (np.asarray(stamps_ns, dtype=np.int64) - int(np.asarray(stamps_ns)[0])) * 1e-9
    v = ego_speeds(ego_xy, stamps_ns)
    c = np.asarray(controls, dtype=np.float64).reshape(-1, 3)
    target = np.full(len(t), np.nan) if target_speed is None else \
        np.asarray(target_speed, dtype=np.float64)
    braking = c[:, 2] > 0
    slow = np.r_[False, v[1:] < speed_mps]          # the first tick has no speed
    out, i, n = [], 0, len(t)
    while i < n:
        if not slow[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and slow[j + 1]:
            j += 1
        if t[j] - t[i] >= min_s:
            span = slice(i, j + 1)
            switches = braking[i + 1:j + 1] != braking[i:j]
            finite = target[span][np.isfinite(target[span])]
            out.append(Stall(float(t[i]), float(t[j] - t[i]), float(braking[span].mean()),
                             float(switches.mean()) if len(switches) else 0.0,
                             float(v[span].mean()),
                             float(finite.mean()) if len(finite) else float('nan')))
        i = j + 1
    return out


def stalls_of_log(path, **kwargs) -> List[Stall]:
    with np.load(path) as log:
        target = log['target_speed_mps'] if 'target_speed_mps' in log.files else None
        return find_stalls(log['ego_xy'], log['stamps_ns'], log['controls'], target, **kwargs)
