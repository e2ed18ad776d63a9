"""Data generation: readable episodes, labels cut at noise, deterministic, resumable."""
import json

import numpy as np
import pytest

from orion_lite_ros.bridge.backend import ControlInput
from orion_lite_ros.sim.backend import training_routes
from orion_lite_ros.teacher.config import DatagenConfig, PerturbConfig
from orion_lite_ros.teacher.datagen import NoiseSchedule, StepTrace, future_labels, generate
from orion_lite_ros.teacher.tokens import PREFIX, TOKEN_KEYS
from orion_lite_ros.training.episodes import EpisodeDataset


def test_future_labels_stop_at_the_first_noisy_step():
    trace = StepTrace()
    for i in range(80):                                  # driving north at 1 m per step
        trace.poses.append(np.array([0.0, float(i), np.pi / 2]))
        trace.noisy.append(25 <= i < 30)
        trace.agents.append({})
    future, mask = future_labels(trace, 0, stride=10)
    assert mask.tolist() == [1, 1, 0, 0, 0, 0]
    np.testing.assert_allclose(future, [[10, 0], [20, 0], [0, 0], [0, 0], [0, 0], [0, 0]],
                               atol=1e-9)
    _, mask = future_labels(trace, 30, stride=10)
    assert mask.tolist() == [1, 1, 1, 1, 0, 0]           # the trace ends at step 79


def test_noise_schedule_is_seeded_and_off_for_clean_episodes():
    cfg = PerturbConfig(first_after_s=0.5)
    base = ControlInput(0.3, 0.0, 0.0)
    clean = NoiseSchedule(cfg, None, 0.05)
    assert all(clean.apply(base, 0.05 * i) == base for i in range(200))

    def run(seed):
        sched = NoiseSchedule(cfg, np.random.default_rng(seed), 0.05)
        return [sched.apply(base, 0.05 * i) for i in range(400)]
    a, b = run(3), run(3)
    assert a == b and any(c != base for c in a)


CFG = DatagenConfig(num_seeds=1, families=('lead_brake',), camera_height_px=16,
                    camera_width_px=32, camera_names=('CAM_FRONT', 'CAM_BACK'),
                    max_steps=160, frame_stride=4,
                    perturb=PerturbConfig(first_after_s=1.0, gap_s=(1.0, 2.0)))


@pytest.fixture(scope='module')
def episodes(tmp_path_factory):
    out = tmp_path_factory.mktemp('episodes')
    cfg = DatagenConfig(**{**CFG.__dict__, 'out_dir': str(out)})
    routes = training_routes([0], ['lead_brake'])
    first = generate(cfg, routes, log=lambda s: None)
    return cfg, routes, first


def test_episode_is_readable_with_labels_and_tokens(episodes):
    cfg, _, first = episodes
    assert [s['episode'] for s in first] == ['lead_brake_0_p0', 'lead_brake_0_p1']
    ds = EpisodeDataset(cfg.out_dir)
    assert len(ds) == sum(s['frames'] for s in first) > 10
    sample = ds[3]
    assert sample['images'].shape == (2, 16, 32, 3) and sample['images'].float().mean() > 1
    assert sample['gt_mask'].sum() == 6 and sample['gt_future'][-1, 0] > 1.0   # moving on
    ep = ds.root / 'lead_brake_0_p0'
    meta = json.loads((ep / 'meta.json').read_text())
    assert meta['camera_names'] == ['CAM_FRONT', 'CAM_BACK'] and meta['perturbed'] is False
    with np.load(ep / 'frames' / '000003.npz') as f:
        assert all(PREFIX + k in f for k in TOKEN_KEYS)
        assert f['agent_future_xy'].shape == (len(f['agent_xy']), 6, 2)
        assert f['lane_points'].shape[1:] == (5, 2)
        assert f['expert_reaction_hold'] == 0.0      # no reaction time configured
    assert sample['reaction_hold'] == 0.0 and sample['rest_s'] >= 0.0


