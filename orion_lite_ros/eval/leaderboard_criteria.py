"""What the CARLA leaderboard's criteria write, so its tools can read our results (pure).

The leaderboard's statistics and Bench2Drive's tools parse the infraction messages, not only
count them: the global statistics take the metres driven outside the route lanes from the 9th
word of that message, Bench2Drive's efficiency tool takes the percentage (``<number>%``) out of
every min-speed message, and its ability tool matches ``route_id.split('_')[1]`` with the route
file's id. So every message here has the exact wording of the criterion that writes it
(scenario_runner's ``atomic_criteria`` in Bench2Drive's tree), and the two percentage criteria
are computed the way the leaderboard computes them:

- ``OutsideRouteLanes``: one event per route, the route length passed while outside the route's
  lanes as a % of the route length passed; it multiplies the route's penalty by
  ``1 - percentage / 100``.
- ``MinSpeedCheckpoints`` (``MinimumSpeedRouteTest``, Bench2Drive: 20 checkpoints): the route is
  cut into equal lengths; each time the ego passes one, an event records its mean speed as a %
  of the mean speed of the traffic around it over that stretch (100 when no traffic was
  sampled); one more at the end when the ego got past 95 % of the route. No penalty.

Locations in messages are CARLA's (x forward, y right: ``y_carla = -y_ros``), rounded to 3
digits as the criteria do; we have no z and write 0.0.
"""
from typing import List, Optional

from orion_lite_ros.eval import records as rec

# 'Failed - <reason>' statuses the leaderboard writes (statistics_manager, FAILURE_MESSAGES and
# the criteria that stop a route); any other failure is a plain 'Failed'.
FAILURE_REASONS = ('Agent deviated from the route', 'Agent got blocked', 'Agent timed out',
                   'Simulation crashed', "Agent's sensors were invalid",
                   "Agent couldn't be set up", 'Agent crashed')
ROUTE_STATUSES = ('Perfect', 'Completed', 'Failed',
                  *(f'Failed - {reason}' for reason in FAILURE_REASONS))
MIN_SPEED_CHECKPOINTS = 20          # Bench2Drive's route_scenario (leaderboard 2.0 has 4)
MIN_SPEED_FINAL_FRACTION = 0.95     # the last stretch counts once the ego is past 95 %

_COLLISION_TYPE = {rec.COLLISION_VEHICLE: 'vehicle', rec.COLLISION_PEDESTRIAN: 'walker',
                   rec.COLLISION_STATIC: 'static'}


def failed_status(reason: str = '') -> str:
    """The leaderboard's status for a route that did not reach its end."""
    return f'Failed - {reason}' if reason in FAILURE_REASONS else 'Failed'


def leaderboard_route_id(route_id: str, repetition: int = 0) -> str:
    """``RouteScenario_<id>_rep<n>`` (the leaderboard's name) for a route file's numeric id;
    other ids (our own scenario families) are kept as they are."""
    rid = str(route_id)
    return f'RouteScenario_{rid}_rep{int(repetition)}' if rid.isdigit() else rid


def _at(inf: rec.Infraction) -> str:
    x, y = round(inf.x_m, 3) + 0.0, round(-inf.y_m, 3) + 0.0      # + 0.0: no '-0.0'
    return f'at (x={x}, y={y}, z=0.0)'


def _last_word(detail: str, default: str = '0') -> str:
    words = detail.split()
    return words[-1].split('=')[-1] if words else default


def _collision(inf: rec.Infraction) -> str:
    head = inf.detail
    if not head.startswith('Agent collided against object with type='):
        head = (f'Agent collided against object with type={_COLLISION_TYPE[inf.kind]} and '
                f'id={inf.detail or 0}')
    return f'{head} {_at(inf)}'


def outside_lanes_message(distance_m: float, percentage: float) -> str:
    return (f'Agent went outside its route lanes for about {round(distance_m, 3)} meters '
            f'({round(percentage, 2)}% of the completed route)')


def min_speed_message(percentage: float) -> str:
    return f"Average speed is {round(percentage, 2)}% of the surrounding traffic's one"


