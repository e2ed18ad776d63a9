"""Curve oversampling (`curve_repeat`) and the model view-size override (`view_h/view_w`)."""
import math

import numpy as np
import pytest

from orion_lite_ros.training.config import LossConfig, TrainConfig
from orion_lite_ros.training.sampling import curve_indices, curve_mask, future_labels, moveoff_mask


def _futures():
    straight = np.stack([np.arange(1, 7) * 2.0, np.zeros(6)], -1)
    bend = straight.copy()
    bend[:, 1] = [0.0, 0.1, 0.3, 0.6, 1.0, 1.5]
    masked_bend = bend.copy()                 # bends only where the label is masked
    fut = np.stack([straight, bend, masked_bend])
    mask = np.ones((3, 6))
    mask[2, 4:] = 0.0
    return fut, mask


def test_curve_mask_and_indices():
    fut, mask = _futures()
    assert curve_mask(fut, mask, 1.0).tolist() == [False, True, False]
    assert curve_indices(fut, mask, 1.0, 3).tolist() == [0, 1, 1, 1, 2]
    assert curve_indices(fut, mask, 1.0, 1).tolist() == [0, 1, 2]
    fut[1, :, 1] *= -1                        # right bends count too
    assert curve_mask(fut, mask, 1.0).tolist() == [False, True, False]


def test_moveoff_frames_are_repeated():
    """A start from rest that drives off is repeated; a wait at rest and a drive at speed are
    not; a frame that is both a curve and a move-off gets the larger count."""
    t = np.arange(1, 7) * 0.5
    moving_off = np.stack([0.5 * 1.5 * t ** 2, np.zeros(6)], -1)      # 1.5 m/s^2 from rest
    waiting = np.zeros((6, 2))
    cruising = np.stack([8.0 * t, np.zeros(6)], -1)
    turning_off = moving_off.copy()
    turning_off[:, 1] = [0.0, 0.0, 0.2, 0.5, 1.0, 1.6]
    fut = np.stack([moving_off, waiting, cruising, turning_off])
    mask = np.ones((4, 6))
    assert moveoff_mask(fut, mask).tolist() == [True, False, False, True]
    assert curve_indices(fut, mask, 1.0, 3, moveoff_repeat=4).tolist() == [
        0, 0, 0, 0, 1, 2, 3, 3, 3, 3]
    assert curve_indices(fut, mask, 1.0, 3).tolist() == [0, 1, 2, 3, 3, 3]
    short = mask.copy()
    short[0, 0] = 0.0                         # first waypoint unknown: not a move-off
    assert not moveoff_mask(fut, short)[0]
    with pytest.raises(ValueError, match='moveoff_repeat'):
        curve_indices(fut, mask, 1.0, 1, moveoff_repeat=0)


def test_curve_inputs_are_checked():
    fut, mask = _futures()
    with pytest.raises(ValueError, match='curve_repeat'):
        curve_indices(fut, mask, 1.0, 0)
    with pytest.raises(ValueError, match='future_xy'):
        curve_mask(fut[..., 0], mask, 1.0)


def _arc_episode(root, name='arc', frames=30, radius_m=20.0, speed_mps=5.0):
    """A drive straight ahead for half the frames, then along a left arc."""
    from orion_lite_ros.training.episodes import EpisodeWriter
    from orion_lite_ros.types import EgoState, FrameInputs
    rng = np.random.default_rng(0)
    K = np.array([[30.0, 0.0, 32.0], [0.0, 30.0, 16.0], [0.0, 0.0, 1.0]])
    writer = EpisodeWriter(root, name)
    x = y = yaw = 0.0
    for i in range(frames):
        ego = EgoState(stamp_ns=i * 100_000_000, x_m=x, y_m=y, z_m=0.0, yaw_rad=yaw,
                       vx_mps=speed_mps)
        frame = FrameInputs(ego.stamp_ns, rng.integers(0, 255, (6, 32, 64, 3), np.uint8),
                            np.tile(K, (6, 1, 1)), np.tile(np.eye(4), (6, 1, 1)), ego, 3,
                            np.array([10.0, 0.0]))
        writer.add_frame(frame, teacher_token=np.zeros(256, np.float16))
        step = speed_mps * 0.1
        if i >= frames // 2:
            yaw += step / radius_m
        x, y = x + step * math.cos(yaw), y + step * math.sin(yaw)
    writer.close()


