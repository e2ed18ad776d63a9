"""Readers/writers of the official .npz layout and of our episodes; the teacher cache."""
import json

import numpy as np
import pytest
import torch

from orion_lite_ros.layout import Command
from orion_lite_ros.training.episodes import EpisodeDataset, EpisodeWriter, future_from_poses
from orion_lite_ros.training.official_npz import (
    OfficialNpzDataset,
    from_rep103,
    official_frame_keys,
    parse_official,
    to_rep103,
    write_synthetic_official,
)
from orion_lite_ros.training.teacher import CachedTeacher, FeatureCache, Teacher, fill_cache
from orion_lite_ros.types import EgoState, FrameInputs


def test_frame_conversion_round_trip():
    xy = np.array([[1.0, 2.0], [-3.0, 0.5]])
    # right_forward: x right, y forward -> REP-103 x forward, y left
    assert to_rep103(np.array([1.0, 2.0]), 'right_forward').tolist() == [2.0, -1.0]
    assert np.allclose(to_rep103(from_rep103(xy, 'right_forward'), 'right_forward'), xy)
    with pytest.raises(ValueError):
        to_rep103(xy, 'left_handed')


def test_synthetic_official_layout_and_reader(tmp_path):
    paths = write_synthetic_official(tmp_path, 3, n_tokens=9, d_token=16, n_lanes=4,
                                     n_agents=5, seed=1)
    keys = official_frame_keys(paths[0])
    assert keys['visual_queries'] == ((1, 9, 16), 'float16')
    assert keys['planning_token'] == ((1, 1, 16), 'float16')
    assert keys['ego_fut_trajs'][0] == (1, 1, 6, 2)
    assert keys['ego_fut_cmd'][0] == (1, 1, 1, 6)
    assert keys['lane_preds'][0] == (1, 4, 11, 2) and keys['lane_scores'][0] == (1, 4, 6)
    assert keys['agent_fut_preds'][0] == (1, 5, 6, 6, 2)
    ds = OfficialNpzDataset(tmp_path)
    s = ds[0]
    assert s['tokens'].shape == (9, 16) and s['tokens'].dtype == torch.float32
    assert s['teacher_token'].shape == (16,)
    assert s['gt_future'].shape == (6, 2) and s['agent_future'].shape == (5, 6, 6, 2)
    # synthetic plans drive forward (+x in REP-103) and are cumulative
    fx = s['gt_future'][:, 0]
    assert (fx > 0).all() and (fx[1:] > fx[:-1]).all()
    assert int(s['command']) == int(np.argmax(s['command_onehot'].numpy()))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch['tokens'].shape == (3, 9, 16) and len(batch['frame_id']) == 3


def test_parse_official_offsets_to_cumulative_and_void_command():
    offsets_rf = np.array([[0.0, 1.0], [1.0, 1.0]] + [[0.0, 0.0]] * 4)   # right, forward
    frame = {'visual_queries': np.zeros((1, 2, 3)), 'ego_fut_trajs': offsets_rf[None, None],
             'ego_fut_masks': np.ones((1, 1, 6)), 'ego_fut_cmd': np.zeros((1, 6))}
    s = parse_official(frame)
    assert s['gt_future'][:2].tolist() == [[1.0, 0.0], [2.0, -1.0]]        # 1 m right -> y=-1
    assert int(s['command']) == int(Command.LANE_FOLLOW)
    assert 'teacher_token' not in s and 'lane_points' not in s
    with pytest.raises(KeyError):
        parse_official({'visual_queries': np.zeros((1, 2, 3))})


def _frame(i, x, yaw, hw=(4, 6)):
    ego = EgoState(stamp_ns=i * 100_000_000, x_m=x[0], y_m=x[1], z_m=0.0, yaw_rad=yaw,
                   vx_mps=5.0)
    return FrameInputs(stamp_ns=ego.stamp_ns, images=np.full((6, *hw, 3), i, np.uint8),
                       intrinsics=np.tile(np.eye(3), (6, 1, 1)),
                       cam_to_ego=np.tile(np.eye(4), (6, 1, 1)), ego=ego,
                       command=int(Command.LEFT), target_point=np.array([10.0, 2.0]))


