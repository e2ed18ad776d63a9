"""`pts_bbox_head` (ORION's OrionHead, Orion-Lite configuration: memory on, with_mask):
scene queries, detection queries with a propagated instance memory, history tokens from a
scene memory, motion and traffic-light branches, the ego (CAN-bus) token.

Decoder query order (A = Q + P):
  [0, S)        scene queries: content `query_embedding`, position 0
  [S, S+Q)      learned detection queries: content 0, reference `reference_points`
  [S+Q, S+A)    propagated queries: the memory's first P rows
Self-attention keys: those S + A queries, then memory rows P..M-1 as temporal keys. With the
mask, detection and propagated queries do not see the scene queries.
Tokens for the student: [scene (S), history (H), ego (1)] x token_dim.
"""
import math
from typing import Dict, NamedTuple

import torch
from torch import nn

from orion_lite_ros.model import can_bus as cb
from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.encodings import inverse_sigmoid, nerf_positional_encoding, pos2posemb1d
from orion_lite_ros.model.layers import MLN, branch
from orion_lite_ros.model.memory import Memory
from orion_lite_ros.model.transformer import MemoryDecoder, PETRTemporalDecoder

# Classification biases start at a 1 % prior (as ORION's heads initialise them): the sigmoid
# focal losses then start small instead of being dominated by 0.5 probabilities everywhere.
PRIOR_BIAS = -math.log((1 - 0.01) / 0.01)


class SharedEncoders(NamedTuple):
    """Top-level modules both heads use (`query_pos`, `time_embedding`, `ego_pose_pe`)."""

    query_pos: nn.Module
    time_embedding: nn.Module
    ego_pose_pe: MLN
    pc_range: torch.Tensor           # (6,) metres, LiDAR frame
    nerf_freqs: int


def temporal_positions(shared: SharedEncoders, ref_norm: torch.Tensor, mem: Memory,
                       dtype) -> torch.Tensor:
    """Positions of memory rows: query_pos(nerf(reference)) modulated by the ego motion of
    the row (MLN of nerf([dt, pose[:3, :]])) plus time_embedding(pos2posemb1d(dt)).
    ref_norm (B, M, 33) normalised reference -> (B, M, C)."""
    pos = shared.query_pos(nerf_positional_encoding(ref_norm.to(dtype), shared.nerf_freqs))
    motion = torch.cat([mem['timestamp'], mem['egopose'][..., :3, :].flatten(-2)], dim=-1)
    motion = nerf_positional_encoding(motion.float(), shared.nerf_freqs).to(dtype)
    pos = shared.ego_pose_pe(pos, motion)
    return pos + time_pe(shared, mem['timestamp'], dtype)


def time_pe(shared: SharedEncoders, t: torch.Tensor, dtype) -> torch.Tensor:
    """(..., 1) seconds -> (..., C) `time_embedding(pos2posemb1d(t))`."""
    C = shared.time_embedding[0].in_features
    return shared.time_embedding(pos2posemb1d(t, C).to(dtype))


def normalise(points: torch.Tensor, pc_range: torch.Tensor) -> torch.Tensor:
    """Metres -> [0, 1] over pc_range (not clamped)."""
    lo, hi = pc_range[:3].to(points.dtype), pc_range[3:].to(points.dtype)
    return (points - lo) / (hi - lo)


def denormalise(points: torch.Tensor, pc_range: torch.Tensor) -> torch.Tensor:
    lo, hi = pc_range[:3].to(points.dtype), pc_range[3:].to(points.dtype)
    return points * (hi - lo) + lo


