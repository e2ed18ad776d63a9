"""Inference engine (mini, CPU), preprocessing geometry and CAN-bus encoding."""

import numpy as np
import pytest

from orion_lite_ros import layout
from orion_lite_ros.model.engine import EngineConfig, InferenceEngine, synthetic_frame
from orion_lite_ros.model.preprocess import PreprocessConfig, crop_box, preprocess_views
from orion_lite_ros.types import EgoState, PlanResult


@pytest.fixture(scope='module')
def engine():
    return InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=1,
                                        jpeg_reencode=False))


def _frame(engine, stamp_ns=0, **changes):
    frame = synthetic_frame(engine.model_cfg, stamp_ns=stamp_ns, src_hw=(180, 320))
    return frame.__class__(**{**frame.__dict__, **changes})


def test_random_init_warns_loudly(caplog):
    with caplog.at_level('WARNING'):
        InferenceEngine(EngineConfig(warmup_iters=0, device='cpu'))
    assert 'RANDOM WEIGHTS' in caplog.text


def test_plan_result(engine):
    engine.reset()
    result = engine.plan(_frame(engine))
    assert isinstance(result, PlanResult)
    assert result.waypoints.shape == (layout.NUM_WAYPOINTS, 2)
    assert result.all_modes.shape == (layout.NUM_COMMANDS, layout.NUM_WAYPOINTS, 2)
    assert result.planning_token.shape == (engine.model_cfg.token_dim,)
    assert np.array_equal(result.waypoints, result.all_modes[layout.Command.LANE_FOLLOW])
    assert set(result.timing_s) == {'preprocess', 'model', 'total'}
    assert result.timing_s['total'] >= result.timing_s['model'] > 0


def test_streams_are_independent_and_reset(engine):
    engine.reset(None)
    f0, f1 = _frame(engine, 0), _frame(engine, 100_000_000)
    a0 = engine.plan(f0, stream='a').planning_token
    a1 = engine.plan(f1, stream='a').planning_token
    b0 = engine.plan(f0, stream='b').planning_token      # fresh stream = fresh memory
    assert np.array_equal(a0, b0)
    assert not np.allclose(a0, a1)
    engine.reset('a')
    assert np.array_equal(engine.plan(f0, stream='a').planning_token, a0)


def test_two_stages_on_two_threads_plan_as_plan():
    """encode_prepared on one thread, finish_encoded on another (the planner node's pipeline:
    the next frame encoded while this one finishes), with temporal memory: same plans."""
    import queue
    import threading
    engine = InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                          jpeg_reencode=False, vae_mode='mean'))
    engine.use_two_stages()
    frames = [_frame(engine, k * 100_000_000) for k in range(4)]
    engine.reset(None)
    expected = [engine.plan(f, stream='seq').waypoints for f in frames]
    handoff, got = queue.Queue(maxsize=1), []

    def first_stage():
        for f in frames:
            handoff.put(engine.encode_prepared([engine.prepare(f)]))
        handoff.put(None)
    producer = threading.Thread(target=first_stage)
    producer.start()
    while (enc := handoff.get()) is not None:
        got.append(engine.finish_encoded(enc, stream='pipe')[0])
    producer.join()
    for want, result in zip(expected, got):
        np.testing.assert_allclose(result.waypoints, want, atol=1e-5)
    assert len(got) == len(frames) and all(r.timing_s['model'] > 0 for r in got)


def test_without_temporal_memory_each_frame_is_planned_alone():
    eng = InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                       jpeg_reencode=False, temporal_memory=False))
    f0, f1 = _frame(eng, 0), _frame(eng, 100_000_000)
    first = eng.plan(f1).planning_token
    eng.plan(f0)
    assert np.array_equal(eng.plan(f1).planning_token, first)    # history has no effect


@pytest.mark.parametrize('changes, match', [
    (lambda f: {'images': f.images[:5]}, 'expected 6 camera views'),
    (lambda f: {'images': f.images[..., 0]}, r'\(N_cam, H, W, 3\)'),
    (lambda f: {'images': f.images.astype(np.float32)}, 'uint8'),
    (lambda f: {'intrinsics': f.intrinsics[:, :2]}, 'intrinsics must have shape'),
    (lambda f: {'cam_to_ego': np.full((6, 4, 4), np.nan)}, 'cam_to_ego contains NaN'),
    (lambda f: {'ego': EgoState(0, 0.0, float('nan'), 0.0, 0.0, 1.0)}, r"\['y_m'\]"),
    (lambda f: {'command': 9}, 'command'),
])
def test_invalid_inputs(engine, changes, match):
    frame = _frame(engine)
    with pytest.raises(ValueError, match=match):
        engine.plan(frame.__class__(**{**frame.__dict__, **changes(frame)}))


