"""`TrainConfig.speed_dropout`: hiding the ego's motion from the model in training."""
import pytest
import torch

from orion_lite_ros.training.augment import EGO_MOTION_INDICES, hide_ego_motion


def _can_bus(n=400):
    cb = torch.arange(1, 19, dtype=torch.float64).repeat(n, 1)
    return cb


def test_dropped_samples_lose_speed_and_acceleration_only():
    cb = _can_bus()
    out = hide_ego_motion(cb, 0.3, torch.Generator().manual_seed(0))
    dropped = out[:, 7] == 0
    assert 0.2 < dropped.float().mean() < 0.4          # about p of the samples
    for i in range(18):
        if i in EGO_MOTION_INDICES:
            assert torch.equal(out[:, i] == 0, dropped)
        else:
            assert torch.equal(out[:, i], cb[:, i])    # position, yaw, gravity, yaw rate kept
    assert torch.equal(cb, _can_bus())                 # the input is not modified


def test_zero_probability_is_the_identity_and_bad_values_fail():
    cb = _can_bus(4)
    assert hide_ego_motion(cb, 0.0) is cb
    for p in (-0.1, 1.0):
        with pytest.raises(ValueError, match='speed_dropout'):
            hide_ego_motion(cb, p)
    with pytest.raises(ValueError, match='can_bus'):
        hide_ego_motion(torch.zeros(4, 5), 0.5)


def test_seeded_generator_repeats():
    cb = _can_bus(64)
    a = hide_ego_motion(cb, 0.5, torch.Generator().manual_seed(3))
    b = hide_ego_motion(cb, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
