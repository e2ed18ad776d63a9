"""Adapter of our Orion-Lite for ../shared/golden/compare.py (the QT-Former golden).

    python ../shared/golden/compare.py ../shared/golden/qtformer \
        --load test/golden_adapter.py:load --run test/golden_adapter.py:run --weights W

`load` builds the model through our converter (official key names -> ours) from the golden's
synthetic weights; `run` feeds every frame through our REP-103 interface where we have one:
the golden's cameras become (intrinsics, cam_to_ego) and `geometry.lidar2img` makes the
heads' lidar2img again; `geometry.lidar2global` makes ego_pose from the CAN bus. The backbone
is not run (the golden gives its features).
"""
from typing import Dict

from safetensors.torch import load_file
import torch

from orion_lite_ros.model import geometry
from orion_lite_ros.model.checkpoint import load_state_strict
from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.convert import convert_official_state, official_config
from orion_lite_ros.model.orion_lite import OrionLite

# golden config (meta['config']) -> ours, checked before running
_CONFIG_CHECKS = {
    ('pts_bbox_head', 'num_query'): 'num_det_queries',
    ('pts_bbox_head', 'num_propagated'): 'num_propagated',
    ('pts_bbox_head', 'topk_proposals'): 'det_topk',
    ('pts_bbox_head', 'memory_len'): 'memory_len',
    ('pts_bbox_head', 'num_extra'): 'num_scene_queries',
    ('pts_bbox_head', 'use_memory'): 'use_memory',
    ('pts_bbox_head', 'with_mask'): 'with_mask',
    ('map_head', 'num_lane'): 'num_lane_queries',
    ('map_head', 'num_lanes_one2one'): 'num_lanes_one2one',
    ('map_head', 'topk_proposals'): 'lane_topk',
    ('map_head', 'memory_len'): 'lane_memory_len',
    ('map_head', 'num_extra'): 'num_map_tokens',
}


def golden_config(meta) -> OrionLiteConfig:
    cfg = official_config(OrionLiteConfig.orion_lite())
    bad = [f'{head}.{key}={meta["config"][head][key]} vs ours {getattr(cfg.qtformer, ours)}'
           for (head, key), ours in _CONFIG_CHECKS.items()
           if key in meta['config'].get(head, {})
           and meta['config'][head][key] != getattr(cfg.qtformer, ours)]
    if bad:
        raise ValueError('golden config differs from the orion_lite preset: ' + ', '.join(bad))
    return cfg


def load(golden_dir, weights_path, meta):
    cfg = golden_config(meta)
    with torch.random.fork_rng(devices=[]):
        model = OrionLite(cfg, backbone=False)
    state = load_file(weights_path)
    report = convert_official_state(state, model)
    del state
    if not report.ok:
        raise ValueError('converter: ' + report.summary())
    return load_state_strict(model, report.state).eval()


def rep103_cameras(inputs) -> Dict[str, torch.Tensor]:
    """The golden's cameras in our REP-103 terms: cam_to_ego from lidar2cam and lidar2ego,
    the model-view intrinsics as the part of the heads' lidar2img that lidar2cam leaves
    (the stored `cam_intrinsic` carries float32 noise of ~1e-6 off the diagonal, which the
    position embedding's inverse sigmoid amplifies to rel ~4e-5)."""
    lidar2ego = inputs['lidar2ego'].double()
    if not torch.allclose(lidar2ego, torch.as_tensor(geometry.LIDAR2EGO), atol=1e-9):
        raise ValueError(f'golden lidar2ego differs from geometry.LIDAR2EGO: {lidar2ego}')
    lidar2cam = inputs['lidar2cam'].double()
    cam_to_ego = lidar2ego @ torch.linalg.inv(lidar2cam)
    K = (inputs['lidar2img'].double() @ torch.linalg.inv(lidar2cam))[:, :3, :3]
    return {'intrinsics': K, 'cam_to_ego': cam_to_ego}


