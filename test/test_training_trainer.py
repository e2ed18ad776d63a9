"""Trainer mechanics: learning, exact resume, atomic checkpoints, schedules, config."""
from dataclasses import replace
import json
import math

import numpy as np
import pytest
import torch

from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.student import StudentPlanner
from orion_lite_ros.training import trainer as trainer_mod
from orion_lite_ros.training.config import LossConfig, TrainConfig, apply_overrides, load_config
from orion_lite_ros.training.official_npz import OfficialNpzDataset, write_synthetic_official
from orion_lite_ros.training.trainer import CKPT_NAME, Trainer, lr_factor

MODEL_CFG = OrionLiteConfig.mini()


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp('official')
    dims = dict(n_tokens=MODEL_CFG.num_tokens, d_token=MODEL_CFG.token_dim, n_lanes=4,
                n_agents=4)
    write_synthetic_official(root / 'train', 32, seed=0, **dims)
    write_synthetic_official(root / 'val', 8, seed=1, **dims)
    return OfficialNpzDataset(root / 'train'), OfficialNpzDataset(root / 'val')


def _cfg(tmp_path, **kw):
    base = TrainConfig(out_dir=str(tmp_path), batch_size=8, epochs=3, lr=1e-3,
                       ckpt_every_steps=3, log_every_steps=1, progress_bar=False, seed=7)
    return replace(base, **kw)


def _trainer(cfg, data, val=True, cls=Trainer):
    torch.manual_seed(cfg.seed)
    return cls(cfg, StudentPlanner(MODEL_CFG), data[0], data[1] if val else None,
               model_cfg=MODEL_CFG)


def test_lr_schedules():
    cfg = TrainConfig(warmup_steps=10, schedule='cosine', min_lr_ratio=0.1)
    assert lr_factor(0, cfg, 110, 10) == pytest.approx(0.1)
    assert lr_factor(10, cfg, 110, 10) == pytest.approx(1.0)
    assert lr_factor(60, cfg, 110, 10) == pytest.approx(0.55)
    assert lr_factor(110, cfg, 110, 10) == pytest.approx(0.1)
    step = TrainConfig(schedule='step', step_every_epochs=2, step_gamma=0.5)
    assert [lr_factor(s, step, 100, 10) for s in (0, 19, 20, 45)] == [1.0, 1.0, 0.5, 0.25]


def test_config_yaml_and_overrides(tmp_path):
    path = tmp_path / 'c.yaml'
    path.write_text('/**:\n  ros__parameters:\n    lr: 1.0e-4\n    loss:\n      kl_weight: 0.5\n')
    assert apply_overrides(TrainConfig(), ['lr=3e-4']).lr == 3e-4
    cfg = load_config(str(path), ['batch_size=4', 'loss.mimic_weight=0', 'betas=[0.8, 0.9]',
                                  'precision=fp32', 'progress_bar=false'])
    assert cfg.lr == 1e-4 and cfg.batch_size == 4 and cfg.betas == (0.8, 0.9)
    assert cfg.loss == LossConfig(kl_weight=0.5, mimic_weight=0.0) and cfg.progress_bar is False
    with pytest.raises(ValueError, match='unknown field'):
        apply_overrides(cfg, ['learning_rate=1'])
    with pytest.raises(ValueError, match='integer'):
        apply_overrides(cfg, ['batch_size=2.5'])


def test_loss_decreases_and_validation_metrics(tmp_path, synthetic):
    cfg = _cfg(tmp_path, epochs=6, schedule='constant')
    t = _trainer(cfg, synthetic)
    hist = t.fit()
    assert len(hist) == 6 * 4 and t.step == 24
    first = sum(r['total'] for r in hist[:4]) / 4
    last = sum(r['total'] for r in hist[-4:]) / 4
    assert last < 0.5 * first, (first, last)
    val = t.val_history
    # The validation loss falls with training; the L2 on this small random set is only checked
    # to be computed (its trend over 24 steps is within run-to-run noise).
    assert len(val) == 6 and val[-1]['total'] < val[0]['total']
    assert all(math.isfinite(v['l2_avg_2s']) and v['l2_avg_2s'] > 0 for v in val)
    assert {'l2_1s', 'l2_2s', 'l2_3s', 'waypoint', 'mimic', 'kl', 'total'} <= set(val[-1])
    lines = [json.loads(x) for x in (tmp_path / 'train_log.jsonl').read_text().splitlines()]
    assert {x['kind'] for x in lines} >= {'train', 'val'}
    assert list((tmp_path / 'tb').glob('events.out.tfevents.*'))
    t.close()


