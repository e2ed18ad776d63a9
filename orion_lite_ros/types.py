"""Plain data passed between layers (no ROS, no torch). Arrays are numpy."""
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Optional

import numpy as np


@dataclass(frozen=True)
class EgoState:
    """Ego kinematics in the map frame (REP-103). Velocities/accelerations in the body frame."""

    stamp_ns: int
    x_m: float
    y_m: float
    z_m: float
    yaw_rad: float
    vx_mps: float          # body frame, forward
    vy_mps: float = 0.0    # body frame, left
    ax_mps2: float = 0.0
    ay_mps2: float = 0.0
    yaw_rate_rps: float = 0.0

    @property
    def speed_mps(self) -> float:
        return float(np.hypot(self.vx_mps, self.vy_mps))


@dataclass(frozen=True)
class FrameInputs:
    """One synchronised frame set, as the planner consumes it."""

    stamp_ns: int
    images: np.ndarray           # (N_cam, H, W, 3) uint8 RGB, CAMERA_NAMES order
    intrinsics: np.ndarray       # (N_cam, 3, 3) float, pixels of `images`
    cam_to_ego: np.ndarray       # (N_cam, 4, 4) float, REP-103 ego frame, camera optical frame
    ego: EgoState
    command: int                 # layout.Command
    target_point: np.ndarray     # (2,) float, ego frame, metres
    source_jpeg_quality: Optional[int] = None   # images decoded from JPEGs of this quality
                                                # (at most; None: raw or other codecs)


def without_images(frame: FrameInputs) -> FrameInputs:
    """`frame` with an empty (N_cam, 0, 0, 3) image array in place of its camera images (a
    new array: a view would keep the images alive)."""
    n = np.asarray(frame.images).shape[0]
    return replace(frame, images=np.empty((n, 0, 0, 3), np.uint8))


@dataclass
class PlanResult:
    """What the planner returns for one frame."""

    stamp_ns: int
    waypoints: np.ndarray        # (NUM_WAYPOINTS, 2) ego frame, metres
    all_modes: np.ndarray        # (NUM_COMMANDS, NUM_WAYPOINTS, 2)
    command: int                 # the mode planned with (see command_requested)
    planning_token: Optional[np.ndarray] = None   # (D_token,)
    timing_s: Dict[str, float] = field(default_factory=dict)
    objects: Optional[Any] = None    # model.decode.Objects: detected agents, ego frame
    lanes: Optional[Any] = None      # model.decode.Lanes: map lanes, ego frame
    command_requested: Optional[int] = None   # the frame's command; differs from `command`
                                              # when the checkpoint never trained that mode
    wait_prob: Optional[float] = None   # students with the go/wait gate: its wait probability


@dataclass(frozen=True)
class VehicleCommand:
    """Controller output: CARLA-style pedals plus Ackermann-style targets."""

    throttle: float              # [0, 1]
    steer: float                 # [-1, 1], positive = right (CARLA convention)
    brake: float                 # [0, 1]
    target_speed_mps: float
    steering_angle_rad: float    # front-wheel angle, positive = left (REP-103)
    acceleration_mps2: float = 0.0
