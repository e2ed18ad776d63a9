"""Ground truth helpers: per-step snapshot and future ego waypoints from a recorded trace."""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from orion_lite_ros.layout import NUM_WAYPOINTS, WAYPOINT_DT_S
from orion_lite_ros.sim import geometry as geo
from orion_lite_ros.sim.world import World


@dataclass
class GroundTruth:
    time_s: float
    ego_pose: np.ndarray          # (3,) x, y, yaw map frame
    ego_velocity: np.ndarray      # (3,) vx, vy body frame, yaw rate
    ego_accel: np.ndarray         # (2,) ax, ay body frame
    agent_boxes: np.ndarray       # (M, 7) x, y, yaw, length, width, speed, class
    agent_ids: List[str]
    lane_boundaries: List[Tuple[np.ndarray, np.ndarray]]   # (left (N, 2), right (N, 2))
    light_states: Dict[str, str]
    route_xy: np.ndarray          # (N, 2)
    route_progress_m: float


def snapshot(world: World) -> GroundTruth:
    e = world.ego
    actors = world.actors()
    boxes = np.array([[a.x_m, a.y_m, a.yaw_rad, a.length_m, a.width_m, a.speed_mps, a.cls]
                      for a in actors]).reshape(-1, 7)
    return GroundTruth(world.time_s, np.array([e.x_m, e.y_m, e.yaw_rad]),
                       np.array([e.vx_mps, e.vy_mps, e.yaw_rate_rps]),
                       np.array([e.ax_mps2, e.ay_mps2]), boxes, [a.actor_id for a in actors],
                       world.road_map.lane_boundaries(), world.light_states(),
                       world.tracker.xy, world.tracker.progress_m)


def future_waypoints(poses: np.ndarray, index: int, dt_s: float) -> Tuple[np.ndarray, np.ndarray]:
    """Future ego positions of a recorded trace in the ego frame at step ``index``.

    poses: (T, 3) x, y, yaw per step (map frame). Returns (waypoints (6, 2) cumulative, ego
    frame, 0.5 s apart; valid (6,) bool; invalid ones past the end of the trace are zero).
    """
    stride = int(round(WAYPOINT_DT_S / dt_s))
    idx = index + stride * np.arange(1, NUM_WAYPOINTS + 1)
    valid = idx < len(poses)
    x0, y0, yaw0 = poses[index]
    pts = poses[np.minimum(idx, len(poses) - 1), :2] - np.array([x0, y0])
    local = pts @ geo.rot2(yaw0)      # map -> ego: R^T p, written as p R
    local[~valid] = 0.0
    return local, valid
