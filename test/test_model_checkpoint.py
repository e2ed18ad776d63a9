"""Checkpoints: bit-exact round trip, strict loading, refusal of bad files."""
import pickle

import pytest
import torch

from orion_lite_ros.model import OrionLite, OrionLiteConfig, StudentPlanner
from orion_lite_ros.model.checkpoint import (
    CheckpointError,
    check_state_dict,
    load_checkpoint,
    load_official_fused,
    read_pth,
    save_checkpoint,
)


@pytest.fixture(scope='module')
def mini_model():
    torch.manual_seed(3)
    cfg = OrionLiteConfig.mini()
    return cfg, OrionLite(cfg)


def test_round_trip_bit_exact(tmp_path, mini_model):
    cfg, model = mini_model
    save_checkpoint(tmp_path / 'ckpt', model, cfg)
    loaded, cfg2 = load_checkpoint(tmp_path / 'ckpt')
    assert cfg2 == cfg and isinstance(loaded, OrionLite)
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_student_checkpoint_by_file_stem(tmp_path):
    cfg = OrionLiteConfig.mini()
    model = StudentPlanner(cfg)
    weights = save_checkpoint(tmp_path / 'student.safetensors', model, cfg)
    assert weights.with_suffix('.json').is_file()
    loaded, _ = load_checkpoint(weights)
    assert isinstance(loaded, StudentPlanner)
    assert torch.equal(loaded.planning_query, model.planning_query)


def test_strict_errors_name_keys(mini_model):
    cfg, model = mini_model
    state = dict(model.state_dict())
    state.pop('student_model.planning_query')
    state['extra.weight'] = torch.zeros(1)
    state['student_model.input_proj.bias'] = torch.zeros(3)
    with pytest.raises(CheckpointError) as err:
        check_state_dict(model, state)
    msg = str(err.value)
    assert 'student_model.planning_query' in msg and 'extra.weight' in msg
    assert 'student_model.input_proj.bias: checkpoint (3,)' in msg


def test_truncated_safetensors_refused(tmp_path, mini_model):
    cfg, model = mini_model
    weights = save_checkpoint(tmp_path / 'c', model, cfg)
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='unreadable safetensors'):
        load_checkpoint(tmp_path / 'c')


def test_missing_config_refused(tmp_path, mini_model):
    cfg, model = mini_model
    save_checkpoint(tmp_path / 'c', model, cfg)
    (tmp_path / 'c' / 'config.json').unlink()
    with pytest.raises(CheckpointError, match='config'):
        load_checkpoint(tmp_path / 'c')


class _Payload:
    """Any non-tensor object: unpickling it would run code of the file's choosing."""


def test_pickle_with_objects_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'a': torch.zeros(1)}, 'obj': _Payload()}, path)
    with pytest.raises(CheckpointError, match='refused'):
        read_pth(path)
    raw = tmp_path / 'raw.pth'
    raw.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(CheckpointError, match='refused'):
        load_official_fused(raw)


def test_pth_without_state_dict_refused(tmp_path):
    path = tmp_path / 'list.pth'
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match='state_dict'):
        load_official_fused(path)


def test_shipped_default_checkpoint_resolves_and_loads():
    from orion_lite_ros.model.engine import InferenceEngine
    from orion_lite_ros.paths import default_checkpoint
    from orion_lite_ros.planning.frame_assembly import engine_config
    shipped = default_checkpoint()
    assert shipped['engine']['temporal_memory'] is False
    cfg = engine_config(checkpoint='default', device='cpu', warmup_iters=0)
    assert cfg.checkpoint == shipped['checkpoint'] and cfg.temporal_memory is False
    engine = InferenceEngine(cfg)
    assert engine.model_cfg.name == 'mini'
