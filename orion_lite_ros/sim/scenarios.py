"""Scenario families echoing Bench2Drive abilities: ``build_scenario(family, seed)``.

Every map is generated from the seed (lane width, curve radius/angle, arm lengths, map
heading, traffic timing); the same (family, seed) always yields the same world and route.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from orion_lite_ros.bridge.backend import RouteSpec
from orion_lite_ros.layout import Command
from orion_lite_ros.sim import geometry as geo
from orion_lite_ros.sim.agents import (
    AgentVehicle,
    Pedestrian,
    StaticObstacle,
    StopLine,
    StopSign,
    TrafficLight,
)
from orion_lite_ros.sim.roads import Lane, RoadMap, add_junction, add_road, build_polyline
from orion_lite_ros.sim.vehicle import VehicleState
from orion_lite_ros.sim.world import World

URBAN_SPEED_MPS = 8.5
CAR_COLOURS = ((0.8, 0.1, 0.1, 1), (0.1, 0.3, 0.8, 1), (0.9, 0.9, 0.9, 1), (0.1, 0.1, 0.1, 1),
               (0.2, 0.6, 0.3, 1), (0.9, 0.6, 0.1, 1))


@dataclass
class Scenario:
    world: World
    route: RouteSpec


def _rng(family: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, sum(map(ord, family))])


def route_from_lanes(road_map: RoadMap, lane_ids: Sequence[str], start_m: float,
                     end_trim_m: float) -> Tuple[np.ndarray, Tuple[int, ...]]:
    """Dense (1 m) route over ``lane_ids`` with a command per waypoint."""
    pts, cmds = [], []
    for lane_id in lane_ids:
        lane = road_map.lanes[lane_id]
        xy = lane.centre_xy if not pts else lane.centre_xy[1:]
        pts.append(xy)
        cmds.append(np.full(len(xy), lane.turn))
    xy, cmd = np.concatenate(pts), np.concatenate(cmds)
    s = geo.arc_length(xy)
    keep = (s >= start_m) & (s <= s[-1] - end_trim_m)
    xy, cmd, s = xy[keep], cmd[keep], s[keep] - start_m
    n = int(s[-1]) + 1
    s_new = np.linspace(0.0, s[-1], n)
    dense = np.stack([np.interp(s_new, s, xy[:, 0]), np.interp(s_new, s, xy[:, 1])], axis=1)
    idx = np.clip(np.searchsorted(s, s_new, side='right') - 1, 0, len(cmd) - 1)
    return dense, tuple(int(c) for c in cmd[idx])


def lane_path(road_map: RoadMap, lane_ids: Sequence[str]) -> np.ndarray:
    parts = [road_map.lanes[lane_ids[0]].centre_xy]
    parts += [road_map.lanes[i].centre_xy[1:] for i in lane_ids[1:]]
    return geo.resample(np.concatenate(parts), 1.0)


def ego_at_route_start(route_xy: np.ndarray) -> VehicleState:
    h = float(np.arctan2(*(route_xy[3] - route_xy[0])[::-1]))
    return VehicleState(x_m=float(route_xy[0, 0]), y_m=float(route_xy[0, 1]), yaw_rad=h)


def make_route(family: str, seed: int, xy: np.ndarray, cmds, variant: str = '') -> RouteSpec:
    abilities = (FAMILY_ABILITY[family],)
    length = float(geo.arc_length(xy)[-1])
    return RouteSpec(route_id=f'{family}_{seed}', scenario=family, abilities=abilities,
                     waypoints_xy=xy, commands=tuple(int(c) for c in cmds),
                     town='embedded', seed=seed,
                     timeout_s=float(max(60.0, 4.0 * length / URBAN_SPEED_MPS)),
                     extra={'variant': variant})


def flow(road_map: RoadMap, lanes: Sequence[str], prefix: str, starts_m: Sequence[float],
         speed_mps: float, rng: np.random.Generator, **kw) -> List[AgentVehicle]:
    """Vehicles on one lane path at the given arc lengths."""
    path = lane_path(road_map, lanes)
    return [AgentVehicle(f'{prefix}{i}', path, float(s), speed_mps, speed_mps,
                         rgba=CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))], **kw)
            for i, s in enumerate(starts_m)]


# --------------------------------------------------------------------------- straight roads
def curvy_road(rng: np.random.Generator, length_m: float) -> np.ndarray:
    """Reference polyline: straight, gentle arc, straight, arc back, straight."""
    heading = rng.uniform(-np.pi, np.pi)
    r1, a1 = rng.uniform(60, 120), rng.uniform(-0.5, 0.5)
    r2, a2 = rng.uniform(60, 120), rng.uniform(-0.5, 0.5)
    seg = length_m / 5.0
    return build_polyline((0.0, 0.0), heading, [('straight', seg, 0), ('arc', r1, a1),
                                                ('straight', seg, 0), ('arc', r2, a2),
                                                ('straight', seg * 2, 0)])


def two_way_road(rng: np.random.Generator, length_m: float):
    road_map = RoadMap()
    width = float(rng.uniform(3.3, 3.8))
    add_road(road_map, 'main', curvy_road(rng, length_m), 1, 1, width, URBAN_SPEED_MPS)
    return road_map, width


def lead_brake(seed: int) -> Scenario:
    rng = _rng('lead_brake', seed)
    road_map, _ = two_way_road(rng, 300.0)
    xy, cmds = route_from_lanes(road_map, ['main:f0'], 10.0, 40.0)
    lead = flow(road_map, ['main:f0'], 'lead', [float(rng.uniform(35, 45))], 8.0, rng,
                brake_trigger_s=float(rng.uniform(60, 110)),
                brake_decel_mps2=float(rng.uniform(6.0, 8.0)))
    oncoming = flow(road_map, ['main:b0'], 'onc', [20.0, 90.0], 8.0, rng)
    world = World(road_map, xy, ego_at_route_start(xy), vehicles=lead + oncoming)
    return Scenario(world, make_route('lead_brake', seed, xy, cmds))


def pedestrian_crossing(seed: int) -> Scenario:
    rng = _rng('pedestrian_crossing', seed)
    road_map, width = two_way_road(rng, 260.0)
    xy, cmds = route_from_lanes(road_map, ['main:f0'], 10.0, 40.0)
    s_cum = geo.arc_length(xy)
    cross_s = float(rng.uniform(90, 130))
    x, y, yaw = geo.interp_pose(xy, s_cum, cross_s)
    right = np.array([np.sin(yaw), -np.cos(yaw)])
    centre = np.array([x, y])
    car_xy = centre + right * (0.5 * width + 1.3) - 4.0 * np.array([np.cos(yaw), np.sin(yaw)])
    parked = StaticObstacle('parked0', 'parked_car', float(car_xy[0]), float(car_xy[1]), yaw,
                            4.6, 1.9, 1.5, (0.5, 0.5, 0.55, 1))
    ped = Pedestrian('ped0', centre + right * (0.5 * width + 2.2), float(yaw + np.pi / 2),
                     walk_speed_mps=float(rng.uniform(1.2, 1.8)),
                     walk_distance_m=2.0 * width + 5.0,
                     trigger_s=cross_s - float(rng.uniform(24, 32)))
    world = World(road_map, xy, ego_at_route_start(xy), pedestrians=[ped], obstacles=[parked],
                  vehicles=flow(road_map, ['main:b0'], 'onc', [30.0], 8.0, rng))
    return Scenario(world, make_route('pedestrian_crossing', seed, xy, cmds))


def blocked_lane(seed: int) -> Scenario:
    """A broken-down car and cones block the ego lane; pass through the oncoming lane."""
    rng = _rng('blocked_lane', seed)
    road_map, width = two_way_road(rng, 280.0)
    lane_xy, _ = route_from_lanes(road_map, ['main:f0'], 10.0, 40.0)
    s_cum = geo.arc_length(lane_xy)
    block_s = float(rng.uniform(90, 120))
    obstacles = [_obstacle_on(lane_xy, s_cum, block_s, 0.0, 'parked_car', 'blocked0')]
    obstacles += [_obstacle_on(lane_xy, s_cum, block_s - 6.0 - 2.0 * k, 0.6 * (k - 1), 'cone',
                               f'cone{k}') for k in range(3)]
    out_s, back_s, ramp = block_s - 24.0, block_s + 8.0, 14.0
    u = np.clip(np.minimum(s_cum - out_s, back_s + ramp - s_cum) / ramp, 0.0, 1.0)
    shift = width * 0.5 * (1 - np.cos(np.pi * u))     # smooth out-and-back lateral shift
    xy = _shift_left(lane_xy, shift)
    cmds = np.full(len(xy), int(Command.LANE_FOLLOW))
    cmds[(s_cum >= out_s) & (s_cum < out_s + ramp)] = int(Command.CHANGE_LANE_LEFT)
    cmds[(s_cum >= back_s) & (s_cum < back_s + ramp)] = int(Command.CHANGE_LANE_RIGHT)
    onc_start = float(rng.uniform(60, 100))
    oncoming = flow(road_map, ['main:b0'], 'onc', [onc_start, onc_start - 35.0], 8.0, rng)
    world = World(road_map, xy, ego_at_route_start(xy), vehicles=oncoming, obstacles=obstacles)
    return Scenario(world, make_route('blocked_lane', seed, xy, cmds))


def _shift_left(xy: np.ndarray, shift_m: np.ndarray) -> np.ndarray:
    h = geo.headings(xy)
    return xy + shift_m[:, None] * np.stack([-np.sin(h), np.cos(h)], axis=1)


def _obstacle_on(xy, s_cum, s, lateral_m, kind, obstacle_id) -> StaticObstacle:
    x, y, yaw = geo.interp_pose(xy, s_cum, s)
    x, y = x - lateral_m * np.sin(yaw), y + lateral_m * np.cos(yaw)
    if kind == 'cone':
        return StaticObstacle(obstacle_id, 'cone', x, y, yaw, 0.4, 0.4, 0.7, (1.0, 0.45, 0, 1))
    return StaticObstacle(obstacle_id, 'parked_car', x, y, yaw + 0.05, 4.6, 1.9, 1.5,
                          (0.85, 0.85, 0.2, 1))


# --------------------------------------------------------------------------- junctions
def _exit_arm(ego_arm: int, turn: int) -> int:
    return (ego_arm + {int(Command.LEFT): 3, int(Command.RIGHT): 1,
                       int(Command.STRAIGHT): 2}[turn]) % 4


def junction_map(rng: np.random.Generator, arms: Sequence[int], arm_len_m: Dict[int, float]):
    """Junction at the origin with one-lane-each-way arms; arm 0 (the ego's) has a curve."""
    road_map = RoadMap()
    width = float(rng.uniform(3.3, 3.7))
    heading = float(rng.uniform(-np.pi, np.pi))
    half = width + 3.5
    refs = {}
    for k in arms:
        d = heading + k * np.pi / 2
        start = half * np.array([np.cos(d), np.sin(d)])
        length = arm_len_m.get(k, 130.0 if k == 0 else 80.0)
        if k == 0:
            lead_in = float(rng.uniform(20, 30))
            segs = [('straight', lead_in, 0), ('arc', rng.uniform(50, 90), rng.uniform(-.6, .6)),
                    ('straight', max(10.0, length - lead_in - 40.0), 0)]
        else:
            segs = [('straight', length, 0)]
        refs[k] = build_polyline(start, d, segs)
        add_road(road_map, f'arm{k}', refs[k], 1, 1, width, URBAN_SPEED_MPS)
    add_junction(road_map, (0.0, 0.0), heading, refs, half, width, URBAN_SPEED_MPS)
    return road_map, width, half


def approach_stop_line(road_map: RoadMap, arm: int) -> StopLine:
    lane = road_map.lanes[f'arm{arm}:b0']
    h = float(geo.headings(lane.centre_xy)[-1])
    p = lane.centre_xy[-1] - 0.5 * np.array([np.cos(h), np.sin(h)])
    return StopLine((float(p[0]), float(p[1])), h, 0.5 * lane.width_m)


def approach_light(road_map: RoadMap, arm: int, half_m: float, **cycle) -> TrafficLight:
    """Light for traffic entering from ``arm``; its head stands across the junction."""
    line = approach_stop_line(road_map, arm)
    h = line.heading_rad
    fwd, right = np.array([np.cos(h), np.sin(h)]), np.array([np.sin(h), -np.cos(h)])
    head = np.asarray(line.xy) + fwd * (2 * half_m + 1.0) + right * (2 * line.half_width_m)
    return TrafficLight(f'light{arm}', line, (float(head[0]), float(head[1]), 4.2), h + np.pi,
                        **cycle)


def ego_junction_route(road_map: RoadMap, exit_arm: int, exit_len_m: float = 55.0):
    lanes = ['arm0:b0', f'J0>{exit_arm}', f'arm{exit_arm}:f0']
    trim = len(road_map.lanes[f'arm{exit_arm}:f0'].centre_xy) - exit_len_m
    return route_from_lanes(road_map, lanes, 5.0, max(trim, 5.0))


def through_flow(road_map, src: int, dst: int, starts, rng, light: str = '') -> list:
    lanes = [f'arm{src}:b0', f'J{src}>{dst}', f'arm{dst}:f0']
    stop_s = float(geo.arc_length(road_map.lanes[lanes[0]].centre_xy)[-1]) - 0.5
    stops = ((stop_s, light),) if light else ()
    return flow(road_map, lanes, f'c{src}{dst}_', starts, URBAN_SPEED_MPS, rng, stop_lines=stops)


def unprotected_left(seed: int) -> Scenario:
    """Turn left across an oncoming flow that has priority (no lights, no signs)."""
    rng = _rng('unprotected_left', seed)
    arms = (0, 1, 2, 3) if seed % 2 else (0, 2, 3)
    road_map, _, _ = junction_map(rng, arms, {2: 200.0})
    xy, cmds = ego_junction_route(road_map, _exit_arm(0, int(Command.LEFT)))
    first = float(rng.uniform(0, 15))
    starts = [first + 34.0 * k + float(rng.uniform(-4, 4)) for k in range(4)]
    world = World(road_map, xy, ego_at_route_start(xy),
                  vehicles=through_flow(road_map, 2, 0, starts, rng))
    return Scenario(world, make_route('unprotected_left', seed, xy, cmds))


def red_light(seed: int) -> Scenario:
    """Signalised X junction; the ego arrives during red and goes straight on green."""
    rng = _rng('red_light', seed)
    road_map, _, half = junction_map(rng, (0, 1, 2, 3), {})
    xy, cmds = ego_junction_route(road_map, 2)
    green, amber, red = 12.0, 3.0, 32.0
    cycle = green + amber + red
    red_left = float(rng.uniform(22, 30))   # the ego arrives after ~18 s: it meets red
    off_a = green + amber + red - red_left
    off_b = (off_a - green - amber - 1.0) % cycle
    cyc_a = dict(green_s=green, amber_s=amber, red_s=red, offset_s=off_a)
    cyc_b = dict(green_s=red - amber - 2.0, amber_s=amber, red_s=green + amber + 2.0,
                 offset_s=off_b)
    lights = [approach_light(road_map, k, half, **(cyc_a if k % 2 == 0 else cyc_b))
              for k in range(4)]
    vehicles = through_flow(road_map, 1, 3, [20.0, 45.0], rng, 'light1')
    vehicles += through_flow(road_map, 3, 1, [10.0, 40.0], rng, 'light3')
    vehicles += through_flow(road_map, 2, 0, [30.0], rng, 'light2')
    world = World(road_map, xy, ego_at_route_start(xy), vehicles=vehicles, lights=lights)
    return Scenario(world, make_route('red_light', seed, xy, cmds))


def stop_sign(seed: int) -> Scenario:
    """T junction: stop at the sign, then turn into a road with priority traffic."""
    rng = _rng('stop_sign', seed)
    road_map, width, _ = junction_map(rng, (0, 1, 3), {1: 110.0, 3: 110.0})
    turn = int(Command.RIGHT if seed % 2 == 0 else Command.LEFT)
    xy, cmds = ego_junction_route(road_map, _exit_arm(0, turn))
    line = approach_stop_line(road_map, 0)
    h = line.heading_rad
    sign_xy = np.asarray(line.xy) + np.array([np.sin(h), -np.cos(h)]) * (width + 0.8)
    sign = StopSign('stop0', line, (float(sign_xy[0]), float(sign_xy[1])), h + np.pi)
    vehicles = through_flow(road_map, 3, 1, [float(rng.uniform(0, 20)), 60.0], rng)
    vehicles += through_flow(road_map, 1, 3, [float(rng.uniform(10, 30))], rng)
    world = World(road_map, xy, ego_at_route_start(xy), vehicles=vehicles, stop_signs=[sign])
    return Scenario(world, make_route('stop_sign', seed, xy, cmds))


def ramp_merge(seed: int) -> Scenario:
    """Join a flowing main road from an on-ramp."""
    rng = _rng('ramp_merge', seed)
    road_map = RoadMap()
    width = float(rng.uniform(3.4, 3.8))
    ref = build_polyline((0.0, 0.0), float(rng.uniform(-np.pi, np.pi)),
                         [('straight', 120.0, 0), ('arc', rng.uniform(120, 200),
                                                   rng.uniform(-0.3, 0.3)),
                          ('straight', 120.0, 0)])
    add_road(road_map, 'main', ref, 1, 1, width, URBAN_SPEED_MPS + 1.5)
    merge_s = float(rng.uniform(95, 115))
    s_ref = geo.arc_length(ref)
    u = np.clip((s_ref - 30.0) / (merge_s - 30.0), 0.0, 1.0)
    lateral = -0.5 * width - (width + 3.0) * 0.5 * (1 + np.cos(np.pi * u))
    ramp = geo.offset(ref, 0.0)
    ramp = ramp + (lateral[:, None] * np.stack([-np.sin(geo.headings(ref)),
                                                np.cos(geo.headings(ref))], axis=1))
    ramp = ramp[s_ref <= merge_s]
    road_map.add_lane(Lane('ramp:f0', ramp, width, URBAN_SPEED_MPS))
    left, right = road_map.lanes['ramp:f0'].boundaries()
    road_map.surfaces.append((left, right))
    road_map.markings.append((right, 'solid_white'))
    main_xy = road_map.lanes['main:f0'].centre_xy
    after = main_xy[geo.arc_length(main_xy) > merge_s + 1.0]
    xy, cmds = _dense_route(np.concatenate([ramp, after])[5:-40])
    first = float(rng.uniform(0, 20))
    starts = [first + 38.0 * k + float(rng.uniform(-5, 5)) for k in range(4)]
    vehicles = flow(road_map, ['main:f0'], 'main', starts, URBAN_SPEED_MPS + 1.0, rng)
    world = World(road_map, xy, ego_at_route_start(xy), vehicles=vehicles)
    return Scenario(world, make_route('ramp_merge', seed, xy, cmds))


def _dense_route(xy: np.ndarray):
    dense = geo.resample(xy, 1.0)
    return dense, tuple([int(Command.LANE_FOLLOW)] * len(dense))


FAMILIES: Dict[str, Callable[[int], Scenario]] = {
    'lead_brake': lead_brake, 'pedestrian_crossing': pedestrian_crossing,
    'unprotected_left': unprotected_left, 'red_light': red_light, 'stop_sign': stop_sign,
    'ramp_merge': ramp_merge, 'blocked_lane': blocked_lane,
}
FAMILY_ABILITY = {
    'lead_brake': 'Emergency_Brake', 'pedestrian_crossing': 'Emergency_Brake',
    'unprotected_left': 'Give_Way', 'red_light': 'Traffic_Signs', 'stop_sign': 'Traffic_Signs',
    'ramp_merge': 'Merging', 'blocked_lane': 'Overtaking',
}


def build_scenario(family: str, seed: int) -> Scenario:
    if family not in FAMILIES:
        raise ValueError(f'unknown scenario family {family!r}; known: {sorted(FAMILIES)}')
    return FAMILIES[family](int(seed))
