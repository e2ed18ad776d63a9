"""`map_head` (ORION's OrionHeadM): lane queries with 11 control points, a lane memory used
only as extra self-attention keys, and the map tokens.

Decoder query order: [0, T) map tokens (content `query_embedding`, position 0), [T, T + O2O)
one-to-one lanes, [T + O2O, T + N) one-to-many lanes. Self-attention keys: those queries, then
all M memory lanes. Masks (True = blocked): the group {map tokens, one-to-one} and the
one-to-many group do not see each other; with the mask, lanes do not see the map tokens.
"""
from typing import Dict

import torch
from torch import nn

from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.det_head import (
    PRIOR_BIAS,
    SharedEncoders,
    denormalise,
    normalise,
    temporal_positions,
    time_pe,
)
from orion_lite_ros.model.encodings import inverse_sigmoid, nerf_positional_encoding
from orion_lite_ros.model.layers import branch
from orion_lite_ros.model.memory import Memory
from orion_lite_ros.model.transformer import PETRTemporalDecoder


class MapHead(nn.Module):
    def __init__(self, cfg: OrionLiteConfig):
        super().__init__()
        q, c = cfg.qtformer, cfg.qtformer.embed_dims
        self.cfg = q
        self.input_projection = nn.Linear(cfg.encoder.embed_dim, c)
        self.output_projection = nn.Linear(c, cfg.token_dim)
        self.instance_embedding_lane = nn.Embedding(q.num_lane_queries, c)
        self.points_embedding_lane = nn.Embedding(q.n_control, c)
        self.reference_points_lane = nn.Linear(c, 3)
        self.query_embedding = nn.Embedding(q.num_map_tokens, c)
        self.decoder = PETRTemporalDecoder(q.num_layers, c, q.num_heads, q.ffn_dim)
        self.cls_branches = nn.ModuleList([branch(c, q.num_map_classes, c, True)])
        self.reg_branches = nn.ModuleList([branch(c, q.n_control * 3, c, False)])
        nn.init.constant_(self.cls_branches[0][-1].bias, PRIOR_BIAS)

    def lane_reference(self) -> torch.Tensor:
        """(N, P * 3) initial control points in [0, 1], point-major."""
        emb = self.instance_embedding_lane.weight[:, None] + self.points_embedding_lane.weight
        return self.reference_points_lane(emb).sigmoid().flatten(-2)

    def attn_mask(self, device) -> torch.Tensor:
        q = self.cfg
        T, O2O, N = q.num_map_tokens, q.num_lanes_one2one, q.num_lane_queries
        mask = torch.zeros(T + N, T + N + q.lane_memory_len, dtype=torch.bool, device=device)
        mask[T + O2O:, :T + O2O] = True
        mask[:T + O2O, T + O2O:T + N] = True
        if q.with_mask:
            mask[T:, :T] = True
        return mask

    def predict(self, lanes: torch.Tensor, reference: torch.Tensor,
                pc_range: torch.Tensor) -> Dict[str, torch.Tensor]:
        """lanes (B, N, C), reference (B, N, P * 3) -> lane_cls (B, N, K) logits,
        lane_preds (B, N, P * 3) metres (LiDAR), point-major."""
        B, N, _ = lanes.shape
        reg = self.reg_branches[0](lanes) + inverse_sigmoid(reference)
        points = denormalise(reg.sigmoid().view(B, N, self.cfg.n_control, 3), pc_range)
        return {'lane_cls': self.cls_branches[0](lanes), 'lane_preds': points.flatten(-2)}

    def forward(self, feats: torch.Tensor, pos_embed: torch.Tensor, mem: Memory,
                shared: SharedEncoders) -> Dict[str, torch.Tensor]:
        """-> map tokens (B, T, D_tok), one-to-one lane outputs and the memory inputs."""
        q, dtype = self.cfg, feats.dtype
        B, T, O2O = feats.shape[0], q.num_map_tokens, q.num_lanes_one2one
        x = self.input_projection(feats)
        reference = self.lane_reference().to(dtype)[None].expand(B, -1, -1)     # (B, N, 33)
        lane_pos = shared.query_pos(nerf_positional_encoding(reference, shared.nerf_freqs))
        lane_pos = lane_pos + time_pe(shared, torch.zeros_like(reference[..., :1]), dtype)
        temp_ref = normalise(mem['reference_point'], shared.pc_range).flatten(-2)
        temp_pos = temporal_positions(shared, temp_ref, mem, dtype)
        tokens = self.query_embedding.weight.to(dtype)[None].expand(B, -1, -1)
        tgt = torch.cat([tokens, self.instance_embedding_lane.weight.to(dtype)[None].expand(
            B, -1, -1)], dim=1)
        query_pos = torch.cat([torch.zeros_like(tokens), lane_pos], dim=1)
        out = self.decoder(tgt, x, query_pos, pos_embed, self.attn_mask(x.device),
                           mem['embedding'].to(dtype), temp_pos)
        lanes = torch.nan_to_num(out[:, T:])
        preds = self.predict(lanes, reference, shared.pc_range)
        return {'tokens': self.output_projection(out[:, :T]),
                'lane_cls_one2one': preds['lane_cls'][:, :O2O],
                'lane_preds_one2one': preds['lane_preds'][:, :O2O],
                'lane_cls_one2many': preds['lane_cls'][:, O2O:],
                'lane_preds_one2many': preds['lane_preds'][:, O2O:],
                'lanes_one2one': lanes[:, :O2O], 'query_pos': query_pos, 'temp_pos': temp_pos}
