"""CARLA leaderboard 2.0 / Bench2Drive route XML -> ``RouteSpec`` (no carla import).

Format::

    <routes>
      <route id="1711" town="Town12">
        <weathers><weather route_percentage="0" cloudiness="5.0" .../></weathers>
        <waypoints><position x="..." y="..." z="..."/> ...</waypoints>
        <scenarios>
          <scenario name="Accident_1" type="Accident">
            <trigger_point x="..." y="..." z="..." yaw="..."/> <distance value="..."/> ...
          </scenario>
        </scenarios>
      </route>
    </routes>

Positions are CARLA coordinates (left-handed, yaw in degrees, clockwise); everything returned
is REP-103 (``ros/frames.py``). The keypoints are sparse: inside CARLA the backend densifies them
along the road network; without a map ``RouteSpec`` densifies them linearly.
"""
from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union
import xml.etree.ElementTree as ET

import numpy as np

from orion_lite_ros.bridge.backend import RouteSpec
from orion_lite_ros.layout import Command
from orion_lite_ros.nav.route import arc_length, interpolate
from orion_lite_ros.ros.frames import carla_to_ros_points, carla_yaw_deg_to_ros_rad

# Bench2Drive's ability groups: scenario types per ability (tools/ability_benchmark.py).
ABILITY_SCENARIOS: Dict[str, Tuple[str, ...]] = {
    'Overtaking': (
        'Accident', 'AccidentTwoWays', 'ConstructionObstacle', 'ConstructionObstacleTwoWays',
        'HazardAtSideLaneTwoWays', 'HazardAtSideLane', 'ParkedObstacleTwoWays', 'ParkedObstacle',
        'VehicleOpenDoorTwoWays'),
    'Merging': (
        'CrossingBicycleFlow', 'EnterActorFlow', 'HighwayExit', 'InterurbanActorFlow',
        'HighwayCutIn', 'InterurbanAdvancedActorFlow', 'MergerIntoSlowTrafficV2',
        'MergerIntoSlowTraffic', 'NonSignalizedJunctionLeftTurn',
        'NonSignalizedJunctionRightTurn', 'NonSignalizedJunctionLeftTurnEnterFlow',
        'ParkingExit', 'SequentialLaneChange', 'SignalizedJunctionLeftTurn',
        'SignalizedJunctionRightTurn', 'SignalizedJunctionLeftTurnEnterFlow'),
    'Emergency_Brake': (
        'BlockedIntersection', 'DynamicObjectCrossing', 'HardBreakRoute',
        'OppositeVehicleTakingPriority', 'OppositeVehicleRunningRedLight', 'ParkingCutIn',
        'PedestrianCrossing', 'ParkingCrossingPedestrian', 'StaticCutIn', 'VehicleTurningRoute',
        'VehicleTurningRoutePedestrian', 'ControlLoss'),
    'Give_Way': ('InvadingTurn', 'YieldToEmergencyVehicle'),
    'Traffic_Signs': (
        'BlockedIntersection', 'OppositeVehicleTakingPriority', 'OppositeVehicleRunningRedLight',
        'PedestrianCrossing', 'VehicleTurningRoute', 'VehicleTurningRoutePedestrian',
        'EnterActorFlow', 'CrossingBicycleFlow', 'NonSignalizedJunctionLeftTurn',
        'NonSignalizedJunctionRightTurn', 'NonSignalizedJunctionLeftTurnEnterFlow',
        'SignalizedJunctionLeftTurn', 'SignalizedJunctionRightTurn',
        'SignalizedJunctionLeftTurnEnterFlow', 'T_Junction', 'VanillaNonSignalizedTurn',
        'VanillaSignalizedTurnEncounterGreenLight', 'VanillaSignalizedTurnEncounterRedLight',
        'VanillaNonSignalizedTurnEncounterStopsign'),
}

# Route timeout as the leaderboard estimates it: 1 s per metre of route, at least 100 s.
SECONDS_PER_METRE = 1.0
MIN_TIMEOUT_S = 100.0


class RouteXmlError(ValueError):
    """A route file that cannot be read; the message names the file and the route."""


@dataclass(frozen=True)
class XmlScenario:
    name: str
    type: str
    trigger_xyz: Optional[np.ndarray] = None     # (3,) REP-103
    trigger_yaw_rad: float = 0.0                  # REP-103
    attributes: Dict[str, Dict[str, str]] = field(default_factory=dict)  # child tag -> attrs


@dataclass(frozen=True)
class XmlRoute:
    route_id: str
    town: str
    keypoints_xyz: np.ndarray                     # (K, 3) REP-103
    scenarios: Tuple[XmlScenario, ...] = ()
    weathers: Tuple[Dict[str, str], ...] = ()

    @property
    def scenario_type(self) -> str:
        return self.scenarios[0].type if self.scenarios else 'Route'


def abilities_for(scenario_types: Sequence[str]) -> Tuple[str, ...]:
    found = [a for a, types in ABILITY_SCENARIOS.items() if set(types) & set(scenario_types)]
    return tuple(found)