def test_future_from_poses_in_ego_frame():
    stamps = np.arange(40) * 100_000_000                                  # 10 Hz
    poses = np.stack([np.zeros(40), np.arange(40) * 0.5, np.full(40, np.pi / 2)], -1)  # north
    fut, mask = future_from_poses(stamps, poses, 0)
    assert np.allclose(fut, np.stack([np.arange(1, 7) * 2.5, np.zeros(6)], -1), atol=1e-6)
    assert mask.tolist() == [1.0] * 6
    fut, mask = future_from_poses(stamps, poses, 30)                       # 0.9 s left
    assert mask.tolist() == [1.0] + [0.0] * 5


def test_episode_writer_reader(tmp_path):
    writer = EpisodeWriter(tmp_path, 'ep0', town='test')
    for i in range(12):
        writer.add_frame(_frame(i, (0.5 * i, 0.0), 0.0), can_bus=np.arange(18.0),
                         lane_points=np.array([[[0.0, 1.8], [20.0, 1.8]]]),
                         agent_xy=np.array([[8.0, 0.0]]),
                         teacher_token=np.full(5, i, np.float32))
    writer.close()
    EpisodeWriter(tmp_path, 'ep1_crashed').add_frame(_frame(0, (0, 0), 0.0))   # no meta.json
    meta = json.loads((tmp_path / 'ep0' / 'meta.json').read_text())
    assert meta['format'] == 'orion_lite_episode' and meta['town'] == 'test'
    ds = EpisodeDataset(tmp_path, max_lanes=3, max_agents=2)
    assert len(ds) == 12 and ds.frame_id(1) == 'ep0/000001'
    s = ds[0]
    assert s['images'].shape == (6, 4, 6, 3) and s['images'].dtype == torch.uint8
    assert s['gt_future'][:, 0].tolist() == [2.5, 5.0] + [0.0] * 4        # masked: zeros
    assert s['gt_mask'].tolist() == [1.0, 1.0] + [0.0] * 4                 # 1.1 s recorded
    assert s['command_onehot'].tolist() == [1, 0, 0, 0, 0, 0]
    assert s['lane_points'].shape == (3, 2, 2) and s['lane_scores'][:, 2].tolist() == [1, 0, 0]
    assert s['agent_xy'].shape == (2, 2) and s['agent_score'][:, 0].tolist() == [1.0, 0.0]
    assert s['teacher_token'].tolist() == [0.0] * 5 and s['can_bus'][3] == 3.0


class _CountingTeacher:
    def __init__(self, teacher_id):
        self.teacher_id, self.calls = teacher_id, 0

    def planning_token(self, frame):
        self.calls += 1
        return np.full(4, float(frame['images'].float().mean()), np.float32)


def test_feature_cache_computes_once_per_teacher(tmp_path):
    writer = EpisodeWriter(tmp_path / 'eps', 'ep0')
    for i in range(3):
        writer.add_frame(_frame(i, (i, 0.0), 0.0))
    writer.close()
    ds = EpisodeDataset(tmp_path / 'eps')
    inner = _CountingTeacher('orion-7b/v1')
    assert isinstance(inner, Teacher)
    teacher = CachedTeacher(inner, tmp_path / 'cache')
    assert fill_cache(ds, teacher) == 3 and inner.calls == 3
    assert fill_cache(ds, CachedTeacher(inner, tmp_path / 'cache')) == 0 and inner.calls == 3
    other = CachedTeacher(_CountingTeacher('other'), tmp_path / 'cache')
    assert fill_cache(ds, other) == 3                                        # keyed by teacher
    cache = FeatureCache(tmp_path / 'cache', 'orion-7b/v1')
    assert cache.get('ep0/000002').tolist() == [2.0] * 4
    with_teacher = EpisodeDataset(tmp_path / 'eps', cache=cache, require_teacher=True)
    assert with_teacher[1]['teacher_token'].tolist() == [1.0] * 4
    with pytest.raises(KeyError):
        EpisodeDataset(tmp_path / 'eps', require_teacher=True)[0]
    assert not list((tmp_path / 'cache').rglob('*.tmp'))
