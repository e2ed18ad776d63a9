"""The go/wait gate of our students (PlannerConfig.wait_gate): two plan sets, a gate that
picks one, labels and losses, checkpoint and engine round trip. Off in the authors' model."""
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.student import StudentPlanner
from orion_lite_ros.training.config import LossConfig
from orion_lite_ros.training.losses import distillation_losses, wait_gate_stats, wait_labels

ONLY_PLAN = LossConfig(mimic_weight=0.0, map_bound_weight=0.0, collision_weight=0.0,
                       kl_weight=0.0)


def _gated_cfg(preset='mini'):
    cfg = OrionLiteConfig.preset(preset)
    return replace(cfg, planner=replace(cfg.planner, wait_gate=True))


def _inputs(cfg, batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, 7, cfg.token_dim, generator=g)
    command = torch.arange(batch) % cfg.planner.num_modes
    return tokens, command


def test_authors_model_has_no_gate():
    student = StudentPlanner(OrionLiteConfig.preset('orion_lite'))
    assert student.wait_head is None
    assert not any(k.startswith('wait_head') for k in student.state_dict())
    assert 'gated_modes' not in student(*_inputs(student.cfg, 2), noise='mean')


@pytest.mark.parametrize('bias, wait', [(20.0, 1), (-20.0, 0)])
def test_gate_picks_the_wait_or_go_set(bias, wait):
    torch.manual_seed(0)
    student = StudentPlanner(_gated_cfg()).eval()
    with torch.no_grad():
        student.wait_head.weight.zero_()
        student.wait_head.bias.fill_(bias)
    tokens, command = _inputs(student.cfg)
    out = student(tokens, command, noise='mean')
    assert out['gated_modes'].shape == (4, 2) + out['all_modes'].shape[1:]
    assert torch.equal(out['wait'], torch.full((4,), wait))
    torch.testing.assert_close(out['all_modes'], out['gated_modes'][:, wait])
    torch.testing.assert_close(out['waypoints'], out['all_modes'][torch.arange(4), command])


def test_wait_labels_use_the_last_valid_waypoint():
    fut = torch.zeros(3, 6, 2)
    fut[0] = torch.linspace(1, 6, 6)[:, None] * torch.tensor([1.0, 0.0])   # drives 6 m
    fut[1, :, 0] = 0.2                                                      # stays
    fut[2, :2, 0] = torch.tensor([0.3, 0.6])                                # ends after 2 steps
    mask = torch.ones(3, 6)
    mask[2, 2:] = 0
    wait, has = wait_labels(fut, mask, 1.0)
    assert wait.tolist() == [0.0, 1.0, 1.0] and has.all()
    mask[1] = 0
    assert not wait_labels(fut, mask, 1.0)[1][1]


def test_wait_labels_within_a_horizon():
    """Waiting 1 s and then driving off is 'go' over the whole future, 'wait' over the first
    two waypoints (1 s): the go set then learns only moving off at once."""
    fut = torch.zeros(2, 6, 2)
    fut[0, :, 0] = torch.tensor([0.0, 0.1, 0.6, 1.6, 3.0, 4.8])    # waits, then drives off
    fut[1, :, 0] = torch.tensor([0.3, 1.0, 2.2, 3.6, 5.2, 7.0])    # drives off now
    mask = torch.ones(2, 6)
    assert wait_labels(fut, mask, 1.0)[0].tolist() == [0.0, 0.0]
    assert wait_labels(fut, mask, 0.5, horizon=2)[0].tolist() == [1.0, 0.0]


