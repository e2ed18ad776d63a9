"""The speed profile of a planner (eval/speed_profile.py): binning, the controller's aimed-for
speed, and the speed sweep on a planner that keeps the speed it reads."""
import pytest
import torch

from orion_lite_ros.eval.speed_profile import distance_at, speed_profile, speed_sweep
from orion_lite_ros.layout import WAYPOINT_DT_S

T = 6
TIMES = WAYPOINT_DT_S * torch.arange(1, T + 1, dtype=torch.float32)


def _straight(speeds):
    xy = torch.zeros(len(speeds), T, 2)
    xy[..., 0] = torch.as_tensor(speeds, dtype=torch.float32)[:, None] * TIMES
    return xy


def test_distance_at_reads_the_horizon_waypoint_and_marks_missing_ones():
    xy = _straight([2.0, 4.0])
    mask = torch.ones(2, T)
    mask[1, 5] = 0
    d = distance_at(xy, mask, 3.0)
    assert d[0] == pytest.approx(6.0) and torch.isnan(d[1])
    assert distance_at(xy, mask, 1.0)[1] == pytest.approx(4.0)
    with pytest.raises(ValueError, match='outside'):
        distance_at(xy, mask, 4.0)


def test_a_speed_keeping_plan_shows_against_an_accelerating_expert():
    speed = torch.tensor([0.0, 2.0, 2.0, 8.0])
    plan = _straight(speed)                              # keeps the speed it reads
    expert = _straight([0.0, 5.0, 5.0, 8.0])              # drives off from the slow frames
    prof = speed_profile(plan, expert, torch.ones(4, T), speed)
    assert set(prof) == {'0-0.5', '1-3', '6-inf'}
    slow = prof['1-3']
    assert slow['frames'] == 2 and slow['plan_m'] == pytest.approx(6.0)
    assert slow['expert_m'] == pytest.approx(15.0) and slow['constant_velocity_m'] == 6.0
    assert slow['plan_desired_mps'] == pytest.approx(2.0)
    assert slow['expert_desired_mps'] == pytest.approx(5.0)
    with pytest.raises(ValueError, match='shapes'):
        speed_profile(plan, expert[:3], torch.ones(4, T), speed)


def test_frames_without_the_experts_horizon_are_left_out():
    speed = torch.tensor([2.0, 7.0])
    mask = torch.ones(2, T)
    mask[0, 5] = 0
    prof = speed_profile(_straight(speed), _straight(speed), mask, speed)
    assert list(prof) == ['6-inf']


def test_the_sweep_sets_the_speed_and_zeroes_the_acceleration():
    seen = []

    def plan(batch):
        seen.append(batch['can_bus'].clone())
        return _straight(batch['can_bus'][:, 7])

    can_bus = torch.zeros(3, 18)
    can_bus[:, 10:12] = 1.5
    out = speed_sweep(plan, {'can_bus': can_bus}, (0.0, 2.0))
    assert out['v=2']['plan_m'] == pytest.approx(6.0)
    assert out['v=2']['desired_mps'] == pytest.approx(2.0)
    assert out['v=0']['plan_m'] == pytest.approx(0.0)
    assert all(torch.all(cb[:, 10:12] == 0) for cb in seen) and can_bus[0, 10] == 1.5
