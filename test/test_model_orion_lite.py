"""Full model at mini scale (forward) and paper scale (meta device only)."""
import pytest
import torch

from orion_lite_ros.model import OrionLite, OrionLiteConfig
from orion_lite_ros.model.position_encoding import lid_depths, pixel_centres


def _batch(cfg, batch=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, h, w = cfg.encoder.num_cams, cfg.encoder.img_h, cfg.encoder.img_w
    images = torch.randint(0, 256, (batch, n, 3, h, w), generator=g, dtype=torch.uint8)
    K = torch.tensor([[w / 2, 0.0, w / 2], [0.0, w / 2, h / 2], [0.0, 0.0, 1.0]])
    cam_to_ego = torch.eye(4).repeat(batch, n, 1, 1)
    cam_to_ego[..., :3, :3] = torch.tensor([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]])
    can_bus = torch.zeros(batch, 18, dtype=torch.float64)
    can_bus[:, 7] = 5.0
    can_bus[:, 12] = 9.81
    return dict(images=images, intrinsics=K.expand(batch, n, 3, 3), cam_to_ego=cam_to_ego,
                can_bus=can_bus, command=torch.full((batch,), 3))


def _drive(model, inputs, steps=3, dt=0.05, t0=100.0, shift_xy=(0.0, 0.0), reset_at=None):
    """Run `steps` frames of a car driving at 5 m/s along its heading; -> planning tokens."""
    outs = []
    with torch.no_grad():
        model.reset_memory()
        for k in range(steps):
            frame = dict(inputs, can_bus=inputs['can_bus'].clone())
            frame['can_bus'][:, 0] += 5.0 * dt * k + shift_xy[0]
            frame['can_bus'][:, 1] += shift_xy[1]
            t = torch.full((frame['can_bus'].shape[0],), t0 + dt * k, dtype=torch.float64)
            reset = torch.tensor([k == reset_at] * t.shape[0])
            outs.append(model(**frame, timestamp_s=t, noise='mean', reset=reset))
    return outs


@pytest.fixture(scope='module')
def mini():
    torch.manual_seed(0)
    cfg = OrionLiteConfig.mini()
    return cfg, OrionLite(cfg).eval()


def test_mini_forward_shapes(mini):
    cfg, model = mini
    model.reset_memory()
    with torch.no_grad():
        out = model(**_batch(cfg, batch=2), noise='mean')
    q = cfg.qtformer
    assert out['tokens'].shape == (2, cfg.num_tokens, cfg.token_dim)
    assert cfg.num_tokens == (q.num_scene_queries + q.num_memory_queries + 1 + q.num_map_tokens
                              + int(cfg.nav.enabled))
    assert out['planning_token'].shape == (2, cfg.token_dim)
    assert out['all_modes'].shape == (2, 6, 6, 2) and out['waypoints'].shape == (2, 6, 2)
    A = q.num_det_queries + q.num_propagated
    assert out['cls_scores'].shape == (2, A, 9) and out['bbox_preds'].shape == (2, A, 10)
    assert out['traj_preds'].shape == (2, A, 6, 12) and out['traffic_states'].shape == (2, A, 4)
    assert out['lane_preds_one2one'].shape == (2, q.num_lanes_one2one, 33)
    assert all(torch.isfinite(v).all() for v in out.values() if v is not None)


def test_batch_items_are_independent(mini):
    """Two items in one batch give what each gives alone, memory included."""
    cfg, model = mini
    a, b = _batch(cfg, seed=3), _batch(cfg, seed=4)
    both = {k: torch.cat([a[k], b[k]]) for k in a}
    together = _drive(model, both)[-1]['planning_token']
    alone = torch.cat([_drive(model, a)[-1]['planning_token'],
                       _drive(model, b)[-1]['planning_token']])
    assert torch.allclose(together, alone, atol=1e-5)


def test_world_translation_and_clock_do_not_matter(mini):
    """Official ego token and memories use relative poses: moving the whole drive 1 km or
    starting the clock later leaves every output the same (ours used to drown speed in map
    coordinates)."""
    cfg, model = mini
    inputs = _batch(cfg, seed=5)
    base = _drive(model, inputs)
    moved = _drive(model, inputs, shift_xy=(1000.0, -750.0), t0=1.7e9)
    for x, y in zip(base, moved):
        assert torch.allclose(x['tokens'], y['tokens'], atol=2e-5)
        assert torch.allclose(x['planning_token'], y['planning_token'], atol=2e-5)


def test_memory_resets_after_gap_or_on_request(mini):
    """A gap of 2 s, or reset=True, gives exactly the first-frame result again."""
    cfg, model = mini
    inputs = _batch(cfg, seed=6)
    fresh = _drive(model, inputs, steps=1)[0]['tokens']
    with torch.no_grad():
        model.reset_memory()
        t = torch.tensor([10.0], dtype=torch.float64)
        model(**inputs, timestamp_s=t, noise='mean')
        kept = model(**inputs, timestamp_s=t + 1.9, noise='mean')['tokens']
        model(**inputs, timestamp_s=t + 3.9, noise='mean')
        after_gap = model(**inputs, timestamp_s=t + 5.9, noise='mean')['tokens']
    asked = _drive(model, inputs, steps=2, reset_at=1)[1]['tokens']
    assert not torch.allclose(kept, fresh, atol=1e-4)          # 1.9 s: memory still used
    assert torch.allclose(after_gap, fresh, atol=1e-6)
    assert torch.allclose(asked, fresh, atol=1e-6)


