"""Films of the driven routes (eval/video.py) from the bridge's step hook (no ROS)."""
from pathlib import Path
import threading
from typing import Optional

import numpy as np

from orion_lite_ros.eval.video import FilmFrame, RouteFilm
from orion_lite_ros.layout import CAMERA_NAMES


class FilmRecorder:
    """One `RouteFilm` per route: a frame every `every_n` steps; `plan` is the latest
    planned trajectory (ego frame), set from the planner's topic by the node."""

    def __init__(self, every_n: int, out_dir: Path):
        self.every_n, self.out_dir = every_n, Path(out_dir)
        self.film: Optional[RouteFilm] = None
        self.step = 0
        self._plan: Optional[np.ndarray] = None
        self._lock = threading.Lock()

    def set_plan(self, waypoints_xy: np.ndarray) -> None:
        with self._lock:
            self._plan = np.asarray(waypoints_xy, np.float64).reshape(-1, 2)

    def on_step(self, route, frame, backend) -> None:
        if self.film is None or self.film.route_id != route.route_id:
            self.film, self.step = RouteFilm(route.route_id, route.waypoints_xy,
                                             self.every_n), 0
            with self._lock:
                self._plan = None
        self.step += 1
        cam = CAMERA_NAMES[0]
        if not self.film.wants(self.step - 1) or not frame.images or cam not in frame.images:
            return
        with self._lock:
            plan = None if self._plan is None else self._plan.copy()
        ego = frame.ego
        self.film.add(FilmFrame(
            step=self.step - 1, image=frame.images[cam], intrinsics=frame.intrinsics[cam],
            cam_to_ego=frame.cam_to_ego[cam], ego_pose=np.array([ego.x_m, ego.y_m, ego.yaw_rad]),
            plan_xy=plan, agents=agent_boxes(backend), speed_mps=ego.speed_mps))

    def finish(self, route_id: str) -> Optional[Path]:
        film, self.film = self.film, None
        if film is None or film.route_id != route_id:
            return None
        return film.write(self.out_dir / f'{route_id}')


def agent_boxes(backend) -> np.ndarray:
    """(N, 5) x, y, yaw, length, width of the other agents (map frame), where the backend
    exposes ground truth (the embedded simulator); else empty."""
    truth = getattr(backend, 'ground_truth', None)
    if truth is None:
        return np.zeros((0, 5))
    boxes = np.asarray(truth().agent_boxes, np.float64).reshape(-1, 7)
    return boxes[:, :5]