def test_episode_future_labels_match_the_samples(tmp_path):
    from orion_lite_ros.training.episodes import EpisodeDataset
    _arc_episode(tmp_path / 'eps')
    ds = EpisodeDataset(str(tmp_path / 'eps'))
    fut, mask = future_labels(ds)
    assert fut.shape == (len(ds), 6, 2) and mask.shape == (len(ds), 6)
    for i in (0, 10, 20, len(ds) - 1):
        np.testing.assert_array_equal(fut[i], ds[i]['gt_future'].numpy())
        np.testing.assert_array_equal(mask[i], ds[i]['gt_mask'].numpy())
    assert curve_mask(fut, mask, 1.0).any() and not curve_mask(fut, mask, 1.0).all()


def _cfg(tmp_path, **kw):
    base = dict(data_format='episodes', target='full', train_dir=str(tmp_path / 'eps'),
                out_dir=str(tmp_path / 'run'), batch_size=2, epochs=1, max_steps=1,
                freeze_perception=False, progress_bar=False, log_every_steps=1,
                loss=LossConfig(mimic_weight=0.0))
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize('cache', [False, True])
def test_curve_repeat_adds_the_bending_frames(tmp_path, cache):
    from orion_lite_ros.training.build import build_datasets
    _arc_episode(tmp_path / 'eps')
    extra = {'sample_cache': str(tmp_path / 'cache')} if cache else {}
    plain, _ = build_datasets(_cfg(tmp_path, view_h=16, view_w=32, **extra))
    fut, mask = future_labels(plain)
    curves = int(curve_mask(fut, mask, 1.0).sum())
    repeated, _ = build_datasets(_cfg(tmp_path, view_h=16, view_w=32, curve_repeat=3,
                                      **extra))
    assert len(repeated) == len(plain) + 2 * curves


def test_view_size_override_trains_and_exports_for_the_engine(tmp_path):
    from orion_lite_ros.model.engine import EngineConfig, InferenceEngine, synthetic_frame
    from orion_lite_ros.training import build
    _arc_episode(tmp_path / 'eps')
    cfg = _cfg(tmp_path, view_h=32, view_w=64, batch_size=10, max_steps=0)
    trainer = build.run(cfg)
    assert trainer.step == 3                     # one epoch of 30 frames, then the export
    engine = InferenceEngine(EngineConfig(checkpoint=str(tmp_path / 'run' / 'export'),
                                          device='cpu', temporal_memory=False))
    assert engine.view_hw == (32, 64)
    plan = engine.plan(synthetic_frame(engine.model_cfg, src_hw=(32, 64)))
    assert np.isfinite(plan.waypoints).all()
    # fine-tuning keeps the checkpoint's views; asking for others is an error
    with pytest.raises(ValueError, match='init_checkpoint'):
        build.model_config(_cfg(tmp_path, view_h=64, view_w=128,
                                init_checkpoint=str(tmp_path / 'run' / 'export')))
    assert build.model_config(_cfg(tmp_path, init_checkpoint=str(
        tmp_path / 'run' / 'export'))).encoder.img_h == 32


def test_nav_condition_query_reaches_the_model_config(tmp_path):
    from orion_lite_ros.training.build import model_config
    assert model_config(_cfg(tmp_path)).nav.condition_query is False
    assert model_config(_cfg(tmp_path, nav_condition_query=True)).nav.condition_query is True
    with pytest.raises(ValueError, match='route/ego token'):
        model_config(_cfg(tmp_path, nav_condition_query=True, model_preset='orion_lite'))


@pytest.mark.parametrize('hw', [(30, 64), (32, 0), (-16, 32)])
def test_bad_view_sizes_are_errors(tmp_path, hw):
    from orion_lite_ros.training.build import model_config
    with pytest.raises(ValueError, match='patch size'):
        model_config(_cfg(tmp_path, view_h=hw[0], view_w=hw[1]))


