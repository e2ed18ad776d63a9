"""Open-loop metrics of planned trajectories against the ego's recorded future (no ROS, no torch).

A planned trajectory made at sensor stamp ``t`` has ``NUM_WAYPOINTS`` ego-frame points
``WAYPOINT_DT_S`` apart (``t + 0.5 s * (k + 1)``). The ground truth is the recorded ego pose at
those times (odometry interpolated linearly; yaw unwrapped) expressed in the ego frame at ``t``.
A horizon is evaluated only where the recording covers it without an odometry gap longer than
``max_gap_s``.

Per frame: L2 error per waypoint (m), heading error per waypoint (rad: direction of each
planned segment vs. the recorded segment over the same 0.5 s), and, when object boxes are
recorded, a collision proxy (the ego footprint at each planned waypoint overlaps a recorded
object box at that time; steps where the recorded ego itself overlaps a box are not counted).
``OpenLoopRecorder`` is the accumulator shared by the offline replay and an online recorder.
"""
from dataclasses import dataclass, field
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

from orion_lite_ros.layout import NUM_WAYPOINTS, WAYPOINT_DT_S

NS = 1_000_000_000
# Horizons reported as "L2 at T" (s) -> waypoint index.
HORIZONS_S = (1.0, 2.0, 3.0)
# Bench2Drive / UniAD open-loop L2: mean over 2 s at 2 Hz (waypoints 0.5, 1.0, 1.5, 2.0 s).
B2D_AVG_STEPS = 4


@dataclass(frozen=True)
class OpenLoopConfig:
    max_gap_s: float = 0.5              # longest odometry gap bridged by interpolation
    min_segment_m: float = 0.2          # shorter planned segments carry no heading
    ego_length_m: float = 4.9           # ego footprint for the collision proxy (centred)
    ego_width_m: float = 2.1
    object_time_tolerance_s: float = 0.25   # object snapshot must be this close to t_k
    speed_window_s: float = 0.2         # constant-velocity baseline: speed over this window


@dataclass
class EgoTrack:
    """Recorded ego poses (map frame), sorted by stamp."""

    stamps_ns: np.ndarray   # (N,) int64
    xy: np.ndarray          # (N, 2)
    yaw: np.ndarray         # (N,) unwrapped, rad

    @staticmethod
    def from_samples(stamps_ns, xy, yaw) -> 'EgoTrack':
        stamps = np.asarray(stamps_ns, dtype=np.int64).reshape(-1)
        order = np.argsort(stamps, kind='stable')
        stamps = stamps[order]
        keep = np.concatenate([[True], np.diff(stamps) > 0]) if len(stamps) else stamps > 0
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)[order][keep]
        yaw = np.unwrap(np.asarray(yaw, dtype=np.float64).reshape(-1)[order][keep])
        return EgoTrack(stamps[keep], xy, yaw)

    def __len__(self) -> int:
        return len(self.stamps_ns)

    def gaps(self, max_gap_s: float) -> List[tuple]:
        """(start_ns, end_ns) of every interval between samples longer than ``max_gap_s``."""
        if len(self) < 2:
            return []
        d = np.diff(self.stamps_ns)
        idx = np.flatnonzero(d > max_gap_s * NS)
        return [(int(self.stamps_ns[i]), int(self.stamps_ns[i + 1])) for i in idx]

    def pose_at(self, t_ns, max_gap_s: float):
        """Interpolated (xy (M, 2), yaw (M,), valid (M,)) at stamps ``t_ns`` (M,)."""
        t = np.asarray(t_ns, dtype=np.int64).reshape(-1)
        if len(self) == 0:
            return np.zeros((len(t), 2)), np.zeros(len(t)), np.zeros(len(t), bool)
        s = self.stamps_ns
        hi = np.clip(np.searchsorted(s, t, side='left'), 0, len(s) - 1)
        lo = np.clip(hi - 1, 0, len(s) - 1)
        lo = np.where(s[hi] == t, hi, lo)
        valid = (t >= s[0]) & (t <= s[-1]) & ((s[hi] - s[lo]) <= max_gap_s * NS)
        tf = (t - s[0]).astype(np.float64)
        sf = (s - s[0]).astype(np.float64)
        xy = np.stack([np.interp(tf, sf, self.xy[:, 0]), np.interp(tf, sf, self.xy[:, 1])], -1)
        return xy, np.interp(tf, sf, self.yaw), valid


def to_ego_frame(points_xy: np.ndarray, ego_xy, ego_yaw: float) -> np.ndarray:
    """Map-frame points (M, 2) -> ego frame at (ego_xy, ego_yaw)."""
    c, s = math.cos(ego_yaw), math.sin(ego_yaw)
    d = np.asarray(points_xy, dtype=np.float64) - np.asarray(ego_xy, dtype=np.float64)
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)


