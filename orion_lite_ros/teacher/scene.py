"""Tokens of the current simulator step: ground truth + signals + route navigation.

The navigation (command, target point) comes from `nav.route.RouteTracker` on the route
polyline alone (the geometry rule), exactly as the planner node and the replay derive it from
a `nav_msgs/Path` (which carries no commands), so data, teacher, student and the running
planner see the same command. The stop-sign memory mirrors the infraction rule (below 0.1 m/s
within 6 m before the line) so the teacher knows when it may go on.
"""
from typing import Dict, List, Set, Tuple

import numpy as np

from orion_lite_ros.bridge.backend import RouteSpec
from orion_lite_ros.nav.route import RouteConfig, RouteState, RouteTracker
from orion_lite_ros.teacher.config import TokenConfig
from orion_lite_ros.teacher.tokens import Signal, build_tokens


class StopSignMemory:
    """Which stop signs the ego has already obeyed on this route."""

    def __init__(self, zone_m: float = 6.0, stop_speed_mps: float = 0.1):
        self.zone_m, self.stop_speed_mps = zone_m, stop_speed_mps
        self.done: Set[str] = set()

    def reset(self) -> None:
        self.done = set()

    def update(self, world) -> None:
        e, half = world.ego, 0.5 * world.ego_params.length_m
        front = (e.x_m + half * np.cos(e.yaw_rad), e.y_m + half * np.sin(e.yaw_rad))
        for sign in world.stop_signs:
            lon, lat = sign.stop_line.signed_distance(front)
            aligned = np.cos(e.yaw_rad - sign.stop_line.heading_rad) > 0.5
            if aligned and abs(lat) <= sign.stop_line.half_width_m + 1.0 and \
                    -self.zone_m <= lon <= 0.0 and abs(e.speed_mps) < self.stop_speed_mps:
                self.done.add(sign.sign_id)


def signals_from_world(world, stop_done: Set[str]) -> List[Signal]:
    """Every stop line of the world (lights with their current state, stop signs)."""
    states = world.light_states()
    out = [Signal(li.light_id, tuple(li.stop_line.xy), li.stop_line.heading_rad, False,
                  states.get(li.light_id, '')) for li in world.lights]
    out += [Signal(s.sign_id, tuple(s.stop_line.xy), s.stop_line.heading_rad, True,
                   done=s.sign_id in stop_done) for s in world.stop_signs]
    return out


class SceneReader:
    """backend (EmbeddedBackend) -> tokens of the current step, for one route."""

    def __init__(self, backend, route: RouteSpec, token_cfg: TokenConfig = TokenConfig(),
                 route_cfg: RouteConfig = RouteConfig()):
        self.backend, self.token_cfg = backend, token_cfg
        self.nav = RouteTracker(route.waypoints_xy, None, route_cfg)   # the planner's rule
        self.stops = StopSignMemory()

    def read(self) -> Tuple[Dict[str, np.ndarray], RouteState]:
        world = self.backend.world
        self.stops.update(world)
        gt = self.backend.ground_truth()
        state = self.nav.update(gt.ego_pose[:2], float(gt.ego_pose[2]))
        tokens = build_tokens(gt, signals_from_world(world, self.stops.done), int(state.command),
                              state.target_point, self.token_cfg)
        return tokens, state
