"""Per-route results shared by every backend and the scoring code (no ROS, no torch)."""
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

# Infraction kinds, named as in the CARLA leaderboard 2.0 / Bench2Drive results JSON.
COLLISION_PEDESTRIAN = 'collisions_pedestrian'
COLLISION_VEHICLE = 'collisions_vehicle'
COLLISION_STATIC = 'collisions_layout'
RED_LIGHT = 'red_light'
STOP_SIGN = 'stop_infraction'
OUTSIDE_ROUTE_LANES = 'outside_route_lanes'
ROUTE_DEVIATION = 'route_dev'
ROUTE_TIMEOUT = 'route_timeout'
VEHICLE_BLOCKED = 'vehicle_blocked'
SCENARIO_TIMEOUT = 'scenario_timeouts'
YIELD_EMERGENCY = 'yield_emergency_vehicle_infractions'
MIN_SPEED = 'min_speed_infractions'

INFRACTION_KINDS = (
    COLLISION_PEDESTRIAN, COLLISION_VEHICLE, COLLISION_STATIC, RED_LIGHT, STOP_SIGN,
    OUTSIDE_ROUTE_LANES, ROUTE_DEVIATION, ROUTE_TIMEOUT, VEHICLE_BLOCKED, SCENARIO_TIMEOUT,
    YIELD_EMERGENCY, MIN_SPEED,
)

# Bench2Drive ability groups (multi-ability success rates).
ABILITIES = ('Merging', 'Overtaking', 'Emergency_Brake', 'Give_Way', 'Traffic_Signs')


@dataclass(frozen=True)
class Infraction:
    kind: str            # one of INFRACTION_KINDS
    time_s: float        # simulation time since route start
    x_m: float = 0.0     # map frame (REP-103)
    y_m: float = 0.0
    detail: str = ''
    # The leaderboard's event value: outside_route_lanes, % of the route passed outside its
    # lanes (with distance_m); min_speed_infractions, ego speed as % of the traffic's.
    percentage: Optional[float] = None
    distance_m: Optional[float] = None

    def __post_init__(self):
        if self.kind not in INFRACTION_KINDS:
            raise ValueError(f'unknown infraction kind {self.kind!r}')


@dataclass
class KinematicTrace:
    """Ego (and traffic) samples at the simulation step, for efficiency and comfort."""

    dt_s: float
    speed_mps: List[float] = field(default_factory=list)
    lon_accel_mps2: List[float] = field(default_factory=list)
    lat_accel_mps2: List[float] = field(default_factory=list)
    yaw_rate_rps: List[float] = field(default_factory=list)
    traffic_speed_mps: List[float] = field(default_factory=list)  # mean speed of nearby agents


@dataclass
class RouteRecord:
    """Outcome of one route, whatever backend drove it."""

    route_id: str
    scenario: str                      # scenario family / Bench2Drive scenario name
    abilities: Tuple[str, ...]         # subset of ABILITIES
    route_length_m: float
    route_completion_pct: float        # 0..100
    infractions: List[Infraction]
    status: str                        # a leaderboard status (leaderboard_criteria.ROUTE_STATUSES)
    game_time_s: float
    system_time_s: float
    trace: KinematicTrace
    meta: Dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d['abilities'] = list(self.abilities)
        return d

    @staticmethod
    def from_json(d: dict) -> 'RouteRecord':
        return RouteRecord(
            route_id=d['route_id'], scenario=d['scenario'], abilities=tuple(d['abilities']),
            route_length_m=d['route_length_m'], route_completion_pct=d['route_completion_pct'],
            infractions=[Infraction(**i) for i in d['infractions']], status=d['status'],
            game_time_s=d['game_time_s'], system_time_s=d['system_time_s'],
            trace=KinematicTrace(**d['trace']), meta=dict(d.get('meta', {})))