def waypoint_offsets_ns() -> np.ndarray:
    """(NUM_WAYPOINTS,) time of each waypoint after the sensor stamp."""
    return (np.arange(1, NUM_WAYPOINTS + 1) * WAYPOINT_DT_S * NS).astype(np.int64)


@dataclass
class FutureTruth:
    """The recorded future of one frame, ego frame at the frame's stamp."""

    xy: np.ndarray          # (NUM_WAYPOINTS, 2)
    yaw: np.ndarray         # (NUM_WAYPOINTS,) relative to the yaw at the stamp
    valid: np.ndarray       # (NUM_WAYPOINTS,) bool
    ego_xy: np.ndarray      # (2,) map pose at the stamp
    ego_yaw: float


def future_truth(track: EgoTrack, stamp_ns: int, cfg: OpenLoopConfig) -> Optional[FutureTruth]:
    """Recorded future poses of the frame at ``stamp_ns``; None if the stamp is not covered."""
    xy0, yaw0, ok0 = track.pose_at([stamp_ns], cfg.max_gap_s)
    if not ok0[0]:
        return None
    times = stamp_ns + waypoint_offsets_ns()
    xy, yaw, valid = track.pose_at(times, cfg.max_gap_s)
    # A horizon counts only if every earlier one does (no hole bridged by a later sample).
    valid = np.cumprod(valid).astype(bool)
    return FutureTruth(to_ego_frame(xy, xy0[0], yaw0[0]), yaw - yaw0[0], valid, xy0[0],
                       float(yaw0[0]))


def l2_errors(plan_xy: np.ndarray, truth: FutureTruth) -> np.ndarray:
    """(NUM_WAYPOINTS,) Euclidean error, NaN where the truth is not covered."""
    err = np.linalg.norm(np.asarray(plan_xy, dtype=np.float64) - truth.xy, axis=-1)
    return np.where(truth.valid, err, np.nan)


def plan_headings(plan_xy: np.ndarray, min_segment_m: float) -> np.ndarray:
    """(K,) direction of each planned segment (from the origin), NaN where too short."""
    pts = np.concatenate([np.zeros((1, 2)), np.asarray(plan_xy, dtype=np.float64)], 0)
    seg = np.diff(pts, axis=0)
    heading = np.arctan2(seg[:, 1], seg[:, 0])
    return np.where(np.linalg.norm(seg, axis=1) >= min_segment_m, heading, np.nan)


def heading_errors(plan_xy: np.ndarray, truth: FutureTruth, cfg: OpenLoopConfig) -> np.ndarray:
    """(K,) |wrapped difference| of the directions of the planned and recorded segments
    (chord k-1 -> k of each), NaN where either segment is too short or not covered."""
    diff = plan_headings(plan_xy, cfg.min_segment_m) - plan_headings(truth.xy,
                                                                      cfg.min_segment_m)
    wrapped = np.abs((diff + np.pi) % (2 * np.pi) - np.pi)
    return np.where(truth.valid, wrapped, np.nan)


def box_corners(center_xy, yaw: float, length_m: float, width_m: float) -> np.ndarray:
    """(4, 2) corners of an oriented box."""
    c, s = math.cos(yaw), math.sin(yaw)
    half = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]]) * [length_m / 2, width_m / 2]
    rot = np.array([[c, -s], [s, c]])
    return half @ rot.T + np.asarray(center_xy, dtype=np.float64)


def boxes_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test of two convex quadrilaterals (4, 2)."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        for ex, ey in edges:
            axis = np.array([-ey, ex])
            pa, pb = a @ axis, b @ axis
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


@dataclass
class ObjectSnapshots:
    """Recorded object boxes over time (map frame): per stamp an array (M, 5) of
    x, y, yaw, length, width."""

    stamps_ns: List[int] = field(default_factory=list)
    boxes: List[np.ndarray] = field(default_factory=list)

    def add(self, stamp_ns: int, boxes: np.ndarray) -> None:
        self.stamps_ns.append(int(stamp_ns))
        self.boxes.append(np.asarray(boxes, dtype=np.float64).reshape(-1, 5))

    def __len__(self) -> int:
        return len(self.stamps_ns)

    def at(self, t_ns: int, tolerance_s: float) -> Optional[np.ndarray]:
        if not self.stamps_ns:
            return None
        stamps = np.asarray(self.stamps_ns, dtype=np.int64)
        i = int(np.argmin(np.abs(stamps - t_ns)))
        return self.boxes[i] if abs(int(stamps[i]) - t_ns) <= tolerance_s * NS else None


