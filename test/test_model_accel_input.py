"""Turning off the planar ego-acceleration input of our students (OrionLiteConfig
.ego_accel_input=False, issue 16 run 15): the plan no longer moves with the acceleration,
the default model still reads it, and the setting travels with a checkpoint."""
import pytest
import torch

from orion_lite_ros.model.can_bus import PLANAR_ACCEL, without_planar_accel
from orion_lite_ros.model.config import OrionLiteConfig


def test_without_planar_accel_zeroes_only_forward_and_left_acceleration():
    cb = torch.arange(2 * 18, dtype=torch.float32).view(2, 18) + 1
    out = without_planar_accel(cb)
    assert torch.equal(out[:, list(PLANAR_ACCEL)], torch.zeros(2, 2))
    keep = [i for i in range(18) if i not in PLANAR_ACCEL]
    assert torch.equal(out[:, keep], cb[:, keep]) and cb[0, 10] == 11    # input untouched


def _plans(model, cfg, accel):
    h, w = cfg.encoder.img_h, cfg.encoder.img_w
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (2, 6, 3, h, w), generator=g).float()
    K = torch.tensor([[100.0, 0, w / 2], [0, 100.0, h / 2], [0, 0, 1]]).expand(2, 6, 3, 3)
    can_bus = torch.zeros(2, 18)
    can_bus[:, 7] = 3.0
    can_bus[:, 10] = accel
    with torch.no_grad():
        model.reset_memory()
        return model(images, K, torch.eye(4).expand(2, 6, 4, 4).clone(), can_bus,
                     torch.zeros(2, dtype=torch.long), noise='mean')['waypoints']


def test_a_model_without_the_input_plans_the_same_for_any_acceleration(tmp_path):
    from orion_lite_ros.model import OrionLite
    from orion_lite_ros.model.checkpoint import load_checkpoint, save_checkpoint
    from orion_lite_ros.training.build import without_ego_accel
    torch.manual_seed(0)
    cfg = OrionLiteConfig.preset('mini')
    model = OrionLite(cfg).eval()
    assert cfg.ego_accel_input and not torch.allclose(_plans(model, cfg, 0.0),
                                                      _plans(model, cfg, 3.0))
    base = _plans(model, cfg, 0.0)
    off = without_ego_accel(model, cfg)
    assert not off.ego_accel_input and model.cfg is off
    torch.testing.assert_close(_plans(model, off, 3.0), base)     # same weights, accel unread
    save_checkpoint(tmp_path / 'ckpt', model, off)
    loaded, loaded_cfg = load_checkpoint(tmp_path / 'ckpt')
    assert not loaded_cfg.ego_accel_input
    torch.testing.assert_close(_plans(loaded.eval(), loaded_cfg, -2.0), base)


def test_only_the_full_model_can_drop_the_input():
    from orion_lite_ros.model.student import StudentPlanner
    from orion_lite_ros.training.build import without_ego_accel
    cfg = OrionLiteConfig.preset('mini')
    with pytest.raises(ValueError, match='full model'):
        without_ego_accel(StudentPlanner(cfg), cfg)
