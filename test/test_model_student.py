"""StudentPlanner: shapes, VAE noise modes, determinism, paper-scale parameter counts."""
import pytest
import torch

from orion_lite_ros.model import OrionLiteConfig, StudentPlanner


@pytest.fixture(scope='module')
def mini():
    torch.manual_seed(0)
    cfg = OrionLiteConfig.mini()
    return cfg, StudentPlanner(cfg).eval()


def _inputs(cfg, batch=2):
    g = torch.Generator().manual_seed(1)
    tokens = torch.randn(batch, cfg.num_tokens, cfg.token_dim, generator=g)
    return tokens, torch.tensor([0, 3][:batch])


def test_output_contract(mini):
    cfg, model = mini
    tokens, cmd = _inputs(cfg)
    gt = torch.cumsum(torch.rand(2, 6, 2), dim=1)
    with torch.no_grad():
        out = model(tokens, cmd, noise='mean', gt_future=gt)
    assert out['planning_token'].shape == (2, cfg.token_dim)
    assert out['all_modes'].shape == (2, 6, 6, 2)
    assert out['waypoints'].shape == (2, 6, 2)
    for k in ('present_mu', 'present_log_sigma', 'future_mu', 'future_log_sigma'):
        assert out[k].shape == (2, 1, cfg.planner.latent_dim)
    assert out['all_modes'].dtype == torch.float32
    assert torch.equal(out['waypoints'][1], out['all_modes'][1, 3])    # mode of the command
    assert out['present_log_sigma'].abs().max() <= 5.0


def test_waypoints_are_cumulative_offsets(mini):
    cfg, model = mini
    tokens, cmd = _inputs(cfg)
    with torch.no_grad():
        token = model.decode(tokens)
        mu, _ = model.present_distribution(token[:, None])
        steps = model._decode_steps(token, mu)
        out = model.plan(token, noise='mean')
    assert torch.allclose(out['all_modes'], torch.cumsum(steps, dim=2), atol=1e-6)


def test_mean_mode_deterministic_and_sampling_seeded(mini):
    cfg, model = mini
    tokens, cmd = _inputs(cfg)
    with torch.no_grad():
        a = model(tokens, cmd, noise='mean')['all_modes']
        b = model(tokens, cmd, noise='mean')['all_modes']
        s1 = model(tokens, cmd, noise=torch.Generator().manual_seed(7))['all_modes']
        s2 = model(tokens, cmd, noise=torch.Generator().manual_seed(7))['all_modes']
        s3 = model(tokens, cmd, noise=torch.Generator().manual_seed(8))['all_modes']
    assert torch.equal(a, b)
    assert torch.equal(s1, s2)
    assert not torch.equal(s1, s3)
    assert not torch.equal(a, s1)


def test_batch_items_independent(mini):
    cfg, model = mini
    tokens, cmd = _inputs(cfg)
    with torch.no_grad():
        both = model(tokens, cmd, noise='mean')['all_modes']
        one = model(tokens[1:], cmd[1:], noise='mean')['all_modes']
    assert torch.allclose(both[1:], one, atol=1e-5)


def test_bad_noise_rejected(mini):
    cfg, model = mini
    tokens, cmd = _inputs(cfg)
    with pytest.raises(ValueError, match='noise'):
        model(tokens, cmd, noise='median')


def test_paper_scale_parameter_counts():
    """Decoder ~109.2M ("0.1B"), trajectory head 419.6M; counted on the meta device."""
    with torch.device('meta'):
        model = StudentPlanner(OrionLiteConfig.orion_lite())

    def count(*mods):
        return sum(p.numel() for m in mods for p in m.parameters())
    decoder = count(model.input_proj, model.norm_input, model.transformer_decoder,
                    model.output_proj, model.norm_output) + model.planning_query.numel()
    head = count(model.present_distribution, model.future_distribution, model.predict_model,
                 model.ego_fut_decoder)
    assert decoder == 109_185_024
    assert head == 419_618_354
    assert count(model.ego_fut_decoder) == 134_332_428
    assert decoder + head == 528_803_378


