"""Camera rig: YAML in CARLA coordinates -> intrinsics and cam_to_ego in REP-103.

``cam_to_ego`` maps points in the camera *optical* frame (z forward, x right, y down) to the
ego frame (base_link, REP-103: x forward, y left, z up). Cameras are in
``layout.CAMERA_NAMES`` order.
"""
from dataclasses import dataclass, replace
import math
from pathlib import Path
from typing import Mapping, Tuple, Union

import numpy as np

from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.paths import config_file
from orion_lite_ros.ros.frames import carla_transform_to_ros

DEFAULT_RIG_FILENAME = 'rig_bench2drive.yaml'
# Columns: optical x (right), y (down), z (forward) expressed in the camera body frame
# (x forward, y left, z up).
OPTICAL_TO_BODY = np.array([[0.0, 0.0, 1.0],
                            [-1.0, 0.0, 0.0],
                            [0.0, -1.0, 0.0]])


def intrinsics_from_fov(fov_deg: float, width_px: int, height_px: int) -> np.ndarray:
    """(3, 3) pinhole K of a CARLA camera: square pixels, horizontal FOV, centred."""
    focal_px = width_px / (2.0 * math.tan(math.radians(fov_deg) / 2.0))
    return np.array([[focal_px, 0.0, width_px / 2.0],
                     [0.0, focal_px, height_px / 2.0],
                     [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class CameraSpec:
    """One camera; pose as given in CARLA coordinates (see the YAML)."""

    name: str
    x_m: float
    y_m: float             # CARLA: positive = right
    z_m: float
    yaw_deg: float         # CARLA: positive = clockwise from above
    fov_deg: float
    width_px: int
    height_px: int
    pitch_deg: float = 0.0
    roll_deg: float = 0.0

    @property
    def intrinsics(self) -> np.ndarray:
        """(3, 3) K in pixels of ``width_px`` x ``height_px`` images."""
        return intrinsics_from_fov(self.fov_deg, self.width_px, self.height_px)

    @property
    def cam_to_ego(self) -> np.ndarray:
        """(4, 4) optical frame -> REP-103 ego frame."""
        body_to_ego = carla_transform_to_ros([self.x_m, self.y_m, self.z_m], self.roll_deg,
                                             self.pitch_deg, self.yaw_deg)
        optical_to_body = np.eye(4)
        optical_to_body[:3, :3] = OPTICAL_TO_BODY
        return body_to_ego @ optical_to_body

    def scaled(self, width_px: int, height_px: int) -> 'CameraSpec':
        """Same camera for resized images (FOV is horizontal; the aspect may change)."""
        return replace(self, width_px=int(width_px), height_px=int(height_px))


@dataclass(frozen=True)
class Rig:
    name: str
    cameras: Tuple[CameraSpec, ...]   # layout.CAMERA_NAMES order

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(c.name for c in self.cameras)

    def camera(self, name: str) -> CameraSpec:
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise KeyError(f'no camera {name!r} in rig {self.name!r} ({self.names})')

    def intrinsics(self) -> np.ndarray:
        """(N_cam, 3, 3)."""
        return np.stack([c.intrinsics for c in self.cameras])

    def cam_to_ego(self) -> np.ndarray:
        """(N_cam, 4, 4)."""
        return np.stack([c.cam_to_ego for c in self.cameras])

    def scaled(self, width_px: int, height_px: int) -> 'Rig':
        return replace(self, cameras=tuple(c.scaled(width_px, height_px) for c in self.cameras))


def rig_from_dict(data: Mapping, camera_names: Tuple[str, ...] = CAMERA_NAMES) -> Rig:
    """Parse the ``rig:`` mapping of a rig YAML; cameras ordered as ``camera_names``."""
    cameras = data['cameras']
    missing = [n for n in camera_names if n not in cameras]
    extra = [n for n in cameras if n not in camera_names]
    if missing or extra:
        raise ValueError(f'rig cameras differ from {camera_names}: missing {missing}, '
                         f'extra {extra}')
    width, height = int(data['image_width_px']), int(data['image_height_px'])
    specs = []
    for name in camera_names:
        fields = dict(cameras[name])
        fields.setdefault('width_px', width)
        fields.setdefault('height_px', height)
        specs.append(CameraSpec(name=name, **fields))
    return Rig(name=str(data.get('name', 'rig')), cameras=tuple(specs))


def default_rig_path() -> Path:
    """config/rig_bench2drive.yaml: source tree first, then the ament share directory."""
    return config_file(DEFAULT_RIG_FILENAME)


def load_rig(path: Union[str, Path, None] = None,
             camera_names: Tuple[str, ...] = CAMERA_NAMES) -> Rig:
    """Load a rig YAML (default: the Bench2Drive rig)."""
    import yaml
    path = Path(path) if path else default_rig_path()
    with open(path) as stream:
        data = yaml.safe_load(stream)
    return rig_from_dict(data['rig'], camera_names)
