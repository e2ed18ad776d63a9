"""Sample cache: built once (in worker processes), memory-mapped, same samples as the source."""
import json

import numpy as np
import pytest
import torch

from orion_lite_ros.training.episodes import EpisodeDataset, EpisodeWriter
from orion_lite_ros.training.sample_cache import (
    SampleCache,
    build_cache,
    cached,
    dataset_key,
    is_complete,
)
from orion_lite_ros.types import EgoState, FrameInputs


def _write_episode(root, name, frames, seed, teacher=True):
    rng = np.random.default_rng(seed)
    writer = EpisodeWriter(root, name)
    for i in range(frames):
        ego = EgoState(stamp_ns=i * 100_000_000, x_m=0.5 * i, y_m=0.0, z_m=0.0, yaw_rad=0.0,
                       vx_mps=5.0)
        frame = FrameInputs(i * 100_000_000, rng.integers(0, 255, (6, 8, 16, 3), np.uint8),
                            np.tile(np.eye(3, dtype=np.float32), (6, 1, 1)),
                            np.tile(np.eye(4, dtype=np.float32), (6, 1, 1)), ego, 3,
                            np.zeros(2, np.float32))
        extra = {'teacher_token': np.full(4, i, np.float16)} if teacher else {}
        writer.add_frame(frame, can_bus=np.arange(18.0), **extra,
                         lane_points=rng.normal(size=(2, 3, 2)), agent_xy=rng.normal(size=(1, 2)))
    writer.close()


@pytest.fixture()
def episodes(tmp_path):
    _write_episode(tmp_path / 'eps', 'a', 9, 0)
    _write_episode(tmp_path / 'eps', 'b', 7, 1)
    return tmp_path / 'eps'


def _same(a, b):
    assert set(a) == set(b)
    for k in a:
        if k == 'frame_id':
            assert a[k] == b[k]
        else:
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


@pytest.mark.parametrize('workers', [1, 2])
def test_cache_returns_the_source_samples(tmp_path, episodes, workers):
    source = EpisodeDataset(str(episodes), max_lanes=4, max_agents=2, view_hw=(8, 16))
    path = build_cache(source, str(tmp_path / 'cache'), key='k1', workers=workers, chunk=4,
                       log=None)
    cache = SampleCache(str(path), key='k1')
    assert len(cache) == len(source) == 16
    for i in (0, 5, 15):
        _same(cache[i], source[i])
    batch = next(iter(torch.utils.data.DataLoader(cache, batch_size=5)))
    assert batch['images'].shape == (5, 6, 3, 8, 16) and len(batch['frame_id']) == 5
    assert not list(tmp_path.glob('cache.tmp*'))                 # built aside, renamed in


def test_key_mismatch_and_incomplete_cache_are_errors(tmp_path, episodes):
    source = EpisodeDataset(str(episodes), max_lanes=4, max_agents=2)
    path = build_cache(source, str(tmp_path / 'c'), key='k1', workers=1, log=None)
    with pytest.raises(ValueError, match='another source'):
        SampleCache(str(path), key='k2')
    (path / 'meta.json').unlink()
    assert not is_complete(path)
    with pytest.raises(FileNotFoundError, match='meta.json'):
        SampleCache(str(path))


def test_cached_builds_once_and_key_tracks_episodes(tmp_path, episodes):
    source = EpisodeDataset(str(episodes), max_lanes=4, max_agents=2)
    key = dataset_key(str(episodes), max_lanes=4)
    first = cached(source, str(tmp_path / 'root'), key, 'train', workers=1, log=None)
    stamp = (first.path / 'meta.json').stat().st_mtime_ns
    again = cached(source, str(tmp_path / 'root'), key, 'train', workers=1, log=None)
    assert again.path == first.path and (first.path / 'meta.json').stat().st_mtime_ns == stamp
    _write_episode(episodes, 'c', 3, 2)
    assert dataset_key(str(episodes), max_lanes=4) != key        # new data -> new cache
    assert dataset_key(str(episodes), max_lanes=8) != dataset_key(str(episodes), max_lanes=4)
    assert json.loads((first.path / 'meta.json').read_text())['count'] == 16


def test_train_cli_builds_the_cache(tmp_path, episodes, capsys):
    from orion_lite_ros.cli.train import main
    assert main(['data_format=episodes', 'target=full', f'train_dir={episodes}',
                 f'sample_cache={tmp_path / "sc"}', 'num_workers=1', 'max_lanes=4',
                 'max_agents=2', '--build-cache']) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out['train_samples'] == 16 and out['val'] is None
    cache = SampleCache(out['train'])
    assert cache[0]['images'].shape == (6, 3, 128, 256)          # mini model views


def test_mimic_runs_cache_teacher_features_apart(tmp_path):
    """Teacher tokens from a FeatureCache reach the cached samples; a mimic run never reuses
    a cache built without them, and without any teacher tokens it is an error."""
    from orion_lite_ros.training.build import build_dataset
    from orion_lite_ros.training.config import LossConfig, TrainConfig
    from orion_lite_ros.training.teacher import FeatureCache
    eps = tmp_path / 'eps'
    _write_episode(eps, 'a', 5, 0, teacher=False)
    plain = EpisodeDataset(str(eps))
    features = FeatureCache(str(tmp_path / 'feats'), 'teacher-x')
    for i in range(len(plain)):
        features.put(plain.frame_id(i), np.full(4, 10 + i))
    common = dict(data_format='episodes', target='full', train_dir=str(eps), max_lanes=4,
                  max_agents=2, num_workers=1, sample_cache=str(tmp_path / 'sc'))
    gt_only = build_dataset(TrainConfig(**common, loss=LossConfig(mimic_weight=0.0)), str(eps))
    assert 'teacher_token' not in gt_only[0]
    with pytest.raises(KeyError, match='no teacher feature'):
        build_dataset(TrainConfig(**common), str(eps))
    mimic = build_dataset(TrainConfig(**common, teacher_features=str(features.root)), str(eps))
    assert mimic.path != gt_only.path
    assert [float(mimic[i]['teacher_token'][0]) for i in range(5)] == [10, 11, 12, 13, 14]
    with pytest.raises(FileNotFoundError, match='teacher features'):
        build_dataset(TrainConfig(**common, teacher_features=str(tmp_path / 'none')), str(eps))