def _feats(meta, i):
    from compare import golden_img_feats  # ../shared/golden, on sys.path via compare
    return golden_img_feats(meta, i).permute(0, 1, 3, 4, 2)          # (1, N, H, W, C)


def run(model, inputs, meta, feats_fn=None, dtype=torch.float32):
    feats_fn = feats_fn or _feats
    cams = rep103_cameras(inputs)
    lidar2img = geometry.lidar2img(cams['intrinsics'], cams['cam_to_ego'])[None]
    model.reset_memory()
    out, tokens_seen = {}, None
    qt = model.qt_former
    for i, frame in enumerate(meta['frames']):
        scene = frame.get('scene_token', ' ')
        reset = torch.tensor([tokens_seen is not None and scene != tokens_seen])
        tokens_seen = scene
        cmd = inputs['command'][i:i + 1]
        res = qt(feats_fn(meta, i).to(dtype), lidar2img, inputs['can_bus'][i:i + 1], cmd,
                 inputs['timestamp'][i:i + 1], reset=reset)
        _heads(out, f'f{i}.', res, model.cfg, first=(i == 0))
        if i == 0:
            out['i.pos_embed'] = res['pos_embed']
        _memory(out, f'f{i}.mem.', qt.get_memory(), model.cfg)
        c = int(inputs['ego_fut_cmd'][i].argmax())
        for tag, noise in (('sampled', inputs[f'f{i}.vae_noise']), ('mean', 'mean')):
            plan = model.student_model(res['tokens'], cmd, noise=noise)
            traj = torch.cumsum(plan['head_steps'], dim=2)
            out[f'f{i}.student.ego_fut_preds_{tag}'] = plan['head_steps']
            out[f'f{i}.student.ego_fut_traj_{tag}'] = traj
            out[f'f{i}.plan.selected_traj_{tag}'] = traj[0, c]
            out[f'f{i}.student.ego_feature'] = plan['planning_token']
            out[f'f{i}.student.present_mu'] = plan['present_mu']
            out[f'f{i}.student.present_log_sigma'] = plan['present_log_sigma']
    return {k: v.float() if v.is_floating_point() else v for k, v in out.items()}


def _heads(out, p, res, cfg, first):
    q = cfg.qtformer
    out[p + 'vision_embeded'] = res['tokens']
    for name in ('cls_scores', 'bbox_preds', 'traffic_states', 'traj_preds', 'traj_cls_scores'):
        out[p + 'det.' + name] = res[name]
    out[p + 'map.lane_cls_one2one'] = res['lane_cls_one2one']
    out[p + 'map.lane_preds_one2one'] = res['lane_preds_one2one']
    start = 0 if first else q.num_scene_queries + q.num_det_queries
    out[p + 'i.det.dec_query_pos'] = res['det_query_pos'][:, start:]
    out[p + 'i.det.dec_temp_pos'] = res['det_temp_pos']
    out[p + 'i.det.history_query_256'] = res['history']
    out[p + 'i.map.dec_query_pos'] = res['map_query_pos']
    out[p + 'i.map.dec_temp_pos'] = res['map_temp_pos']


def _memory(out, p, memory, cfg):
    det, lane = memory['det'], memory['map']
    k = cfg.qtformer.det_topk
    names = {'memory_reference_point': 'reference_point', 'memory_timestamp': 'timestamp',
             'memory_egopose': 'egopose'}
    out[p + 'det.memory_embedding'] = det['embedding'][:, :k]
    out[p + 'map.memory_embedding'] = lane['embedding'][:, :cfg.qtformer.lane_topk]
    for theirs, ours in names.items():
        out[p + 'det.' + theirs] = det[ours]
        out[p + 'map.' + theirs] = lane[ours]
    out[p + 'det.memory_velo'] = det['velo']
    out[p + 'det.memory_canbus'] = det['canbus']
    out[p + 'det.his_memory_canbus_len'] = det['canbus_len'].float()
    out[p + 'det.memory_scene_query'] = det['scene_query']
    out[p + 'det.scene_memory_timestamp'] = det['scene_timestamp']
    out[p + 'map.memory_mask'] = lane['mask']
