"""The replay with the real inference engine (mini preset, CPU): deterministic, regression."""
import numpy as np
import pytest

from orion_lite_ros.eval.report import compare_runs, result_to_json
from orion_lite_ros.eval.synthetic_bag import SyntheticDrive, write_synthetic_bag

pytest.importorskip('torch')


@pytest.fixture(scope='module')
def planner():
    from orion_lite_ros.eval.engine_planner import EnginePlanner
    return EnginePlanner(preset='mini', device='cpu', seed=0)


def test_engine_replay_is_deterministic_and_regression_detects_change(tmp_path, planner):
    from orion_lite_ros.eval.replay import ReplayConfig, replay
    bag = write_synthetic_bag(tmp_path / 'bag', SyntheticDrive(duration_s=0.5,
                                                              image_hw=(90, 160)))
    cfg = ReplayConfig(progress=False)
    first = result_to_json(replay(bag, cfg, planner))
    second = result_to_json(replay(bag, cfg, planner))      # memory reset between replays
    assert len(first['frames']) == 6
    assert compare_runs(second, first, tolerance_m=1e-6).passed
    wps = np.array(first['frames'][0]['waypoints'])
    assert wps.shape == (6, 2) and np.all(np.isfinite(wps))
    changed = {'frames': [dict(f, waypoints=(np.array(f['waypoints']) + 0.05).tolist())
                          for f in second['frames']]}
    rep = compare_runs(changed, first, tolerance_m=0.01)
    assert not rep.passed and len(rep.differing) == 6
    ahead = result_to_json(replay(bag, ReplayConfig(progress=False, prefetch=2), planner))
    assert compare_runs(ahead, first, tolerance_m=1e-6).passed    # prefetch changes nothing


def test_batched_replay_plans_what_frame_by_frame_replay_plans(tmp_path):
    """Without temporal memory the replay plans 8 frames per forward pass by default (4, 4
    and the last 3 of 11 here with batch=4): same plans as one frame at a time, same frame count,
    max_frames respected; with memory it stays frame by frame."""
    from orion_lite_ros.eval.engine_planner import EnginePlanner
    from orion_lite_ros.eval.replay import ReplayConfig, batch_size, replay
    planner = EnginePlanner(preset='mini', device='cpu', seed=0, temporal_memory=False)
    assert planner.can_batch
    bag = write_synthetic_bag(tmp_path / 'bag', SyntheticDrive(duration_s=1.0,
                                                              image_hw=(90, 160)))
    one = result_to_json(replay(bag, ReplayConfig(progress=False, batch=1), planner))
    assert batch_size(planner, ReplayConfig()) == 8
    for cfg in (ReplayConfig(progress=False), ReplayConfig(progress=False, batch=4),
                ReplayConfig(progress=False, batch=4, prefetch=2)):
        batched = result_to_json(replay(bag, cfg, planner))
        assert len(batched['frames']) == len(one['frames']) == 11
        assert compare_runs(batched, one, tolerance_m=1e-4).passed
    short = replay(bag, ReplayConfig(progress=False, batch=4, max_frames=5), planner)
    assert len(short.frames) == 5
    with pytest.raises(ValueError, match='batch'):
        replay(bag, ReplayConfig(progress=False, batch=-1), planner)


def test_engine_batch_needs_single_frames_and_matches_run_prepared(planner):
    from orion_lite_ros.eval.engine_planner import EnginePlanner
    from orion_lite_ros.eval.replay import ReplayConfig, batch_size
    from orion_lite_ros.model.engine import synthetic_frame
    assert not planner.can_batch                    # temporal memory on: frame by frame
    assert batch_size(planner, ReplayConfig(batch=8)) == 1
    with pytest.raises(ValueError, match='temporal_memory'):
        planner.engine.run_prepared_batch([])
    single = EnginePlanner(preset='mini', device='cpu', seed=0, temporal_memory=False)
    engine = single.engine
    preps = [engine.prepare(synthetic_frame(engine.model_cfg, stamp_ns=i, src_hw=(90, 160),
                                            seed=i), reuse_buffer=False) for i in range(3)]
    alone = [engine.run_prepared(p) for p in preps]
    together = engine.run_prepared_batch(preps)
    assert engine.run_prepared_batch([]) == []
    for a, b in zip(alone, together):
        np.testing.assert_allclose(a.waypoints, b.waypoints, atol=1e-4)
        np.testing.assert_allclose(a.planning_token, b.planning_token, atol=1e-3)
        assert a.stamp_ns == b.stamp_ns and a.command == b.command
        assert len(a.objects.scores) == len(b.objects.scores)
        assert b.timing_s['model'] > 0


def test_replay_holds_views_not_camera_images(tmp_path, planner):
    """Prepared frames keep their views but not the camera sets (a batch in flight would
    otherwise hold eight full-size sets); the frames the report keeps still carry camera 0,
    and the plans do not change."""
    from orion_lite_ros.eval.replay import ReplayConfig, replay
    from orion_lite_ros.model.engine import synthetic_frame
    frame = synthetic_frame(planner.engine.model_cfg, stamp_ns=0, src_hw=(90, 160))
    prep = planner.prepare(frame)
    assert prep.frame.images.shape == (6, 0, 0, 3) and prep.views.shape[:2] == (6, 3)
    full = planner.engine.prepare(frame, reuse_buffer=False)
    assert full.frame.images is frame.images
    np.testing.assert_allclose(planner.engine.run_prepared(prep, 'slim').waypoints,
                               planner.engine.run_prepared(full, 'full').waypoints, atol=1e-5)
    bag = write_synthetic_bag(tmp_path / 'bag', SyntheticDrive(duration_s=0.5,
                                                              image_hw=(90, 160)))
    result = replay(bag, ReplayConfig(progress=False, keep_images=2, prefetch=2), planner)
    assert len(result.images) == 2
    assert all(img.shape == (90, 160, 3) for img, _, _ in result.images.values())
