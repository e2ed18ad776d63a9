"""The QT-Former's decoders (ORION's `petr_transformers.py`).

Every attention here follows one rule: query = x + query_pos, key = k + key_pos,
value = k (no position), output added to the query *without* its position.

- `PETRTemporalDecoder` (both heads, 6 layers): self-attention over [queries, temporal memory]
  with an optional boolean mask (True = blocked; standard multi-head attention with biases),
  LayerNorm, cross-attention to the image tokens (no mask), LayerNorm, FFN (+ residual),
  LayerNorm. Layer names are ours (`self_attn, norm1, cross_attn, norm2, ffn, norm3`);
  convert.py maps the official `transformer_layers.{0..5}` onto them.
- `MemoryDecoder` (motion decoder, scene-memory decoders; the official
  `OrionTransformerDecoder`): attention *without* in/out biases, LayerNorm, FFN, LayerNorm.
"""
from typing import Optional

import torch
from torch import nn


class FFN(nn.Module):
    """Linear, ReLU, Dropout, Linear, Dropout, + residual (`_layers.0` / `_layers.3`)."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self._layers = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                     nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._layers(x) + x


class PosAttention(nn.Module):
    """Multi-head attention with the positions added to query and key only."""

    def __init__(self, dim: int, heads: int, dropout: float, bias: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, bias=bias,
                                          batch_first=True)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, query, key, query_pos=None, key_pos=None,
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        q = query if query_pos is None else query + query_pos
        k = key if key_pos is None else key + key_pos
        out = self.attn(q, k, key, attn_mask=attn_mask, need_weights=False)[0]
        return self.proj_drop(out) + query


class PETRDecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = PosAttention(dim, heads, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn = PosAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FFN(dim, ffn_dim, dropout)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, query, feats, query_pos, feats_pos, attn_mask, temp_memory, temp_pos):
        if temp_memory is not None:
            keys = torch.cat([query, temp_memory], dim=1)
            keys_pos = torch.cat([query_pos, temp_pos], dim=1)
        else:
            keys, keys_pos = query, query_pos
        query = self.norm1(self.self_attn(query, keys, query_pos, keys_pos, attn_mask))
        query = self.norm2(self.cross_attn(query, feats, query_pos, feats_pos))
        return self.norm3(self.ffn(query))


class PETRTemporalDecoder(nn.Module):
    def __init__(self, num_layers: int, dim: int, heads: int, ffn_dim: int,
                 dropout: float = 0.1):
        super().__init__()
        self.layers = nn.ModuleList(
            PETRDecoderLayer(dim, heads, ffn_dim, dropout) for _ in range(num_layers))

    def forward(self, query, feats, query_pos, feats_pos, attn_mask=None, temp_memory=None,
                temp_pos=None) -> torch.Tensor:
        """query (B, Q, C); feats (B, L, C) image tokens; temp_memory (B, M, C) extra
        self-attention keys; attn_mask (Q, Q + M) bool, True = blocked. -> last layer (B, Q, C)."""
        for layer in self.layers:
            query = layer(query, feats, query_pos, feats_pos, attn_mask, temp_memory, temp_pos)
        return query


class MemoryDecoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float = 0.0):
        super().__init__()
        self.attn = PosAttention(dim, heads, dropout, bias=False)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = FFN(dim, ffn_dim, dropout)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, query, key, query_pos=None, key_pos=None) -> torch.Tensor:
        query = self.norm1(self.attn(query, key, query_pos, key_pos))
        return self.norm2(self.ffn(query))


class MemoryDecoder(nn.Module):
    def __init__(self, num_layers: int, dim: int, heads: int, ffn_dim: int,
                 dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            MemoryDecoderLayer(dim, heads, ffn_dim, dropout) for _ in range(num_layers))

    def forward(self, query, key, query_pos=None, key_pos=None) -> torch.Tensor:
        for layer in self.layers:
            query = layer(query, key, query_pos, key_pos)
        return query