def test_a_frame_trains_only_the_set_of_its_label():
    torch.manual_seed(1)
    cfg = _gated_cfg()
    student = StudentPlanner(cfg).train()
    tokens, command = _inputs(cfg)
    fut = torch.cumsum(torch.full((4, 6, 2), 1.0), dim=1)
    fut[1] = 0.05                                                           # a wait frame
    batch = {'gt_future': fut, 'gt_mask': torch.ones(4, 6),
             'command_onehot': F.one_hot(command, cfg.planner.num_modes).float()}
    out = student(tokens, command, gt_future=fut)
    out['gated_modes'].retain_grad()
    terms = distillation_losses(out, batch, ONLY_PLAN)
    assert set(terms) == {'waypoint', 'wait', 'total'}
    terms['waypoint'].backward(retain_graph=True)
    grad = out['gated_modes'].grad
    for i in range(4):
        label = 1 if i == 1 else 0
        assert grad[i, label, command[i]].abs().sum() > 0
        assert grad[i, 1 - label].abs().sum() == 0
    student.zero_grad()
    terms['wait'].backward()
    assert student.wait_head.weight.grad.abs().sum() > 0
    stats = wait_gate_stats(out, batch, ONLY_PLAN)
    assert stats['wait_label_rate'] == pytest.approx(0.25)


def test_gate_survives_checkpoint_and_engine(tmp_path):
    from orion_lite_ros.model import OrionLite
    from orion_lite_ros.model.checkpoint import load_checkpoint, save_checkpoint
    from orion_lite_ros.model.engine import EngineConfig, InferenceEngine, synthetic_frame
    cfg = _gated_cfg()
    torch.manual_seed(2)
    save_checkpoint(tmp_path / 'gated', OrionLite(cfg), cfg)
    model, loaded = load_checkpoint(tmp_path / 'gated')
    assert loaded.planner.wait_gate and model.student_model.wait_head is not None
    eng = InferenceEngine(EngineConfig(checkpoint=str(tmp_path / 'gated'), device='cpu',
                                       warmup_iters=0, jpeg_reencode=False))
    result = eng.plan(synthetic_frame(eng.model_cfg, src_hw=(180, 320)))
    assert 0.0 <= result.wait_prob <= 1.0
    assert np.isfinite(result.waypoints).all()


def test_light_features_take_the_most_confident_light_query():
    from orion_lite_ros.model.student import TRAFFIC_LIGHT_CLASS, light_features
    cls = torch.zeros(2, 3, 9)
    cls[0, 1, TRAFFIC_LIGHT_CLASS], cls[1, 2, TRAFFIC_LIGHT_CLASS] = 3.0, 2.0
    cls[0, 0, 0] = 9.0                                    # a confident car, not a light
    states = torch.arange(24, dtype=torch.float32).view(2, 3, 4)
    feats = light_features(cls, states)
    torch.testing.assert_close(feats[0], torch.tensor([3.0, 4, 5, 6, 7]))
    torch.testing.assert_close(feats[1], torch.tensor([2.0, 20, 21, 22, 23]))


