"""Distillation losses on hand-made cases with values worked out by hand."""
import math

import pytest
import torch

from orion_lite_ros.training.config import LossConfig
from orion_lite_ros.training.losses import (
    collision_loss,
    distillation_losses,
    feature_mimic_l1,
    map_boundary_loss,
    select_agent_futures,
    step_offsets,
    vae_kl,
    waypoint_l1,
)


def _line(y_m, x0=0.0, x1=10.0, n=11):
    xs = torch.linspace(x0, x1, n)
    return torch.stack([xs, torch.full_like(xs, y_m)], dim=-1)          # (P, 2)


def test_step_offsets_inverts_cumsum():
    offsets = torch.tensor([[1.0, 0.5], [2.0, -1.0], [0.5, 0.0]])
    assert torch.allclose(step_offsets(torch.cumsum(offsets, 0)), offsets)


def test_feature_mimic_l1():
    pred = torch.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert feature_mimic_l1(pred, torch.zeros(2, 2)).item() == pytest.approx(2.5)


def test_waypoint_l1_uses_offsets_command_and_mask():
    modes = torch.tensor([[[[1.0, 0.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]])   # (1,2,2,2)
    gt = torch.tensor([[[1.0, 1.0], [3.0, 1.0]]])                      # offsets (1,1), (2,0)
    full = torch.ones(1, 2)
    # mode 0: |0|+|-1| + |-1|+|0| = 2 over B*M*T*2 = 8 elements
    assert waypoint_l1(modes, gt, full, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.25)
    assert waypoint_l1(modes, gt, torch.tensor([[1.0, 0.0]]),
                       torch.tensor([[1.0, 0.0]])).item() == pytest.approx(1 / 8)
    # mode 1 predicts zeros: 1 + 1 + 2 + 0 = 4
    assert waypoint_l1(modes, gt, full, torch.tensor([[0.0, 1.0]])).item() == pytest.approx(0.5)
    assert waypoint_l1(modes, gt, full, torch.zeros(1, 2)).item() == 0.0


def _straight(T=6, dx=1.0):
    return torch.stack([torch.arange(1, T + 1) * dx, torch.zeros(T)], dim=-1)[None]


def test_map_boundary_keep_out():
    lanes = torch.stack([_line(0.6), _line(0.1)])[None]                # (1, 2, 11, 2)
    valid = torch.tensor([[True, False]])                              # y=0.1 is not a boundary
    wp = _straight().requires_grad_(True)
    loss = map_boundary_loss(wp, lanes, valid, torch.ones(1, 6), dist_m=1.0)
    assert loss.item() == pytest.approx(0.4)                           # 1.0 - 0.6 every step
    loss.backward()
    assert (wp.grad[0, :, 1] > 0).all()                                # descent moves away (-y)
    half = map_boundary_loss(_straight(), lanes, valid, torch.tensor([[1.0] * 3 + [0.0] * 3]))
    assert half.item() == pytest.approx(0.2)
    far = map_boundary_loss(_straight(), lanes + torch.tensor([0.0, 5.0]), valid,
                            torch.ones(1, 6))
    assert far.item() == 0.0


def test_map_boundary_stops_after_crossing():
    lanes = _line(0.6)[None, None]
    wp = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [3.0, 1.2], [4.0, 1.2], [5.0, 1.2],
                        [6.0, 1.2]]])
    loss = map_boundary_loss(wp, lanes, torch.tensor([[True]]), torch.ones(1, 6))
    assert loss.item() == pytest.approx(0.8 / 6)                       # steps 0, 1 only


def test_collision_keep_out():
    wp = _straight(dx=2.0)                                             # x = 2, 4, ..., 12
    agent = torch.tensor([5.0, 1.0]).expand(1, 1, 6, 2)               # parked at (5, 1)
    loss = collision_loss(wp, agent, torch.tensor([[True]]), torch.ones(1, 6))
    # x=4 and x=6 are within 3 m: longitudinal 3-1=2, lateral 1.5-1=0.5 each; / (B*T*2)
    assert loss.item() == pytest.approx(5.0 / 12)
    assert collision_loss(wp, agent, torch.tensor([[False]]), torch.ones(1, 6)).item() == 0.0


def test_select_agent_futures_best_mode_and_filters():
    xy = torch.tensor([[[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]])
    fut = torch.zeros(1, 3, 2, 6, 2)
    fut[0, 0, 1, :, 0] = 1.0                                           # mode 1: +1 m/step in x
    mode_score = torch.tensor([[[0.2, 0.9], [0.9, 0.1], [0.9, 0.1]]])
    score = torch.zeros(1, 3, 9)
    score[0, 0, 0] = 0.8                                               # confident car
    score[0, 1, 0] = 0.3                                               # not confident
    score[0, 2, 7] = 0.9                                               # class 7: not a vehicle
    pos, valid = select_agent_futures(xy, fut, score, mode_score)
    assert valid.tolist() == [[True, False, False]]
    assert pos[0, 0, :, 0].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert pos[0, 0, :, 1].tolist() == [2.0] * 6


def test_vae_kl_values():
    zeros = torch.zeros(2, 1, 4)
    kl = vae_kl(zeros, zeros, zeros + 1.0, zeros, torch.tensor([True, False]))
    assert kl.item() == pytest.approx(1.0)                             # 4 * 0.5 on one of two
    g = torch.Generator().manual_seed(0)
    mu_p, ls_p, mu_f, ls_f = (torch.randn(3, 1, 5, generator=g) for _ in range(4))
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu_f, ls_f.exp()), torch.distributions.Normal(mu_p, ls_p.exp()))
    got = vae_kl(mu_p, ls_p, mu_f, ls_f, torch.ones(3))
    assert got.item() == pytest.approx(ref.sum(-1).mean().item(), rel=1e-5)
    assert math.isclose(vae_kl(mu_p, ls_p, mu_p, ls_p, torch.ones(3)).item(), 0.0,
                        abs_tol=1e-6)


def test_distillation_losses_weighted_total():
    B, M, T, D = 2, 6, 6, 8
    out = {'planning_token': torch.ones(B, D), 'all_modes': torch.zeros(B, M, T, 2),
           'waypoints': torch.zeros(B, T, 2), 'present_mu': torch.zeros(B, 1, 4),
           'present_log_sigma': torch.zeros(B, 1, 4), 'future_mu': torch.ones(B, 1, 4),
           'future_log_sigma': torch.zeros(B, 1, 4)}
    batch = {'teacher_token': torch.zeros(B, D), 'gt_future': torch.zeros(B, T, 2),
             'gt_mask': torch.ones(B, T), 'command_onehot': torch.eye(M)[:B]}
    terms = distillation_losses(out, batch, LossConfig())
    assert set(terms) == {'mimic', 'waypoint', 'kl', 'total'}
    assert terms['mimic'].item() == 1.0 and terms['waypoint'].item() == 0.0
    assert terms['kl'].item() == pytest.approx(2.0)
    assert terms['total'].item() == pytest.approx(1.0 * 1.0 + 3.0 * 2.0)
    terms = distillation_losses(out, batch, LossConfig(kl_weight=0.0, mimic_weight=2.0))
    assert terms['total'].item() == pytest.approx(2.0)
