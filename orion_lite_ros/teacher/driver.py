"""Closed-loop drivers for the embedded simulator, without ROS.

`TeacherDriver`: ground truth -> tokens -> `PrivilegedTeacher` waypoints -> ORION's Bench2Drive
controller (`control.bench2drive`), the same controller the ROS loop uses behind the planner.
`ExpertDriver`: the simulator's expert (reference). `drive_routes` runs routes through
`bridge.episode_runner.drive_route` and returns the `RouteRecord`s that
`eval.bench2drive.summarize` scores.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from orion_lite_ros.bridge.backend import ControlInput, RouteSpec, SensorFrame
from orion_lite_ros.bridge.episode_runner import RunOptions, drive_route
from orion_lite_ros.control.bench2drive import (
    Bench2DriveController,
    Bench2DriveControllerConfig,
)
from orion_lite_ros.eval.records import RouteRecord
from orion_lite_ros.nav.route import RouteConfig
from orion_lite_ros.teacher.model import PrivilegedTeacher, to_torch
from orion_lite_ros.teacher.scene import SceneReader


def physics_backend():
    """EmbeddedBackend without rendering (privileged drivers need no images)."""
    from orion_lite_ros.sim.backend import EmbeddedBackend
    from orion_lite_ros.sim.config import SimConfig
    return EmbeddedBackend(SimConfig(render=False))


class TeacherDriver:
    """`episode_runner.Driver` that plans with the privileged teacher every step."""

    name = 'teacher'

    def __init__(self, model: PrivilegedTeacher, backend=None,
                 controller: Bench2DriveControllerConfig = Bench2DriveControllerConfig(),
                 route_cfg: RouteConfig = RouteConfig()):
        self.model = model.eval()
        self.backend = backend if backend is not None else physics_backend()
        self.controller = Bench2DriveController(controller)
        self.route_cfg = route_cfg
        self.scene: Optional[SceneReader] = None
        self.last_waypoints = np.zeros((6, 2))
        self._plan_s: List[float] = []

    def start_route(self, route: RouteSpec) -> None:
        self.scene = SceneReader(self.backend, route, self.model.cfg.tokens, self.route_cfg)
        self.controller.reset()
        self._plan_s = []

    @torch.no_grad()
    def plan(self) -> np.ndarray:
        """(6, 2) ego-frame waypoints for the current step."""
        import time
        t0 = time.perf_counter()
        tokens, _ = self.scene.read()
        self.last_waypoints = self.model(to_torch(tokens))['waypoints'][0].numpy()
        self._plan_s.append(time.perf_counter() - t0)
        return self.last_waypoints

    def act(self, frame: SensorFrame) -> ControlInput:
        cmd = self.controller.step(self.plan(), frame.ego.speed_mps,
                                   self.backend.fixed_delta_s)
        return ControlInput(throttle=cmd.throttle, steer=cmd.steer, brake=cmd.brake,
                            target_speed_mps=cmd.target_speed_mps)

    def route_meta(self) -> Dict[str, str]:
        mean = float(np.mean(self._plan_s)) if self._plan_s else 0.0
        return {'plan_ms_mean': f'{1000 * mean:.2f}'}


class ExpertDriver:
    """The simulator's privileged expert as a driver (reference scores)."""

    name = 'expert'

    def __init__(self, backend=None):
        self.backend = backend if backend is not None else physics_backend()

    def start_route(self, route: RouteSpec) -> None:
        pass

    def act(self, frame: SensorFrame) -> ControlInput:
        return self.backend.expert_control()

    def route_meta(self) -> Dict[str, str]:
        return {}


def drive_routes(routes: Sequence[RouteSpec], driver, max_steps: Optional[int] = None,
                 on_record=None) -> List[RouteRecord]:
    """Drive every route with `driver` on `driver.backend`; one RouteRecord per route."""
    records = []
    for route in routes:
        record = drive_route(driver.backend, route, driver, RunOptions(max_steps=max_steps))
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records
