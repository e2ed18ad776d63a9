"""Bench2Drive closed-loop metrics over ``RouteRecord`` lists (pure: numpy only).

Definitions (CARLA leaderboard 2.0 as used by Bench2Drive v0.0.3):

- Route score = route completion (0..100) x infraction penalty; the penalty multiplies one
  factor per event (``PENALTY_PER_EVENT``) and, for driving outside the route lanes,
  ``1 - percentage / 100`` (the leaderboard's "increases" rule with per-unit value 0).
  Min-speed infractions carry no penalty (Bench2Drive marks them "unused").
- Driving Score (DS) = mean route score; routes that never finished count 0 when an expected
  route count is given (as the leaderboard divides by the total number of routes).
- Success Rate (SR) = % of routes that reached the end with no infraction other than min speed.
- Efficiency = Bench2Drive's efficiency tool: per route, the mean of its min-speed
  percentages (values above 1000 % dropped), then the mean over routes that have any. A route
  recorded without min-speed events (older records) falls back to mean ego speed / mean
  surrounding-traffic speed over the whole trace (the tool would skip it).
- Comfortness = % of 20-frame windows whose smoothed kinematics stay within nuPlan's
  ``ego_is_comfortable`` bounds (``ComfortBounds``), averaged over routes.
- Per-ability SR: success rate of the routes tagged with each ability.

Bench2Drive's own comfort script smooths yaw rate where it means to differentiate it (its
"yaw acceleration" is a smoothed yaw rate) and assumes 10 Hz; we differentiate properly with the
trace's ``dt_s``. Its Traffic_Signs ability only counts a route up to its first junction; we use
the plain success rule for every ability (docs/closed_loop.md).
"""
from dataclasses import dataclass
import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from orion_lite_ros.eval.leaderboard_criteria import (
    failed_status,
    infraction_message,
    leaderboard_route_id,
)
from orion_lite_ros.eval.records import (
    ABILITIES,
    COLLISION_PEDESTRIAN,
    COLLISION_STATIC,
    COLLISION_VEHICLE,
    INFRACTION_KINDS,
    MIN_SPEED,
    OUTSIDE_ROUTE_LANES,
    RED_LIGHT,
    SCENARIO_TIMEOUT,
    STOP_SIGN,
    YIELD_EMERGENCY,
    Infraction,
    KinematicTrace,
    RouteRecord,
)

PENALTY_PER_EVENT = {
    COLLISION_PEDESTRIAN: 0.5,
    COLLISION_VEHICLE: 0.6,
    COLLISION_STATIC: 0.65,
    RED_LIGHT: 0.7,
    STOP_SIGN: 0.8,
    SCENARIO_TIMEOUT: 0.7,
    YIELD_EMERGENCY: 0.7,
}

# Infractions that do not break a "success" (Bench2Drive's ability_benchmark rule).
SUCCESS_EXEMPT = (MIN_SPEED,)

# Leaderboard's summary labels, in its order (values follow the same order).
LEADERBOARD_LABELS = (
    ('Avg. driving score', 'score_composed'), ('Avg. route completion', 'score_route'),
    ('Avg. infraction penalty', 'score_penalty'),
    ('Collisions with pedestrians', COLLISION_PEDESTRIAN),
    ('Collisions with vehicles', COLLISION_VEHICLE), ('Collisions with layout', COLLISION_STATIC),
    ('Red lights infractions', RED_LIGHT), ('Stop sign infractions', STOP_SIGN),
    ('Off-road infractions', 'outside_route_lanes'), ('Route deviations', 'route_dev'),
    ('Route timeouts', 'route_timeout'), ('Agent blocked', 'vehicle_blocked'),
    ('Yield emergency vehicles infractions', YIELD_EMERGENCY),
    ('Scenario timeouts', SCENARIO_TIMEOUT), ('Min speed infractions', MIN_SPEED),
)


@dataclass(frozen=True)
class ComfortBounds:
    """nuPlan ``ego_is_comfortable`` bounds (nuplan-devkit metric config) and windowing."""

    min_lon_accel_mps2: float = -4.05
    max_lon_accel_mps2: float = 2.40
    max_abs_lat_accel_mps2: float = 4.89
    max_abs_yaw_rate_rps: float = 0.95
    max_abs_yaw_accel_rps2: float = 1.93
    max_abs_lon_jerk_mps3: float = 4.13
    max_abs_mag_jerk_mps3: float = 8.37
    window_frames: int = 20        # non-overlapping windows, the incomplete tail dropped
    savgol_window: int = 7         # Savitzky-Golay smoothing as in Bench2Drive / nuPlan
    savgol_order: int = 2


