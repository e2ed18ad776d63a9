"""A tiny point-mass simulator implementing DrivingBackend (test double for the bridge; the
ROS side is never mocked). Drives along x; the route is done at its end."""
import time

import numpy as np

from orion_lite_ros.bridge.backend import (
    ControlInput,
    RouteSpec,
    SensorFrame,
    StepStatus,
)
from orion_lite_ros.eval.records import KinematicTrace, RouteRecord
from orion_lite_ros.layout import CAMERA_NAMES, Command
from orion_lite_ros.types import EgoState


def straight_route(route_id: str, length_m: float = 10.0) -> RouteSpec:
    xy = np.stack([np.linspace(0.0, length_m, 11), np.zeros(11)], axis=1)
    return RouteSpec(route_id=route_id, scenario='straight', abilities=('Merging',),
                     waypoints_xy=xy, commands=(int(Command.LANE_FOLLOW),) * 11, timeout_s=30.0)


class PointBackend:
    fixed_delta_s = 0.05

    def __init__(self, step_sleep_s: float = 0.0, size_hw=(8, 12)):
        self.step_sleep_s, self.size_hw = step_sleep_s, size_hw
        self.closed = 0
        self.applied = []
        self.routes_loaded = []

    def load_route(self, route, camera_size_hw=None):
        self.route, self.x, self.v, self.t = route, 0.0, 0.0, 0.0
        self.routes_loaded.append(route.route_id)
        self.trace = KinematicTrace(dt_s=self.fixed_delta_s)
        if camera_size_hw is not None:
            self.size_hw = tuple(camera_size_hw)

    def sensors(self):
        h, w = self.size_hw
        ego = EgoState(stamp_ns=int(round(self.t * 1e9)) + 1_000_000_000, x_m=self.x, y_m=0.0,
                       z_m=0.0, yaw_rad=0.0, vx_mps=self.v)
        k = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1.0]])
        return SensorFrame(sim_time_ns=ego.stamp_ns,
                           images={c: np.full((h, w, 3), 9, np.uint8) for c in CAMERA_NAMES},
                           intrinsics={c: k for c in CAMERA_NAMES},
                           cam_to_ego={c: np.eye(4) for c in CAMERA_NAMES}, ego=ego)

    def expert_control(self):
        return ControlInput(throttle=1.0)

    def apply_and_tick(self, control: ControlInput):
        time.sleep(self.step_sleep_s)
        self.applied.append(control)
        accel = 4.0 * control.throttle - 8.0 * control.brake
        self.v = max(0.0, self.v + accel * self.fixed_delta_s)
        self.x += self.v * self.fixed_delta_s
        self.t += self.fixed_delta_s
        self.trace.speed_mps.append(self.v)
        self.trace.lon_accel_mps2.append(accel)
        self.trace.lat_accel_mps2.append(0.0)
        self.trace.yaw_rate_rps.append(0.0)
        length = float(self.route.waypoints_xy[-1, 0])
        done = self.x >= length or self.t >= self.route.timeout_s
        return StepStatus(done=done, route_completion_pct=self.completion())

    def completion(self):
        return min(100.0, 100.0 * self.x / float(self.route.waypoints_xy[-1, 0]))

    def finish_route(self):
        done = self.completion() >= 100.0
        return RouteRecord(
            route_id=self.route.route_id, scenario=self.route.scenario,
            abilities=self.route.abilities, route_length_m=float(self.route.waypoints_xy[-1, 0]),
            route_completion_pct=self.completion(), infractions=[],
            status='Completed' if done else 'Failed - Agent timed out', game_time_s=self.t,
            system_time_s=0.0, trace=self.trace, meta={'backend': 'point'})

    def close(self):
        self.closed += 1
