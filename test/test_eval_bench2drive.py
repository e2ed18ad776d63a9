"""Bench2Drive metric arithmetic against hand-computed cases."""
import json

import numpy as np
import pytest

from orion_lite_ros.eval import bench2drive as b2d
from orion_lite_ros.eval.records import (
    COLLISION_PEDESTRIAN,
    COLLISION_STATIC,
    COLLISION_VEHICLE,
    MIN_SPEED,
    RED_LIGHT,
    ROUTE_TIMEOUT,
    SCENARIO_TIMEOUT,
    STOP_SIGN,
    YIELD_EMERGENCY,
    Infraction,
    KinematicTrace,
    RouteRecord,
)


def _trace(n=40, speed=5.0, traffic=None, yaw_rate=None, lon=None):
    return KinematicTrace(
        dt_s=0.05, speed_mps=[speed] * n,
        lon_accel_mps2=list(lon) if lon is not None else [0.0] * n,
        lat_accel_mps2=[0.0] * n,
        yaw_rate_rps=list(yaw_rate) if yaw_rate is not None else [0.0] * n,
        traffic_speed_mps=[traffic] * n if traffic is not None else [])


def _record(rid, completion, kinds=(), status=None, abilities=(), length=100.0, trace=None):
    status = status or ('Completed' if completion >= 100 else 'Failed - Agent got blocked')
    return RouteRecord(
        route_id=rid, scenario='s', abilities=tuple(abilities), route_length_m=length,
        route_completion_pct=completion, infractions=[Infraction(k, 1.0) for k in kinds],
        status=status, game_time_s=10.0, system_time_s=20.0, trace=trace or _trace())


def test_penalty_per_event_multiplies():
    kinds = [COLLISION_PEDESTRIAN, COLLISION_VEHICLE, COLLISION_STATIC, RED_LIGHT, STOP_SIGN,
             SCENARIO_TIMEOUT, YIELD_EMERGENCY]
    expected = 0.5 * 0.6 * 0.65 * 0.7 * 0.8 * 0.7 * 0.7
    assert b2d.infraction_penalty([Infraction(k, 0.0) for k in kinds]) == pytest.approx(expected)
    two_vehicles = [Infraction(COLLISION_VEHICLE, 0.0)] * 2
    assert b2d.infraction_penalty(two_vehicles) == pytest.approx(0.36)
    assert b2d.infraction_penalty([Infraction(MIN_SPEED, 0.0)]) == 1.0


def test_driving_score_success_rate_and_missing_routes():
    records = [
        _record('a', 100.0, [COLLISION_VEHICLE, RED_LIGHT], abilities=('Merging',)),  # 42
        _record('b', 50.0, abilities=('Merging', 'Give_Way')),                        # 50
        _record('c', 100.0, [MIN_SPEED], abilities=('Give_Way',)),                    # 100, ok
    ]
    s = b2d.summarize(records, expected_routes=4)
    assert s.driving_score == pytest.approx((42.0 + 50.0 + 100.0) / 4)
    assert s.success_rate == pytest.approx(25.0)
    assert s.route_completion == pytest.approx(250.0 / 4)
    assert s.infraction_penalty == pytest.approx((0.42 + 1.0 + 1.0) / 4)
    assert s.ability_success['Merging'] == pytest.approx(0.0)
    assert s.ability_success['Give_Way'] == pytest.approx(50.0)
    assert s.ability_success['Overtaking'] is None
    # km driven: 0.1 + 0.05 + 0.1 = 0.25 km; one vehicle collision -> 4 per km
    assert s.km_driven == pytest.approx(0.25)
    assert s.infractions_per_km[COLLISION_VEHICLE] == pytest.approx(4.0)
    s3 = b2d.summarize(records)
    assert s3.driving_score == pytest.approx(64.0)
    with pytest.raises(ValueError):
        b2d.summarize(records, expected_routes=2)


def test_route_timeout_and_incomplete_route_are_not_success():
    assert not b2d.is_success(_record('t', 100.0, [ROUTE_TIMEOUT]))
    assert not b2d.is_success(_record('f', 99.0))
    assert b2d.is_success(_record('p', 100.0))
    assert b2d.leaderboard_status(_record('p', 100.0)) == 'Perfect'
    assert b2d.leaderboard_status(_record('m', 100.0, [MIN_SPEED])) == 'Completed'
    assert b2d.leaderboard_status(_record('f', 40.0)).startswith('Failed')


