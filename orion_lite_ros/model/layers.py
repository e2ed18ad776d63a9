"""Small building blocks shared by the QT-Former heads (PETR / StreamPETR style)."""
import math
from typing import Optional

import torch
from torch import nn


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return torch.log(x.clamp(min=eps) / (1.0 - x).clamp(min=eps))


def nerf_encoding(x: torch.Tensor, num_freqs: int) -> torch.Tensor:
    """(..., D) in [0, 1] -> (..., D * 2 * num_freqs): sin/cos of 2^k * pi * x, per input."""
    freqs = (2.0 ** torch.arange(num_freqs, device=x.device, dtype=x.dtype)) * math.pi
    angles = x[..., None] * freqs                                  # (..., D, F)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)


def sine_embedding_1d(t: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """(..., 1) scalar (seconds) -> (..., dim) sinusoidal embedding."""
    half = dim // 2
    scale = temperature ** (2 * torch.arange(half, device=t.device, dtype=t.dtype) / dim)
    angles = t * 2 * math.pi / scale
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def branch(in_dim: int, out_dim: int, hidden: int, with_norm: bool) -> nn.Sequential:
    """Prediction branch: 2 hidden layers (with LayerNorm as ORION's cls branches)."""
    layers = []
    for i in range(2):
        layers.append(nn.Linear(in_dim if i == 0 else hidden, hidden))
        if with_norm:
            layers.append(nn.LayerNorm(hidden))
        layers.append(nn.ReLU())
    layers.append(nn.Linear(hidden, out_dim))
    return nn.Sequential(*layers)


class MLN(nn.Module):
    """Motion-aware layer norm (StreamPETR): LN(x) * gamma(c) + beta(c), c = reduce(cond)."""

    def __init__(self, cond_dim: int, dim: int):
        super().__init__()
        self.reduce = nn.Sequential(nn.Linear(cond_dim, dim), nn.ReLU())
        self.gamma = nn.Linear(dim, dim)
        self.beta = nn.Linear(dim, dim)
        self.ln = nn.LayerNorm(dim, elementwise_affine=False)
        nn.init.zeros_(self.gamma.weight)
        nn.init.ones_(self.gamma.bias)
        nn.init.zeros_(self.beta.weight)
        nn.init.zeros_(self.beta.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = self.reduce(cond)
        return self.ln(x) * self.gamma(c) + self.beta(c)


def _ffn(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    # indices 0 and 3 carry weights, as the official FFN's `_layers.0/_layers.3`
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, dim), nn.Dropout(dropout))


class PETRDecoderLayer(nn.Module):
    """Post-norm: self-attn (queries + temporal memory) -> norm -> cross-attn to image
    features -> norm -> FFN -> norm."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = _ffn(dim, ffn_dim, dropout)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, query, query_pos, memory, memory_pos, feats, feats_pos):
        q = query + query_pos
        keys = torch.cat([q, memory + memory_pos], dim=1)
        values = torch.cat([query, memory], dim=1)
        query = self.norm1(query + self.self_attn(q, keys, values, need_weights=False)[0])
        attn = self.cross_attn(query + query_pos, feats + feats_pos, feats, need_weights=False)
        query = self.norm2(query + attn[0])
        return self.norm3(query + self.ffn(query))


class PETRDecoder(nn.Module):
    def __init__(self, num_layers: int, dim: int, heads: int, ffn_dim: int):
        super().__init__()
        self.layers = nn.ModuleList(
            PETRDecoderLayer(dim, heads, ffn_dim) for _ in range(num_layers))

    def forward(self, query, query_pos, memory, memory_pos, feats, feats_pos):
        """query (B, Q, C); memory (B, M, C) temporal keys; feats (B, L, C) image tokens."""
        for layer in self.layers:
            query = layer(query, query_pos, memory, memory_pos, feats, feats_pos)
        return query


class CrossDecoderLayer(nn.Module):
    """Attention without biases (as the official motion / memory decoders) -> norm -> FFN ->
    norm."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float = 0.1):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, bias=False,
                                          batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = _ffn(dim, ffn_dim, dropout)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, query, key, value, key_padding_mask: Optional[torch.Tensor] = None):
        out = self.attn(query, key, value, key_padding_mask=key_padding_mask,
                        need_weights=False)[0]
        query = self.norm1(query + out)
        return self.norm2(query + self.ffn(query))


class CrossDecoder(nn.Module):
    def __init__(self, num_layers: int, dim: int, heads: int, ffn_dim: int):
        super().__init__()
        self.layers = nn.ModuleList(
            CrossDecoderLayer(dim, heads, ffn_dim) for _ in range(num_layers))

    def forward(self, query, key, value=None):
        value = key if value is None else value
        for layer in self.layers:
            query = layer(query, key, value)
        return query