def test_sample_mode_seeded():
    def run():
        eng = InferenceEngine(EngineConfig(vae_mode='sample', seed=4, warmup_iters=0,
                                           device='cpu', jpeg_reencode=False))
        frame = _frame(eng)
        return eng.plan(frame).waypoints, eng.plan(frame, stream='x').waypoints
    (a1, a2), (b1, b2) = run(), run()
    assert np.array_equal(a1, b1) and np.array_equal(a2, b2)
    assert not np.array_equal(a1, a2)        # fresh noise per call


def test_full_reset_restarts_the_sampler():
    """A new episode (reset of every stream) plans as a fresh engine: a route's plans do not
    depend on the routes driven before it (route order, the demo's parallel lanes)."""
    eng = InferenceEngine(EngineConfig(vae_mode='sample', seed=4, warmup_iters=0,
                                       device='cpu', jpeg_reencode=False))
    frame = _frame(eng)
    first = eng.plan(frame).waypoints
    eng.plan(frame)
    eng.reset(None)
    np.testing.assert_array_equal(eng.plan(frame).waypoints, first)


def test_wait_threshold_override_only_for_gated_students():
    from dataclasses import replace as dc_replace

    import torch

    from orion_lite_ros.model.config import OrionLiteConfig
    from orion_lite_ros.model.engine import with_wait_threshold
    from orion_lite_ros.model.orion_lite import OrionLite
    base = OrionLiteConfig.preset('mini')
    with pytest.raises(ValueError, match='no go/wait gate'):
        with_wait_threshold(OrionLite(base), base, 0.7)
    gated = dc_replace(base, planner=dc_replace(base.planner, wait_gate=True))
    model = OrionLite(gated)
    with pytest.raises(ValueError, match=r'\(0, 1\)'):
        with_wait_threshold(model, gated, 1.5)
    new = with_wait_threshold(model, gated, 0.7)
    assert new.planner.wait_threshold == 0.7 and model.student_model.cfg is new
    tokens = torch.zeros(2, gated.token_dim)
    torch.manual_seed(0)
    out = model.student_model.plan(tokens, noise='mean')
    expected = (out['wait_prob'] >= 0.7).long()
    assert torch.equal(out['wait'], expected)


def test_bad_engine_config():
    with pytest.raises(ValueError, match='precision'):
        InferenceEngine(EngineConfig(precision='int8', warmup_iters=0))
    with pytest.raises(ValueError, match='vae_mode'):
        InferenceEngine(EngineConfig(vae_mode='median', warmup_iters=0))


def test_orion_crop_geometry():
    """1600x900 -> x0.4 = 640x360 -> bottom crop 320x640: source box y 100..900."""
    box = crop_box((900, 1600), PreprocessConfig(resize_scale=0.4))
    assert np.allclose(box, (0.0, 100.0, 1600.0, 900.0))


def test_intrinsics_follow_the_crop():
    """A source pixel lands where the updated intrinsics project its ray."""
    img = np.zeros((1, 900, 1600, 3), dtype=np.uint8)
    img[0, 500:510, 800:810] = 255                           # bright patch around (805, 505)
    K = np.array([[[1000.0, 0, 800], [0, 1000.0, 450], [0, 0, 1]]])
    views, K2 = preprocess_views(img, K, (128, 256), PreprocessConfig(jpeg_reencode=False))
    ray = np.linalg.inv(K[0]) @ np.array([805.0, 505.0, 1.0])
    u, v, w = K2[0] @ ray
    peak = np.unravel_index(views[0, 0].argmax(), views[0, 0].shape)
    assert abs(u / w - peak[1]) <= 1.5 and abs(v / w - peak[0]) <= 1.5
    assert views.shape == (1, 3, 128, 256) and views.dtype == np.uint8


def test_jpeg_reencode_changes_pixels():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1, 90, 160, 3), dtype=np.uint8)
    K = np.eye(3)[None]
    a, _ = preprocess_views(img, K, (64, 128), PreprocessConfig(jpeg_reencode=True))
    b, _ = preprocess_views(img, K, (64, 128), PreprocessConfig(jpeg_reencode=False))
    assert not np.array_equal(a, b)



def _student_export(tmp_path, cfg, frame='rep103', seed=21):
    from dataclasses import replace

    import torch

    from orion_lite_ros.model import StudentPlanner
    from orion_lite_ros.model.checkpoint import save_checkpoint
    cfg = replace(cfg, planner=replace(cfg.planner, output_frame=frame))
    torch.manual_seed(seed)
    student = StudentPlanner(cfg).eval()
    save_checkpoint(tmp_path / 'student', student, cfg)
    return student, tmp_path / 'student'