def test_efficiency_is_ego_over_traffic_speed():
    assert b2d.efficiency_pct(_trace(speed=5.0, traffic=10.0)) == pytest.approx(50.0)
    assert b2d.efficiency_pct(_trace(speed=5.0)) is None
    records = [_record('a', 100, trace=_trace(speed=5.0, traffic=10.0)),
               _record('b', 100, trace=_trace(speed=15.0, traffic=10.0)),
               _record('c', 100, trace=_trace(speed=15.0))]
    assert b2d.summarize(records).efficiency == pytest.approx(100.0)


def test_savgol_matches_polynomial_exactly():
    t = np.arange(20) * 0.05
    y = 3.0 + 2.0 * t - 4.0 * t ** 2
    np.testing.assert_allclose(b2d.savgol(y, 7, 2), y, atol=1e-9)
    np.testing.assert_allclose(b2d.savgol(y, 7, 2, deriv=1, dt=0.05), 2.0 - 8.0 * t, atol=1e-8)


def test_comfort_windows_within_nuplan_bounds():
    assert b2d.comfort_fraction(_trace(n=40)) == pytest.approx(1.0)
    yaw = [0.0] * 20 + [2.0] * 20            # second window: yaw rate 2.0 > 0.95 rad/s
    assert b2d.comfort_fraction(_trace(n=40, yaw_rate=yaw)) == pytest.approx(0.5)
    hard_brake = [-5.0] * 60                 # below -4.05 m/s^2 everywhere
    assert b2d.comfort_fraction(_trace(n=60, lon=hard_brake)) == pytest.approx(0.0)
    # 45 samples: two full windows, the 5-sample tail dropped
    lon = [0.0] * 40 + [-9.0] * 5
    assert b2d.comfort_fraction(_trace(n=45, lon=lon)) == pytest.approx(1.0)
    # jerk: a 0 -> 2 m/s^2 step inside 0.05 s is far above 4.13 m/s^3
    step = [0.0] * 10 + [2.0] * 10
    assert b2d.comfort_fraction(_trace(n=20, lon=step)) == pytest.approx(0.0)
    assert b2d.comfort_fraction(_trace(n=2)) is None
    assert b2d.ComfortBounds().max_abs_mag_jerk_mps3 == 8.37


def test_results_json_has_leaderboard_shape():
    records = [_record('RouteScenario_1_rep0', 100.0, [COLLISION_STATIC]),
               _record('RouteScenario_2_rep0', 30.0)]
    out = b2d.results_json(records, expected_routes=3, sensors=['CAM_FRONT'])
    json.dumps(out)
    cp = out['_checkpoint']
    assert cp['progress'] == [2, 3]
    assert out['entry_status'] == 'Started' and out['eligible'] is False
    rec = cp['records'][0]
    assert rec['route_id'] == 'RouteScenario_1_rep0'
    assert rec['status'] == 'Completed'
    assert rec['scores'] == {'score_route': 100.0, 'score_penalty': 0.65,
                             'score_composed': 65.0}
    assert len(rec['infractions'][COLLISION_STATIC]) == 1
    assert rec['infractions']['min_speed_infractions'] == []
    glob = cp['global_record']
    assert glob['scores_mean']['score_composed'] == pytest.approx((65.0 + 30.0) / 3, abs=1e-6)
    assert glob['status'] == 'Failed'
    assert out['labels'][0] == 'Avg. driving score'
    assert float(out['values'][0]) == pytest.approx(95.0 / 3, abs=1e-5)
    back = [RouteRecord.from_json(d) for d in out['route_records']]
    assert back[0].infractions[0].kind == COLLISION_STATIC


def test_summary_table_side_by_side():
    s1 = b2d.summarize([_record('a', 100.0)])
    s2 = b2d.summarize([_record('a', 20.0)])
    text = b2d.summary_table({'expert': s1, 'planner': s2})
    line = next(li for li in text.splitlines() if li.startswith('Driving Score'))
    assert line.split()[-2:] == ['100.00', '20.00']
