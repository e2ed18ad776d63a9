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
