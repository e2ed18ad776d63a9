"""QT-Former: detection head (scene queries + scene history memory, detection queries +
temporal instance memory), map head (lane queries + memory, map tokens) and the ego
(CAN-bus) token. Output: the planner's tokens, scene + ego + map, (B, N_tok, D_tok).

Module names follow the official fused checkpoint (`pts_bbox_head.*`, `map_head.*`,
top-level `query_pos`, `time_embedding`, `ego_pose_pe`, `position_encoder`); the PETR
decoders are the one place with our own layer names (see convert.py).
"""
from typing import Dict, Optional

import torch
from torch import nn

from orion_lite_ros.model import can_bus as cb
from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.layers import (
    MLN,
    CrossDecoder,
    PETRDecoder,
    branch,
    inverse_sigmoid,
    nerf_encoding,
    sine_embedding_1d,
)
from orion_lite_ros.model.memory import Memory, compensate, detach_memory, empty_memory, push_topk
from orion_lite_ros.model.position_encoding import lid_depths, position_features, ray_points


class DetectionHead(nn.Module):
    """`pts_bbox_head`: 3-D detection + motion, scene queries, traffic lights, ego token."""

    def __init__(self, cfg: OrionLiteConfig):
        super().__init__()
        q, c = cfg.qtformer, cfg.qtformer.embed_dims
        self.cfg = q
        self.input_projection = nn.Linear(cfg.encoder.embed_dim, c)
        self.output_projection = nn.Linear(c, cfg.token_dim)
        self.reference_points = nn.Embedding(q.num_det_queries, 3)
        self.pseudo_reference_points = nn.Embedding(q.num_propagated, 3)
        nn.init.uniform_(self.reference_points.weight, 0.0, 1.0)
        nn.init.uniform_(self.pseudo_reference_points.weight, 0.0, 1.0)
        self.query_embedding = nn.Embedding(q.num_scene_queries, c)     # scene queries
        self.can_bus_embed = nn.Sequential(nn.Linear(cb.EGO_HISTORY_DIM, q.can_bus_hidden),
                                           nn.ReLU(), nn.Linear(q.can_bus_hidden, cfg.token_dim))
        self.decoder = PETRDecoder(q.num_layers, c, q.num_heads, q.ffn_dim)
        self.motion_decoder = CrossDecoder(1, c, q.num_heads, q.memory_ffn_dim)
        self.motion_mode_query = nn.Embedding(q.motion_modes, c)
        self.memory_query = nn.Embedding(q.num_memory_queries, c)
        self.scene_time_embedding = nn.Sequential(nn.Linear(c, c), nn.LayerNorm(c))
        self.memory_decoder_cq = CrossDecoder(1, c, q.num_heads, q.memory_ffn_dim)
        self.memory_decoder_mq = CrossDecoder(1, c, q.num_heads, q.memory_ffn_dim)
        self.cls_branches = nn.ModuleList([branch(c, q.num_det_classes, c, True)])
        self.reg_branches = nn.ModuleList([branch(c, q.code_size, c, False)])
        self.traj_branches = nn.ModuleList(
            [branch(2 * c, q.motion_steps * 2, 2 * c, False)])
        self.traj_cls_branches = nn.ModuleList([branch(2 * c, 1, 2 * c, True)])
        self.tl_branches = nn.ModuleList([branch(c, q.num_tl_outputs, c, True)])

    def scene_queries(self, scene_mem: Memory) -> torch.Tensor:
        """Scene queries read the scene history through `num_memory_queries` memory queries:
        (B, S, C)."""
        B = scene_mem['embedding'].shape[0]
        time_pe = self.scene_time_embedding(
            sine_embedding_1d(scene_mem['age'], self.cfg.embed_dims))
        history = (scene_mem['embedding'] + time_pe) * scene_mem['valid']
        mem_q = self.memory_query.weight.expand(B, -1, -1)
        compressed = self.memory_decoder_mq(mem_q, history)               # (B, 16, C)
        scene = self.query_embedding.weight.expand(B, -1, -1)
        return self.memory_decoder_cq(scene, compressed)

    def predict(self, inst: torch.Tensor, ref: torch.Tensor) -> Dict[str, torch.Tensor]:
        """inst (B, A, C), ref (B, A, 3) -> class scores, boxes, motion."""
        cls = self.cls_branches[0](inst)                                 # (B, A, K)
        reg = self.reg_branches[0](inst)                                 # (B, A, 10)
        centers = (reg[..., :3] + inverse_sigmoid(ref)).sigmoid()
        B, A, C = inst.shape
        modes = inst[:, :, None] + self.motion_mode_query.weight         # (B, A, M, C)
        modes = self.motion_decoder(modes.flatten(1, 2), inst).view(B, A, -1, C)
        feat = torch.cat([modes, inst[:, :, None].expand_as(modes)], dim=-1)
        traj = self.traj_branches[0](feat).unflatten(-1, (self.cfg.motion_steps, 2))
        return {'det_scores': cls.sigmoid(), 'det_boxes': torch.cat([centers, reg[..., 3:]], -1),
                'det_ref': centers, 'det_traj': traj,
                'det_traj_scores': self.traj_cls_branches[0](feat)[..., 0]}


