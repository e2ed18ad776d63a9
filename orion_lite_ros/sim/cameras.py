"""Bench2Drive camera rig in the ego frame (REP-103) and its pinhole model at any image size.

Converted from Bench2Drive's CARLA rig (x forward, y right, yaw clockwise): y and yaw change
sign. Poses come from the one shared rig file, ``config/rig_bench2drive.yaml`` (``ros/rig.py``).
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


def _rig_from_yaml() -> Dict[str, CameraPose]:
    """The shared rig (config/rig_bench2drive.yaml via ros.rig), converted to REP-103 poses."""
    from orion_lite_ros.ros.rig import load_rig
    poses = {}
    for cam in load_rig().cameras:
        poses[cam.name] = CameraPose(cam.x_m, -cam.y_m, cam.z_m, np.radians(-cam.yaw_deg),
                                     np.radians(cam.fov_deg))
    return poses


BENCH2DRIVE_RIG: Dict[str, CameraPose] = _rig_from_yaml()
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
