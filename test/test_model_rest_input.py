"""The route/ego token's time-at-rest input (NavConfig.rest_scale_s, issue 16 run 14): the
rule, its training labels from poses, widening a trained token, the engine's stream state."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.nav_token import REST_SPEED_MPS, nav_features, nav_inputs, rest_times


def test_rest_times_count_from_the_first_frame_at_rest_and_continue_a_stream():
    s = 1_000_000_000
    rest, since = rest_times([0, s // 2, s, 2 * s, 3 * s], [5.0, 0.05, 0.0, 0.0, 2.0])
    assert rest == [0.0, 0.0, 0.5, 1.5, 0.0] and since is None
    rest, since = rest_times([4 * s, 5 * s], [0.0, REST_SPEED_MPS / 2])
    assert rest == [0.0, 1.0] and since == 4 * s
    more, _ = rest_times([7 * s], [0.0], since)          # the stream goes on resting
    assert more == [3.0]


def test_rest_from_poses_reads_the_speed_between_frames():
    from orion_lite_ros.training.episodes import rest_from_poses
    stamps = np.arange(6) * 100_000_000                  # 10 Hz
    x = np.array([0.0, 1.0, 2.0, 2.0, 2.0, 2.5])         # 10 m/s, then 0, then 5 m/s
    poses = np.stack([x, np.zeros(6), np.zeros(6)], axis=1)
    np.testing.assert_allclose(rest_from_poses(stamps, poses), [0.0, 0.0, 0.0, 0.0, 0.1, 0.0],
                               atol=1e-6)


def test_nav_features_scale_and_clip_the_rest_input():
    cfg = OrionLiteConfig.mini().nav
    assert nav_inputs(cfg) == 6
    on = replace(cfg, rest_scale_s=5.0)
    feats = nav_features(torch.zeros(3, 18), None, on, torch.tensor([0.0, 2.5, 60.0]))
    assert nav_inputs(on) == 7 and feats.shape == (3, 7)
    torch.testing.assert_close(feats[:, -1], torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(nav_features(torch.zeros(3, 18), None, on)[:, -1],
                               torch.zeros(3))


def test_speed_dropout_hides_the_rest_time_of_the_same_samples():
    from orion_lite_ros.training.augment import hide_ego_inputs, hide_ego_motion
    cb = torch.arange(8 * 18, dtype=torch.float32).view(8, 18) + 1
    batch = {'can_bus': cb, 'rest_s': torch.arange(8, dtype=torch.float32) + 1}
    out = hide_ego_inputs(batch, 0.5, torch.Generator().manual_seed(3))
    same = hide_ego_motion(cb, 0.5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(out['can_bus'], same)     # the same draws
    dropped = same[:, 7] == 0
    assert 0 < dropped.sum() < 8
    assert torch.equal(out['rest_s'] == 0, dropped)
    assert hide_ego_inputs(batch, 0.0) is batch


def _rest_model(seed=0):
    from orion_lite_ros.model import OrionLite
    from orion_lite_ros.training.build import with_nav_rest
    torch.manual_seed(seed)
    cfg = OrionLiteConfig.preset('mini')
    model = OrionLite(cfg).eval()
    return model, cfg, with_nav_rest


def test_widening_a_trained_token_keeps_its_plans(tmp_path):
    from orion_lite_ros.model.checkpoint import load_checkpoint, save_checkpoint
    from orion_lite_ros.model.engine import synthetic_frame
    model, cfg, with_nav_rest = _rest_model()
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
        widened = with_nav_rest(model, cfg, 5.0)
        after = model(*args, noise='mean', rest_s=torch.tensor([3.0]))
    assert widened.nav.rest_scale_s == 5.0 and model.nav_token.mlp[0].in_features == 7
    torch.testing.assert_close(after['waypoints'], before['waypoints'])
    with torch.no_grad():
        model.nav_token.mlp[0].weight[:, -1] = 1.0
        model.reset_memory()
        moved = model(*args, noise='mean', rest_s=torch.tensor([3.0]))
    assert not torch.allclose(moved['planning_token'], before['planning_token'])
    save_checkpoint(tmp_path / 'rest', model, widened)
    loaded, lcfg = load_checkpoint(tmp_path / 'rest')
    assert lcfg.nav.rest_scale_s == 5.0
    with torch.no_grad():
        loaded.eval().reset_memory()
        torch.testing.assert_close(loaded(*args, noise='mean', rest_s=torch.tensor([3.0]))[
            'planning_token'], moved['planning_token'])
    with pytest.raises(ValueError, match='route/ego token'):
        with_nav_rest(model, replace(cfg, nav=replace(cfg.nav, enabled=False)), 5.0)


def test_engine_keeps_each_streams_rest_and_batches_it_in_order(tmp_path):
    from orion_lite_ros.model.checkpoint import save_checkpoint
    from orion_lite_ros.model.engine import EngineConfig, InferenceEngine, synthetic_frame
    model, cfg, with_nav_rest = _rest_model(1)
    mcfg = with_nav_rest(model, cfg, 5.0)
    with torch.no_grad():
        model.nav_token.mlp[0].weight[:, -1] = 2.0
    save_checkpoint(tmp_path / 'rest', model, mcfg)
    eng = InferenceEngine(EngineConfig(checkpoint=str(tmp_path / 'rest'), device='cpu',
                                       warmup_iters=1, jpeg_reencode=False,
                                       temporal_memory=False, vae_mode='mean'))
    base = synthetic_frame(eng.model_cfg, src_hw=(64, 128))
    still = replace(base.ego, vx_mps=0.0, vy_mps=0.0)
    frames = [replace(base, stamp_ns=k * 1_000_000_000, ego=still) for k in range(3)]
    tokens = [eng.plan(f, stream='a').planning_token for f in frames]   # rest 0, 1, 2 s
    assert not np.allclose(tokens[0], tokens[2]) and not np.allclose(tokens[1], tokens[2])
    other = eng.plan(frames[2], stream='b').planning_token              # b's rest starts
    np.testing.assert_allclose(other, tokens[0], atol=1e-5)
    eng.reset('a')
    batch = eng.run_prepared_batch([eng.prepare(f, reuse_buffer=False) for f in frames],
                                   stream='a')
    for result, token in zip(batch, tokens):
        np.testing.assert_allclose(result.planning_token, token, atol=1e-4)