def test_gate_on_lights_widens_a_trained_gate_without_changing_its_plans(tmp_path):
    from orion_lite_ros.model import OrionLite
    from orion_lite_ros.model.checkpoint import load_checkpoint, save_checkpoint
    from orion_lite_ros.model.engine import synthetic_frame
    from orion_lite_ros.training.build import with_gate_lights
    with pytest.raises(ValueError, match='needs planner.wait_gate'):
        replace(OrionLiteConfig.preset('mini').planner, wait_gate_lights=True)
    cfg = _gated_cfg()
    torch.manual_seed(3)
    model = OrionLite(cfg).eval()
    frame = synthetic_frame(cfg, src_hw=(64, 128))
    h, w = cfg.encoder.img_h, cfg.encoder.img_w
    g = torch.Generator().manual_seed(0)
    args = (torch.randint(0, 255, (1, 6, 3, h, w), generator=g).float(),
            torch.as_tensor(frame.intrinsics, dtype=torch.float32)[None].expand(1, 6, 3, 3),
            torch.eye(4).expand(1, 6, 4, 4).clone(), torch.zeros(1, 18),
            torch.zeros(1, dtype=torch.long))
    with torch.no_grad():
        before = model(*args, noise='mean')
        model.reset_memory()
        widened = with_gate_lights(model, cfg)
        after = model(*args, noise='mean')
    assert widened.planner.wait_gate_lights
    assert model.student_model.wait_head.in_features == cfg.token_dim + 5
    torch.testing.assert_close(after['wait_prob'], before['wait_prob'])
    torch.testing.assert_close(after['waypoints'], before['waypoints'])
    with torch.no_grad():                       # the gate now reads the lights
        model.student_model.wait_head.weight[0, -5:] = 1.0
        model.reset_memory()
        moved = model(*args, noise='mean')
    assert not torch.allclose(moved['wait_logit'], before['wait_logit'])
    save_checkpoint(tmp_path / 'lights', model, widened)
    loaded, lcfg = load_checkpoint(tmp_path / 'lights')
    assert lcfg.planner.wait_gate_lights
    with torch.no_grad():
        loaded.eval().reset_memory()
        torch.testing.assert_close(loaded(*args, noise='mean')['wait_logit'], moved['wait_logit'])
    with pytest.raises(ValueError, match='traffic-light reading'):
        loaded.student_model(torch.randn(1, 7, cfg.token_dim), torch.zeros(1, dtype=torch.long))


def test_depart_aligned_targets_go_now_after_a_short_rest():
    import torch

    from orion_lite_ros.training.losses import depart_aligned
    x = torch.tensor([[0.0, 0.0, 1.0, 3.0, 6.0, 10.0],     # rests 2 waypoints, then drives
                      [0.0, 0.0, 0.0, 0.0, 0.0, 2.0],      # rests 5: still held -> wait
                      [1.0, 3.0, 6.0, 10.0, 14.0, 18.0],   # moving
                      [0.0] * 6])                          # stays
    future = torch.stack([x, torch.zeros_like(x)], dim=-1)
    mask = torch.ones(4, 6)
    f, m, wait, has = depart_aligned(future, mask, travel_m=1.0, max_lead=3)
    assert wait.tolist() == [0.0, 1.0, 0.0, 1.0] and has.all()
    assert f[0, :4, 0].tolist() == [1.0, 3.0, 6.0, 10.0] and m[0].tolist() == [1, 1, 1, 1, 0, 0]
    assert torch.equal(f[1:], future[1:]) and torch.equal(m[1:], mask[1:])


def test_depart_aligned_by_the_recorded_reaction_hold():
    import torch

    from orion_lite_ros.training.config import LossConfig
    from orion_lite_ros.training.losses import gate_targets
    x = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0, 3.0],     # held by its reaction: go now
                      [0.0, 0.0, 1.0, 3.0, 6.0, 10.0],    # still constrained: wait
                      [0.2, 1.0, 3.0, 6.0, 10.0, 14.0],   # departing: go (lead 1 <= 1)
                      [0.0] * 6])                         # stays
    future = torch.stack([x, torch.zeros_like(x)], dim=-1)
    batch = {'gt_future': future, 'gt_mask': torch.ones(4, 6),
             'reaction_hold': torch.tensor([1.0, 0.0, 0.0, 0.0])}
    cfg = LossConfig(depart_align_hold=True, depart_align_steps=1)
    f, m, wait, has = gate_targets(batch, cfg)
    assert wait.tolist() == [0.0, 1.0, 0.0, 1.0] and has.all()
    assert f[0, :2, 0].tolist() == [1.0, 3.0] and m[0].tolist() == [1, 1, 0, 0, 0, 0]
    assert f[2, :5, 0].tolist() == [1.0, 3.0, 6.0, 10.0, 14.0]
    assert torch.equal(f[[1, 3]], future[[1, 3]])
    with pytest.raises(KeyError, match='reaction label'):
        gate_targets({'gt_future': future, 'gt_mask': torch.ones(4, 6)}, cfg)