def _collides(center_xy, yaw, boxes_ego: np.ndarray, cfg: OpenLoopConfig) -> bool:
    ego = box_corners(center_xy, yaw, cfg.ego_length_m, cfg.ego_width_m)
    return any(boxes_overlap(ego, box_corners(b[:2], b[2], b[3], b[4])) for b in boxes_ego)


def collision_steps(plan_xy: np.ndarray, truth: FutureTruth, stamp_ns: int,
                    objects: ObjectSnapshots, cfg: OpenLoopConfig) -> np.ndarray:
    """(K,) 1.0 where the planned footprint hits a recorded box, 0.0 if not, NaN if unknown
    (no snapshot near t_k, truth not covered, or the recorded ego itself overlaps a box)."""
    out = np.full(NUM_WAYPOINTS, np.nan)
    headings = plan_headings(plan_xy, cfg.min_segment_m)
    headings = np.nan_to_num(_forward_fill(headings), nan=0.0)
    for k, dt in enumerate(waypoint_offsets_ns()):
        boxes = objects.at(stamp_ns + int(dt), cfg.object_time_tolerance_s)
        if boxes is None or not truth.valid[k]:
            continue
        local = boxes.copy()
        local[:, :2] = to_ego_frame(boxes[:, :2], truth.ego_xy, truth.ego_yaw)
        local[:, 2] = boxes[:, 2] - truth.ego_yaw
        if _collides(truth.xy[k], truth.yaw[k], local, cfg):
            continue                      # the recording itself overlaps: no verdict
        out[k] = float(_collides(plan_xy[k], headings[k], local, cfg))
    return out


