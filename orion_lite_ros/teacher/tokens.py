"""PlanT-style object-level tokens from the simulator's ground truth (pure numpy).

Everything is in the ego frame (REP-103: x forward, y left, metres, yaw CCW relative to the
ego's heading). Every token type is a fixed-size padded array with a bool mask (True = real):

    agents   (A, 7)     x, y, yaw, length, width, speed, class (sim.world CLASS_*)
    route    (R, 2)     route points every `route_spacing_m` ahead of the ego's projection
    lanes    (L, P, 2)  lane-boundary segments of P points near the ego, nearest first
    signals  (S, 8)     stop lines on the route ahead: x, y, distance along the route,
                        is_stop_sign, red, amber, green, stop_done (sign already obeyed)
    ego      (12,)      speed, vy, yaw rate, ax, command one-hot (6), target point x, y

Episodes store them as extra arrays named `tok_<key>` (see `to_extras` / `from_frame`).
"""
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from orion_lite_ros.layout import NUM_COMMANDS
from orion_lite_ros.teacher.config import TokenConfig

TOKEN_KEYS = ('agents', 'agents_mask', 'route', 'route_mask', 'lanes', 'lanes_mask',
              'signals', 'signals_mask', 'ego')
PREFIX = 'tok_'
AGENT_DIM, SIGNAL_DIM, EGO_DIM = 7, 8, 6 + NUM_COMMANDS
STATES = ('red', 'amber', 'green')


@dataclass(frozen=True)
class Signal:
    """A stop line (traffic light or stop sign) in the map frame."""

    signal_id: str
    xy: Tuple[float, float]
    heading_rad: float           # direction of the traffic that must stop
    is_stop_sign: bool
    state: str = ''              # 'red' | 'amber' | 'green' for lights
    done: bool = False           # stop sign: the ego has already stopped at it


def to_ego(points: np.ndarray, ego_pose: np.ndarray) -> np.ndarray:
    """Map-frame points (..., 2) -> ego frame; ego_pose (3,) x, y, yaw."""
    c, s = np.cos(ego_pose[2]), np.sin(ego_pose[2])
    d = np.asarray(points, np.float64) - np.asarray(ego_pose[:2], np.float64)
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)


def wrap(angle):
    return (np.asarray(angle) + np.pi) % (2.0 * np.pi) - np.pi


def _pad(rows: np.ndarray, count: int) -> Tuple[np.ndarray, np.ndarray]:
    out = np.zeros((count,) + rows.shape[1:], np.float32)
    n = min(count, len(rows))
    out[:n] = rows[:n]
    mask = np.zeros(count, bool)
    mask[:n] = True
    return out, mask


