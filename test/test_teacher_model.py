"""PrivilegedTeacher: shapes, masking, checkpoints, behaviour cloning reduces the loss."""
import numpy as np
import pytest
import torch

from orion_lite_ros.layout import NUM_COMMANDS, NUM_WAYPOINTS
from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.teacher.config import TeacherConfig, TokenConfig
from orion_lite_ros.teacher.model import (
    PrivilegedTeacher,
    bc_loss,
    load_teacher,
    save_teacher,
    teacher_id,
    to_torch,
)
from orion_lite_ros.teacher.tokens import AGENT_DIM, EGO_DIM, SIGNAL_DIM

TOK = TokenConfig(max_agents=5, num_route_points=6, max_lane_segments=4, max_signals=2)
SMALL = TeacherConfig(d_model=32, num_layers=2, num_heads=2, ffn_dim=64, head_hidden=64,
                      tokens=TOK)


def random_tokens(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ego = np.zeros((batch, EGO_DIM), np.float32)
    ego[:, 0] = rng.uniform(0, 8, batch)
    ego[np.arange(batch), 4 + rng.integers(0, NUM_COMMANDS, batch)] = 1.0
    agents = rng.normal(0, 10, (batch, TOK.max_agents, AGENT_DIM)).astype(np.float32)
    agents[..., 6] = rng.integers(0, 3, (batch, TOK.max_agents))
    return {
        'agents': agents, 'agents_mask': rng.random((batch, TOK.max_agents)) < 0.5,
        'route': rng.normal(0, 10, (batch, TOK.num_route_points, 2)).astype(np.float32),
        'route_mask': np.ones((batch, TOK.num_route_points), bool),
        'lanes': rng.normal(0, 10, (batch, TOK.max_lane_segments, TOK.lane_points, 2)
                            ).astype(np.float32),
        'lanes_mask': rng.random((batch, TOK.max_lane_segments)) < 0.7,
        'signals': rng.normal(0, 1, (batch, TOK.max_signals, SIGNAL_DIM)).astype(np.float32),
        'signals_mask': np.zeros((batch, TOK.max_signals), bool), 'ego': ego}


def test_default_token_width_is_the_mini_students():
    assert TeacherConfig().token_dim == OrionLiteConfig.mini().token_dim


def test_forward_shapes_and_command_mode():
    model = PrivilegedTeacher(SMALL).eval()
    tokens = to_torch(random_tokens(3))
    out = model(tokens)
    assert out['planning_token'].shape == (3, SMALL.token_dim)
    assert out['all_modes'].shape == (3, NUM_COMMANDS, NUM_WAYPOINTS, 2)
    command = tokens['ego'][:, 4:10].argmax(-1)
    torch.testing.assert_close(out['waypoints'], out['all_modes'][torch.arange(3), command])


def test_padded_tokens_do_not_change_the_output():
    model = PrivilegedTeacher(SMALL).eval()
    a = random_tokens(2)
    b = {k: v.copy() for k, v in a.items()}
    b['agents'][~b['agents_mask']] = 123.0
    b['signals'][:] = -7.0                       # every signal is padded
    with torch.no_grad():
        oa, ob = model(to_torch(a)), model(to_torch(b))
    torch.testing.assert_close(oa['planning_token'], ob['planning_token'])
    b['agents'][b['agents_mask']] += 5.0         # a real token does matter
    with torch.no_grad():
        assert not torch.allclose(model(to_torch(b))['planning_token'], oa['planning_token'])


def test_to_torch_adds_a_batch_dimension():
    single = {k: v[0] for k, v in random_tokens(2).items()}
    tokens = to_torch(single)
    assert tokens['ego'].shape == (1, EGO_DIM) and tokens['lanes'].dim() == 4
    assert tokens['agents_mask'].dtype == torch.bool


def test_bc_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = PrivilegedTeacher(SMALL)
    tokens = to_torch(random_tokens(32, seed=1))
    target = tokens['route'][:, :NUM_WAYPOINTS] * 0.5        # plan follows the route points
    mask = torch.ones(32, NUM_WAYPOINTS)
    mask[:4, 3:] = 0.0
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = bc_loss(model(tokens), target, mask)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_masked_steps_do_not_count():
    out = {'waypoints': torch.zeros(1, NUM_WAYPOINTS, 2)}
    gt = torch.ones(1, NUM_WAYPOINTS, 2)
    mask = torch.tensor([[1, 1, 0, 0, 0, 0]], dtype=torch.float32)
    assert float(bc_loss(out, gt, mask)) == pytest.approx(2.0)
    gt[:, 2:] = 100.0
    assert float(bc_loss(out, gt, mask)) == pytest.approx(2.0)


def test_checkpoint_round_trip_is_strict(tmp_path):
    model = PrivilegedTeacher(SMALL).eval()
    save_teacher(tmp_path / 'ckpt', model, epoch=3)
    loaded = load_teacher(tmp_path / 'ckpt')
    assert loaded.cfg == SMALL
    tokens = to_torch(random_tokens(2))
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens)['waypoints'], model(tokens)['waypoints'])
    assert teacher_id(tmp_path / 'ckpt').startswith('privileged_teacher-')
    other = PrivilegedTeacher(TeacherConfig(d_model=32, num_layers=1, num_heads=2, ffn_dim=64,
                                            head_hidden=64, tokens=TOK))
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in other.state_dict().items()},
              str(tmp_path / 'ckpt' / 'model.safetensors'))
    with pytest.raises(ValueError, match='unexpected|missing'):
        load_teacher(tmp_path / 'ckpt')


def test_config_overrides_by_field_name(tmp_path):
    from orion_lite_ros.teacher.config import TeacherTrainConfig, load_config
    path = tmp_path / 't.yaml'
    path.write_text('/**:\n  ros__parameters:\n    epochs: 3\n    model:\n      d_model: 64\n')
    cfg = load_config(TeacherTrainConfig, str(path), ['lr=2e-3', 'model.tokens.max_agents=7'])
    assert cfg.epochs == 3 and cfg.lr == 0.002 and isinstance(cfg.lr, float)
    assert cfg.model.d_model == 64 and cfg.model.tokens.max_agents == 7
    with pytest.raises(ValueError, match='unknown fields'):
        load_config(TeacherTrainConfig, None, ['model.width=3'])
