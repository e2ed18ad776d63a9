"""The official encodings of the QT-Former heads (ORION's `positional_encoding.py` and
`transformer.py` helpers), as functions of tensors.

- `nerf_positional_encoding`: frequencies 2^0 .. 2^(F-1), no pi; output blocks
  [sin(f0 x), cos(f0 x), sin(f1 x), ...], each block over the whole input vector.
- `pos2posemb1d`: 1-D sine embedding of a time in seconds; sin and cos interleaved, one
  frequency per pair; evaluated in the input's precision (float64 for the memories'
  timestamps) and returned in that precision (callers cast).
- `inverse_sigmoid`: clamp to [0, 1], then log(max(x, eps) / max(1 - x, eps)).
"""
import math

import torch


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    x = x.clamp(min=0.0, max=1.0)
    return torch.log(x.clamp(min=eps) / (1.0 - x).clamp(min=eps))


def nerf_positional_encoding(x: torch.Tensor, num_freqs: int = 6) -> torch.Tensor:
    """(..., D) -> (..., D * 2 * num_freqs), layout (frequency, sin|cos, dimension)."""
    freqs = 2.0 ** torch.linspace(0.0, num_freqs - 1, num_freqs, dtype=x.dtype,
                                  device=x.device)
    parts = []
    for f in freqs:
        scaled = x * f
        parts += [torch.sin(scaled), torch.cos(scaled)]
    return torch.cat(parts, dim=-1)


def pos2posemb1d(t: torch.Tensor, num_feats: int = 256,
                 temperature: float = 10000.0) -> torch.Tensor:
    """(..., 1) seconds -> (..., num_feats): [2m] = sin(a_2m), [2m+1] = cos(a_2m+1),
    a_k = 2 pi t / temperature^(2 floor(k/2) / num_feats). The divisor is float32 (as
    officially); the product takes t's precision."""
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=t.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / num_feats)
    angles = (t * (2 * math.pi))[..., 0, None] / dim_t
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)