@dataclass(frozen=True)
class RouteScore:
    route_id: str
    score_route: float          # route completion, 0..100
    score_penalty: float        # product of per-event factors, 0..1
    score_composed: float       # score_route * score_penalty
    reached_end: bool
    success: bool
    efficiency_pct: Optional[float]
    comfort_fraction: Optional[float]   # 0..1, None when the trace is too short


@dataclass(frozen=True)
class Summary:
    num_routes: int                 # routes with a record
    expected_routes: int            # denominator of DS / RC / SR
    driving_score: float
    route_completion: float
    infraction_penalty: float
    success_rate: float             # %
    efficiency: Optional[float]     # %
    comfortness: Optional[float]    # %
    ability_success: Dict[str, Optional[float]]   # % per ability, None if no route has it
    infractions_per_km: Dict[str, float]
    km_driven: float


# Per-percent penalties: kind -> per-unit value (statistics_manager's PENALTY_PERC_DICT,
# 'increases': factor 1 - (1 - value) * percentage / 100).
PENALTY_PER_PERCENT = {OUTSIDE_ROUTE_LANES: 0.0}
MAX_EFFICIENCY_PCT = 1000.0         # Bench2Drive's tool drops larger min-speed values


def infraction_penalty(infractions: Iterable[Infraction]) -> float:
    penalty = 1.0
    for inf in infractions:
        penalty *= PENALTY_PER_EVENT.get(inf.kind, 1.0)
        if inf.kind in PENALTY_PER_PERCENT and inf.percentage is not None:
            penalty *= 1.0 - (1.0 - PENALTY_PER_PERCENT[inf.kind]) * inf.percentage / 100.0
    return penalty


def reached_end(record: RouteRecord) -> bool:
    """The leaderboard's 'target reached': completion 100 % (status Completed / Perfect)."""
    return (record.route_completion_pct >= 100.0 - 1e-9
            or record.status.startswith(('Completed', 'Perfect')))


def is_success(record: RouteRecord) -> bool:
    blocking = [i for i in record.infractions if i.kind not in SUCCESS_EXEMPT]
    return reached_end(record) and not blocking


def route_efficiency_pct(record: RouteRecord) -> Optional[float]:
    """Mean of the route's min-speed percentages (<= 1000 %), as Bench2Drive's tool; without
    min-speed events the trace's ego / traffic speed ratio (``efficiency_pct``)."""
    events = [i for i in record.infractions if i.kind == MIN_SPEED]
    if not events:
        return efficiency_pct(record.trace)
    values = [100.0 if i.percentage is None else i.percentage for i in events]
    kept = [v for v in values if v <= MAX_EFFICIENCY_PCT]
    return float(np.mean(kept)) if kept else None


def efficiency_pct(trace: KinematicTrace) -> Optional[float]:
    """Mean ego speed as % of the mean surrounding-traffic speed (None without traffic)."""
    ego = np.asarray(trace.speed_mps, dtype=np.float64)
    traffic = np.asarray(trace.traffic_speed_mps, dtype=np.float64)
    n = min(len(ego), len(traffic))
    if n == 0:
        return None
    mask = traffic[:n] > 0.1          # samples with moving traffic around
    if not mask.any():
        return None
    value = 100.0 * float(ego[:n][mask].mean()) / float(traffic[:n][mask].mean())
    return value if value <= 1000.0 else None


def savgol(y: np.ndarray, window: int, order: int, deriv: int = 0, dt: float = 1.0
           ) -> np.ndarray:
    """Savitzky-Golay filter (edges fitted by the first/last full window, scipy's 'interp')."""
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    window = min(window, n)
    if order >= window:
        raise ValueError(f'polynomial order {order} needs a window > {order}, got {window}')
    t = np.arange(window, dtype=np.float64)
    vander = np.vander(t, order + 1, increasing=True)       # (W, P)
    fit = np.linalg.pinv(vander)                              # (P, W): samples -> coefficients
    half = window // 2
    out = np.empty(n)
    for i in range(n):
        start = min(max(i - half, 0), n - window)
        coef = fit @ y[start:start + window]                  # (P,)
        u = float(i - start)
        powers = np.arange(order + 1)
        if deriv == 0:
            out[i] = float(np.sum(coef * u ** powers))
        else:   # first derivative
            out[i] = float(np.sum(coef[1:] * powers[1:] * u ** (powers[1:] - 1)))
    return out / (dt ** deriv)