def test_memory_changes_outputs_and_reset_restores(mini):
    cfg, model = mini
    inputs = _batch(cfg)
    with torch.no_grad():
        model.reset_memory()
        first = model(**inputs, noise='mean')['planning_token']
        second = model(**inputs, noise='mean')['planning_token']
        model.reset_memory()
        again = model(**inputs, noise='mean')['planning_token']
    assert not torch.allclose(first, second)         # the memory is read
    assert torch.equal(first, again)                 # reset clears it, deterministic


def test_memory_swap_per_stream(mini):
    cfg, model = mini
    a, b = _batch(cfg, seed=1), _batch(cfg, seed=2)
    with torch.no_grad():
        model.reset_memory()
        model(**a, noise='mean')
        mem_a = model.get_memory()
        model.reset_memory()
        model(**b, noise='mean')
        model.set_memory(mem_a)
        swapped = model(**a, noise='mean')['planning_token']
        model.reset_memory()
        model(**a, noise='mean')
        straight = model(**a, noise='mean')['planning_token']
    assert torch.equal(swapped, straight)


def test_lid_depths_match_official_coords_d():
    d = lid_depths(64, 1.0, 61.2)
    assert d[0] == 1.0 and abs(float(d[1]) - 1.028942346572876) < 1e-6
    assert abs(float(d[-1]) - 59.34769058227539) < 1e-4


def test_pixel_centres():
    uv = pixel_centres((40, 40), 16, (640, 640))
    assert uv.shape == (40, 40, 2)
    assert torch.allclose(uv[0, 0], torch.tensor([8.0, 8.0]))
    assert torch.allclose(uv[2, 5], torch.tensor([88.0, 40.0]))     # (u, v) = (16 j + 8, 16 i + 8)


def test_paper_scale_on_meta_device():
    cfg = OrionLiteConfig.orion_lite()
    with torch.device('meta'):
        model = OrionLite(cfg)
    counts = {n: sum(p.numel() for p in m.parameters()) for n, m in model.named_children()}
    assert counts['img_backbone'] == 303_388_608
    assert counts['qt_former'] == 30_715_866
    assert counts['student_model'] == 528_803_378
    assert cfg.num_tokens == 529
    assert model.img_backbone.grid == (40, 40)
    assert tuple(model.img_backbone.rope_glb.freqs_cos.shape) == (1600, 64)


@pytest.mark.slow
def test_paper_scale_student_forward():
    cfg = OrionLiteConfig.orion_lite()
    from orion_lite_ros.model import StudentPlanner
    model = StudentPlanner(cfg).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 529, 4096), torch.tensor([3]), noise='mean')
    assert out['planning_token'].shape == (1, 4096) and out['waypoints'].shape == (1, 6, 2)


def test_route_token_conditions_the_planning_query():
    """condition_query: the route/ego embedding is added to the planning query,
    so the planning token moves with the target point even when cross-attention ignores the
    token; configs written before the flag (no `condition_query`) load without it, and the
    authors' preset has no route token at all."""
    from dataclasses import replace

    from orion_lite_ros.model.config import NavConfig
    cfg = replace(OrionLiteConfig.mini(), nav=NavConfig(enabled=True, condition_query=True))
    assert OrionLiteConfig.mini().nav.enabled and not OrionLiteConfig.mini().nav.condition_query
    assert not OrionLiteConfig.orion_lite().nav.enabled
    old = cfg.to_dict()
    del old['nav']['condition_query']
    assert OrionLiteConfig.from_dict(old).nav.condition_query is False
    torch.manual_seed(0)
    model = OrionLite(cfg).eval()
    assert 'nav_token.query_proj.weight' in model.state_dict()
    legacy = OrionLite(replace(cfg, nav=NavConfig(enabled=True))).eval()
    assert not any(k.startswith('nav_token.query_proj') for k in legacy.state_dict())
    inputs = _batch(cfg)

    def token(target):
        model.reset_memory()
        with torch.no_grad():
            return model(**inputs, noise='mean', target_point=torch.tensor([target]))[
                'planning_token']

    # route token out of the decoder's memory: the query alone carries it
    attn = model.student_model.transformer_decoder.layers
    with torch.no_grad():
        saved = [layer.multihead_attn.out_proj.weight.clone() for layer in attn]
        for layer in attn:
            layer.multihead_attn.out_proj.weight.zero_()
        moved = (token([15.0, 5.0]) - token([15.0, 0.0])).abs().max().item()
        for layer, w in zip(attn, saved):
            layer.multihead_attn.out_proj.weight.copy_(w)
    assert moved > 1e-3