class _KilledAt(Trainer):
    """Dies (like a SIGKILL would) right after optimizer step `kill_step`."""

    kill_step = 5

    def _after_step(self, record, bar):
        super()._after_step(record, bar)
        if self.step == self.kill_step:
            raise KeyboardInterrupt('killed')


def test_resume_reproduces_uninterrupted_curve(tmp_path, synthetic):
    full = _trainer(_cfg(tmp_path / 'a', epochs=2), synthetic).fit()
    cfg = _cfg(tmp_path / 'b', epochs=2, ckpt_every_steps=2)
    killed = _trainer(cfg, synthetic, cls=_KilledAt)
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    assert [r['total'] for r in killed.history] == [r['total'] for r in full[:5]]
    resumed = _trainer(cfg, synthetic)
    resumed.fit(resume=True)
    assert resumed.history[0]['step'] == 5            # lost only step 5 (checkpoint at 4)
    a = [r['total'] for r in full[4:]]
    b = [r['total'] for r in resumed.history]
    assert len(a) == len(b) == 4
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-6, (a, b)
    assert resumed.val_history[-1]['l2_avg_2s'] == pytest.approx(
        _last_val(tmp_path / 'a')['l2_avg_2s'], abs=1e-6)


def _last_val(out_dir):
    lines = [json.loads(x) for x in (out_dir / 'train_log.jsonl').read_text().splitlines()]
    return [x for x in lines if x['kind'] == 'val'][-1]


def test_atomic_checkpoint_survives_crash_mid_write(tmp_path, synthetic, monkeypatch):
    t = _trainer(_cfg(tmp_path, max_steps=3), synthetic, val=False)
    t.fit()
    path = tmp_path / 'checkpoints' / CKPT_NAME
    good = path.read_bytes()

    def dying_save(obj, handle):
        handle.write(b'partial checkpoint bytes')
        raise KeyboardInterrupt('killed mid-write')

    monkeypatch.setattr(trainer_mod.torch, 'save', dying_save)
    t.train_step(next(iter(torch.utils.data.DataLoader(synthetic[0], batch_size=8))))
    with pytest.raises(KeyboardInterrupt):
        t.save()
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert [p.name for p in path.parent.iterdir()] == [CKPT_NAME]
    fresh = _trainer(_cfg(tmp_path), synthetic, val=False)
    assert fresh.load(path) and fresh.step == 3


def _episodes(root, n=8, tokens=False):
    from orion_lite_ros.layout import Command
    from orion_lite_ros.training.episodes import EpisodeWriter
    from orion_lite_ros.types import EgoState, FrameInputs
    rng = np.random.default_rng(0)
    K = np.array([[60.0, 0.0, 80.0], [0.0, 60.0, 45.0], [0.0, 0.0, 1.0]])
    writer = EpisodeWriter(root, 'ep0')
    for i in range(n):
        ego = EgoState(stamp_ns=i * 500_000_000, x_m=2.5 * i, y_m=0.0, z_m=0.0, yaw_rad=0.0,
                       vx_mps=5.0)
        frame = FrameInputs(ego.stamp_ns, rng.integers(0, 255, (6, 90, 160, 3), np.uint8),
                            np.tile(K, (6, 1, 1)), np.tile(np.eye(4), (6, 1, 1)), ego,
                            int(Command.LANE_FOLLOW), np.array([10.0, 0.0]))
        extra = {}
        if tokens:
            agents = np.zeros((2, 7), np.float32)
            agents[0] = [12.0, 0.0, 0.0, 4.5, 2.0, 3.0, 0]
            signals = np.zeros((1, 8), np.float32)
            signals[0] = [25.0, 0.0, 25.0, 0, 1, 0, 0, 0]
            extra = {'tok_agents': agents, 'tok_agents_mask': np.array([True, False]),
                     'tok_signals': signals, 'tok_signals_mask': np.array([True])}
        writer.add_frame(frame, lane_points=np.array([[[0.0, 1.5], [30.0, 1.5]]]),
                         agent_xy=np.array([[6.0, 2.0]]), **extra)
    writer.close()


