"""Embedded simulator: determinism, vehicle dynamics, expert, staged infractions."""
import numpy as np
import pytest

from orion_lite_ros.bridge.backend import ControlInput
from orion_lite_ros.eval import records as rec
from orion_lite_ros.sim.backend import (
    EmbeddedBackend,
    heldout_routes,
    scenario_route,
    training_routes,
)
from orion_lite_ros.sim.config import SimConfig
from orion_lite_ros.sim.groundtruth import future_waypoints
from orion_lite_ros.sim.scenarios import FAMILIES, build_scenario
from orion_lite_ros.sim.vehicle import VehicleParams, VehicleState, step_vehicle


def _physics_backend() -> EmbeddedBackend:
    return EmbeddedBackend(SimConfig(render=False))


def _drive(backend, route, policy, max_steps=4000):
    backend.load_route(route)
    for _ in range(max_steps):
        if backend.apply_and_tick(policy(backend)).done:
            break
    return backend.finish_route()


def test_same_seed_same_world_and_trace():
    a, b = build_scenario('red_light', 7), build_scenario('red_light', 7)
    np.testing.assert_array_equal(a.route.waypoints_xy, b.route.waypoints_xy)
    assert a.route.commands == b.route.commands
    c = build_scenario('red_light', 8)
    assert c.route.waypoints_xy.shape != a.route.waypoints_xy.shape or not np.allclose(
        c.route.waypoints_xy, a.route.waypoints_xy)
    be1, be2 = _physics_backend(), _physics_backend()
    r1 = _drive(be1, a.route, lambda be: be.expert_control(), 300)
    r2 = _drive(be2, b.route, lambda be: be.expert_control(), 300)
    assert r1.trace.speed_mps == r2.trace.speed_mps


def test_vehicle_accelerates_and_brakes_like_a_car():
    p, s, t = VehicleParams(), VehicleState(), 0.0
    while s.speed_mps < 100 / 3.6:
        s, t = step_vehicle(p, s, 1.0, 0.0, 0.0, 0.05), t + 0.05
    assert 8.5 < t < 11.5                      # 0-100 km/h
    s = step_vehicle(p, s, 0.0, 0.0, 1.0, 0.05)
    assert -8.8 < s.ax_mps2 < -7.5            # full brake
    turn = VehicleState(speed_mps=5.0)
    for _ in range(20):
        turn = step_vehicle(p, turn, 0.2, 0.3, 0.0, 0.05)
    assert turn.yaw_rad < -0.3 and turn.y_m < 0  # steer + = right (CARLA)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_expert_completes_each_family_without_infraction(family):
    record = _drive(_physics_backend(), scenario_route(family, 3),
                    lambda be: be.expert_control())
    assert record.status == 'Completed', record.status
    assert [i for i in record.infractions if i.kind != rec.MIN_SPEED] == []
    # The leaderboard's min-speed checkpoints: one per 1/20 of the route, plus the last
    # stretch, each with the ego's speed as % of the traffic's (100 without traffic).
    speeds = [i for i in record.infractions if i.kind == rec.MIN_SPEED]
    assert 19 <= len(speeds) <= 21
    assert all(i.percentage is not None and i.percentage >= 0 for i in speeds)
    assert record.route_completion_pct == 100.0
    assert len(record.trace.speed_mps) > 100
    assert 150.0 <= record.route_length_m <= 300.0


def test_route_commands_mark_junctions_and_lane_changes():
    left = scenario_route('unprotected_left', 1)
    assert 0 in left.commands and left.commands[0] == 3   # LEFT in the junction only
    over = scenario_route('blocked_lane', 1)
    assert {4, 5} <= set(over.commands)


def test_driving_into_the_lead_car_is_a_vehicle_collision():
    record = _drive(_physics_backend(), scenario_route('lead_brake', 2),
                    lambda be: ControlInput(throttle=0.75, steer=be.expert_control().steer),
                    900)
    kinds = [i.kind for i in record.infractions]
    assert rec.COLLISION_VEHICLE in kinds


def test_running_the_red_light_is_detected():
    def no_stop(be):
        c = be.expert_control()
        return ControlInput(throttle=0.5 if be.world.ego.speed_mps < 8 else 0.0, steer=c.steer)
    record = _drive(_physics_backend(), scenario_route('red_light', 2), no_stop, 900)
    assert rec.RED_LIGHT in [i.kind for i in record.infractions]


def test_leaving_the_road_is_outside_lanes_then_deviation():
    record = _drive(_physics_backend(), scenario_route('lead_brake', 4),
                    lambda be: ControlInput(throttle=0.4, steer=0.3), 600)
    kinds = [i.kind for i in record.infractions]
    assert kinds.index(rec.OUTSIDE_ROUTE_LANES) < kinds.index(rec.ROUTE_DEVIATION)
    [outside] = [i for i in record.infractions if i.kind == rec.OUTSIDE_ROUTE_LANES]
    assert 0.0 < outside.distance_m and 0.0 < outside.percentage <= 100.0
    assert record.status.startswith('Failed')
    assert record.route_completion_pct < 20.0