def _plan_capturing_tokens(engine, frame):
    captured = {}
    hook = engine.model.student_model.register_forward_hook(
        lambda module, args, out: captured.update(tokens=args[0], command=args[1]))
    try:
        result = engine.plan(frame)
    finally:
        hook.remove()
    return result, captured


@pytest.mark.parametrize('frame', ['rep103', 'right_forward'])
def test_student_checkpoint_grafted_into_engine(tmp_path, frame):
    """A bare StudentPlanner export, grafted onto a random-init OrionLite: the engine's plan
    equals the StudentPlanner's own output on the same tokens (frame carried over)."""
    import torch

    from orion_lite_ros.model import OrionLiteConfig
    student, path = _student_export(tmp_path, OrionLiteConfig.mini(), frame)
    eng = InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                       jpeg_reencode=False, student_checkpoint=str(path),
                                       vae_mode='mean'))
    assert eng.model_cfg.planner.output_frame == frame
    assert eng.model.student_model.cfg.planner.output_frame == frame
    result, seen = _plan_capturing_tokens(eng, _frame(eng))
    with torch.no_grad():
        own = student(seen['tokens'].float(), seen['command'], noise='mean')
    assert np.allclose(result.waypoints, own['waypoints'][0].numpy(), atol=1e-6)
    assert np.allclose(result.all_modes, own['all_modes'][0].numpy(), atol=1e-6)


def test_student_grafted_onto_full_checkpoint_keeps_perception(tmp_path):
    import torch

    from orion_lite_ros.model import OrionLite, OrionLiteConfig
    from orion_lite_ros.model.checkpoint import load_checkpoint, save_checkpoint
    cfg = OrionLiteConfig.mini()
    torch.manual_seed(5)
    full = OrionLite(cfg)
    save_checkpoint(tmp_path / 'full', full, cfg)
    student, path = _student_export(tmp_path, cfg)
    eng = InferenceEngine(EngineConfig(checkpoint=str(tmp_path / 'full'), device='cpu',
                                       warmup_iters=0, student_checkpoint=str(path)))
    state = eng.model.state_dict()
    for key, value in full.state_dict().items():
        if not key.startswith('student_model.'):
            assert torch.equal(state[key], value), key
    for key, value in student.state_dict().items():
        assert torch.equal(state['student_model.' + key], value), key
    save_checkpoint(tmp_path / 'grafted', eng.model, eng.model_cfg)   # reloads as one model
    again, _ = load_checkpoint(tmp_path / 'grafted')
    assert torch.equal(again.student_model.planning_query, student.planning_query)


def test_student_checkpoint_that_does_not_fit_is_refused(tmp_path):
    from dataclasses import replace

    from orion_lite_ros.model import OrionLiteConfig
    from orion_lite_ros.model.checkpoint import CheckpointError
    mini = OrionLiteConfig.mini()
    _, path = _student_export(tmp_path, replace(mini, token_dim=128))
    with pytest.raises(CheckpointError, match='token_dim 128 != model 256'):
        InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                     student_checkpoint=str(path)))
    with pytest.raises(CheckpointError, match='not a StudentPlanner'):
        InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                     student_checkpoint=str(_full_export(tmp_path, mini))))


def _full_export(tmp_path, cfg):
    from orion_lite_ros.model import OrionLite
    from orion_lite_ros.model.checkpoint import save_checkpoint
    save_checkpoint(tmp_path / 'full', OrionLite(cfg), cfg)
    return tmp_path / 'full'


def test_plan_result_carries_decoded_perception_in_ego_frame():
    eng = InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                       jpeg_reencode=False, perception_score_threshold=0.0))
    result = eng.plan(_frame(eng))
    q = eng.model_cfg.qtformer
    n = q.num_det_queries + q.num_propagated
    assert result.objects.centres.shape == (n, 3) and result.objects.yaws.shape == (n,)
    assert result.objects.trajectories.shape == (n, 6, 6, 2)
    assert result.lanes.points.shape == (q.num_lanes_one2one, 11, 3)
    # pc_range is +-51.2 m around the LiDAR: centres lie within it, shifted to the ego origin
    assert np.all(np.abs(result.objects.centres[:, 0] + 0.39) <= 51.2 + 1e-3)


def test_nothing_above_threshold_decodes_to_empty_arrays():
    eng = InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                       jpeg_reencode=False, perception_score_threshold=1.0))
    result = eng.plan(_frame(eng))
    assert result.objects.centres.shape == (0, 3)
    assert result.objects.trajectories.shape == (0, 6, 6, 2)
    assert result.lanes.points.shape == (0, 11, 3)


