"""Full model at mini scale (forward) and paper scale (meta device only)."""
import pytest
import torch

from orion_lite_ros.model import OrionLite, OrionLiteConfig
from orion_lite_ros.model.position_encoding import lid_depths, ray_points


def _batch(cfg, batch=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, h, w = cfg.encoder.num_cams, cfg.encoder.img_h, cfg.encoder.img_w
    images = torch.randint(0, 256, (batch, n, 3, h, w), generator=g, dtype=torch.uint8)
    K = torch.tensor([[w / 2, 0.0, w / 2], [0.0, w / 2, h / 2], [0.0, 0.0, 1.0]])
    cam_to_ego = torch.eye(4).repeat(batch, n, 1, 1)
    cam_to_ego[..., :3, :3] = torch.tensor([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]])
    can_bus = torch.zeros(batch, 18)
    can_bus[:, 7] = 5.0
    return dict(images=images, intrinsics=K.expand(batch, n, 3, 3), cam_to_ego=cam_to_ego,
                can_bus=can_bus, command=torch.full((batch,), 3))


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
    assert out['tokens'].shape == (2, q.num_scene_queries + 1 + q.num_map_tokens, cfg.token_dim)
    assert out['planning_token'].shape == (2, cfg.token_dim)
    assert out['all_modes'].shape == (2, 6, 6, 2) and out['waypoints'].shape == (2, 6, 2)
    assert out['det_scores'].shape == (2, q.num_det_queries + q.num_propagated, 9)
    assert out['lane_points'].shape == (2, q.num_lane_queries + q.num_lane_propagated, 11, 3)
    assert all(torch.isfinite(v).all() for v in out.values())


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


def test_ray_points_front_camera():
    """A front camera's principal ray goes straight ahead (+x, REP-103)."""
    K = torch.tensor([[100.0, 0, 64], [0, 100.0, 32], [0, 0, 1]]).expand(1, 1, 3, 3)
    T = torch.eye(4).expand(1, 1, 4, 4).clone()
    T[..., :3, :3] = torch.tensor([[0.0, 0, 1], [-1, 0, 0], [0, -1, 0]])
    pts = ray_points(K, T, (4, 8), 16, torch.tensor([10.0]))          # (1, 1, 4, 8, 1, 3)
    assert torch.allclose(pts[0, 0, 2, 4, 0], torch.tensor([10.0, 0.0, 0.0]), atol=1e-5)
    assert pts[0, 0, 0, 0, 0, 1] > 0 and pts[0, 0, 0, 0, 0, 2] > 0    # top-left: left, up


def test_paper_scale_on_meta_device():
    cfg = OrionLiteConfig.orion_lite()
    with torch.device('meta'):
        model = OrionLite(cfg)
    counts = {n: sum(p.numel() for p in m.parameters()) for n, m in model.named_children()}
    assert counts['img_backbone'] == 303_388_608
    assert counts['qt_former'] == 30_715_866
    assert counts['student_model'] == 528_803_378
    assert cfg.num_tokens == 513
    assert model.img_backbone.grid == (40, 40)
    assert tuple(model.img_backbone.rope_glb.freqs_cos.shape) == (1600, 64)


@pytest.mark.slow
def test_paper_scale_student_forward():
    cfg = OrionLiteConfig.orion_lite()
    from orion_lite_ros.model import StudentPlanner
    model = StudentPlanner(cfg).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 513, 4096), torch.tensor([3]), noise='mean')
    assert out['planning_token'].shape == (1, 4096) and out['waypoints'].shape == (1, 6, 2)