def test_standing_still_times_out_or_blocks():
    be = EmbeddedBackend(SimConfig(render=False, blocked_time_s=5.0))
    record = _drive(be, scenario_route('ramp_merge', 1), lambda be: ControlInput(brake=1.0))
    assert [i.kind for i in record.infractions] == [rec.VEHICLE_BLOCKED]
    assert record.game_time_s == pytest.approx(5.0, abs=0.1)


def test_route_sets_are_disjoint_and_fixed():
    held = heldout_routes()
    assert 8 <= len(held) <= 14
    assert {r.abilities[0] for r in held} == set(rec.ABILITIES)
    train = training_routes(range(2), families=['lead_brake'])
    assert not {r.route_id for r in train} & {r.route_id for r in held}
    with pytest.raises(ValueError):
        training_routes([held[0].seed], families=[held[0].scenario])


def test_future_waypoints_in_ego_frame():
    t = np.arange(100) * 0.05
    poses = np.stack([2.0 * t, 0 * t, np.full_like(t, np.pi / 2)], axis=1)  # moving +x, yaw 90
    wps, valid = future_waypoints(poses, 0, 0.05)
    assert valid.all()
    np.testing.assert_allclose(wps[:, 1], -np.arange(1, 7) * 1.0, atol=1e-9)  # to the right
    np.testing.assert_allclose(wps[:, 0], 0.0, atol=1e-9)
    _, valid = future_waypoints(poses, 80, 0.05)
    assert valid.tolist() == [True, False, False, False, False, False]


def _first_green_at_rest(backend, route) -> tuple:
    """(seconds at rest after the light turned green, route record) of an expert drive."""
    backend.load_route(route)
    light = backend.world.lights[0]
    waited, stopped = 0.0, False
    for _ in range(4000):
        w = backend.world
        if abs(w.ego.speed_mps) < 0.05 and w.time_s > 2.0:
            stopped = True
            if light.state(w.time_s) == 'green':
                waited += w.dt_s
        elif stopped and waited:
            break
        if backend.apply_and_tick(backend.expert_control()).done:
            break
    return waited, backend.finish_route()


def test_expert_reacts_to_green_after_its_reaction_time():
    route = scenario_route('red_light', 3)
    prompt, _ = _first_green_at_rest(_physics_backend(), route)
    slow = EmbeddedBackend(SimConfig(render=False, expert_green_reaction_s=1.5))
    waited, _ = _first_green_at_rest(slow, route)
    assert prompt < 0.3                     # drives off on the first green steps
    assert 1.4 <= waited <= 1.8             # holds 1.5 s, then goes
    record = _drive(slow, route, lambda be: be.expert_control())
    assert record.status == 'Completed'
    assert [i for i in record.infractions if i.kind != rec.MIN_SPEED] == []


def _rest_after_start(backend, route) -> tuple:
    """(seconds at rest after the first second, route record) of an expert drive."""
    backend.load_route(route)
    rest = 0.0
    for _ in range(4000):
        if abs(backend.world.ego.speed_mps) < 0.05 and backend.world.time_s > 1.0:
            rest += backend.world.dt_s
        if backend.apply_and_tick(backend.expert_control()).done:
            break
    return rest, backend.finish_route()


@pytest.mark.parametrize('family', ['stop_sign', 'blocked_lane'])
def test_expert_restart_reaction_after_any_constraint(family):
    route = scenario_route(family, 3)
    prompt, _ = _rest_after_start(_physics_backend(), route)
    slow = EmbeddedBackend(SimConfig(render=False, expert_restart_reaction_s=1.5))
    rested, record = _rest_after_start(slow, route)
    assert prompt > 0.5                                 # a constraint held it at rest once
    assert rested - prompt == pytest.approx(1.5, abs=0.1)   # then 1.5 s more before it went
    assert record.status == 'Completed'
    assert [i for i in record.infractions if i.kind != rec.MIN_SPEED] == []


@pytest.mark.parametrize('family,config', [
    ('stop_sign', {'expert_restart_reaction_s': 1.5}),
    ('red_light', {'expert_restart_reaction_s': 1.5}),
    ('red_light', {'expert_green_reaction_s': 1.5})])
def test_expert_reaction_hold_marks_only_the_reaction_time(family, config):
    """`Expert.reaction_hold` (the datagen's go label at rest) is set exactly while the
    expert waits out its reaction time at rest, and never without one."""
    route = scenario_route(family, 3)

    def held_s(backend):
        backend.load_route(route)
        held = 0.0
        for _ in range(4000):
            control = backend.expert_control()
            if backend.expert_reaction_hold():
                assert abs(backend.world.ego.speed_mps) <= 0.05
                held += backend.world.dt_s
            if backend.apply_and_tick(control).done:
                break
        return held

    assert held_s(_physics_backend()) == 0.0
    assert held_s(EmbeddedBackend(SimConfig(render=False, **config))) == pytest.approx(
        1.5, abs=0.1)