def _with_frame(cfg, frame):
    from dataclasses import replace
    return replace(cfg, planner=replace(cfg.planner, output_frame=frame))


def test_right_forward_head_output_is_rotated_to_rep103(mini, monkeypatch):
    """A head emitting (x right, y forward) steps: 1 m forward and 0.5 m right per step comes
    out as x = +1 m / step (forward), y = -0.5 m / step (right is -y in REP-103)."""
    cfg, base = mini
    model = StudentPlanner(_with_frame(cfg, 'right_forward')).eval()
    model.load_state_dict(base.state_dict())
    raw_steps = torch.tensor([0.5, 1.0]).expand(2, 6, 6, 2)           # (B, M, T, 2) x_r, y_f
    monkeypatch.setattr(model, '_decode_steps', lambda token, latent: raw_steps)
    tokens, cmd = _inputs(cfg)
    with torch.no_grad():
        out = model(tokens, cmd, noise='mean')
    t = torch.arange(1, 7, dtype=torch.float32)
    expected = torch.stack([t, -0.5 * t], dim=-1)                       # REP-103 cumulative
    assert torch.allclose(out['all_modes'], expected.expand(2, 6, 6, 2))
    assert torch.allclose(out['waypoints'][0], expected)


def test_right_forward_head_reads_gt_future_in_its_own_frame(mini):
    """REP-103 GT given to a right_forward model reaches the future distribution as the same
    trajectory in (x right, y forward), i.e. what a rep103 model sees when fed that directly."""
    cfg, base = mini
    model = StudentPlanner(_with_frame(cfg, 'right_forward')).eval()
    model.load_state_dict(base.state_dict())
    tokens, cmd = _inputs(cfg)
    gt_rep103 = torch.cumsum(torch.tensor([[2.0, 0.3]]).expand(2, 6, 2), dim=1)
    gt_native = torch.stack([-gt_rep103[..., 1], gt_rep103[..., 0]], dim=-1)
    with torch.no_grad():
        ours = model(tokens, cmd, noise='mean', gt_future=gt_rep103)
        plain = base(tokens, cmd, noise='mean', gt_future=gt_native)
        wrong = base(tokens, cmd, noise='mean', gt_future=gt_rep103)
    assert torch.allclose(ours['future_mu'], plain['future_mu'], atol=1e-6)
    assert not torch.allclose(ours['future_mu'], wrong['future_mu'], atol=1e-4)
    raw = plain['all_modes']                                   # same weights, no conversion
    assert torch.allclose(ours['all_modes'], torch.stack([raw[..., 1], -raw[..., 0]], -1))


def test_gru_state_layouts():
    """'official' reshapes the (1, B, D) batch like the authors' code: equal to per-item at
    B = 1, mixing items at B = 2 (item 0 of the batch differs from item 0 alone)."""
    from dataclasses import replace

    cfg = OrionLiteConfig.mini()
    official = replace(cfg, planner=replace(cfg.planner, gru_state_layout='official'))
    torch.manual_seed(0)
    a = StudentPlanner(cfg).eval()
    b = StudentPlanner(official).eval()
    b.load_state_dict(a.state_dict())
    g = torch.Generator().manual_seed(1)
    tokens = torch.randn(2, cfg.num_tokens, cfg.token_dim, generator=g)
    cmd = torch.tensor([3, 3])
    with torch.no_grad():
        one_a = a(tokens[:1], cmd[:1], noise='mean')['all_modes']
        one_b = b(tokens[:1], cmd[:1], noise='mean')['all_modes']
        two_a = a(tokens, cmd, noise='mean')['all_modes']
        two_b = b(tokens, cmd, noise='mean')['all_modes']
    assert torch.allclose(one_a, one_b)
    assert torch.allclose(two_a[:1], one_a, atol=1e-5)          # per item: batch-independent
    assert not torch.allclose(two_b[:1], one_b, atol=1e-4)      # official: items mixed
    with pytest.raises(ValueError, match='gru_state_layout'):
        replace(cfg.planner, gru_state_layout='other')
