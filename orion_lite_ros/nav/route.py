"""Route following for the planner: progress, target point and RoadOption command (no ROS).

The route is a polyline (N, 2) in the map frame (REP-103), optionally with one
``layout.Command`` per point. Given the ego pose, ``RouteTracker.update`` returns the progress
along the route, the target point (ego frame, ``target_lookahead_m`` further along the route)
and the command. Without per-point commands the command comes from the route geometry over the
next ``command_horizon_m`` (rule in ``command_from_geometry`` and docs/nodes.md).
"""
from dataclasses import dataclass
import math
from typing import Optional, Sequence

import numpy as np

from orion_lite_ros.layout import Command


@dataclass(frozen=True)
class RouteConfig:
    target_lookahead_m: float = 15.0     # target point distance ahead along the route
    command_horizon_m: float = 25.0      # route length inspected for the command
    command_preview_m: float = 5.0       # per-point commands: the command this far ahead
    turn_threshold_rad: float = 0.5      # |heading change| above this -> LEFT / RIGHT (~29 deg)
    lane_change_offset_m: float = 2.0    # lateral shift above this ...
    lane_change_max_heading_rad: float = 0.15   # ... with a final heading change below this
    search_back_m: float = 5.0           # progress search window behind ...
    search_ahead_m: float = 30.0         # ... and ahead of the last progress
    sample_step_m: float = 1.0           # resolution of the geometry rule

    def __post_init__(self):
        for name in ('target_lookahead_m', 'command_horizon_m', 'turn_threshold_rad',
                     'lane_change_offset_m', 'search_ahead_m', 'sample_step_m'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'{name} must be finite and > 0, got {value}')
        if self.search_back_m < 0 or self.command_preview_m < 0:
            raise ValueError('search_back_m and command_preview_m must be >= 0')


@dataclass(frozen=True)
class RouteState:
    progress_m: float          # arc length of the ego's projection onto the route
    remaining_m: float
    target_point: np.ndarray   # (2,) ego frame, metres
    command: Command
    lateral_error_m: float     # ego distance from the route (signed, + = route to the left)


def arc_length(route_xy: np.ndarray) -> np.ndarray:
    """Cumulative length (N,) of a polyline (N, 2)."""
    seg = np.linalg.norm(np.diff(route_xy, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def interpolate(route_xy: np.ndarray, s: np.ndarray, at_m) -> np.ndarray:
    """Points (..., 2) at arc lengths ``at_m`` (clamped to the route)."""
    at = np.clip(np.asarray(at_m, dtype=np.float64), 0.0, s[-1])
    return np.stack([np.interp(at, s, route_xy[:, 0]), np.interp(at, s, route_xy[:, 1])], -1)


def project(route_xy: np.ndarray, s: np.ndarray, xy: np.ndarray, lo_m: float, hi_m: float):
    """Arc length and signed offset of the closest route point to ``xy`` within [lo_m, hi_m]."""
    a, b = route_xy[:-1], route_xy[1:]                          # (N-1, 2) segments
    ab = b - a
    length_sq = np.maximum(np.sum(ab * ab, axis=1), 1e-12)
    t = np.clip(np.sum((xy - a) * ab, axis=1) / length_sq, 0.0, 1.0)
    closest = a + t[:, None] * ab
    seg_s = s[:-1] + t * (s[1:] - s[:-1])
    dist = np.linalg.norm(closest - xy, axis=1)
    dist[(seg_s < lo_m) | (seg_s > hi_m)] = np.inf
    i = int(np.argmin(dist))
    if not np.isfinite(dist[i]):                                # window empty: whole route
        i = int(np.argmin(np.linalg.norm(closest - xy, axis=1)))
    cross = ab[i, 0] * (xy[1] - a[i, 1]) - ab[i, 1] * (xy[0] - a[i, 0])
    offset = float(np.linalg.norm(closest[i] - xy))
    return float(seg_s[i]), (-offset if cross > 0 else offset)


def to_ego(point_xy: np.ndarray, ego_xy: np.ndarray, ego_yaw_rad: float) -> np.ndarray:
    """Map-frame point -> ego frame (x forward, y left)."""
    c, s = math.cos(ego_yaw_rad), math.sin(ego_yaw_rad)
    d = np.asarray(point_xy, dtype=np.float64) - ego_xy
    return np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])