def test_perturbed_episode_has_cut_labels(episodes):
    cfg, _, _ = episodes
    ds = EpisodeDataset(cfg.out_dir)
    masks = [ds[i]['gt_mask'].sum().item() for i in range(len(ds))
             if ds.frame_id(i).startswith('lead_brake_0_p1')]
    clean = [ds[i]['gt_mask'].sum().item() for i in range(len(ds))
             if ds.frame_id(i).startswith('lead_brake_0_p0')]
    assert any(0 < m < 6 for m in masks)            # futures cut before a noise burst
    assert len(masks) < len(clean)                  # frames inside bursts are not stored


def test_resume_skips_finished_and_redoes_incomplete_identically(episodes):
    cfg, routes, _ = episodes
    ep = f'{cfg.out_dir}/lead_brake_0_p1'
    with np.load(f'{ep}/frames/000002.npz') as f:
        before = {k: f[k] for k in ('future_xy', 'tok_agents', 'images')}
    assert generate(cfg, routes, log=lambda s: None) == []
    (__import__('pathlib').Path(ep) / 'meta.json').unlink()
    again = generate(cfg, routes, log=lambda s: None)
    assert [s['episode'] for s in again] == ['lead_brake_0_p1']
    with np.load(f'{ep}/frames/000002.npz') as f:
        for k, v in before.items():
            np.testing.assert_array_equal(f[k], v)


def test_failed_episodes_are_set_aside_unless_kept(tmp_path):
    from dataclasses import replace
    route = replace(training_routes([0], ['lead_brake'])[0], timeout_s=1.0)   # times out
    cfg = DatagenConfig(**{**CFG.__dict__, 'out_dir': str(tmp_path / 'a'),
                           'perturbed_per_route': 0, 'render': False})
    [summary] = generate(cfg, [route], log=lambda s: None)
    assert summary['status'].startswith('Failed') and summary['kept'] is False
    assert (tmp_path / 'a' / '_failed' / 'lead_brake_0_p0' / 'meta.json').is_file()
    assert not (tmp_path / 'a' / 'lead_brake_0_p0').exists()
    assert generate(cfg, [route], log=lambda s: None) == []          # finished: not redone
    with pytest.raises(FileNotFoundError):
        EpisodeDataset(cfg.out_dir)                                  # nothing to train on
    kept = replace(cfg, out_dir=str(tmp_path / 'b'), keep_failed=True)
    assert generate(kept, [route], log=lambda s: None)[0]['kept'] is True
    assert len(EpisodeDataset(kept.out_dir)) > 0


def test_heldout_seeds_are_refused():
    with pytest.raises(ValueError, match='held-out'):
        training_routes([100001], ['lead_brake'])


def test_teacher_checkpoint_records_its_planning_token(tmp_path):
    from orion_lite_ros.teacher.config import TeacherConfig
    from orion_lite_ros.teacher.model import PrivilegedTeacher, save_teacher, to_torch
    from orion_lite_ros.teacher.tokens import from_frame
    torch = pytest.importorskip('torch')
    torch.manual_seed(0)
    teacher = PrivilegedTeacher(TeacherConfig(d_model=32, num_layers=1, ffn_dim=64,
                                              token_dim=48, head_hidden=32))
    save_teacher(tmp_path / 'teacher', teacher)
    cfg = DatagenConfig(**{**CFG.__dict__, 'out_dir': str(tmp_path / 'eps'), 'render': False,
                           'perturbed_per_route': 0, 'max_steps': 80,
                           'teacher_checkpoint': str(tmp_path / 'teacher')})
    generate(cfg, training_routes([0], ['lead_brake']), log=lambda s: None)
    ds = EpisodeDataset(cfg.out_dir, require_teacher=True)
    assert ds[2]['teacher_token'].shape == (48,)
    with np.load(f'{cfg.out_dir}/lead_brake_0_p0/frames/000002.npz') as f:
        assert f['teacher_token'].dtype == np.float16
        with torch.no_grad():
            expected = teacher.eval()(to_torch(from_frame(f)))['planning_token'][0].numpy()
        np.testing.assert_allclose(f['teacher_token'], expected, atol=2e-2)