def _window_comfortable(lon: np.ndarray, lat: np.ndarray, yaw_rate: np.ndarray, dt: float,
                        b: ComfortBounds) -> bool:
    w, p = b.savgol_window, b.savgol_order
    lon_s, lat_s, yaw_s = (savgol(v, w, p) for v in (lon, lat, yaw_rate))
    mag = savgol(np.hypot(lon, lat), w, p)
    checks = (
        (lon_s, b.min_lon_accel_mps2, b.max_lon_accel_mps2),
        (lat_s, -b.max_abs_lat_accel_mps2, b.max_abs_lat_accel_mps2),
        (yaw_s, -b.max_abs_yaw_rate_rps, b.max_abs_yaw_rate_rps),
        (savgol(yaw_rate, w, p, 1, dt), -b.max_abs_yaw_accel_rps2, b.max_abs_yaw_accel_rps2),
        (savgol(lon_s, w, p, 1, dt), -b.max_abs_lon_jerk_mps3, b.max_abs_lon_jerk_mps3),
        (savgol(mag, w, p, 1, dt), -b.max_abs_mag_jerk_mps3, b.max_abs_mag_jerk_mps3),
    )
    return all(bool(np.all((v > lo) & (v < hi))) for v, lo, hi in checks)


def comfort_fraction(trace: KinematicTrace, bounds: ComfortBounds = ComfortBounds()
                     ) -> Optional[float]:
    """Fraction (0..1) of ``window_frames`` windows within bounds; a short trace is one window."""
    lon = np.asarray(trace.lon_accel_mps2, dtype=np.float64)
    lat = np.asarray(trace.lat_accel_mps2, dtype=np.float64)
    yaw = np.unwrap(np.asarray(trace.yaw_rate_rps, dtype=np.float64))
    n = min(len(lon), len(lat), len(yaw))
    if n <= bounds.savgol_order:
        return None
    m = bounds.window_frames
    starts = [0] if n <= m else list(range(0, n - m + 1, m))
    size = n if n <= m else m
    ok = [_window_comfortable(lon[s:s + size], lat[s:s + size], yaw[s:s + size],
                              trace.dt_s, bounds) for s in starts]
    return sum(ok) / len(ok)


def score_route(record: RouteRecord, bounds: ComfortBounds = ComfortBounds()) -> RouteScore:
    completion = float(np.clip(record.route_completion_pct, 0.0, 100.0))
    penalty = infraction_penalty(record.infractions)
    return RouteScore(
        route_id=record.route_id, score_route=completion, score_penalty=penalty,
        score_composed=max(completion * penalty, 0.0), reached_end=reached_end(record),
        success=is_success(record), efficiency_pct=route_efficiency_pct(record),
        comfort_fraction=comfort_fraction(record.trace, bounds))


def _mean_or_none(values: Iterable[Optional[float]]) -> Optional[float]:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _ability_success(records: Sequence[RouteRecord], scores: Sequence[RouteScore]
                     ) -> Dict[str, Optional[float]]:
    out: Dict[str, Optional[float]] = {}
    for ability in ABILITIES:
        hits = [s.success for r, s in zip(records, scores) if ability in r.abilities]
        out[ability] = 100.0 * sum(hits) / len(hits) if hits else None
    return out


def _outside_lanes_km(record: RouteRecord) -> float:
    """km driven outside the route lanes, from the route's first such event (as the
    leaderboard reads it off its message)."""
    first = next((i for i in record.infractions if i.kind == OUTSIDE_ROUTE_LANES), None)
    return (first.distance_m or 0.0) / 1000.0 if first is not None else 0.0


def _infractions_per_km(records: Sequence[RouteRecord], scores: Sequence[RouteScore]):
    """Events per km driven; outside_route_lanes is the km driven outside (not per km), as in
    the leaderboard's global record."""
    km = sum(r.route_length_m / 1000.0 * s.score_route / 100.0 for r, s in zip(records, scores))
    km = max(km, 0.001)     # the leaderboard's floor
    counts = {kind: 0 for kind in INFRACTION_KINDS}
    for r in records:
        for inf in r.infractions:
            counts[inf.kind] += 1
    out = {k: v / km for k, v in counts.items()}
    out[OUTSIDE_ROUTE_LANES] = sum(_outside_lanes_km(r) for r in records)
    return out, km


