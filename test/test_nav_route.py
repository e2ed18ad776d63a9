"""Route -> progress, target point (ego frame) and RoadOption command."""
import math

import numpy as np
import pytest

from orion_lite_ros.layout import Command
from orion_lite_ros.nav.route import RouteConfig, RouteTracker, command_from_geometry


def _line(length=100.0, step=1.0, y=0.0):
    x = np.arange(0.0, length + 1e-9, step)
    return np.stack([x, np.full_like(x, y)], axis=1)


def _turn(sign, radius=10.0, straight=40.0):
    """Straight along +x, then a 90 degree turn (sign +1 left), then straight again."""
    a = _line(straight)
    phi = np.linspace(0, math.pi / 2, 30)[1:]
    arc = np.stack([straight + radius * np.sin(phi), sign * radius * (1 - np.cos(phi))], 1)
    end = arc[-1]
    tail = np.stack([np.full(40, end[0]), end[1] + sign * np.arange(1, 41)], 1)
    return np.concatenate([a, arc, tail])


def test_straight_route_progress_and_target():
    tracker = RouteTracker(_line(), config=RouteConfig(target_lookahead_m=15.0))
    state = tracker.update([20.0, 1.0], 0.0)
    assert state.progress_m == pytest.approx(20.0)
    np.testing.assert_allclose(state.target_point, [15.0, -1.0], atol=1e-9)
    assert state.command == Command.LANE_FOLLOW
    assert state.lateral_error_m == pytest.approx(-1.0)    # route lies to the right


def test_target_point_is_in_the_ego_frame():
    tracker = RouteTracker(_line())
    state = tracker.update([10.0, 0.0], math.pi / 2)          # facing +y (left of the route)
    np.testing.assert_allclose(state.target_point, [0.0, -15.0], atol=1e-9)


@pytest.mark.parametrize('sign, expected', [(+1, Command.LEFT), (-1, Command.RIGHT)])
def test_turn_ahead_gives_left_right(sign, expected):
    tracker = RouteTracker(_turn(sign))
    assert tracker.update([5.0, 0.0], 0.0).command == Command.LANE_FOLLOW   # turn 35 m away
    assert tracker.update([25.0, 0.0], 0.0).command == expected              # 15 m away
    far = tracker.update([50.0, sign * 30.0], sign * math.pi / 2)
    assert far.command == Command.LANE_FOLLOW


@pytest.mark.parametrize('sign, expected', [(+1, Command.CHANGE_LANE_LEFT),
                                            (-1, Command.CHANGE_LANE_RIGHT)])
def test_lateral_shift_gives_lane_change(sign, expected):
    x = np.arange(0.0, 100.0, 1.0)
    y = sign * 3.5 / (1 + np.exp(-(x - 30.0) / 3.0))          # smooth 3.5 m shift at x = 30
    tracker = RouteTracker(np.stack([x, y], 1))
    assert tracker.update([15.0, 0.0], 0.0).command == expected
    assert tracker.update([70.0, sign * 3.5], 0.0).command == Command.LANE_FOLLOW


def test_gentle_curve_is_lane_follow():
    s = np.arange(0, 100.0, 1.0)
    radius = 300.0
    route = np.stack([radius * np.sin(s / radius), radius * (1 - np.cos(s / radius))], 1)
    assert command_from_geometry(route[:26], RouteConfig()) == Command.LANE_FOLLOW


def test_given_commands_win_and_progress_is_monotonic():
    # a route that comes back next to itself: the search window keeps the progress local
    route = np.concatenate([_line(50.0), _line(50.0, y=2.0)[::-1]])
    commands = [Command.LANE_FOLLOW] * 51 + [Command.RIGHT] * 51
    tracker = RouteTracker(route, commands, RouteConfig(command_preview_m=5.0))
    assert tracker.update([10.0, 0.9], 0.0).progress_m == pytest.approx(10.0)
    state = tracker.update([12.0, 0.9], 0.0)
    assert state.progress_m == pytest.approx(12.0) and state.command == Command.LANE_FOLLOW
    assert tracker.update([30.0, 0.0], 0.0).command == Command.LANE_FOLLOW
    assert tracker.update([48.0, 0.0], 0.0).command == Command.RIGHT   # 5 m ahead: the return leg


def test_degenerate_routes():
    empty = RouteTracker(np.zeros((0, 2))).update([0.0, 0.0], 0.0)
    assert empty.command == Command.LANE_FOLLOW and empty.target_point[0] > 0
    dup = RouteTracker([[0, 0], [0, 0], [np.nan, 1], [10, 0], [10, 0], [20, 0]])
    state = dup.update([19.0, 0.0], 0.0)
    np.testing.assert_allclose(state.target_point, [1.0, 0.0])   # clamped at the route end
    assert state.remaining_m == pytest.approx(1.0)
    with pytest.raises(ValueError):
        RouteTracker(_line(10.0), commands=[3, 3])