class MapHead(nn.Module):
    """`map_head`: lane queries (11 control points each) with a lane memory; map tokens."""

    def __init__(self, cfg: OrionLiteConfig):
        super().__init__()
        q, c = cfg.qtformer, cfg.qtformer.embed_dims
        self.cfg = q
        self.input_projection = nn.Linear(cfg.encoder.embed_dim, c)
        self.output_projection = nn.Linear(c, cfg.token_dim)
        self.instance_embedding_lane = nn.Embedding(q.num_lane_queries, c)
        self.points_embedding_lane = nn.Embedding(q.n_control, c)
        self.reference_points_lane = nn.Linear(c, 3)
        self.query_embedding = nn.Embedding(q.num_map_tokens, c)        # map tokens
        self.decoder = PETRDecoder(q.num_layers, c, q.num_heads, q.ffn_dim)
        self.cls_branches = nn.ModuleList([branch(c, q.num_map_classes, c, True)])
        self.reg_branches = nn.ModuleList([branch(c, q.n_control * 3, c, False)])

    def lane_reference(self) -> torch.Tensor:
        """(L, P, 3) initial control points in [0, 1]."""
        emb = self.instance_embedding_lane.weight[:, None] + self.points_embedding_lane.weight
        return self.reference_points_lane(emb).sigmoid()

    def predict(self, lanes: torch.Tensor, ref: torch.Tensor) -> Dict[str, torch.Tensor]:
        """lanes (B, L, C), ref (B, L, P, 3) -> lane scores and control points."""
        reg = self.reg_branches[0](lanes).unflatten(-1, (self.cfg.n_control, 3))
        points = (reg + inverse_sigmoid(ref)).sigmoid()
        return {'lane_scores': self.cls_branches[0](lanes).sigmoid(), 'lane_points': points}


