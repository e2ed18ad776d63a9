"""What the bridge node needs from a simulator. Implemented by the embedded simulator
(``orion_lite_ros.sim.backend.EmbeddedBackend``) and CARLA (``bridge.carla_backend``).

Everything is REP-103 (map frame: x east/forward, y left, z up). No ROS imports here.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from orion_lite_ros.eval.records import RouteRecord
from orion_lite_ros.types import EgoState


@dataclass(frozen=True)
class RouteSpec:
    """A route to drive: identity, dense waypoints and the commands along it."""

    route_id: str
    scenario: str                              # scenario family name
    abilities: Tuple[str, ...]                 # eval.records.ABILITIES subset
    waypoints_xy: np.ndarray                   # (N, 2) map frame, metres
    commands: Tuple[int, ...]                  # (N,) layout.Command per waypoint
    town: str = ''
    seed: int = 0
    timeout_s: float = 300.0
    extra: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ControlInput:
    """One vehicle command in CARLA's ranges."""

    throttle: float = 0.0   # [0, 1]
    steer: float = 0.0      # [-1, 1], positive = right (CARLA)
    brake: float = 0.0      # [0, 1]
    hand_brake: bool = False
    reverse: bool = False
    target_speed_mps: float = float('nan')   # the driver's desired speed, when it has one
                                             # (Joy axes[3]); drive logs only


@dataclass
class SensorFrame:
    """Everything published for one simulation step."""

    sim_time_ns: int
    images: Dict[str, np.ndarray]            # camera name -> (H, W, 3) uint8 RGB
    intrinsics: Dict[str, np.ndarray]        # camera name -> (3, 3)
    cam_to_ego: Dict[str, np.ndarray]        # camera name -> (4, 4), optical frame -> ego
    ego: EgoState


@dataclass
class StepStatus:
    done: bool
    route_completion_pct: float
    new_infractions: List[str] = field(default_factory=list)   # infraction kinds this step


class DrivingBackend(Protocol):
    fixed_delta_s: float

    def load_route(self, route: RouteSpec, camera_size_hw: Optional[Sequence[int]] = None
                   ) -> None:
        """Build the world for ``route`` and place the ego at its start."""

    def sensors(self) -> SensorFrame:
        """Render / read the sensors for the current step."""

    def apply_and_tick(self, control: ControlInput) -> StepStatus:
        """Apply ``control`` and advance the world by ``fixed_delta_s``."""

    def finish_route(self) -> RouteRecord:
        """Result of the route just driven (also when it ended early)."""

    def close(self) -> None:
        """Destroy actors, restore settings. Safe to call twice."""
