"""Input checks at the message edge (no rclpy): what a node refuses before any planning.

Each check either returns a clean value or raises :class:`InputError` whose text says what was
wrong; nodes count the refusal per input and go on. Rules:

- quaternions: finite and of norm > ``MIN_QUATERNION_NORM`` are normalised (a norm of 1.05
  already turns 90 deg into 95.3 deg through the yaw formula); zero or non-finite -> refused;
- odometry: finite position and twist, a valid orientation;
- routes: non-finite points dropped, repeated points merged; fewer than 2 distinct points
  left -> ``None`` ("no route");
- CameraInfo K: finite, fx, fy > 0, last row (0, 0, 1), principal point inside the image when
  the size is given;
- stamps: ahead of the node clock by more than a tolerance -> refused (a future stamp must
  never count as fresh forever).
"""
import math
from typing import Optional, Tuple

import numpy as np

MIN_QUATERNION_NORM = 1e-3


class InputError(ValueError):
    """An input message refused at the edge; the text says why."""


def unit_quaternion(x: float, y: float, z: float, w: float) -> Tuple[float, float, float, float]:
    """(x, y, z, w) normalised; zero, tiny or non-finite -> InputError."""
    values = (float(x), float(y), float(z), float(w))
    if not all(math.isfinite(v) for v in values):
        raise InputError(f'quaternion not finite: {values}')
    norm = math.sqrt(sum(v * v for v in values))
    if norm < MIN_QUATERNION_NORM:
        raise InputError(f'quaternion of norm {norm:.3g} (no orientation)')
    return tuple(v / norm for v in values)


def _finite(name: str, *values: float) -> None:
    if not all(math.isfinite(float(v)) for v in values):
        raise InputError(f'{name} not finite: {tuple(float(v) for v in values)}')


def checked_odometry(msg):
    """nav_msgs/Odometry (duck-typed) -> EgoState with a normalised orientation, or
    InputError naming the bad field."""
    from orion_lite_ros.ros.frames import yaw_from_quaternion
    from orion_lite_ros.ros.time import stamp_to_ns
    from orion_lite_ros.types import EgoState
    pose, twist = msg.pose.pose, msg.twist.twist
    p, q = pose.position, pose.orientation
    _finite('odometry position', p.x, p.y, p.z)
    _finite('odometry twist', twist.linear.x, twist.linear.y, twist.angular.z)
    qx, qy, qz, qw = unit_quaternion(q.x, q.y, q.z, q.w)
    return EgoState(stamp_ns=stamp_to_ns(msg.header.stamp), x_m=p.x, y_m=p.y, z_m=p.z,
                    yaw_rad=yaw_from_quaternion(qx, qy, qz, qw), vx_mps=twist.linear.x,
                    vy_mps=twist.linear.y, yaw_rate_rps=twist.angular.z)


def route_points(points) -> Optional[np.ndarray]:
    """(N, 2) route polyline -> finite, de-duplicated (M, 2), or None when fewer than 2
    distinct points remain (an empty, single-point or NaN route is no route)."""
    route = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    route = route[np.all(np.isfinite(route), axis=1)]
    if len(route) < 2:
        return None
    keep = np.concatenate([[True], np.linalg.norm(np.diff(route, axis=0), axis=1) > 1e-6])
    route = route[keep]
    return route if len(route) >= 2 else None


def checked_intrinsics(msg) -> np.ndarray:
    """sensor_msgs/CameraInfo (duck-typed) -> (3, 3) K, from P when K is all zero; a K that
    cannot be a pinhole camera -> InputError."""
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not k.any():
        k = np.asarray(msg.p, dtype=np.float64).reshape(3, 4)[:, :3]
    if not np.all(np.isfinite(k)):
        raise InputError('CameraInfo K not finite')
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        raise InputError(f'CameraInfo K focal lengths must be > 0, got fx={k[0, 0]:g} '
                         f'fy={k[1, 1]:g}')
    if not np.allclose(k[2], [0.0, 0.0, 1.0]) or k[1, 0] != 0.0:
        raise InputError(f'CameraInfo K is not a pinhole matrix: {k.tolist()}')
    width, height = int(getattr(msg, 'width', 0)), int(getattr(msg, 'height', 0))
    if width > 0 and height > 0 and not (0 <= k[0, 2] <= width and 0 <= k[1, 2] <= height):
        raise InputError(f'CameraInfo principal point ({k[0, 2]:g}, {k[1, 2]:g}) outside '
                         f'the {width}x{height} image')
    return k


def future_by_s(stamp_ns: int, now_ns: int) -> float:
    """How far ``stamp_ns`` lies ahead of ``now_ns`` (s, 0 when not ahead). A clock at 0 (sim
    time before the first /clock message) is not a clock yet: 0."""
    if int(now_ns) <= 0:
        return 0.0
    return max(0.0, (int(stamp_ns) - int(now_ns)) * 1e-9)


def check_not_future(what: str, stamp_ns: int, now_ns: int, tolerance_s: float) -> None:
    """InputError when ``stamp_ns`` is more than ``tolerance_s`` ahead of the node clock."""
    ahead = future_by_s(stamp_ns, now_ns)
    if ahead > tolerance_s:
        raise InputError(f'{what} stamped {ahead:.3g} s ahead of the node clock '
                         f'(tolerance {tolerance_s:g} s)')
