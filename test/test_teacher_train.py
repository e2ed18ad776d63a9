"""Teacher training on recorded episodes, checkpoint, annotation into the feature cache."""
import numpy as np
import pytest

from orion_lite_ros.sim.backend import training_routes
from orion_lite_ros.teacher.config import DatagenConfig, TeacherConfig, TeacherTrainConfig
from orion_lite_ros.teacher.datagen import generate
from orion_lite_ros.teacher.train import TokenTeacher, annotate, train_teacher
from orion_lite_ros.training.episodes import EpisodeDataset
from orion_lite_ros.training.teacher import FeatureCache, Teacher

SMALL = TeacherConfig(d_model=32, num_layers=1, num_heads=2, ffn_dim=64, head_hidden=64)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('teacher')
    data = DatagenConfig(out_dir=str(root / 'episodes'), render=False, camera_height_px=8,
                         camera_width_px=16, camera_names=('CAM_FRONT',), max_steps=240,
                         frame_stride=4, perturbed_per_route=0)
    generate(data, training_routes([0], ['lead_brake', 'red_light']), log=lambda s: None)
    cfg = TeacherTrainConfig(episodes_dir=data.out_dir, out_dir=str(root / 'run'), epochs=6,
                             batch_size=16, lr=2e-3, val_every_k_episodes=2, model=SMALL)
    return root, cfg, train_teacher(cfg, log=lambda s: None)


def test_training_reduces_the_loss_and_saves(trained):
    root, cfg, summary = trained
    hist = summary['history']
    assert summary['train_episodes'] == 1 and summary['val_episodes'] == 1
    assert hist[-1]['train_l1'] < 0.7 * hist[0]['train_l1']
    assert {'val_l2_avg_2s', 'val_l2_1s', 'val_bc_l1'} <= set(hist[-1])
    for name in ('teacher', 'last'):
        assert (root / 'run' / name / 'model.safetensors').is_file()


def test_annotate_fills_the_cache_the_dataset_reads(trained):
    root, cfg, _ = trained
    ckpt = str(root / 'run' / 'teacher')
    result = annotate(ckpt, cfg.episodes_dir, str(root / 'cache'))
    teacher = TokenTeacher.from_checkpoint(ckpt, cfg.episodes_dir)
    assert isinstance(teacher, Teacher) and result['teacher_id'] == teacher.teacher_id
    ds = EpisodeDataset(cfg.episodes_dir, cache=FeatureCache(str(root / 'cache'),
                                                             teacher.teacher_id),
                        require_teacher=True)
    assert result['frames'] == len(ds)
    sample = ds[len(ds) - 1]
    assert sample['teacher_token'].shape == (SMALL.token_dim,)
    direct = teacher.planning_token({'frame_id': sample['frame_id']})
    np.testing.assert_allclose(sample['teacher_token'].numpy(), direct, atol=1e-2)  # fp16


def test_annotate_into_episodes(trained):
    root, cfg, _ = trained
    ckpt = str(root / 'run' / 'teacher')
    result = annotate(ckpt, cfg.episodes_dir, None, into_episodes=True, workers=2)
    ds = EpisodeDataset(cfg.episodes_dir, require_teacher=True)
    assert result['frames'] == len(ds)
    assert ds[0]['teacher_token'].shape == (SMALL.token_dim,)


def test_parallel_token_loading_keeps_the_order(trained):
    from orion_lite_ros.teacher.train import episode_dirs, load_tokens
    _, cfg, _ = trained
    eps = episode_dirs(cfg.episodes_dir)
    one, two = load_tokens(eps), load_tokens(eps, workers=2)
    assert one.frame_ids == two.frame_ids
    for k in one.tokens:
        np.testing.assert_array_equal(one.tokens[k], two.tokens[k])
    np.testing.assert_array_equal(one.future, two.future)