def test_full_model_end_to_end_from_episodes(tmp_path):
    from orion_lite_ros.training.build import build_datasets, build_model
    _episodes(tmp_path / 'eps')
    cfg = _cfg(tmp_path / 'run', data_format='episodes', target='full',
               train_dir=str(tmp_path / 'eps'), batch_size=2, epochs=1, max_steps=2,
               loss=LossConfig(mimic_weight=0.0))
    train, _ = build_datasets(cfg)
    model, mcfg, _ = build_model(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    t = Trainer(cfg, model, train, None, model_cfg=mcfg)
    hist = t.fit()
    assert len(hist) == 2 and all(np.isfinite(r['total']) for r in hist)
    assert {'waypoint', 'map_bound', 'collision', 'kl'} <= set(hist[0])
    after = model.state_dict()
    changed = {k.split('.')[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {'student_model'}                      # perception frozen


def test_full_model_with_perception_supervision_baseline_and_sensitivity(tmp_path):
    """Detection / traffic / map terms train the heads; validation reports the
    constant-velocity baseline and the input sensitivity; the export names its modes."""
    from orion_lite_ros.training.build import build_datasets, build_model, with_trained_commands
    _episodes(tmp_path / 'eps', tokens=True)
    cfg = _cfg(tmp_path / 'run', data_format='episodes', target='full',
               train_dir=str(tmp_path / 'eps'), val_dir=str(tmp_path / 'eps'), batch_size=2,
               epochs=1, max_steps=2, freeze_perception=False, val_sensitivity_batches=1,
               loss=LossConfig(mimic_weight=0.0, det_weight=1.0, traffic_weight=1.0,
                               map_weight=1.0))
    train, val = build_datasets(cfg)
    model, mcfg, _ = build_model(cfg)
    mcfg = with_trained_commands(mcfg, train)
    assert mcfg.planner.trained_commands == (3,)
    t = Trainer(cfg, model, train, val, model_cfg=mcfg)
    hist = t.fit()
    assert {'det_cls', 'det_box', 'det_traffic', 'map_cls', 'map_pts'} <= set(hist[0])
    assert all(np.isfinite(r['total']) for r in hist)
    metrics = t.val_history[-1]
    assert metrics['cv_l2_1s'] == pytest.approx(0.0, abs=1e-4)     # 5 m/s straight = truth
    for name in ('black_views', 'mirror_views', 'ego_stopped', 'mirror_target', 'shift_target'):
        assert np.isfinite(metrics[f'sens_{name}_m'])
    from orion_lite_ros.model.checkpoint import read_config
    t.export()
    assert read_config(tmp_path / 'run' / 'export')[1].planner.trained_commands == (3,)


def test_export_loads_in_inference_engine(tmp_path, synthetic):
    from orion_lite_ros.model.checkpoint import load_checkpoint, save_checkpoint
    from orion_lite_ros.model.engine import EngineConfig, InferenceEngine, synthetic_frame
    from orion_lite_ros.model.orion_lite import OrionLite
    from orion_lite_ros.training.build import build_model
    torch.manual_seed(0)
    save_checkpoint(tmp_path / 'init', OrionLite(MODEL_CFG), MODEL_CFG)
    cfg = _cfg(tmp_path / 'run', epochs=1, init_checkpoint=str(tmp_path / 'init'))
    student, mcfg, full = build_model(cfg)
    assert full.student_model is student
    t = Trainer(cfg, student, synthetic[0], None, model_cfg=mcfg, export_module=full)
    t.fit()
    export = tmp_path / 'run' / 'export'
    engine = InferenceEngine(EngineConfig(checkpoint=str(export), device='cpu'))
    trained = student.state_dict()
    loaded = engine.model.student_model.state_dict()
    assert all(torch.equal(trained[k].cpu(), loaded[k]) for k in trained)
    plan = engine.plan(synthetic_frame(mcfg, src_hw=(90, 160)))
    assert plan.waypoints.shape == (6, 2) and np.isfinite(plan.waypoints).all()
    # a student-only run exports a StudentPlanner checkpoint
    only = _cfg(tmp_path / 'student', epochs=1)
    s = _trainer(only, synthetic, val=False)
    s.fit()
    model, _ = load_checkpoint(tmp_path / 'student' / 'export')
    assert type(model).__name__ == 'StudentPlanner'


def test_time_budget_fits_the_schedule_and_stops():
    clock = iter(range(1000))
    budget = trainer_mod.TimeBudget(100.0, start_step=0, clock=lambda: float(next(clock)),
                                    refit_every=5, min_steps=5)
    assert not budget.spent() and budget.fit_total(3, 1000) is None     # too early
    # t0 = 0; each clock read advances 1 s: 5 steps after ~3 s -> rate ~1.7 steps/s
    total = budget.fit_total(5, 1000)
    assert total is not None and 5 < total < 1000
    assert budget.fit_total(7, 1000) is None                            # between refits
    assert budget.fit_total(10, 12) == 12                               # never past the plan
    assert not trainer_mod.TimeBudget(0, 0).enabled
    assert trainer_mod.TimeBudget(0, 0).fit_total(50, 100) is None


def test_time_budgeted_fit_exports_when_the_budget_ends(tmp_path, synthetic):
    ticks = iter(np.arange(0.0, 1e4, 1.0))
    cfg = _cfg(tmp_path, epochs=50, time_budget_s=150.0, ckpt_every_steps=0)
    t = _trainer(cfg, synthetic, val=False)
    t.clock = lambda: float(next(ticks))           # one second per clock read
    t.fit()
    assert 0 < t.step < 50 * 4                     # stopped by the budget, not the epochs
    assert t.total_steps < 50 * 4                  # the schedule was fitted to the budget
    assert (tmp_path / 'export' / 'model.safetensors').is_file()


def test_trajectory_head_only_keeps_trajectory_gradients_out_of_the_decoder(synthetic):
    torch.manual_seed(0)
    model = StudentPlanner(MODEL_CFG)
    batch = next(iter(torch.utils.data.DataLoader(synthetic[0], batch_size=4)))
    loss = LossConfig(mimic_weight=0.0)
    for detach, expect_grad in ((True, False), (False, True)):
        model.zero_grad(set_to_none=True)
        out = trainer_mod.forward_model(model, batch, 'student', detach_plan=detach)
        trainer_mod.distillation_losses(out, batch, loss)['total'].backward()
        grad = model.output_proj.weight.grad
        assert (grad is not None and grad.abs().sum() > 0) == expect_grad
        assert model.ego_fut_decoder[0].weight.grad.abs().sum() > 0     # head always learns


def test_validation_plans_never_see_the_ground_truth(synthetic):
    """The planner's posterior reads the GT future when it is given: validation L2 and the
    input-sensitivity checks must measure the deployed plan, which never gets it."""
    from torch.utils.data import DataLoader
    torch.manual_seed(0)
    model = StudentPlanner(MODEL_CFG).eval()
    batch = next(iter(DataLoader(synthetic[1], batch_size=4)))
    other = dict(batch, gt_future=batch['gt_future'] + 3.0)
    with torch.no_grad():
        plans = [trainer_mod.forward_model(model, b, 'student', mean_plan=True,
                                           with_gt=False)['waypoints'] for b in (batch, other)]
    assert torch.equal(plans[0], plans[1])
