"""Object tokens on a hand-made scene: shapes, masks, ego-frame conventions (REP-103)."""
from types import SimpleNamespace

import numpy as np
import pytest

from orion_lite_ros.layout import Command
from orion_lite_ros.teacher.config import TokenConfig
from orion_lite_ros.teacher.tokens import (
    TOKEN_KEYS,
    Signal,
    build_tokens,
    from_frame,
    to_ego,
    to_extras,
)

CFG = TokenConfig(max_agents=4, num_route_points=6, max_lane_segments=6, max_signals=2)
NORTH = np.pi / 2


def scene(route_end_y: float = 100.0):
    """Ego at (10, 5) heading north (+y), route straight north along x = 10."""
    route = np.stack([np.full(101, 10.0), np.linspace(0.0, route_end_y, 101)], axis=1)
    north = np.stack([np.full(51, 8.25), np.linspace(0, 100, 51)], axis=1)
    south = np.stack([np.full(51, 11.75), np.linspace(0, 100, 51)], axis=1)
    boxes = np.array([[10.0, 15.0, NORTH, 4.6, 1.9, 3.0, 0],      # 10 m ahead, same heading
                      [0.0, 5.0, 0.0, 0.6, 0.6, 1.5, 1],          # pedestrian 10 m left
                      [10.0, 200.0, NORTH, 4.6, 1.9, 3.0, 0]])    # out of range
    return SimpleNamespace(ego_pose=np.array([10.0, 5.0, NORTH]),
                           ego_velocity=np.array([4.0, 0.1, 0.05]), ego_accel=np.array([0.5, 0]),
                           agent_boxes=boxes, lane_boundaries=[(north, south), (north, north)],
                           route_xy=route, route_progress_m=5.0)


def test_to_ego_rotates_map_into_the_ego_frame():
    pose = np.array([10.0, 5.0, NORTH])
    np.testing.assert_allclose(to_ego(np.array([[10.0, 15.0], [0.0, 5.0]]), pose),
                               [[10.0, 0.0], [0.0, 10.0]], atol=1e-9)


def test_agents_in_ego_frame_nearest_first_and_masked():
    t = build_tokens(scene(), [], Command.LANE_FOLLOW, np.array([15.0, 0.0]), CFG)
    assert t['agents'].shape == (4, 7) and t['agents_mask'].tolist() == [1, 1, 0, 0]
    np.testing.assert_allclose(t['agents'][0], [10, 0, 0, 4.6, 1.9, 3.0, 0], atol=1e-5)
    np.testing.assert_allclose(t['agents'][1, :3], [0, 10, -NORTH], atol=1e-5)
    assert t['agents'][1, 6] == 1
    assert not t['agents'][2:].any()


def test_route_points_ahead_and_masked_past_the_end():
    t = build_tokens(scene(), [], Command.LANE_FOLLOW, np.zeros(2), CFG)
    np.testing.assert_allclose(t['route'], [[3.0 * k, 0.0] for k in range(1, 7)], atol=1e-4)
    short = build_tokens(scene(route_end_y=18.0), [], Command.LANE_FOLLOW, np.zeros(2), CFG)
    assert short['route_mask'].tolist() == [1, 1, 1, 1, 0, 0]
    assert not short['route'][4:].any()


def test_lane_segments_left_positive_and_deduplicated():
    t = build_tokens(scene(), [], Command.LANE_FOLLOW, np.zeros(2), CFG)
    assert t['lanes'].shape == (6, CFG.lane_points, 2)
    lanes = t['lanes'][t['lanes_mask']]
    ys = np.round(lanes[..., 1], 3)
    assert set(np.unique(ys)) == {-1.75, 1.75}       # west border is on the ego's left
    mids = np.round(lanes.mean(axis=1), 2)
    assert len(np.unique(mids, axis=0)) == len(mids)  # the repeated border is not duplicated
    np.testing.assert_allclose(np.diff(lanes[0, :, 0]) ** 2 + np.diff(lanes[0, :, 1]) ** 2,
                               CFG.lane_step_m ** 2, atol=1e-6)


def test_signals_only_on_route_and_aligned():
    signals = [Signal('red', (10.0, 25.0), NORTH, False, 'red'),
               Signal('oncoming', (10.0, 30.0), -NORTH, False, 'green'),
               Signal('side', (14.0, 20.0), NORTH, False, 'green'),
               Signal('sign', (10.0, 40.0), NORTH, True, done=True)]
    t = build_tokens(scene(), signals, Command.STRAIGHT, np.zeros(2), CFG)
    assert t['signals_mask'].tolist() == [1, 1]
    np.testing.assert_allclose(t['signals'][0], [20, 0, 20, 0, 1, 0, 0, 0], atol=1e-4)
    np.testing.assert_allclose(t['signals'][1], [35, 0, 35, 1, 0, 0, 0, 1], atol=1e-4)


def test_ego_token_and_extras_round_trip():
    t = build_tokens(scene(), [], Command.RIGHT, np.array([15.0, -2.0]), CFG)
    assert t['ego'].shape == (12,)
    np.testing.assert_allclose(t['ego'][:4], [np.hypot(4.0, 0.1), 0.1, 0.05, 0.5], atol=1e-6)
    assert t['ego'][4 + Command.RIGHT] == 1 and t['ego'][4:10].sum() == 1
    np.testing.assert_allclose(t['ego'][10:], [15, -2])
    back = from_frame(to_extras(t))
    assert set(back) == set(TOKEN_KEYS)
    for k in TOKEN_KEYS:
        np.testing.assert_array_equal(back[k], t[k])
    with pytest.raises(KeyError, match='tok_agents'):
        from_frame({})