def command_from_geometry(samples_xy: np.ndarray, config: RouteConfig) -> Command:
    """RoadOption from route samples (M, 2) spaced ``sample_step_m`` from the ego's projection.

    Heading of each segment relative to the first, unwrapped: the largest |change| above
    ``turn_threshold_rad`` -> LEFT (+) / RIGHT (-). Else a lateral shift of the last sample from
    the first segment's line above ``lane_change_offset_m`` with a final heading change below
    ``lane_change_max_heading_rad`` -> CHANGE_LANE_LEFT (+) / CHANGE_LANE_RIGHT (-). Else
    LANE_FOLLOW (STRAIGHT through a junction needs map data and is never derived).
    """
    seg = np.diff(samples_xy, axis=0)
    seg = seg[np.linalg.norm(seg, axis=1) > 1e-6]
    if len(seg) < 2:
        return Command.LANE_FOLLOW
    heading = np.unwrap(np.arctan2(seg[:, 1], seg[:, 0]))
    change = heading - heading[0]
    peak = float(change[int(np.argmax(np.abs(change)))])
    if abs(peak) > config.turn_threshold_rad:
        return Command.LEFT if peak > 0 else Command.RIGHT
    d = samples_xy[-1] - samples_xy[0]
    u = seg[0] / np.linalg.norm(seg[0])
    lateral = float(u[0] * d[1] - u[1] * d[0])
    if (abs(lateral) > config.lane_change_offset_m
            and abs(float(change[-1])) < config.lane_change_max_heading_rad):
        return Command.CHANGE_LANE_LEFT if lateral > 0 else Command.CHANGE_LANE_RIGHT
    return Command.LANE_FOLLOW


class RouteTracker:
    """Keeps the progress along one route (monotonic search window) between updates."""

    def __init__(self, route_xy, commands: Optional[Sequence[int]] = None,
                 config: RouteConfig = RouteConfig()):
        route = np.asarray(route_xy, dtype=np.float64).reshape(-1, 2)
        keep = np.all(np.isfinite(route), axis=1)
        if keep.any():                          # drop repeated points (zero-length segments)
            idx = np.flatnonzero(keep)
            step = np.linalg.norm(np.diff(route[idx], axis=0), axis=1)
            keep[idx[1:][step < 1e-6]] = False
        if commands is not None:
            commands = np.asarray(commands, dtype=np.int64).reshape(-1)
            if len(commands) != len(route):
                raise ValueError(f'{len(commands)} commands for {len(route)} route points')
            commands = commands[keep]
        self.route_xy = route[keep]                             # (N, 2) map frame
        self.commands = commands                                # (N,) or None
        self.config = config
        self.s = arc_length(self.route_xy) if len(self.route_xy) else np.zeros(0)
        self.progress_m = None

    def reset(self) -> None:
        """Forget the progress: the next update searches the whole route (after a teleport or
        a clock jump)."""
        self.progress_m = None

    @property
    def length_m(self) -> float:
        return float(self.s[-1]) if len(self.s) else 0.0

    def update(self, ego_xy, ego_yaw_rad: float) -> RouteState:
        ego = np.asarray(ego_xy, dtype=np.float64)[:2]
        cfg = self.config
        if len(self.route_xy) < 2:
            return RouteState(0.0, 0.0, np.array([cfg.target_lookahead_m, 0.0]),
                              Command.LANE_FOLLOW, 0.0)
        if self.progress_m is None:
            lo, hi = 0.0, self.length_m
        else:
            lo, hi = self.progress_m - cfg.search_back_m, self.progress_m + cfg.search_ahead_m
        progress, offset = project(self.route_xy, self.s, ego, lo, hi)
        self.progress_m = progress
        target = interpolate(self.route_xy, self.s, progress + cfg.target_lookahead_m)
        return RouteState(progress, self.length_m - progress, to_ego(target, ego, ego_yaw_rad),
                          self._command(progress), offset)

    def _command(self, progress_m: float) -> Command:
        cfg = self.config
        if self.commands is not None:
            at = min(progress_m + cfg.command_preview_m, self.length_m)
            i = int(np.clip(np.searchsorted(self.s, at), 0, len(self.s) - 1))
            value = int(self.commands[i])
            return Command(value) if value in Command._value2member_map_ else Command.LANE_FOLLOW
        ahead = np.arange(0.0, cfg.command_horizon_m + 1e-9, cfg.sample_step_m) + progress_m
        ahead = ahead[ahead <= self.length_m + 1e-9]
        return command_from_geometry(interpolate(self.route_xy, self.s, ahead), cfg)