class QTFormer(nn.Module):
    """Image features of all views -> planner tokens; holds the temporal memories."""

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
        self.memory: Optional[Dict] = None

    # ---- temporal state -------------------------------------------------------------
    def reset_memory(self) -> None:
        self.memory = None

    def get_memory(self) -> Optional[Dict]:
        return self.memory

    def set_memory(self, memory: Optional[Dict]) -> None:
        self.memory = memory

    def _init_memory(self, can_bus19: torch.Tensor, pose: torch.Tensor, dtype) -> Dict:
        q, B, dev = self.cfg, can_bus19.shape[0], can_bus19.device
        c = q.embed_dims
        return {
            'det': empty_memory(B, q.memory_len, 1, c, dev, dtype),
            'map': empty_memory(B, q.lane_memory_len, q.n_control, c, dev, dtype),
            'scene': empty_memory(B, q.scene_memory_len, 1, c, dev, dtype),
            'can_bus': can_bus19[:, None].expand(-1, cb.NUM_PAST_FRAMES, -1).clone(),
            'can_bus_pose': pose[:, None].expand(-1, cb.NUM_PAST_FRAMES, -1, -1).clone(),
            'ego_pose': pose.clone(),
            'time': torch.zeros(B, device=dev, dtype=torch.float64),
        }

    def _now(self, timestamp_s: Optional[torch.Tensor], mem: Dict, first: bool):
        """(B,) float64 time of this frame and (B,) seconds since the previous one."""
        if timestamp_s is not None:
            now = timestamp_s.to(mem['time'].device, torch.float64).reshape(-1)
        else:
            now = mem['time'] + (0.0 if first else self.cfg.frame_dt_s)
        dt = torch.zeros_like(now) if first else now - mem['time']
        return now, dt

    def _point_pos(self, ref: torch.Tensor) -> torch.Tensor:
        """ref (B, A, P, 3) in [0, 1] (P = 1 is tiled to n_control) -> (B, A, C)."""
        if ref.shape[2] == 1:
            ref = ref.expand(-1, -1, self.cfg.n_control, -1)
        return self.query_pos(nerf_encoding(ref.flatten(-2), self.cfg.nerf_freqs))

    def _memory_features(self, mem: Memory):
        """Embeddings modulated by ego motion and age (MLN), positions + time: (B, M, C) x2."""
        motion = torch.cat([mem['age'], mem['egopose'][..., :3, :].flatten(-2)], dim=-1)
        embed = self.ego_pose_pe(mem['embedding'], nerf_encoding(motion, self.cfg.nerf_freqs))
        time_pe = self.time_embedding(sine_embedding_1d(mem['age'], self.cfg.embed_dims))
        return embed * mem['valid'], self._point_pos(mem['ref']) + time_pe

    def _with_pseudo_refs(self, mem: Memory) -> Memory:
        """Empty propagated slots take the learned pseudo reference points."""
        P = self.cfg.num_propagated
        pseudo = self.pts_bbox_head.pseudo_reference_points.weight[None, :, None]
        ref = mem['ref'].clone()
        ref[:, :P] = torch.where(mem['valid'][:, :P, None].bool(), ref[:, :P], pseudo)
        return dict(mem, ref=ref)

    def _detect(self, feats, feats_pos, det_mem: Memory, scene_mem: Memory):
        """Detection + scene queries -> (scene tokens (B, S, D_tok), preds, new memories)."""
        head, q = self.pts_bbox_head, self.cfg
        B, P = feats.shape[0], q.num_propagated
        x = head.input_projection(feats)
        det_mem = self._with_pseudo_refs(det_mem)
        mem_embed, mem_pos = self._memory_features(det_mem)
        det_ref = head.reference_points.weight[None, :, None].expand(B, -1, -1, -1)
        ref = torch.cat([det_ref, det_mem['ref'][:, :P]], dim=1)            # (B, A, 1, 3)
        inst = torch.cat([torch.zeros_like(det_ref[..., 0, :1]).expand(-1, -1, x.shape[-1]),
                          mem_embed[:, :P]], dim=1)
        inst_pos = torch.cat([self._point_pos(det_ref), mem_pos[:, :P]], dim=1)
        scene = head.scene_queries(scene_mem)
        query = torch.cat([inst, scene], dim=1)
        query_pos = torch.cat([inst_pos, torch.zeros_like(scene)], dim=1)
        out = head.decoder(query, query_pos, mem_embed[:, P:], mem_pos[:, P:], x, feats_pos)
        A = inst.shape[1]
        preds = head.predict(out[:, :A], ref[:, :, 0])
        new_det = push_topk(det_mem, out[:, :A], preds['det_ref'][:, :, None],
                            preds['det_scores'].max(-1).values, P)
        new_scene = push_topk(scene_mem, out[:, A:], scene_mem['ref'][:, :1].expand(
            -1, scene.shape[1], -1, -1), torch.zeros_like(out[:, A:, 0]), scene.shape[1])
        preds['traffic_light'] = head.tl_branches[0](out[:, A:].mean(1))
        return head.output_projection(out[:, A:]), preds, new_det, new_scene

    def _map(self, feats, feats_pos, map_mem: Memory):
        """Lane queries + map tokens -> (map tokens (B, T, D_tok), preds, new memory)."""
        head, q = self.map_head, self.cfg
        B, P = feats.shape[0], q.num_lane_propagated
        x = head.input_projection(feats)
        mem_embed, mem_pos = self._memory_features(map_mem)
        lane_ref = head.lane_reference()[None].expand(B, -1, -1, -1)       # (B, L, P, 3)
        ref = torch.cat([lane_ref, map_mem['ref'][:, :P]], dim=1)
        lanes = torch.cat([head.instance_embedding_lane.weight[None].expand(B, -1, -1),
                           mem_embed[:, :P]], dim=1)
        lanes_pos = torch.cat([self._point_pos(lane_ref), mem_pos[:, :P]], dim=1)
        tokens = head.query_embedding.weight[None].expand(B, -1, -1)
        query = torch.cat([lanes, tokens], dim=1)
        query_pos = torch.cat([lanes_pos, torch.zeros_like(tokens)], dim=1)
        out = head.decoder(query, query_pos, mem_embed[:, P:], mem_pos[:, P:], x, feats_pos)
        A = lanes.shape[1]
        preds = head.predict(out[:, :A], ref)
        new_map = push_topk(map_mem, out[:, :A], preds['lane_points'],
                            preds['lane_scores'].max(-1).values, P)
        return head.output_projection(out[:, A:]), preds, new_map

    def _ego_token(self, can19, pose, mem: Dict, dtype) -> torch.Tensor:
        """CAN bus + command of this and the 2 previous frames + their poses -> (B, 1, D_tok)."""
        past_rel = cb.relative_pose(pose, mem['can_bus_pose']).float()
        feats = cb.ego_history_features(can19, mem['can_bus'], past_rel).to(dtype)
        return self.pts_bbox_head.can_bus_embed(feats)[:, None]

    def _feature_positions(self, intrinsics, cam_to_ego, grid, dtype) -> torch.Tensor:
        points = ray_points(intrinsics.float(), cam_to_ego.float(), grid, self.stride,
                            self.coords_d.float())
        feats = position_features(points, self.position_range.float())
        return self.position_encoder(feats.to(dtype))                      # (B, L, C)

    def forward(self, feats: torch.Tensor, intrinsics: torch.Tensor, cam_to_ego: torch.Tensor,
                can_bus: torch.Tensor, command: torch.Tensor,
                timestamp_s: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """feats (B, N_cam, gh, gw, C_enc); intrinsics (B, N_cam, 3, 3); cam_to_ego
        (B, N_cam, 4, 4); can_bus (B, 18); command (B,) -> tokens (B, N_tok, D_tok) + preds."""
        B, N, gh, gw, _ = feats.shape
        dtype = feats.dtype
        can19 = cb.with_command(can_bus.float(), command)
        pose = cb.pose_from_can_bus(can_bus.double())
        first = self.memory is None or self.memory['time'].shape[0] != B
        mem = self._init_memory(can19, pose, dtype) if first else self.memory
        now, dt = self._now(timestamp_s, mem, first)
        rel = cb.relative_pose(pose, mem['ego_pose']).to(dtype)
        det_mem = compensate(mem['det'], rel, dt, self.pc_range)
        map_mem = compensate(mem['map'], rel, dt, self.pc_range)
        scene_mem = compensate(mem['scene'], rel, dt, self.pc_range)
        flat = feats.flatten(1, 3)                                           # (B, L, C_enc)
        feats_pos = self._feature_positions(intrinsics, cam_to_ego, (gh, gw), dtype)
        scene_tok, preds, det_mem, scene_mem = self._detect(flat, feats_pos, det_mem, scene_mem)
        map_tok, map_preds, map_mem = self._map(flat, feats_pos, map_mem)
        ego_tok = self._ego_token(can19, pose, mem, dtype)
        self.memory = self._next_memory(mem, det_mem, map_mem, scene_mem, can19, pose, now)
        preds.update(map_preds)
        preds['tokens'] = torch.cat([scene_tok, ego_tok, map_tok], dim=1)
        return preds

    @staticmethod
    def _next_memory(mem, det_mem, map_mem, scene_mem, can19, pose, now) -> Dict:
        def keep(new, old):
            return torch.cat([new[:, None], old], dim=1)[:, : old.shape[1]]
        return {
            'det': detach_memory(det_mem),
            'map': detach_memory(map_mem),
            'scene': detach_memory(scene_mem),
            'can_bus': keep(can19, mem['can_bus']).detach(),
            'can_bus_pose': keep(pose, mem['can_bus_pose']),
            'ego_pose': pose,
            'time': now,
        }