def test_decode_geometry_of_a_known_box():
    import torch

    from orion_lite_ros.model.decode import decode_objects
    code = torch.zeros(1, 1, 10)
    code[0, 0, :2] = torch.tensor([0.0, 10.0])          # LiDAR: 10 m ahead
    code[0, 0, 4] = -1.0                                 # cz
    code[0, 0, 6:8] = torch.tensor([1.0, 0.0])           # yaw pi/2 in LiDAR = ego x
    code[0, 0, 8:10] = torch.tensor([0.0, 2.0])          # moving forward at 2 m/s
    out = {'cls_scores': torch.full((1, 1, 9), 5.0), 'bbox_preds': code,
           'traj_preds': torch.tensor([0.0, 1.0] * 6).view(1, 1, 1, 12),
           'traj_cls_scores': torch.zeros(1, 1, 1), 'traffic_states': torch.zeros(1, 1, 4)}
    obj = decode_objects(out)
    assert np.allclose(obj.centres[0], [9.61, 0.0, 0.84], atol=1e-5)
    assert abs(obj.yaws[0]) < 1e-6 and np.allclose(obj.velocities[0], [2.0, 0.0])
    assert np.allclose(obj.trajectories[0, 0, -1], [9.61 + 6.0, 0.0], atol=1e-5)


def test_untrained_command_falls_back_to_lane_follow(tmp_path):
    from dataclasses import replace

    import torch

    from orion_lite_ros.model import OrionLite, OrionLiteConfig
    from orion_lite_ros.model.checkpoint import save_checkpoint
    cfg = OrionLiteConfig.mini()
    cfg = replace(cfg, planner=replace(cfg.planner, trained_commands=(0, 1, 3)))
    torch.manual_seed(0)
    save_checkpoint(tmp_path / 'ck', OrionLite(cfg), cfg)
    eng = InferenceEngine(EngineConfig(checkpoint=str(tmp_path / 'ck'), device='cpu',
                                       warmup_iters=0, jpeg_reencode=False, vae_mode='mean',
                                       temporal_memory=False))
    frame = _frame(eng)
    lane = eng.plan(frame.__class__(**{**frame.__dict__, 'command': 3}))
    change = eng.plan(frame.__class__(**{**frame.__dict__, 'command': 4}))
    assert change.command == 3 and change.command_requested == 4
    assert np.allclose(change.waypoints, lane.waypoints, atol=1e-5)
    left = eng.plan(frame.__class__(**{**frame.__dict__, 'command': 0}))
    assert left.command == 0 and left.command_requested == 0


def test_trained_commands_threshold():
    from orion_lite_ros.training.sampling import trained_commands
    cmds = np.array([3] * 900 + [0] * 60 + [1] * 30 + [4] * 10)
    assert trained_commands(cmds, 6) == (0, 3)


def test_blind_views_ablation_ignores_the_images():
    """blind_views: the model sees black views, so the plan no longer depends on the cameras
    (the plan-without-images baseline), while the route target still moves it."""
    eng = InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                       jpeg_reencode=False, temporal_memory=False,
                                       vae_mode='mean', blind_views=True))
    frame = _frame(eng)
    other = _frame(eng, images=255 - np.asarray(frame.images))
    assert np.array_equal(eng.plan(frame).planning_token, eng.plan(other).planning_token)
    moved = _frame(eng, target_point=np.array([15.0, 6.0]))
    assert not np.allclose(eng.plan(frame).planning_token, eng.plan(moved).planning_token)
    seeing = InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                          jpeg_reencode=False, temporal_memory=False,
                                          vae_mode='mean'))
    assert not np.allclose(seeing.plan(frame).planning_token, seeing.plan(other).planning_token)


@pytest.mark.slow
def test_compiled_engine_plans_as_the_eager_one():
    """`compile: true` (encoder, QT-Former and student under torch.compile, ~1 min on 2
    cores) plans what the eager model plans, with temporal memory across frames."""
    cfg = EngineConfig(model_preset='mini', device='cpu', warmup_iters=0, jpeg_reencode=False,
                       vae_mode='mean')
    eager, compiled = InferenceEngine(cfg), InferenceEngine(EngineConfig(**{
        **cfg.__dict__, 'compile': True}))
    for i in range(3):
        frame = _frame(eager, i * 100_000_000)
        a, b = eager.plan(frame), compiled.plan(frame)
        np.testing.assert_allclose(b.waypoints, a.waypoints, atol=1e-3)
        np.testing.assert_allclose(b.planning_token, a.planning_token, atol=1e-3)