def _floats(elem: ET.Element, keys: Sequence[str], where: str) -> List[float]:
    try:
        return [float(elem.attrib[k]) for k in keys]
    except (KeyError, ValueError) as exc:
        raise RouteXmlError(f'{where}: <{elem.tag}> needs numeric {list(keys)}: {exc}') from exc


def _parse_scenario(elem: ET.Element, where: str) -> XmlScenario:
    trigger = elem.find('trigger_point')
    xyz, yaw = None, 0.0
    if trigger is not None:
        xyz = carla_to_ros_points(_floats(trigger, ('x', 'y', 'z'), where))
        yaw = carla_yaw_deg_to_ros_rad(float(trigger.attrib.get('yaw', 0.0)))
    attrs = {child.tag: dict(child.attrib) for child in elem if child.tag != 'trigger_point'}
    return XmlScenario(name=elem.attrib.get('name', ''), type=elem.attrib.get('type', ''),
                       trigger_xyz=xyz, trigger_yaw_rad=yaw, attributes=attrs)


def _parse_route(elem: ET.Element, source: str) -> XmlRoute:
    rid = elem.attrib.get('id')
    if rid is None:
        raise RouteXmlError(f'{source}: a <route> has no id')
    where = f'{source} route {rid}'
    positions = elem.findall('./waypoints/position')
    if len(positions) < 2:
        raise RouteXmlError(f'{where}: needs at least two <waypoints><position .../>')
    carla_xyz = np.array([_floats(p, ('x', 'y', 'z'), where) for p in positions])
    scenarios = tuple(_parse_scenario(s, where) for s in elem.findall('./scenarios/scenario'))
    weathers = tuple(dict(w.attrib) for w in elem.findall('./weathers/weather'))
    return XmlRoute(route_id=str(rid), town=elem.attrib.get('town', ''),
                    keypoints_xyz=carla_to_ros_points(carla_xyz), scenarios=scenarios,
                    weathers=weathers)


def parse_routes(source: Union[str, Path], route_ids: Optional[Sequence[str]] = None
                 ) -> List[XmlRoute]:
    """Routes of a file (or XML text starting with '<'), optionally only ``route_ids``."""
    text_given = isinstance(source, str) and source.lstrip().startswith('<')
    name = '<xml text>' if text_given else str(source)
    try:
        root = ET.fromstring(source) if text_given else ET.parse(source).getroot()
    except (ET.ParseError, OSError) as exc:
        raise RouteXmlError(f'{name}: {exc}') from exc
    if root.tag != 'routes':
        raise RouteXmlError(f'{name}: root element is <{root.tag}>, expected <routes>')
    routes = [_parse_route(e, name) for e in root.findall('route')]
    if route_ids is not None:
        wanted = [str(r) for r in route_ids]
        missing = sorted(set(wanted) - {r.route_id for r in routes})
        if missing:
            raise RouteXmlError(f'{name}: no route with id {missing}')
        routes = [r for r in routes if r.route_id in wanted]
    return routes


def densify(points_xy: np.ndarray, step_m: float = 1.0) -> np.ndarray:
    """Linear resampling of a polyline (K, 2) every ``step_m`` (ends kept)."""
    pts = np.asarray(points_xy, dtype=np.float64)
    s = arc_length(pts)
    count = max(int(np.ceil(s[-1] / step_m)), 1)
    return interpolate(pts, s, np.linspace(0.0, s[-1], count + 1))


def to_route_spec(route: XmlRoute, dense_xy: Optional[np.ndarray] = None,
                  commands: Optional[Sequence[int]] = None, step_m: float = 1.0,
                  timeout_s: Optional[float] = None) -> RouteSpec:
    """``RouteSpec`` from a parsed route; ``dense_xy``/``commands`` from a road-network planner
    when one is available, else a linear densification with LANE_FOLLOW commands."""
    xy = densify(route.keypoints_xyz[:, :2], step_m) if dense_xy is None else dense_xy
    cmds = tuple(int(c) for c in commands) if commands is not None else (
        (int(Command.LANE_FOLLOW),) * len(xy))
    if len(cmds) != len(xy):
        raise ValueError(f'route {route.route_id}: {len(cmds)} commands for {len(xy)} points')
    length = float(arc_length(np.asarray(xy))[-1])
    types = [s.type for s in route.scenarios]
    extra = {'source': 'xml', 'scenario_names': ','.join(s.name for s in route.scenarios),
             'keypoints_xyz': json.dumps(np.round(route.keypoints_xyz, 3).tolist())}
    return RouteSpec(
        route_id=route.route_id, scenario=route.scenario_type, abilities=abilities_for(types),
        waypoints_xy=np.asarray(xy, dtype=np.float64), commands=cmds, town=route.town,
        timeout_s=timeout_s if timeout_s is not None else max(MIN_TIMEOUT_S,
                                                               SECONDS_PER_METRE * length),
        extra=extra)


def load_route_specs(path: Union[str, Path], route_ids: Optional[Sequence[str]] = None,
                     step_m: float = 1.0) -> List[RouteSpec]:
    return [to_route_spec(r, step_m=step_m) for r in parse_routes(path, route_ids)]
