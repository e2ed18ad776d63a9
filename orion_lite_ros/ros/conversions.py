"""nav_msgs/Odometry, nav_msgs/Path and sensor_msgs/CameraInfo <-> plain types and arrays."""
import math
from typing import Optional

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry, Path
import numpy as np
from sensor_msgs.msg import CameraInfo

from orion_lite_ros.ros.frames import quaternion_from_rpy, yaw_from_quaternion
from orion_lite_ros.ros.time import ns_to_stamp, s_to_ns, stamp_to_ns
from orion_lite_ros.types import EgoState


def ego_state_from_odometry(msg: Odometry, accel_msg=None) -> EgoState:
    """Odometry (pose in the map frame, twist in the body frame per REP-105) -> EgoState.

    ``accel_msg`` (geometry_msgs/AccelWithCovarianceStamped, optional) fills ax/ay.
    """
    pose, twist = msg.pose.pose, msg.twist.twist
    q = pose.orientation
    accel = accel_msg.accel.accel.linear if accel_msg is not None else None
    return EgoState(
        stamp_ns=stamp_to_ns(msg.header.stamp),
        x_m=pose.position.x, y_m=pose.position.y, z_m=pose.position.z,
        yaw_rad=yaw_from_quaternion(q.x, q.y, q.z, q.w),
        vx_mps=twist.linear.x, vy_mps=twist.linear.y,
        ax_mps2=accel.x if accel is not None else 0.0,
        ay_mps2=accel.y if accel is not None else 0.0,
        yaw_rate_rps=twist.angular.z,
    )


def odometry_from_ego_state(ego: EgoState, frame_id: str = 'map',
                            child_frame_id: str = 'base_link') -> Odometry:
    """EgoState -> Odometry (roll and pitch zero; covariances left at zero)."""
    msg = Odometry()
    msg.header.stamp = ns_to_stamp(ego.stamp_ns)
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    position = msg.pose.pose.position
    position.x, position.y, position.z = float(ego.x_m), float(ego.y_m), float(ego.z_m)
    q = msg.pose.pose.orientation
    q.x, q.y, q.z, q.w = quaternion_from_rpy(0.0, 0.0, float(ego.yaw_rad))
    msg.twist.twist.linear.x = float(ego.vx_mps)
    msg.twist.twist.linear.y = float(ego.vy_mps)
    msg.twist.twist.angular.z = float(ego.yaw_rate_rps)
    return msg


def path_to_array(msg: Path, dims: int = 2) -> np.ndarray:
    """Path -> (N, 2) xy or (N, 3) xyz positions, float64."""
    if dims not in (2, 3):
        raise ValueError(f'dims must be 2 or 3, got {dims}')
    points = np.array([(p.pose.position.x, p.pose.position.y, p.pose.position.z)
                       for p in msg.poses], dtype=float).reshape(-1, 3)
    return points[:, :dims]


def path_yaws(msg: Path) -> np.ndarray:
    """(N,) yaw of each pose of a Path, radians."""
    return np.array([yaw_from_quaternion(p.pose.orientation.x, p.pose.orientation.y,
                                         p.pose.orientation.z, p.pose.orientation.w)
                     for p in msg.poses], dtype=float)


def headings_along(points: np.ndarray) -> np.ndarray:
    """(N,) yaw of the direction of travel along (N, >=2) points, radians.

    Pose k faces the segment arriving at it (pose 0: the segment leaving it); a zero-length
    segment keeps the previous heading.
    """
    xy = np.asarray(points, dtype=float)[:, :2]
    yaws = np.zeros(len(xy))
    if len(xy) < 2:
        return yaws
    segments = np.diff(xy, axis=0)
    arriving = np.vstack([segments[:1], segments])   # (N, 2); pose 0 uses the first segment
    heading = 0.0
    for k, (dx, dy) in enumerate(arriving):
        if math.hypot(dx, dy) > 1e-9:
            heading = math.atan2(dy, dx)
        yaws[k] = heading
    return yaws


def path_from_array(points: np.ndarray, frame_id: str, stamp_ns: int,
                    dt_s: Optional[float] = None,
                    yaws_rad: Optional[np.ndarray] = None) -> Path:
    """(N, 2) or (N, 3) positions -> Path.

    With ``dt_s`` pose k is stamped ``stamp + (k + 1) * dt_s`` (waypoint k lies k+1 steps
    ahead); without it every pose carries ``stamp_ns``. Orientation from ``yaws_rad`` or
    along the path.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f'expected (N, 2) or (N, 3) points, got {points.shape}')
    yaws = headings_along(points) if yaws_rad is None else np.asarray(yaws_rad, dtype=float)
    msg = Path()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    for k, point in enumerate(points):
        pose = PoseStamped()
        offset_ns = s_to_ns(dt_s) * (k + 1) if dt_s is not None else 0
        pose.header.stamp = ns_to_stamp(int(stamp_ns) + offset_ns)
        pose.header.frame_id = frame_id
        pose.pose.position.x, pose.pose.position.y = float(point[0]), float(point[1])
        pose.pose.position.z = float(point[2]) if len(point) == 3 else 0.0
        q = pose.pose.orientation
        q.x, q.y, q.z, q.w = quaternion_from_rpy(0.0, 0.0, float(yaws[k]))
        msg.poses.append(pose)
    return msg


def camera_info_from_intrinsics(intrinsics: np.ndarray, width_px: int, height_px: int,
                                frame_id: str = '', stamp_ns: int = 0) -> CameraInfo:
    """(3, 3) pinhole K of an undistorted camera -> CameraInfo (D zeros, R identity, P=[K|0])."""
    k = np.asarray(intrinsics, dtype=float)
    if k.shape != (3, 3):
        raise ValueError(f'intrinsics must be (3, 3), got {k.shape}')
    msg = CameraInfo()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(width_px), int(height_px)
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = k.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = np.hstack([k, np.zeros((3, 1))]).reshape(-1).tolist()
    return msg


def intrinsics_from_camera_info(msg: CameraInfo) -> np.ndarray:
    """CameraInfo -> (3, 3) K (from P for rectified images when K is unset)."""
    k = np.asarray(msg.k, dtype=float).reshape(3, 3)
    if not k.any():
        k = np.asarray(msg.p, dtype=float).reshape(3, 4)[:, :3]
    return k