def infraction_message(inf: rec.Infraction) -> str:
    """The message the leaderboard's criterion writes for this infraction."""
    kind = inf.kind
    if kind in _COLLISION_TYPE:
        return _collision(inf)
    if kind == rec.RED_LIGHT:
        return f'Agent ran a red light {_last_word(inf.detail)} {_at(inf)}'
    if kind == rec.STOP_SIGN:
        return f'Agent ran a stop with id={_last_word(inf.detail)} {_at(inf)}'
    if kind == rec.OUTSIDE_ROUTE_LANES:
        return outside_lanes_message(inf.distance_m or 0.0, inf.percentage or 0.0)
    if kind == rec.MIN_SPEED:           # no value recorded: the criterion's own default
        return min_speed_message(100.0 if inf.percentage is None else inf.percentage)
    if kind == rec.ROUTE_DEVIATION:
        return f'Agent deviated from the route {_at(inf)}'
    if kind == rec.VEHICLE_BLOCKED:
        return f'Agent got blocked {_at(inf)}'
    if kind == rec.ROUTE_TIMEOUT:
        return 'Route timeout.'
    if kind == rec.SCENARIO_TIMEOUT:
        return 'Agent timed out a scenario'
    return 'Agent failed to yield to an emergency vehicle'     # YIELD_EMERGENCY


class OutsideRouteLanes:
    """Route length passed outside the route's lanes, as the leaderboard accumulates it."""

    def __init__(self):
        self.total_m = 0.0
        self.wrong_m = 0.0

    def update(self, passed_m: float, outside: bool) -> None:
        """``passed_m``: route length passed since the last step (>= 0)."""
        passed_m = max(float(passed_m), 0.0)
        self.total_m += passed_m
        if outside:
            self.wrong_m += passed_m

    @property
    def percentage(self) -> float:
        return 100.0 * self.wrong_m / self.total_m if self.total_m > 0 else 0.0

    def infraction(self, time_s: float, x_m: float, y_m: float) -> Optional[rec.Infraction]:
        """The route's one event (None while nothing was passed outside)."""
        if self.wrong_m <= 0.0:
            return None
        return rec.Infraction(rec.OUTSIDE_ROUTE_LANES, float(time_s), float(x_m), float(y_m),
                              'outside route lanes',
                              percentage=round(self.percentage, 6),
                              distance_m=round(self.wrong_m, 6))


class MinSpeedCheckpoints:
    """``MinimumSpeedRouteTest``: ego vs surrounding-traffic speed per route stretch."""

    def __init__(self, route_length_m: float, checkpoints: int = MIN_SPEED_CHECKPOINTS):
        self.route_length_m = float(route_length_m)
        self.step_m = self.route_length_m / max(int(checkpoints), 1)
        self.values: List[float] = []
        self._last_m = 0.0
        self._finished = False
        self._reset()

    def _reset(self) -> None:
        self._ego, self._traffic, self._samples = 0.0, 0.0, 0

    def _close(self) -> float:
        if self._samples and self._traffic:
            value = round(self._ego / self._traffic * 100.0, 2)
        else:
            value = 100.0
        self.values.append(value)
        self._reset()
        return value

    def update(self, progress_m: float, ego_speed_mps: float,
               traffic_speed_mps: Optional[float]) -> Optional[float]:
        """One tick; the % of a stretch just completed, else None. ``traffic_speed_mps``:
        mean speed of the traffic around, None when there is none (not sampled)."""
        value = None
        if progress_m - self._last_m > self.step_m:
            value = self._close()
            self._last_m = progress_m
        if traffic_speed_mps is not None:
            self._ego += abs(float(ego_speed_mps))
            self._traffic += float(traffic_speed_mps)
            self._samples += 1
        return value

    def finish(self, progress_m: float) -> Optional[float]:
        """End of the route: the last stretch when past 95 % of it (once)."""
        if self._finished:
            return None
        self._finished = True
        if self.route_length_m > 0 and progress_m / self.route_length_m > \
                MIN_SPEED_FINAL_FRACTION:
            return self._close()
        return None


def min_speed_infraction(percentage: float, time_s: float, x_m: float, y_m: float
                         ) -> rec.Infraction:
    return rec.Infraction(rec.MIN_SPEED, float(time_s), float(x_m), float(y_m), 'min speed',
                          percentage=float(percentage))