def test_open_loop_curve_metrics():
    import torch

    from orion_lite_ros.training.metrics import OpenLoopL2
    fut, mask = (torch.tensor(a, dtype=torch.float32) for a in _futures())
    straight_plan = fut.clone()
    straight_plan[..., 1] = 0.0
    metric = OpenLoopL2()
    metric.update(straight_plan, fut, mask)
    out = OpenLoopL2.compute(metric.state())
    # only frame 1 is a curve frame with a valid 3 s step: 1.5 m to the side
    assert out['lat_err_curve_3s'] == pytest.approx(1.5)
    assert out['bend_curve_3s'] == pytest.approx(0.0)
    half = fut.clone()
    half[..., 1] *= 0.5
    metric = OpenLoopL2()
    metric.update(half, fut, mask)
    metric.update(-fut, fut, mask)           # a second batch bending the wrong way
    out = OpenLoopL2.compute(metric.state())
    assert out['bend_curve_3s'] == pytest.approx((0.75 - 1.5) / 3.0)
    assert out['lat_err_curve_3s'] == pytest.approx((0.75 + 3.0) / 2)
    # no curve frames: no curve metrics
    metric = OpenLoopL2()
    metric.update(fut[:1], fut[:1], mask[:1])
    assert 'bend_curve_3s' not in OpenLoopL2.compute(metric.state())


def test_speed_dropout_hides_the_ego_motion_from_the_model_only(tmp_path):
    """With speed_dropout the model's forward gets zeroed speeds for some samples; the losses
    keep the real ones; it needs the full target."""
    import torch

    from orion_lite_ros.training import build
    from orion_lite_ros.training.trainer import Trainer
    _arc_episode(tmp_path / 'eps')
    cfg = _cfg(tmp_path, view_h=16, view_w=32, batch_size=10, speed_dropout=0.5)
    train_set, _ = build.build_datasets(cfg)
    model = build.build_model(cfg)[0]
    trainer = Trainer(cfg, model, train_set)
    seen = []
    real_forward = model.forward
    model.forward = lambda *a, **kw: (seen.append(a[3].clone()), real_forward(*a, **kw))[1]
    batch = next(iter(torch.utils.data.DataLoader(train_set, batch_size=10)))
    batch['can_bus'][:, 7] = 5.0                         # every sample moving at 5 m/s
    record = trainer.train_step(batch)
    assert math.isfinite(record['total'])
    hidden = seen[0][:, 7] == 0
    assert hidden.any() and not hidden.all()
    assert (batch['can_bus'][:, 7] > 0).all()            # the batch itself is unchanged
    with pytest.raises(ValueError, match='target=full'):
        Trainer(_cfg(tmp_path, target='student', speed_dropout=0.5), model, train_set)


def test_nav_target_dropout_reaches_the_route_token(tmp_path):
    """nav_target_dropout sets the route/ego token's training drop (fresh and fine-tuned
    models, in the config that gets exported); < 0 keeps the model's; bad values are errors."""
    from orion_lite_ros.training import build
    model, mcfg, export = build.build_model(_cfg(tmp_path, target='full', view_h=16, view_w=32))
    assert mcfg.nav.target_dropout == pytest.approx(0.1)
    model, mcfg, export = build.build_model(_cfg(tmp_path, target='full', view_h=16, view_w=32,
                                                 nav_target_dropout=0.5))
    assert mcfg.nav.target_dropout == 0.5 and model.nav_token.cfg.target_dropout == 0.5
    from orion_lite_ros.model.checkpoint import save_checkpoint
    save_checkpoint(tmp_path / 'ckpt', export, mcfg)
    model, mcfg, _ = build.build_model(_cfg(tmp_path, target='full', nav_target_dropout=0.9,
                                            init_checkpoint=str(tmp_path / 'ckpt')))
    assert mcfg.nav.target_dropout == 0.9 and model.nav_token.cfg.target_dropout == 0.9
    with pytest.raises(ValueError, match='nav_target_dropout'):
        build.build_model(_cfg(tmp_path, target='full', view_h=16, view_w=32,
                               nav_target_dropout=1.5))
    with pytest.raises(ValueError, match='route/ego token'):
        build.build_model(_cfg(tmp_path, target='student', nav_target_dropout=0.5))