class DetectionHead(nn.Module):
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
        self.pseudo_reference_points.weight.requires_grad_(False)
        self.query_embedding = nn.Embedding(q.num_scene_queries, c)
        self.can_bus_embed = nn.Sequential(nn.Linear(q.ego_token_dim, q.can_bus_hidden),
                                           nn.ReLU(), nn.Linear(q.can_bus_hidden, cfg.token_dim))
        self.decoder = PETRTemporalDecoder(q.num_layers, c, q.num_heads, q.ffn_dim)
        self.motion_decoder = MemoryDecoder(1, c, q.num_heads, q.memory_ffn_dim)
        self.motion_mode_query = nn.Embedding(q.motion_modes, c)
        if q.use_memory:
            self.memory_query = nn.Embedding(q.num_memory_queries, c)
            self.scene_time_embedding = nn.Sequential(nn.Linear(c, c), nn.LayerNorm(c))
            self.memory_decoder_cq = MemoryDecoder(1, c, q.num_heads, q.memory_ffn_dim)
            self.memory_decoder_mq = MemoryDecoder(1, c, q.num_heads, q.memory_ffn_dim)
        self.cls_branches = nn.ModuleList([branch(c, q.num_det_classes, c, True)])
        self.reg_branches = nn.ModuleList([branch(c, q.code_size, c, False)])
        self.traj_branches = nn.ModuleList([branch(2 * c, q.motion_steps * 2, 2 * c, False)])
        self.traj_cls_branches = nn.ModuleList([branch(2 * c, 1, 2 * c, True)])
        self.tl_branches = nn.ModuleList([branch(c, q.num_tl_outputs, c, True)])
        for b in (self.cls_branches[0], self.tl_branches[0], self.traj_cls_branches[0]):
            nn.init.constant_(b[-1].bias, PRIOR_BIAS)

    def pseudo_points(self, pc_range: torch.Tensor) -> torch.Tensor:
        """(P, 3) metres: reference points of cleared propagated memory slots."""
        return denormalise(self.pseudo_reference_points.weight, pc_range)

    def attn_mask(self, device) -> torch.Tensor:
        """(S + A, S + A + M - P) bool, True = blocked: instances do not see scene queries."""
        q = self.cfg
        rows = q.num_scene_queries + q.num_det_queries + q.num_propagated
        cols = q.num_scene_queries + q.num_det_queries + q.memory_len
        mask = torch.zeros(rows, cols, dtype=torch.bool, device=device)
        if q.with_mask:
            mask[q.num_scene_queries:, :q.num_scene_queries] = True
        return mask

    def decoder_inputs(self, mem: Memory, shared: SharedEncoders, batch: int, dtype):
        """-> tgt, query_pos (B, S + A, C), reference (B, A, 3) normalised, temporal keys
        and their positions (B, M - P, C)."""
        q = self.cfg
        S, P = q.num_scene_queries, q.num_propagated
        learned = self.reference_points.weight.to(dtype)
        ref = torch.cat([torch.zeros_like(learned[:1]).expand(S, 3), learned])
        ref = ref[None].expand(batch, -1, -1)                                # (B, S+Q, 3)
        query_pos = shared.query_pos(nerf_positional_encoding(
            ref.repeat(1, 1, q.n_control), shared.nerf_freqs))
        query_pos = query_pos + time_pe(shared, torch.zeros_like(ref[..., :1]), dtype)
        temp_ref = normalise(mem['reference_point'], shared.pc_range)           # (B, M, 3)
        temp_pos = temporal_positions(shared, temp_ref.repeat(1, 1, q.n_control), mem, dtype)
        tgt = torch.cat([self.query_embedding.weight.to(dtype)[None].expand(batch, -1, -1),
                         torch.zeros(batch, q.num_det_queries, q.embed_dims, dtype=dtype,
                                     device=ref.device),
                         mem['embedding'][:, :P].to(dtype)], dim=1)
        query_pos = torch.cat([torch.zeros_like(query_pos[:, :S]), query_pos[:, S:],
                               temp_pos[:, :P]], dim=1)
        reference = torch.cat([ref[:, S:], temp_ref[:, :P].to(dtype)], dim=1)
        return tgt, query_pos, reference, mem['embedding'][:, P:].to(dtype), temp_pos[:, P:]

    def read_scene_memory(self, mem: Memory, dtype) -> torch.Tensor:
        """Memory queries attend to the scene memory (time PE on the keys only) -> (B, H, C)."""
        B = mem['scene_query'].shape[0]
        key_pos = self.scene_time_embedding(
            pos2posemb1d(mem['scene_timestamp'], self.cfg.embed_dims).to(dtype))
        query = self.memory_query.weight.to(dtype)[None].expand(B, -1, -1)
        return self.memory_decoder_mq(query, mem['scene_query'].to(dtype),
                                      torch.zeros_like(query), key_pos)

    def predict(self, inst: torch.Tensor, reference: torch.Tensor,
                pc_range: torch.Tensor) -> Dict[str, torch.Tensor]:
        """inst (B, A, C), reference (B, A, 3) normalised -> the official outputs:
        cls_scores (B, A, K) logits, bbox_preds (B, A, 10) with 0:3 in metres (LiDAR),
        traffic_states (B, A, 4) logits, traj_preds (B, A, M, 2T), traj_cls_scores (B, A, M)."""
        reg = self.reg_branches[0](inst)
        centres = (reg[..., :3] + inverse_sigmoid(reference)).sigmoid()
        boxes = torch.cat([denormalise(centres, pc_range), reg[..., 3:]], dim=-1)
        B, A, C = inst.shape
        modes = (inst[:, :, None] + self.motion_mode_query.weight.to(inst.dtype)).flatten(1, 2)
        motion = self.motion_decoder(modes, modes).unflatten(1, (A, self.cfg.motion_modes))
        motion = torch.cat([motion, motion], dim=-1)                           # (B, A, M, 2C)
        return {'cls_scores': self.cls_branches[0](inst), 'bbox_preds': boxes,
                'traffic_states': self.tl_branches[0](inst),
                'traj_preds': self.traj_branches[0](motion),
                'traj_cls_scores': self.traj_cls_branches[0](motion)[..., 0]}

    def forward(self, feats: torch.Tensor, pos_embed: torch.Tensor, mem: Memory,
                shared: SharedEncoders, can_bus: torch.Tensor, command: torch.Tensor
                ) -> Dict[str, torch.Tensor]:
        """feats (B, L, C_enc) image tokens, pos_embed (B, L, C), mem: `pre_update_det`'s
        memory -> tokens (B, S + H + 1, D_tok), the official outputs and what the memory
        update needs ('inst', 'history')."""
        q, dtype = self.cfg, feats.dtype
        B, S = feats.shape[0], q.num_scene_queries
        x = self.input_projection(feats)
        tgt, query_pos, reference, temp_memory, temp_pos = self.decoder_inputs(
            mem, shared, B, dtype)
        history = self.read_scene_memory(mem, dtype) if q.use_memory else None
        out = self.decoder(tgt, x, query_pos, pos_embed, self.attn_mask(x.device),
                           temp_memory, temp_pos)
        out = torch.nan_to_num(out)
        scene, inst = out[:, :S], out[:, S:]
        preds = self.predict(inst, reference, shared.pc_range)
        parts = [scene]
        if q.use_memory:
            history = self.memory_decoder_cq(history, scene)
            parts.append(history)
        tokens = self.output_projection(torch.cat(parts, dim=1))
        ego_in = cb.ego_token_input(can_bus, command, mem['canbus'], mem['egopose'], q.det_topk)
        ego = self.can_bus_embed(ego_in.to(dtype))[:, None]
        preds.update(tokens=torch.cat([tokens, ego], dim=1), inst=inst, scene=scene,
                     history=history, query_pos=query_pos, temp_pos=temp_pos)
        return preds