def summarize(records: Sequence[RouteRecord], expected_routes: Optional[int] = None,
              bounds: ComfortBounds = ComfortBounds()) -> Summary:
    """Bench2Drive metrics; ``expected_routes`` (>= len(records)) makes missing routes count 0."""
    total = len(records) if expected_routes is None else int(expected_routes)
    if total < len(records):
        raise ValueError(f'expected_routes={total} < number of records {len(records)}')
    scores = [score_route(r, bounds) for r in records]
    denom = max(total, 1)
    comfort = _mean_or_none(s.comfort_fraction for s in scores)
    per_km, km = _infractions_per_km(records, scores)
    return Summary(
        num_routes=len(records), expected_routes=total,
        driving_score=sum(s.score_composed for s in scores) / denom,
        route_completion=sum(s.score_route for s in scores) / denom,
        infraction_penalty=sum(s.score_penalty for s in scores) / denom,
        success_rate=100.0 * sum(s.success for s in scores) / denom,
        efficiency=_mean_or_none(s.efficiency_pct for s in scores),
        comfortness=None if comfort is None else 100.0 * comfort,
        ability_success=_ability_success(records, scores),
        infractions_per_km=per_km, km_driven=km)


def leaderboard_status(record: RouteRecord) -> str:
    """'Perfect' / 'Completed' (any event, min speed included, makes it 'Completed') when the
    end was reached, else 'Failed - <reason>' for the leaderboard's reasons, else 'Failed'."""
    if reached_end(record):
        return 'Completed' if record.infractions else 'Perfect'
    _, _, reason = record.status.partition(' - ')
    return failed_status(reason)


def save_name(record: RouteRecord) -> str:
    """The route's ``save_name`` (the leaderboard's per-route folder name)."""
    rid = leaderboard_route_id(record.route_id, int(record.meta.get('repetition', 0)))
    return record.meta.get('save_name') or rid


def metric_info(trace: KinematicTrace) -> dict:
    """Bench2Drive's per-step ``metric_info.json`` (what its agents record with CARLA's
    ``get_acceleration`` / ``get_angular_velocity``, read by its efficiency/smoothness tool),
    from our body-frame trace: forward (1, 0, 0), right (0, 1, 0), CARLA's left-handed signs
    and angular velocity in deg/s as CARLA gives it; location and rotation are not in the
    trace and written as zeros (the tool does not use them)."""
    out = {}
    for k, (lon, lat, yaw_rate) in enumerate(zip(trace.lon_accel_mps2, trace.lat_accel_mps2,
                                                 trace.yaw_rate_rps)):
        out[str(k)] = {'acceleration': [float(lon), -float(lat), 0.0],
                       'angular_velocity': [0.0, 0.0, -math.degrees(float(yaw_rate))],
                       'forward_vector': [1.0, 0.0, 0.0], 'right_vector': [0.0, 1.0, 0.0],
                       'location': [0.0, 0.0, 0.0], 'rotation': [0.0, 0.0, 0.0]}
    return out


def leaderboard_route_record(record: RouteRecord, index: int,
                             bounds: ComfortBounds = ComfortBounds()) -> dict:
    """One ``_checkpoint.records[]`` entry in the leaderboard's shape (plus our extras)."""
    s = score_route(record, bounds)
    infractions: Dict[str, List[str]] = {kind: [] for kind in INFRACTION_KINDS}
    for inf in record.infractions:
        infractions[inf.kind].append(infraction_message(inf))
    route_id = leaderboard_route_id(record.route_id, int(record.meta.get('repetition', 0)))
    return {
        'index': index, 'route_id': route_id,
        'scenario_name': record.meta.get('scenario_name') or record.scenario,
        'town_name': record.meta.get('town', ''), 'weather_id': record.meta.get('weather', ''),
        'save_name': save_name(record),
        'status': leaderboard_status(record),
        'num_infractions': len(record.infractions), 'infractions': infractions,
        'scores': {'score_route': round(s.score_route, 6),
                   'score_penalty': round(s.score_penalty, 6),
                   'score_composed': round(s.score_composed, 6)},
        'meta': {'route_length': round(record.route_length_m, 3),
                 'duration_game': round(record.game_time_s, 3),
                 'duration_system': round(record.system_time_s, 3)},
        'abilities': list(record.abilities), 'success': s.success,
        'efficiency_pct': s.efficiency_pct, 'comfort_fraction': s.comfort_fraction,
    }


def _std(values: Sequence[float], mean: float, total: int) -> float:
    """The leaderboard's spread: squared deviations of the routes run from the mean over all
    ``total`` routes, divided by ``total - 1``."""
    if total <= 1:
        return 0.0
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (total - 1))


