"""What Autoware's planners publish, as arrays (pure: numpy only; messages in ``ros/autoware.py``).

Autoware's trajectory followers take ``autoware_planning_msgs/Trajectory`` in the ``map``
frame, starting at the ego, with heading, velocity and acceleration at every point
(autoware_tensorrt_vad moves its ego-frame plan into the map with the base_link -> map pose).
Our plan is six ego-frame waypoints 0.5 s apart; the ego pose is the one at the sensor stamp
(``FrameInputs.ego``). ``trajectory_in_map`` prepends the ego, moves the points into the map
frame and fills, per point:

- heading: point 0 the ego's yaw; inner points the direction from the previous to the next
  point; the last point its incoming segment's direction; a segment under ``min_segment_m``
  (standing still) keeps the previous heading;
- longitudinal velocity: point 0 the measured ego speed; inner points the mean of the two
  adjacent segment speeds; the last point its segment's speed (never negative: no reversing);
- acceleration and heading rate: central differences over time (one-sided at the ends).

``objects_in_map`` does the same for the detection head's objects (REP-103 ego frame) with
Autoware's ObjectClassification labels.
"""
from dataclasses import dataclass
from typing import List

import numpy as np

from orion_lite_ros.layout import WAYPOINT_DT_S

MIN_SEGMENT_M = 0.05

# Autoware ObjectClassification labels.
UNKNOWN, CAR, TRUCK, BUS, TRAILER, MOTORCYCLE, BICYCLE, PEDESTRIAN = range(8)
# The detection head's 9 classes (Bench2Drive's, as ORION trains them) [unverified order:
# car, van, truck, bicycle, traffic_sign, traffic_cone, traffic_light, pedestrian, others].
# Signs and lights are not obstacles (None: not published); cones and others are UNKNOWN.
DETECTION_TO_AUTOWARE = (CAR, CAR, TRUCK, BICYCLE, None, UNKNOWN, None, PEDESTRIAN, UNKNOWN)


@dataclass(frozen=True)
class TrajectoryArrays:
    """N points of a trajectory, map frame (REP-103), ``t_s`` from the sensor stamp."""

    t_s: np.ndarray              # (N,) s
    xy: np.ndarray               # (N, 2) m
    yaw: np.ndarray              # (N,) rad
    velocity_mps: np.ndarray     # (N,) longitudinal, >= 0
    accel_mps2: np.ndarray       # (N,)
    yaw_rate_rps: np.ndarray     # (N,)


def ego_to_map(points_xy: np.ndarray, x_m: float, y_m: float, yaw_rad: float) -> np.ndarray:
    """(N, 2) ego-frame points -> map frame for an ego at (x, y, yaw)."""
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    return np.stack([x_m + c * pts[:, 0] - s * pts[:, 1],
                     y_m + s * pts[:, 0] + c * pts[:, 1]], axis=-1)


def _headings(xy: np.ndarray, yaw0: float, min_segment_m: float) -> np.ndarray:
    n = len(xy)
    yaw = np.empty(n)
    yaw[0] = yaw0
    for k in range(1, n):
        d = xy[min(k + 1, n - 1)] - xy[k - 1] if k < n - 1 else xy[k] - xy[k - 1]
        yaw[k] = np.arctan2(d[1], d[0]) if np.hypot(*d) >= min_segment_m else yaw[k - 1]
    return np.unwrap(yaw)


def _velocities(xy: np.ndarray, v0: float, dt: float) -> np.ndarray:
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=-1) / dt          # (N-1,)
    v = np.empty(len(xy))
    v[0] = abs(v0)
    v[1:-1] = 0.5 * (seg[:-1] + seg[1:])
    v[-1] = seg[-1]
    return v


def trajectory_in_map(waypoints_ego: np.ndarray, x_m: float, y_m: float, yaw_rad: float,
                      speed_mps: float, dt_s: float = WAYPOINT_DT_S,
                      min_segment_m: float = MIN_SEGMENT_M) -> TrajectoryArrays:
    """The ego then the (K, 2) ego-frame waypoints, in the map frame with kinematics."""
    pts = np.concatenate([np.zeros((1, 2)), np.asarray(waypoints_ego, np.float64)], axis=0)
    xy = ego_to_map(pts, x_m, y_m, yaw_rad)
    t = np.arange(len(xy)) * dt_s
    yaw = _headings(xy, float(yaw_rad), min_segment_m)
    v = _velocities(xy, speed_mps, dt_s)
    return TrajectoryArrays(t_s=t, xy=xy, yaw=yaw, velocity_mps=v,
                            accel_mps2=np.gradient(v, dt_s), yaw_rate_rps=np.gradient(yaw, dt_s))


