"""QT-Former: image features of all views -> the student's tokens, as the official
Orion-Lite detector computes them (both heads, their memories, the shared encoders).

Inputs are in the official conventions (`geometry` converts ours): lidar2img per view
(model-view pixels), the 18-value CAN bus (ego_pose = lidar2global is derived from it),
command, timestamp. Output tokens (B, S + H + 1 + T, D_tok) = [detection scene tokens,
history tokens, ego token, map tokens] (529 x 4096 at paper scale).

Module names follow the official fused checkpoint (`pts_bbox_head.*`, `map_head.*`,
top-level `query_pos`, `time_embedding`, `ego_pose_pe`, `position_encoder`); the decoders'
inner layer names are ours (convert.py).
"""
import math
from typing import Dict, Optional

import torch
from torch import nn

from orion_lite_ros.model import geometry
from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.det_head import DetectionHead, SharedEncoders
from orion_lite_ros.model.layers import MLN
from orion_lite_ros.model.map_head import MapHead
from orion_lite_ros.model.memory import (
    DetMemorySpec,
    MapMemorySpec,
    detach_memory,
    post_update_det,
    post_update_map,
    pre_update_det,
    pre_update_map,
)
from orion_lite_ros.model.position_encoding import lid_depths, lidar_ray_points, position_features

PAD_DIVISOR = 32          # the official pipeline pads views to a multiple of 32 pixels


class QTFormer(nn.Module):
    def __init__(self, cfg: OrionLiteConfig):
        super().__init__()
        q, c = cfg.qtformer, cfg.qtformer.embed_dims
        self.cfg, self.full_cfg = q, cfg
        self.stride = cfg.encoder.patch_size
        self.position_encoder = nn.Sequential(
            nn.Linear(q.depth_num * 3, q.pe_hidden), nn.ReLU(), nn.Linear(q.pe_hidden, c))
        self.query_pos = nn.Sequential(
            nn.Linear(q.n_control * 3 * 2 * q.nerf_freqs, c), nn.ReLU(), nn.Linear(c, c))
        self.time_embedding = nn.Sequential(nn.Linear(c, c), nn.LayerNorm(c))
        self.ego_pose_pe = MLN(13 * 2 * q.nerf_freqs, c)
        self.register_buffer('position_range', torch.tensor(q.position_range), persistent=False)
        self.register_buffer('pc_range', torch.tensor(q.pc_range), persistent=False)
        self.register_buffer('coords_d', lid_depths(q.depth_num, q.depth_start_m,
                                                    q.position_range[3]), persistent=False)
        self.pts_bbox_head = DetectionHead(cfg)
        self.map_head = MapHead(cfg)
        self.det_spec = DetMemorySpec(q.memory_len, q.det_topk, q.num_propagated, q.can_bus_len,
                                      q.scene_memory_len, q.num_history_tokens, c,
                                      q.memory_reset_gap_s)
        self.map_spec = MapMemorySpec(q.lane_memory_len, q.lane_topk, q.n_control, c,
                                      q.memory_reset_gap_s)
        self.memory: Optional[Dict] = None

    # ---- temporal state -------------------------------------------------------------
    def reset_memory(self) -> None:
        self.memory = None

    def get_memory(self) -> Optional[Dict]:
        return self.memory

    def set_memory(self, memory: Optional[Dict]) -> None:
        self.memory = memory

    def shared(self) -> SharedEncoders:
        return SharedEncoders(self.query_pos, self.time_embedding, self.ego_pose_pe,
                              self.pc_range, self.cfg.nerf_freqs)

    def pos_embed(self, lidar2img: torch.Tensor, grid, view_hw, dtype) -> torch.Tensor:
        """(B, N, 4, 4) -> (B, N * gh * gw, C) 3-D position embedding of the image tokens."""
        pad = tuple(int(math.ceil(s / PAD_DIVISOR) * PAD_DIVISOR) for s in view_hw)
        points = lidar_ray_points(lidar2img, grid, self.stride, pad, self.coords_d)
        feats = position_features(points, self.position_range.float())
        return self.position_encoder(feats.to(dtype))

    def _now(self, timestamp_s: Optional[torch.Tensor], batch: int, device) -> torch.Tensor:
        if timestamp_s is not None:
            return timestamp_s.to(device, torch.float64).reshape(-1)
        prev = self.memory['last_time'] if self.memory is not None else None
        if prev is None or prev.shape[0] != batch:
            return torch.zeros(batch, dtype=torch.float64, device=device)
        return prev + self.cfg.frame_dt_s

    def forward(self, feats: torch.Tensor, lidar2img: torch.Tensor, can_bus: torch.Tensor,
                command: torch.Tensor, timestamp_s: Optional[torch.Tensor] = None,
                view_hw=None, reset: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """feats (B, N, gh, gw, C_enc); lidar2img (B, N, 4, 4); can_bus (B, 18) official;
        command (B,); timestamp_s (B,) seconds (else `frame_dt_s` after the last frame);
        view_hw the model view (default grid x stride); reset (B,) bool clears memories
        (scene change). -> tokens and the heads' outputs (see docs/model.md)."""
        B, N, gh, gw, _ = feats.shape
        dtype, dev = feats.dtype, feats.device
        view_hw = view_hw or (gh * self.stride, gw * self.stride)
        now = self._now(timestamp_s, B, dev)
        ego_pose = geometry.lidar2global(can_bus)
        stored = self.memory if self.memory is not None and \
            self.memory['det']['sample_time'].shape[0] == B else None
        keep = None if reset is None else ~reset.to(dev).bool()
        det_mem = pre_update_det(stored and stored['det'], self.det_spec, ego_pose, now,
                                 can_bus, self.pts_bbox_head.pseudo_points(self.pc_range),
                                 keep, dtype)
        map_mem = pre_update_map(stored and stored['map'], self.map_spec, ego_pose, now, keep,
                                 dtype)
        flat = feats.flatten(1, 3)                                          # (B, L, C_enc)
        pos = self.pos_embed(lidar2img, (gh, gw), view_hw, dtype)
        shared = self.shared()
        det = self.pts_bbox_head(flat, pos, det_mem, shared, can_bus, command)
        lanes = self.map_head(flat, pos, map_mem, shared)
        scores = det['cls_scores'].sigmoid().max(-1).values
        next_det = post_update_det(det_mem, self.det_spec, ego_pose, now, can_bus, command,
                                   det['inst'], det['bbox_preds'][..., :3],
                                   det['bbox_preds'][..., -2:], scores,
                                   det['history'] if det['history'] is not None
                                   else det['scene'][:, :0])
        next_map = post_update_map(map_mem, self.map_spec, ego_pose, now,
                                   lanes['lanes_one2one'],
                                   lanes['lane_preds_one2one'].unflatten(-1, (-1, 3)),
                                   lanes['lane_cls_one2one'].sigmoid().max(-1).values)
        self.memory = {'det': detach_memory(next_det), 'map': detach_memory(next_map),
                       'last_time': now}
        out = {k: v for k, v in det.items() if k not in ('tokens', 'inst', 'scene')}
        out.update({k: v for k, v in lanes.items() if k != 'tokens'})
        out.update(pos_embed=pos, det_query_pos=det['query_pos'], det_temp_pos=det['temp_pos'],
                   map_query_pos=lanes['query_pos'], map_temp_pos=lanes['temp_pos'])
        out['tokens'] = torch.cat([det['tokens'], lanes['tokens']], dim=1)
        return out
