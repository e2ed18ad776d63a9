"""Plane geometry on numpy arrays: polylines, projections, oriented boxes (REP-103, metres)."""
from typing import Tuple

import numpy as np


def wrap_angle(angle_rad):
    """Wrap to (-pi, pi]."""
    return (np.asarray(angle_rad) + np.pi) % (2.0 * np.pi) - np.pi


def rot2(yaw_rad: float) -> np.ndarray:
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, -s], [s, c]])


def arc_length(xy: np.ndarray) -> np.ndarray:
    """Cumulative arc length (N,) of a polyline (N, 2)."""
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def resample(xy: np.ndarray, step_m: float) -> np.ndarray:
    """Resample a polyline (N, 2) at a fixed spacing, keeping both ends."""
    s = arc_length(xy)
    n = max(2, int(np.ceil(s[-1] / step_m)) + 1)
    s_new = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(s_new, s, xy[:, 0]), np.interp(s_new, s, xy[:, 1])], axis=1)


def headings(xy: np.ndarray) -> np.ndarray:
    """Heading (N,) of a polyline at each vertex (forward differences, last repeated)."""
    d = np.diff(xy, axis=0)
    h = np.arctan2(d[:, 1], d[:, 0])
    return np.concatenate([h, h[-1:]])


def offset(xy: np.ndarray, left_m: float) -> np.ndarray:
    """Polyline shifted sideways by ``left_m`` (positive = left of the direction of travel)."""
    h = headings(xy)
    if len(xy) > 2:  # average adjacent segment headings at interior vertices
        h[1:-1] = h[:-2] + 0.5 * wrap_angle(h[1:-1] - h[:-2])
    normal = np.stack([-np.sin(h), np.cos(h)], axis=1)
    return xy + left_m * normal


def interp_pose(xy: np.ndarray, s_cum: np.ndarray, s: float) -> Tuple[float, float, float]:
    """(x, y, yaw) at arc length ``s`` (clamped to the polyline)."""
    s = float(np.clip(s, 0.0, s_cum[-1]))
    i = int(np.clip(np.searchsorted(s_cum, s, side='right') - 1, 0, len(xy) - 2))
    seg = xy[i + 1] - xy[i]
    seg_len = max(s_cum[i + 1] - s_cum[i], 1e-9)
    p = xy[i] + seg * (s - s_cum[i]) / seg_len
    return float(p[0]), float(p[1]), float(np.arctan2(seg[1], seg[0]))


def project(xy: np.ndarray, s_cum: np.ndarray, point, lo: int = 0, hi: int = None
            ) -> Tuple[float, float]:
    """(arc length, signed lateral offset, + = left) of ``point`` on segments [lo, hi)."""
    hi = len(xy) - 1 if hi is None else min(hi, len(xy) - 1)
    lo = min(max(lo, 0), hi - 1)
    a, b = xy[lo:hi], xy[lo + 1:hi + 1]
    ab = b - a
    ab_len2 = np.maximum(np.einsum('ij,ij->i', ab, ab), 1e-12)
    ap = np.asarray(point, dtype=float)[None, :2] - a
    t = np.clip(np.einsum('ij,ij->i', ap, ab) / ab_len2, 0.0, 1.0)
    closest = a + ab * t[:, None]
    dist2 = np.sum((np.asarray(point)[None, :2] - closest) ** 2, axis=1)
    k = int(np.argmin(dist2))
    cross = ab[k, 0] * ap[k, 1] - ab[k, 1] * ap[k, 0]
    lateral = np.sqrt(dist2[k]) * (1.0 if cross >= 0 else -1.0)
    return float(s_cum[lo + k] + t[k] * np.sqrt(ab_len2[k])), float(lateral)


def distance_to_polyline(points: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Unsigned distance (M,) from points (M, 2) to a polyline (N, 2)."""
    a, ab = xy[:-1], np.diff(xy, axis=0)
    ab_len2 = np.maximum(np.einsum('ij,ij->i', ab, ab), 1e-12)
    ap = points[:, None, :] - a[None]                              # (M, N-1, 2)
    t = np.clip(np.einsum('mnk,nk->mn', ap, ab) / ab_len2, 0.0, 1.0)
    diff = ap - t[..., None] * ab[None]
    return np.sqrt(np.min(np.sum(diff ** 2, axis=2), axis=1))


def box_corners(x_m: float, y_m: float, yaw_rad: float, half_length_m: float,
                half_width_m: float) -> np.ndarray:
    """Corners (4, 2) of an oriented box, counter-clockwise from front-left."""
    local = np.array([[half_length_m, half_width_m], [-half_length_m, half_width_m],
                      [-half_length_m, -half_width_m], [half_length_m, -half_width_m]])
    return local @ rot2(yaw_rad).T + np.array([x_m, y_m])


def boxes_overlap(corners_a: np.ndarray, corners_b: np.ndarray) -> bool:
    """Separating-axis test for two convex quadrilaterals (4, 2)."""
    for corners in (corners_a, corners_b):
        edges = np.roll(corners, -1, axis=0) - corners
        for ex, ey in edges[:2]:
            axis = np.array([-ey, ex])
            pa, pb = corners_a @ axis, corners_b @ axis
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


def point_in_polygon(point, polygon: np.ndarray) -> bool:
    """Even-odd rule for a simple polygon (K, 2)."""
    x, y = float(point[0]), float(point[1])
    inside = False
    xs, ys = polygon[:, 0], polygon[:, 1]
    xj, yj = xs[-1], ys[-1]
    for xi, yi in zip(xs, ys):
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi + 1e-12) + xi:
            inside = not inside
        xj, yj = xi, yi
    return inside


def smooth_path(p0, h0: float, p1, h1: float, n: int = 20) -> np.ndarray:
    """Cubic Bezier (n, 2) from pose (p0, h0) to pose (p1, h1); handles a third of the span."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    k = np.linalg.norm(p1 - p0) / 3.0
    c0 = p0 + k * np.array([np.cos(h0), np.sin(h0)])
    c1 = p1 - k * np.array([np.cos(h1), np.sin(h1)])
    t = np.linspace(0.0, 1.0, n)[:, None]
    return ((1 - t) ** 3) * p0 + 3 * ((1 - t) ** 2) * t * c0 + 3 * (1 - t) * t ** 2 * c1 \
        + t ** 3 * p1