def candidate_trajectories(all_modes: np.ndarray, x_m: float, y_m: float, yaw_rad: float,
                           speed_mps: float) -> List[TrajectoryArrays]:
    """One map-frame trajectory per command mode, (C, K, 2) -> C trajectories (all modes,
    also those never trained: the node says which one it follows)."""
    return [trajectory_in_map(mode, x_m, y_m, yaw_rad, speed_mps)
            for mode in np.asarray(all_modes, dtype=np.float64)]


@dataclass(frozen=True)
class ObjectArrays:
    """M objects, map frame; velocities in each object's own frame (Autoware's twist)."""

    label: np.ndarray            # (M,) Autoware ObjectClassification label
    score: np.ndarray            # (M,)
    xyz: np.ndarray              # (M, 3) m
    yaw: np.ndarray              # (M,) rad
    size_lwh: np.ndarray         # (M, 3) length, width, height (m)
    velocity_body: np.ndarray    # (M, 2) m/s, object frame
    paths_xy: np.ndarray         # (M, P, T, 2) predicted positions, map frame
    path_yaw: np.ndarray         # (M, P, T) headings along the paths
    path_confidence: np.ndarray  # (M, P)


def objects_in_map(objects, x_m: float, y_m: float, yaw_rad: float,
                   min_score: float = 0.0) -> ObjectArrays:
    """The detection head's ``Objects`` (REP-103 ego frame) -> map frame, Autoware labels;
    classes without an Autoware obstacle label (signs, lights) and low scores dropped."""
    labels = np.asarray(objects.labels, dtype=np.int64)
    mapped = np.array([DETECTION_TO_AUTOWARE[k] if 0 <= k < len(DETECTION_TO_AUTOWARE)
                       else UNKNOWN for k in labels], dtype=object)
    keep = np.array([m is not None for m in mapped], dtype=bool) & (
        np.asarray(objects.scores) >= min_score)
    centres = np.asarray(objects.centres, np.float64)[keep].reshape(-1, 3)
    xy = ego_to_map(centres[:, :2], x_m, y_m, yaw_rad)
    obj_yaw_ego = np.asarray(objects.yaws, np.float64)[keep]
    vel_ego = np.asarray(objects.velocities, np.float64)[keep].reshape(-1, 2)
    c, s = np.cos(obj_yaw_ego), np.sin(obj_yaw_ego)             # ego frame -> object frame
    vel_body = np.stack([c * vel_ego[:, 0] + s * vel_ego[:, 1],
                         -s * vel_ego[:, 0] + c * vel_ego[:, 1]], axis=-1)
    wlh = np.asarray(objects.sizes, np.float64)[keep].reshape(-1, 3)
    trajs = np.asarray(objects.trajectories, np.float64)[keep]
    m, p, t = trajs.shape[:3] if trajs.ndim == 4 else (0, 0, 0)
    paths = ego_to_map(trajs.reshape(-1, 2), x_m, y_m, yaw_rad).reshape(m, p, t, 2)
    start = np.broadcast_to(xy[:, None, None, :], (m, p, 1, 2))
    steps = np.diff(np.concatenate([start, paths], axis=2), axis=2)
    path_yaw = np.unwrap(np.arctan2(steps[..., 1], steps[..., 0]), axis=-1) if t else \
        np.zeros((m, p, 0))
    return ObjectArrays(
        label=mapped[keep].astype(np.int64), score=np.asarray(objects.scores)[keep],
        xyz=np.concatenate([xy, centres[:, 2:3]], axis=-1),
        yaw=obj_yaw_ego + yaw_rad, size_lwh=wlh[:, [1, 0, 2]], velocity_body=vel_body,
        paths_xy=paths, path_yaw=path_yaw,
        path_confidence=np.asarray(objects.trajectory_scores, np.float64)[keep].reshape(m, p))
