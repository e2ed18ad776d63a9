"""CARLA (left-handed) <-> REP-103 (right-handed) conversions; the only place that knows CARLA.

CARLA: x forward, y right, z up, metres; rotations in degrees with yaw positive clockwise
seen from above, pitch positive nose up, roll positive right side down.
REP-103: x forward, y left, z up, metres; radians, all angles by the right-hand rule.
Mirroring y gives: y -> -y, roll -> roll, pitch -> -pitch, yaw -> -yaw (angles also
deg -> rad); angular velocity (deg/s in CARLA) maps like the angles.
"""
import math
from typing import Tuple

import numpy as np

_MIRROR_Y = np.array([1.0, -1.0, 1.0])


def wrap_angle_rad(angle_rad: float) -> float:
    """Angle in [-pi, pi)."""
    return (float(angle_rad) + math.pi) % (2.0 * math.pi) - math.pi


def carla_to_ros_points(points_carla: np.ndarray) -> np.ndarray:
    """(..., 3) CARLA locations or velocities -> REP-103 (y negated). Involution."""
    points = np.asarray(points_carla, dtype=float)
    return points * _MIRROR_Y


ros_to_carla_points = carla_to_ros_points


def carla_location_to_ros(x_m: float, y_m: float, z_m: float) -> np.ndarray:
    return carla_to_ros_points([x_m, y_m, z_m])


def ros_location_to_carla(x_m: float, y_m: float, z_m: float) -> np.ndarray:
    return ros_to_carla_points([x_m, y_m, z_m])


def carla_yaw_deg_to_ros_rad(yaw_deg: float) -> float:
    return wrap_angle_rad(-math.radians(yaw_deg))


def ros_yaw_rad_to_carla_deg(yaw_rad: float) -> float:
    return -math.degrees(wrap_angle_rad(yaw_rad))


def carla_rotation_to_ros(roll_deg: float, pitch_deg: float,
                          yaw_deg: float) -> Tuple[float, float, float]:
    """CARLA rotation (degrees) -> REP-103 (roll, pitch, yaw) in radians.

    Argument order is roll, pitch, yaw (carla.Rotation's constructor is pitch, yaw, roll).
    """
    return (wrap_angle_rad(math.radians(roll_deg)), wrap_angle_rad(-math.radians(pitch_deg)),
            wrap_angle_rad(-math.radians(yaw_deg)))


def ros_rotation_to_carla(roll_rad: float, pitch_rad: float,
                          yaw_rad: float) -> Tuple[float, float, float]:
    """REP-103 (roll, pitch, yaw) radians -> CARLA (roll, pitch, yaw) degrees."""
    return (math.degrees(roll_rad), -math.degrees(pitch_rad), -math.degrees(yaw_rad))


def carla_angular_velocity_to_ros(angular_deg_s: np.ndarray) -> np.ndarray:
    """(..., 3) CARLA angular velocity in deg/s -> REP-103 rad/s (x kept, y and z negated)."""
    return np.radians(np.asarray(angular_deg_s, dtype=float)) * np.array([1.0, -1.0, -1.0])


def ros_angular_velocity_to_carla(angular_rad_s: np.ndarray) -> np.ndarray:
    return np.degrees(np.asarray(angular_rad_s, dtype=float) * np.array([1.0, -1.0, -1.0]))


def rotation_from_rpy(roll_rad: float, pitch_rad: float, yaw_rad: float) -> np.ndarray:
    """(3, 3) rotation R = Rz(yaw) Ry(pitch) Rx(roll), REP-103 fixed-axis roll-pitch-yaw."""
    cr, sr = math.cos(roll_rad), math.sin(roll_rad)
    cp, sp = math.cos(pitch_rad), math.sin(pitch_rad)
    cy, sy = math.cos(yaw_rad), math.sin(yaw_rad)
    return np.array([
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ])


def rpy_from_rotation(rotation: np.ndarray) -> Tuple[float, float, float]:
    """Inverse of :func:`rotation_from_rpy` (pitch in [-pi/2, pi/2])."""
    r = np.asarray(rotation, dtype=float)
    pitch = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    return math.atan2(r[2, 1], r[2, 2]), pitch, math.atan2(r[1, 0], r[0, 0])


def quaternion_from_rpy(roll_rad: float, pitch_rad: float,
                        yaw_rad: float) -> Tuple[float, float, float, float]:
    """(x, y, z, w) quaternion of R = Rz(yaw) Ry(pitch) Rx(roll)."""
    cr, sr = math.cos(roll_rad / 2), math.sin(roll_rad / 2)
    cp, sp = math.cos(pitch_rad / 2), math.sin(pitch_rad / 2)
    cy, sy = math.cos(yaw_rad / 2), math.sin(yaw_rad / 2)
    return (sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy)


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Yaw (rad, REP-103) of a quaternion of any non-zero norm (the norm cancels: the
    cosine term is w^2 + x^2 - y^2 - z^2, not 1 - 2 (y^2 + z^2), which holds only at norm 1)."""
    return math.atan2(2.0 * (w * z + x * y), w * w + x * x - y * y - z * z)


def transform_from_pose(position_m: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(4, 4) homogeneous transform from a (3,) translation and a (3, 3) rotation."""
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = np.asarray(position_m, dtype=float)
    return transform


def carla_transform_to_ros(location_m: np.ndarray, roll_deg: float = 0.0,
                           pitch_deg: float = 0.0, yaw_deg: float = 0.0) -> np.ndarray:
    """CARLA location (x, y, z) + rotation (degrees) -> (4, 4) REP-103 child-to-parent."""
    rotation = rotation_from_rpy(*carla_rotation_to_ros(roll_deg, pitch_deg, yaw_deg))
    return transform_from_pose(carla_to_ros_points(location_m), rotation)


def ros_transform_to_carla(transform: np.ndarray) -> Tuple[np.ndarray, float, float, float]:
    """(4, 4) REP-103 transform -> (CARLA location (3,), roll_deg, pitch_deg, yaw_deg)."""
    transform = np.asarray(transform, dtype=float)
    roll_deg, pitch_deg, yaw_deg = ros_rotation_to_carla(*rpy_from_rotation(transform[:3, :3]))
    return ros_to_carla_points(transform[:3, 3]), roll_deg, pitch_deg, yaw_deg