def global_record(records: Sequence[RouteRecord], summary: Summary) -> dict:
    entries = [score_route(r) for r in records]
    means = {'score_composed': summary.driving_score, 'score_route': summary.route_completion,
             'score_penalty': summary.infraction_penalty}
    statuses = [leaderboard_status(r) for r in records]
    status = 'Perfect'
    missing = summary.num_routes < summary.expected_routes
    if missing or any(s.startswith('Failed') for s in statuses):
        status = 'Failed'
    elif any(s == 'Completed' for s in statuses):
        status = 'Completed'
    return {
        'index': -1, 'route_id': -1, 'status': status,
        'infractions': {k: round(v, 3) for k, v in summary.infractions_per_km.items()},
        'scores_mean': {'score_composed': round(summary.driving_score, 6),
                        'score_route': round(summary.route_completion, 6),
                        'score_penalty': round(summary.infraction_penalty, 6)},
        'scores_std_dev': {k: round(_std([getattr(e, k) for e in entries], round(m, 6),
                                         summary.expected_routes), 3)
                           for k, m in means.items()},
        'meta': {'total_length': round(sum(r.route_length_m for r in records), 3),
                 'duration_game': round(sum(r.game_time_s for r in records), 3),
                 'duration_system': round(sum(r.system_time_s for r in records), 3),
                 'exceptions': [[leaderboard_route_id(r.route_id), i, st] for i, (r, st)
                                in enumerate(zip(records, statuses)) if st.startswith('Failed')]},
    }


def _leaderboard_values(summary: Summary) -> List[str]:
    means = {'score_composed': summary.driving_score, 'score_route': summary.route_completion,
             'score_penalty': summary.infraction_penalty}
    values = []
    for _, key in LEADERBOARD_LABELS:
        value = means[key] if key in means else summary.infractions_per_km.get(key, 0.0)
        values.append(str(round(value, 6 if key in means else 3)))
    return values


def bench2drive_block(summary: Summary) -> dict:
    return {'driving_score': summary.driving_score, 'success_rate': summary.success_rate,
            'route_completion': summary.route_completion, 'efficiency': summary.efficiency,
            'comfortness': summary.comfortness, 'ability_success_rate': summary.ability_success,
            'num_routes': summary.num_routes, 'expected_routes': summary.expected_routes,
            'km_driven': summary.km_driven}


def results_json(records: Sequence[RouteRecord], expected_routes: Optional[int] = None,
                 sensors: Sequence[str] = (), extra: Optional[Mapping] = None) -> dict:
    """The whole results file: leaderboard keys, a ``bench2drive`` block and our raw records."""
    summary = summarize(records, expected_routes)
    finished = summary.num_routes >= summary.expected_routes
    out = {
        '_checkpoint': {
            'global_record': global_record(records, summary),
            'progress': [summary.num_routes, summary.expected_routes],
            'records': [leaderboard_route_record(r, i) for i, r in enumerate(records)],
        },
        'entry_status': 'Finished' if finished else 'Started',
        'eligible': finished,
        'sensors': list(sensors),
        'values': _leaderboard_values(summary),
        'labels': [label for label, _ in LEADERBOARD_LABELS],
        'bench2drive': bench2drive_block(summary),
        'route_records': [r.to_json() for r in records],
    }
    if extra:
        out['run'] = dict(extra)
    return out


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return 'n/a' if value is None or not math.isfinite(value) else f'{value:.{digits}f}'


def summary_rows(summary: Summary) -> List[tuple]:
    rows = [('Driving Score', _fmt(summary.driving_score, 2)),
            ('Success Rate (%)', _fmt(summary.success_rate)),
            ('Route Completion (%)', _fmt(summary.route_completion)),
            ('Infraction Penalty', _fmt(summary.infraction_penalty, 3)),
            ('Efficiency (%)', _fmt(summary.efficiency)),
            ('Comfortness (%)', _fmt(summary.comfortness)),
            ('Routes (done/expected)', f'{summary.num_routes}/{summary.expected_routes}')]
    rows += [(f'SR {a} (%)', _fmt(v)) for a, v in summary.ability_success.items()]
    return rows


def summary_table(summaries: Mapping[str, Summary]) -> str:
    """Plain-text table, one column per run (e.g. ``{'expert': s1, 'planner': s2}``)."""
    names = list(summaries)
    columns = [dict(summary_rows(summaries[n])) for n in names]
    labels = [label for label, _ in summary_rows(summaries[names[0]])] if names else []
    width = max([len(label) for label in labels] + [6])
    colw = [max(len(n), 9) for n in names]
    head = 'metric'.ljust(width) + ''.join(f'  {n:>{w}}' for n, w in zip(names, colw))
    lines = [head, '-' * len(head)]
    for label in labels:
        cells = ''.join(f'  {c[label]:>{w}}' for c, w in zip(columns, colw))
        lines.append(label.ljust(width) + cells)
    return '\n'.join(lines)