def _forward_fill(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    for i in range(1, len(out)):
        if np.isnan(out[i]):
            out[i] = out[i - 1]
    return out


@dataclass
class FrameMetrics:
    stamp_ns: int
    command: int
    waypoints: np.ndarray            # (K, 2) planned, ego frame
    truth_xy: Optional[np.ndarray]   # (K, 2) or None
    l2_m: np.ndarray                 # (K,)
    heading_err_rad: np.ndarray      # (K,)
    collision: np.ndarray            # (K,)
    latency_s: float

    def to_json(self) -> dict:
        return {
            'stamp_ns': int(self.stamp_ns), 'command': int(self.command),
            'waypoints': _round(self.waypoints),
            'truth_xy': None if self.truth_xy is None else _round(self.truth_xy),
            'l2_m': _round(self.l2_m), 'heading_err_rad': _round(self.heading_err_rad),
            'collision': _round(self.collision), 'latency_s': round(float(self.latency_s), 6),
        }


def _round(a: np.ndarray, nd: int = 6):
    return [None if v is None else v for v in
            np.vectorize(lambda x: None if not np.isfinite(x) else round(float(x), nd),
                         otypes=[object])(np.asarray(a, dtype=np.float64)).tolist()]


def _nanmean(values: Sequence[float]) -> Optional[float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else None


class OpenLoopRecorder:
    """Accumulates ego poses, objects and plans; computes the metrics at ``summary()``.

    Usable as is by an online recorder node: feed ``add_odometry`` from the odometry topic and
    ``add_plan`` from the planner's trajectory (stamp = sensor stamp), then call ``summary()``.
    """

    def __init__(self, config: OpenLoopConfig = OpenLoopConfig()):
        self.config = config
        self._odom: List[tuple] = []
        self.objects = ObjectSnapshots()
        self._plans: List[tuple] = []

    def add_odometry(self, stamp_ns: int, x_m: float, y_m: float, yaw_rad: float) -> None:
        self._odom.append((int(stamp_ns), float(x_m), float(y_m), float(yaw_rad)))

    def clear_odometry(self) -> None:
        """Forget the poses added so far (they were stamped on another clock)."""
        self._odom.clear()

    def add_objects(self, stamp_ns: int, boxes: np.ndarray) -> None:
        self.objects.add(stamp_ns, boxes)

    def add_plan(self, stamp_ns: int, waypoints, command: int = 3,
                 latency_s: float = float('nan')) -> None:
        wp = np.asarray(waypoints, dtype=np.float64).reshape(NUM_WAYPOINTS, 2)
        self._plans.append((int(stamp_ns), wp, int(command), float(latency_s)))

    def odometry(self) -> np.ndarray:
        """(N, 4) stamp_ns, x, y, yaw of every pose added, sorted by stamp."""
        return np.array(sorted(self._odom), dtype=np.float64).reshape(-1, 4)

    def track(self) -> EgoTrack:
        if not self._odom:
            return EgoTrack.from_samples([], np.zeros((0, 2)), [])
        a = np.array([o[1:] for o in self._odom])
        return EgoTrack.from_samples([o[0] for o in self._odom], a[:, :2], a[:, 2])

    def frames(self) -> List[FrameMetrics]:
        track = self.track()
        return [self._evaluate(track, *plan) for plan in sorted(self._plans, key=lambda p: p[0])]

    def _evaluate(self, track, stamp_ns, wp, command, latency_s) -> FrameMetrics:
        cfg, nan = self.config, np.full(NUM_WAYPOINTS, np.nan)
        truth = future_truth(track, stamp_ns, cfg)
        if truth is None:
            return FrameMetrics(stamp_ns, command, wp, None, nan, nan, nan, latency_s)
        collision = (collision_steps(wp, truth, stamp_ns, self.objects, cfg)
                     if len(self.objects) else nan)
        return FrameMetrics(stamp_ns, command, wp, truth.xy, l2_errors(wp, truth),
                            heading_errors(wp, truth, cfg), collision, latency_s)

    def summary(self, frames: Optional[List[FrameMetrics]] = None) -> Dict:
        """Metrics of the plans, and under 'constant_velocity' the same metrics of the
        constant-velocity baseline (keep the speed, straight on) at the same stamps."""
        frames = self.frames() if frames is None else frames
        out = summarize(frames, has_objects=len(self.objects) > 0)
        out['constant_velocity'] = summarize(self.baseline_frames(frames),
                                             has_objects=len(self.objects) > 0)
        return out

    def baseline_frames(self, frames: List[FrameMetrics]) -> List[FrameMetrics]:
        """The constant-velocity baseline at each frame's stamp (speed from the odometry
        over the preceding `speed_window_s`)."""
        from orion_lite_ros.planning.baselines import constant_velocity_plan
        track, cfg = self.track(), self.config
        out = []
        for f in frames:
            window = int(cfg.speed_window_s * NS)
            xy, _, valid = track.pose_at([f.stamp_ns - window, f.stamp_ns], cfg.max_gap_s)
            speed = float(np.linalg.norm(xy[1] - xy[0]) / cfg.speed_window_s) \
                if valid.all() else 0.0
            out.append(self._evaluate(track, f.stamp_ns, constant_velocity_plan(speed),
                                      f.command, float('nan')))
        return out


def _step(horizon_s: float) -> int:
    return int(round(horizon_s / WAYPOINT_DT_S)) - 1


def summarize(frames: List[FrameMetrics], has_objects: bool = False) -> Dict:
    """Aggregate metrics: means over the frames where each horizon is covered."""
    l2 = np.array([f.l2_m for f in frames]).reshape(-1, NUM_WAYPOINTS)
    head = np.array([f.heading_err_rad for f in frames]).reshape(-1, NUM_WAYPOINTS)
    out: Dict = {'frames': len(frames)}
    for h in HORIZONS_S:
        k = _step(h)
        out[f'l2_{h:g}s_m'] = _nanmean(l2[:, k])
        out[f'l2_avg_{h:g}s_m'] = _nanmean(_mean_if_all(l2[:, :k + 1]))
        out[f'heading_err_{h:g}s_deg'] = _deg(_nanmean(head[:, k]))
        out[f'frames_covering_{h:g}s'] = int(np.isfinite(l2[:, k]).sum())
    out['l2_b2d_avg_2s_m'] = _nanmean(_mean_if_all(l2[:, :B2D_AVG_STEPS]))
    out['collision'] = _collision_summary(frames) if has_objects else None
    lat = np.array([f.latency_s for f in frames], dtype=np.float64)
    lat = lat[np.isfinite(lat)]
    out['latency_s'] = None if not len(lat) else {
        'mean': float(lat.mean()), 'p50': float(np.percentile(lat, 50)),
        'p95': float(np.percentile(lat, 95)), 'max': float(lat.max())}
    return out


def _mean_if_all(block: np.ndarray) -> np.ndarray:
    """Row means, NaN for rows with any uncovered step."""
    return block.mean(axis=1)


def _deg(value: Optional[float]) -> Optional[float]:
    return None if value is None else math.degrees(value)


def _collision_summary(frames: List[FrameMetrics]) -> Dict:
    """Rate of frames whose plan collides at or before each horizon (UniAD-style)."""
    col = np.array([f.collision for f in frames]).reshape(-1, NUM_WAYPOINTS)
    out = {}
    for h in HORIZONS_S:
        block = col[:, :_step(h) + 1]
        known = np.any(np.isfinite(block), axis=1)
        hit = np.any(block == 1.0, axis=1)
        out[f'rate_{h:g}s'] = float(hit[known].mean()) if known.any() else None
        out[f'frames_{h:g}s'] = int(known.sum())
    return out