def agent_tokens(boxes: np.ndarray, ego_pose: np.ndarray, cfg: TokenConfig):
    """boxes (M, 7) map frame [x, y, yaw, length, width, speed, class] -> (A, 7), mask."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 7)
    local = boxes.copy()
    local[:, :2] = to_ego(boxes[:, :2], ego_pose)
    local[:, 2] = wrap(boxes[:, 2] - ego_pose[2])
    dist = np.linalg.norm(local[:, :2], axis=1)
    keep = np.flatnonzero(dist <= cfg.agent_range_m)
    keep = keep[np.argsort(dist[keep], kind='stable')]
    return _pad(local[keep], cfg.max_agents)


def _arc(xy: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])


def _interp(xy: np.ndarray, s_cum: np.ndarray, at: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(at, s_cum, xy[:, 0]), np.interp(at, s_cum, xy[:, 1])], -1)


def route_tokens(route_xy: np.ndarray, progress_m: float, ego_pose: np.ndarray,
                 cfg: TokenConfig):
    """Points at progress + k * spacing (k = 1..R); those past the route end are masked."""
    route_xy = np.asarray(route_xy, np.float64)
    s_cum = _arc(route_xy)
    at = progress_m + cfg.route_spacing_m * np.arange(1, cfg.num_route_points + 1)
    pts = to_ego(_interp(route_xy, s_cum, np.minimum(at, s_cum[-1])), ego_pose)
    mask = at <= s_cum[-1] + 1e-6
    return (pts * mask[:, None]).astype(np.float32), mask


def _segments(polyline: np.ndarray, cfg: TokenConfig) -> np.ndarray:
    """Cut a polyline into (K, P, 2) pieces of P points `lane_step_m` apart."""
    s_cum = _arc(polyline)
    seg_len = (cfg.lane_points - 1) * cfg.lane_step_m
    starts = np.arange(0.0, max(s_cum[-1] - 1e-6, 1e-6), seg_len)
    at = starts[:, None] + cfg.lane_step_m * np.arange(cfg.lane_points)[None]
    return _interp(polyline, s_cum, np.minimum(at, s_cum[-1]))


def lane_tokens(boundaries: Sequence[Tuple[np.ndarray, np.ndarray]], ego_pose: np.ndarray,
                cfg: TokenConfig):
    """Boundary segments within `lane_range_m`, de-duplicated (shared borders), nearest first."""
    pieces = [_segments(np.asarray(line, np.float64), cfg)
              for pair in boundaries for line in pair if len(line) >= 2]
    if not pieces:
        return _pad(np.zeros((0, cfg.lane_points, 2)), cfg.max_lane_segments)
    segs = to_ego(np.concatenate(pieces, axis=0), ego_pose)              # (K, P, 2)
    dist = np.linalg.norm(segs, axis=-1).min(axis=1)
    near = np.flatnonzero(dist <= cfg.lane_range_m)
    near = near[np.argsort(dist[near], kind='stable')]
    chosen: List[int] = []
    for k in near:
        mid = segs[k].mean(axis=0)
        if all(np.linalg.norm(segs[j].mean(axis=0) - mid) > 0.3 for j in chosen):
            chosen.append(k)
        if len(chosen) == cfg.max_lane_segments:
            break
    return _pad(segs[chosen], cfg.max_lane_segments)


def signal_tokens(signals: Sequence[Signal], route_xy: np.ndarray, progress_m: float,
                  ego_pose: np.ndarray, cfg: TokenConfig):
    """Stop lines lying on the route (aligned with it) from 3 m behind to `signal_range_m`."""
    route_xy = np.asarray(route_xy, np.float64)
    s_cum = _arc(route_xy)
    rows = []
    for sig in signals:
        s, lateral, heading = _project(route_xy, s_cum, np.asarray(sig.xy, np.float64))
        ahead = s - progress_m
        aligned = np.cos(heading - sig.heading_rad) > 0.7
        if abs(lateral) > cfg.signal_lateral_m or not aligned or not -3.0 <= ahead <= \
                cfg.signal_range_m:
            continue
        x, y = to_ego(np.asarray(sig.xy, np.float64), ego_pose)
        state = [float(sig.state == name) for name in STATES]
        rows.append([x, y, ahead, float(sig.is_stop_sign), *state, float(sig.done)])
    rows = sorted(rows, key=lambda r: r[2])
    return _pad(np.asarray(rows, np.float64).reshape(-1, SIGNAL_DIM), cfg.max_signals)


def _project(xy: np.ndarray, s_cum: np.ndarray, point: np.ndarray):
    """(arc length, signed lateral, route heading) of the closest route point."""
    a, ab = xy[:-1], np.diff(xy, axis=0)
    len2 = np.maximum(np.sum(ab * ab, axis=1), 1e-12)
    t = np.clip(np.sum((point - a) * ab, axis=1) / len2, 0.0, 1.0)
    closest = a + t[:, None] * ab
    k = int(np.argmin(np.sum((point - closest) ** 2, axis=1)))
    cross = ab[k, 0] * (point[1] - a[k, 1]) - ab[k, 1] * (point[0] - a[k, 0])
    lateral = float(np.linalg.norm(point - closest[k])) * (1.0 if cross >= 0 else -1.0)
    return float(s_cum[k] + t[k] * np.sqrt(len2[k])), lateral, float(np.arctan2(ab[k, 1],
                                                                                ab[k, 0]))


def ego_token(ego_velocity: np.ndarray, ego_accel: np.ndarray, command: int,
              target_point: np.ndarray) -> np.ndarray:
    """ego_velocity (3,) vx, vy, yaw rate (body); ego_accel (2,); target point (2,) ego frame."""
    onehot = np.zeros(NUM_COMMANDS)
    onehot[int(command)] = 1.0
    vx, vy, yaw_rate = np.asarray(ego_velocity, np.float64)[:3]
    head = [float(np.hypot(vx, vy)), vy, yaw_rate, float(np.asarray(ego_accel)[0])]
    return np.concatenate([head, onehot, np.asarray(target_point, np.float64)[:2]]
                          ).astype(np.float32)


def build_tokens(gt, signals: Sequence[Signal], command: int, target_point: np.ndarray,
                 cfg: TokenConfig = TokenConfig()) -> Dict[str, np.ndarray]:
    """Tokens of one step from `sim.groundtruth.GroundTruth` (or anything with its fields)."""
    pose = np.asarray(gt.ego_pose, np.float64)
    out = {}
    out['agents'], out['agents_mask'] = agent_tokens(gt.agent_boxes, pose, cfg)
    out['route'], out['route_mask'] = route_tokens(gt.route_xy, gt.route_progress_m, pose, cfg)
    out['lanes'], out['lanes_mask'] = lane_tokens(gt.lane_boundaries, pose, cfg)
    out['signals'], out['signals_mask'] = signal_tokens(signals, gt.route_xy,
                                                        gt.route_progress_m, pose, cfg)
    out['ego'] = ego_token(gt.ego_velocity, gt.ego_accel, command, target_point)
    return out


def to_extras(tokens: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Episode extra arrays (`tok_<key>`)."""
    return {PREFIX + k: np.asarray(tokens[k]) for k in TOKEN_KEYS}


def from_frame(frame: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Tokens back from an episode frame (npz mapping); KeyError names what is missing."""
    missing = [PREFIX + k for k in TOKEN_KEYS if PREFIX + k not in frame]
    if missing:
        raise KeyError(f'frame has no teacher tokens: missing {missing}')
    return {k: np.asarray(frame[PREFIX + k]) for k in TOKEN_KEYS}


def stack(batch: Sequence[Mapping[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """List of token dicts -> dict of (B, ...) arrays."""
    return {k: np.stack([np.asarray(t[k]) for t in batch]) for k in TOKEN_KEYS}
