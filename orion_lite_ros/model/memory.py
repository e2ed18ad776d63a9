"""Temporal instance memories of the QT-Former as plain tensors (no state-dict entries).

An instance memory is a dict:
  embedding (B, M, C), ref (B, M, P, 3) normalised to pc_range, age (B, M, 1) seconds since
  the entry was written,
  egopose (B, M, 4, 4) entry-ego -> current-ego, valid (B, M, 1) {0, 1}.
Most recent entries first; `push_topk` prepends the current frame's top-k, FIFO to M.
"""
from typing import Dict

import torch

Memory = Dict[str, torch.Tensor]


def empty_memory(batch: int, length: int, points: int, dim: int, device,
                 dtype) -> Memory:
    eye = torch.eye(4, device=device, dtype=dtype)
    return {
        'embedding': torch.zeros(batch, length, dim, device=device, dtype=dtype),
        'ref': torch.full((batch, length, points, 3), 0.5, device=device, dtype=dtype),
        'age': torch.zeros(batch, length, 1, device=device, dtype=dtype),
        'egopose': eye.expand(batch, length, 4, 4).clone(),
        'valid': torch.zeros(batch, length, 1, device=device, dtype=dtype),
    }


def denormalize(ref: torch.Tensor, pc_range: torch.Tensor) -> torch.Tensor:
    return ref * (pc_range[3:] - pc_range[:3]) + pc_range[:3]


def normalize(points: torch.Tensor, pc_range: torch.Tensor) -> torch.Tensor:
    return (points - pc_range[:3]) / (pc_range[3:] - pc_range[:3])


def compensate(mem: Memory, rel: torch.Tensor, dt_s: torch.Tensor,
               pc_range: torch.Tensor) -> Memory:
    """Move the memory into the current ego frame and age it; rel (B, 4, 4) previous ->
    current ego, dt_s (B,) seconds since the previous frame."""
    pts = denormalize(mem['ref'], pc_range)                          # (B, M, P, 3)
    pts = torch.einsum('bij,bmpj->bmpi', rel[:, :3, :3], pts) + rel[:, None, None, :3, 3]
    out = dict(mem)
    out['ref'] = normalize(pts, pc_range).clamp(0.0, 1.0)
    out['egopose'] = rel[:, None] @ mem['egopose']
    out['age'] = mem['age'] + dt_s[:, None, None].to(mem['age'].dtype)
    return out


def push_topk(mem: Memory, embedding: torch.Tensor, ref: torch.Tensor, scores: torch.Tensor,
              k: int) -> Memory:
    """Prepend the k best instances of this frame. embedding (B, A, C), ref (B, A, P, 3),
    scores (B, A)."""
    idx = scores.topk(k, dim=1).indices                              # (B, k)
    b = torch.arange(idx.shape[0], device=idx.device)[:, None]
    new = {
        'embedding': embedding[b, idx],
        'ref': ref[b, idx],
        'age': torch.zeros(idx.shape[0], k, 1, device=ref.device, dtype=ref.dtype),
        'egopose': torch.eye(4, device=ref.device, dtype=ref.dtype).expand(
            idx.shape[0], k, 4, 4),
        'valid': torch.ones(idx.shape[0], k, 1, device=ref.device, dtype=ref.dtype),
    }
    length = mem['embedding'].shape[1]
    return {key: torch.cat([new[key], mem[key]], dim=1)[:, :length] for key in mem}


def detach_memory(mem: Memory) -> Memory:
    return {k: v.detach() for k, v in mem.items()}
