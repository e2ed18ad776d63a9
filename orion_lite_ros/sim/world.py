"""The simulated world: map, ego, agents, lights; one fixed step at a time."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from orion_lite_ros.layout import SIM_FIXED_DELTA_S
from orion_lite_ros.sim import geometry as geo
from orion_lite_ros.sim.agents import (
    AMBER,
    RED,
    AgentVehicle,
    Pedestrian,
    StaticObstacle,
    StopSign,
    TrafficLight,
    idm_accel,
)
from orion_lite_ros.sim.roads import RoadMap
from orion_lite_ros.sim.vehicle import VehicleParams, VehicleState, step_vehicle

# Agent box classes in ground truth.
CLASS_VEHICLE, CLASS_PEDESTRIAN, CLASS_STATIC = 0, 1, 2


class RouteTracker:
    """Monotonic progress of a point along a route polyline (windowed projection)."""

    def __init__(self, route_xy: np.ndarray):
        self.xy = np.asarray(route_xy, float)
        self.s_cum = geo.arc_length(self.xy)
        self.length_m = float(self.s_cum[-1])
        self.progress_m = 0.0
        self.lateral_m = 0.0
        self._index = 0

    def update(self, xy) -> Tuple[float, float]:
        lo = max(0, self._index - 5)
        hi = min(len(self.xy) - 1, self._index + 40)
        s, lat = geo.project(self.xy, self.s_cum, xy, lo, hi)
        if abs(lat) < 6.0:
            self.progress_m = max(self.progress_m, s)
            self._index = int(np.searchsorted(self.s_cum, s, side='right') - 1)
        self.lateral_m = lat
        return self.progress_m, lat


@dataclass
class Actor:
    """Box view of any road user (ground truth and collision checks)."""

    actor_id: str
    cls: int
    x_m: float
    y_m: float
    yaw_rad: float
    length_m: float
    width_m: float
    speed_mps: float

    def corners(self) -> np.ndarray:
        return geo.box_corners(self.x_m, self.y_m, self.yaw_rad, 0.5 * self.length_m,
                               0.5 * self.width_m)


@dataclass
class World:
    road_map: RoadMap
    route_xy: np.ndarray                      # (N, 2) ego route
    ego: VehicleState
    ego_params: VehicleParams = VehicleParams()
    vehicles: List[AgentVehicle] = field(default_factory=list)
    pedestrians: List[Pedestrian] = field(default_factory=list)
    lights: List[TrafficLight] = field(default_factory=list)
    stop_signs: List[StopSign] = field(default_factory=list)
    obstacles: List[StaticObstacle] = field(default_factory=list)
    dt_s: float = SIM_FIXED_DELTA_S
    time_s: float = 0.0
    stopped_agents: set = field(default_factory=set)     # hit by the ego: they stay put
    tracker: Optional[RouteTracker] = None

    def __post_init__(self):
        if self.tracker is None:
            self.tracker = RouteTracker(self.route_xy)
            self.tracker.update((self.ego.x_m, self.ego.y_m))

    def light_states(self) -> Dict[str, str]:
        return {light.light_id: light.state(self.time_s) for light in self.lights}

    def ego_actor(self) -> Actor:
        p = self.ego_params
        return Actor('ego', CLASS_VEHICLE, self.ego.x_m, self.ego.y_m, self.ego.yaw_rad,
                     p.length_m, p.width_m, self.ego.speed_mps)

    def actors(self) -> List[Actor]:
        """Every road user except the ego."""
        out = []
        for v in self.vehicles:
            if not v.active:
                continue
            x, y, yaw = v.pose()
            out.append(Actor(v.agent_id, CLASS_VEHICLE, x, y, yaw, v.length_m, v.width_m,
                             v.speed_mps))
        for ped in self.pedestrians:
            px, py = ped.position()
            out.append(Actor(ped.agent_id, CLASS_PEDESTRIAN, px, py, ped.heading_rad,
                             2 * ped.radius_m, 2 * ped.radius_m, ped.speed_mps))
        for o in self.obstacles:
            out.append(Actor(o.obstacle_id, CLASS_STATIC, o.x_m, o.y_m, o.yaw_rad, o.length_m,
                             o.width_m, 0.0))
        return out

    def step(self, throttle: float, steer: float, brake: float, hand_brake: bool = False,
             reverse: bool = False) -> None:
        self.ego = step_vehicle(self.ego_params, self.ego, throttle, steer, brake, self.dt_s,
                                reverse=reverse, hand_brake=hand_brake)
        progress, _ = self.tracker.update((self.ego.x_m, self.ego.y_m))
        actors = self.actors() + [self.ego_actor()]
        for vehicle in self.vehicles:
            self._step_vehicle(vehicle, actors, progress)
        for ped in self.pedestrians:
            if ped.agent_id not in self.stopped_agents:
                ped.advance(progress, self.dt_s)
        self.time_s += self.dt_s

    def _step_vehicle(self, v: AgentVehicle, actors: List[Actor], ego_progress_m: float) -> None:
        if v.agent_id in self.stopped_agents or not v.active:
            v.speed_mps = 0.0 if v.active else v.speed_mps
            return
        if v.brake_trigger_s is not None and ego_progress_m >= v.brake_trigger_s:
            v.braking = True
        gap, lead_speed = self._vehicle_gap(v, actors)
        acc = idm_accel(v.idm, v.speed_mps, v.desired_speed_mps, gap, lead_speed)
        v.advance(acc, self.dt_s)

    def _vehicle_gap(self, v: AgentVehicle, actors: List[Actor]) -> Tuple[float, float]:
        """Distance (front bumper) to the nearest thing to stop for on ``v``'s path."""
        front = v.s_m + 0.5 * v.length_m
        gap, lead_speed = np.inf, 0.0
        x, y, yaw = v.pose()
        lo = max(0, int(v.s_m) - 2)
        for a in actors:
            if a.actor_id == v.agent_id or np.hypot(a.x_m - x, a.y_m - y) > 60.0:
                continue
            s, lat = geo.project(v.path_xy, v.s_cum, (a.x_m, a.y_m), lo, lo + 70)
            if s <= v.s_m or abs(lat) > 0.5 * (v.width_m + a.width_m) + 0.3:
                continue
            g = s - front - 0.5 * a.length_m
            if g < gap:
                gap, lead_speed = g, a.speed_mps * float(np.cos(a.yaw_rad - yaw))
        for stop_s, light_id in v.stop_lines:
            state = self.light_state(light_id)
            can_stop = (stop_s - front) > v.speed_mps ** 2 / (2 * 4.0)
            if front < stop_s and (state == RED or (state == AMBER and can_stop)):
                if stop_s - front < gap:
                    gap, lead_speed = stop_s - front + v.idm.min_gap_m - 0.5, 0.0
        if v.yield_entry_s is not None and front < v.yield_entry_s and \
                self.road_map.in_junction((self.ego.x_m, self.ego.y_m)):
            gap, lead_speed = min(gap, v.yield_entry_s - front + v.idm.min_gap_m - 0.5), 0.0
        return gap, lead_speed

    def light_state(self, light_id: str) -> str:
        for light in self.lights:
            if light.light_id == light_id:
                return light.state(self.time_s)
        return ''
