"""Bench2Drive camera rig in the ego frame (REP-103) and its pinhole model at any image size.

Converted from Bench2Drive's CARLA rig (x forward, y right, yaw clockwise): y and yaw change
sign. All cameras are 1.60 m above the ground. This table is the simulator's own copy; the ROS
side reads ``config/rig_bench2drive.yaml`` (``ros/rig.py``), which holds the same numbers.
"""
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from orion_lite_ros.layout import CAMERA_NAMES


@dataclass(frozen=True)
class CameraPose:
    x_m: float
    y_m: float
    z_m: float
    yaw_rad: float           # REP-103, about ego z (+ = left)
    hfov_rad: float          # horizontal field of view


BENCH2DRIVE_RIG: Dict[str, CameraPose] = {
    'CAM_FRONT': CameraPose(0.80, 0.00, 1.60, np.radians(0.0), np.radians(70.0)),
    'CAM_FRONT_RIGHT': CameraPose(0.27, -0.55, 1.60, np.radians(-55.0), np.radians(70.0)),
    'CAM_FRONT_LEFT': CameraPose(0.27, 0.55, 1.60, np.radians(55.0), np.radians(70.0)),
    'CAM_BACK': CameraPose(-2.00, 0.00, 1.60, np.radians(180.0), np.radians(110.0)),
    'CAM_BACK_LEFT': CameraPose(-0.32, 0.55, 1.60, np.radians(110.0), np.radians(70.0)),
    'CAM_BACK_RIGHT': CameraPose(-0.32, -0.55, 1.60, np.radians(-110.0), np.radians(70.0)),
}
assert tuple(BENCH2DRIVE_RIG) == tuple(sorted(BENCH2DRIVE_RIG, key=CAMERA_NAMES.index))


def intrinsics(pose: CameraPose, size_hw: Tuple[int, int]) -> np.ndarray:
    """(3, 3) pinhole matrix, square pixels, horizontal FOV kept at any aspect ratio."""
    h, w = size_hw
    f = 0.5 * w / np.tan(0.5 * pose.hfov_rad)
    return np.array([[f, 0.0, 0.5 * w], [0.0, f, 0.5 * h], [0.0, 0.0, 1.0]])


def vertical_fov_rad(pose: CameraPose, size_hw: Tuple[int, int]) -> float:
    h, w = size_hw
    return float(2.0 * np.arctan(np.tan(0.5 * pose.hfov_rad) * h / w))


def axes_in_ego(pose: CameraPose) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward, right, up) unit vectors of the camera in the ego frame."""
    c, s = np.cos(pose.yaw_rad), np.sin(pose.yaw_rad)
    return np.array([c, s, 0.0]), np.array([s, -c, 0.0]), np.array([0.0, 0.0, 1.0])


def cam_to_ego(pose: CameraPose) -> np.ndarray:
    """(4, 4) optical frame (z forward, x right, y down) -> ego frame."""
    forward, right, up = axes_in_ego(pose)
    t = np.eye(4)
    t[:3, 0], t[:3, 1], t[:3, 2] = right, -up, forward
    t[:3, 3] = (pose.x_m, pose.y_m, pose.z_m)
    return t
