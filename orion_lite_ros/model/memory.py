"""Temporal memories of the QT-Former heads (the official `pre_update_memory` /
`post_update_memory` of OrionHead and OrionHeadM), as pure functions on dicts of tensors.

A stored memory (what a frame leaves behind, `post_*`) is in the world frame: reference
points in metres of lidar2global, poses lidar2global(t_written), timestamps -t_written (s);
new rows come first. `pre_*` brings it into the current LiDAR frame at time t_now: it cuts it
to its length, ages it (timestamps become t_now - t_written), maps poses and points with
ego_pose_inv, and clears it (per batch item) when the gap since the last frame is
`reset_gap_s` or more or the caller asks (scene change). A memory that does not exist yet is
a cleared one. Pose, point and time maths is float64 (the official code keeps poses and points
in float32; the difference is ~1e-6 m at tens of metres and keeps large map coordinates exact).

Detection memory keys (B batch, M rows):
  embedding (B, M, C), reference_point (B, M, 3), timestamp (B, M, 1), egopose (B, M, 4, 4),
  velo (B, M, 2), canbus (B, L, 19) past [command, dx, dy, dz, can_bus[3:17], dyaw_deg],
  canbus_len (B,) int64, sample_time (B,), scene_query (B, S, C), scene_timestamp (B, S, 1).
Map memory keys: embedding, reference_point (B, M, P, 3), timestamp, egopose, mask (B, M, 1),
  sample_time.
"""
from dataclasses import dataclass
from typing import Dict, Optional

import torch

from orion_lite_ros.model.can_bus import current_can_bus
from orion_lite_ros.model.geometry import rigid_inverse

Memory = Dict[str, torch.Tensor]
F64 = torch.float64


@dataclass(frozen=True)
class DetMemorySpec:
    memory_len: int          # rows kept (600)
    topk: int                # rows written per frame (300)
    num_propagated: int      # leading rows that become queries (300)
    can_bus_len: int         # past CAN-bus frames (2)
    scene_len: int           # scene-memory rows kept (256)
    num_history: int         # history tokens written per frame (16)
    embed_dims: int
    reset_gap_s: float = 2.0


@dataclass(frozen=True)
class MapMemorySpec:
    memory_len: int          # 600
    topk: int                # 300
    n_control: int           # 11
    embed_dims: int
    reset_gap_s: float = 2.0


def _keep_mask(mem: Optional[Memory], now: torch.Tensor, gap_s: float,
               keep: Optional[torch.Tensor]) -> torch.Tensor:
    """(B,) float64 1 = keep the memory, 0 = clear it."""
    if mem is None:
        return torch.zeros_like(now)
    x = ((mem['sample_time'] + now).abs() < gap_s)
    if keep is not None:
        x = x & keep.to(x.device).bool()
    return x.to(F64)


def _refresh(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return t * x.view(-1, *([1] * (t.dim() - 1))).to(t.dtype)


def _transform_points(points: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """points (B, M, ..., 3), T (B, 4, 4) -> T applied to every point."""
    shape = (T.shape[0],) + (1,) * (points.dim() - 2) + (4, 4)
    homo = torch.cat([points, torch.ones_like(points[..., :1])], dim=-1)
    return (T.view(shape) @ homo.unsqueeze(-1)).squeeze(-1)[..., :3]


def empty_det_memory(spec: DetMemorySpec, batch: int, device, dtype) -> Memory:
    M, S, C = spec.memory_len, spec.scene_len, spec.embed_dims
    z = dict(device=device, dtype=F64)
    return {
        'embedding': torch.zeros(batch, M, C, device=device, dtype=dtype),
        'reference_point': torch.zeros(batch, M, 3, **z),
        'timestamp': torch.zeros(batch, M, 1, **z),
        'egopose': torch.zeros(batch, M, 4, 4, **z),
        'velo': torch.zeros(batch, M, 2, device=device, dtype=dtype),
        'canbus': torch.zeros(batch, spec.can_bus_len, 19, **z),
        'canbus_len': torch.zeros(batch, dtype=torch.int64, device=device),
        'sample_time': torch.zeros(batch, **z),
        'scene_query': torch.zeros(batch, S, C, device=device, dtype=dtype),
        'scene_timestamp': torch.zeros(batch, S, 1, **z),
    }


def pre_update_det(mem: Optional[Memory], spec: DetMemorySpec, ego_pose: torch.Tensor,
                   now: torch.Tensor, can_bus: torch.Tensor, pseudo_points: torch.Tensor,
                   keep: Optional[torch.Tensor] = None, dtype=torch.float32) -> Memory:
    """Stored detection memory -> memory in the current frame.

    ego_pose (B, 4, 4) lidar2global of now; now (B,) s; can_bus (B, 18) official;
    pseudo_points (P, 3) metres, the reference points of cleared propagated slots."""
    B, dev = ego_pose.shape[0], ego_pose.device
    x = _keep_mask(mem, now.to(F64), spec.reset_gap_s, keep)
    if mem is None:
        mem = empty_det_memory(spec, B, dev, dtype)
    inv = rigid_inverse(ego_pose.to(F64))
    M, S, L = spec.memory_len, spec.scene_len, spec.can_bus_len
    rows = torch.arange(mem['canbus'].shape[1], device=dev)
    past = (rows[None] < mem['canbus_len'][:, None]).to(F64)[..., None]   # (B, L+1, 1)
    delta = torch.zeros_like(mem['canbus'])
    delta[..., 1:4] = can_bus[:, None, 0:3].to(F64)
    delta[..., 18] = can_bus[:, None, 17].to(F64)
    out = {
        'embedding': _refresh(mem['embedding'][:, :M], x),
        'reference_point': _refresh(_transform_points(mem['reference_point'], inv)[:, :M], x),
        'timestamp': _refresh((mem['timestamp'] + now.view(-1, 1, 1))[:, :M], x),
        'egopose': _refresh((inv[:, None] @ mem['egopose'])[:, :M], x),
        'velo': _refresh(mem['velo'][:, :M], x),
        'canbus': _refresh((mem['canbus'] - past * delta)[:, :L], x),
        'canbus_len': (mem['canbus_len'] * x).to(torch.int64),
        'sample_time': torch.zeros(B, device=dev, dtype=F64),
        'scene_query': _refresh(mem['scene_query'][:, :S], x),
        'scene_timestamp': _refresh((mem['scene_timestamp'] + now.view(-1, 1, 1))[:, :S], x),
    }
    P = spec.num_propagated
    fresh = (1.0 - x).view(B, 1, 1)
    out['reference_point'][:, :P] += fresh * pseudo_points.to(F64)
    out['egopose'][:, :P] += fresh[..., None] * torch.eye(4, device=dev, dtype=F64)
    return out


def topk_rows(scores: torch.Tensor, k: int) -> torch.Tensor:
    """(B, A) -> (B, k) row indices of the k highest scores (torch.topk order)."""
    return torch.topk(scores[..., None], k, dim=1).indices[..., 0]


def _gather(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return t[torch.arange(t.shape[0], device=t.device)[:, None], idx]


def post_update_det(mem: Memory, spec: DetMemorySpec, ego_pose: torch.Tensor,
                    now: torch.Tensor, can_bus: torch.Tensor, command: torch.Tensor,
                    embedding: torch.Tensor, centres: torch.Tensor, velo: torch.Tensor,
                    scores: torch.Tensor, history: torch.Tensor) -> Memory:
    """Write this frame's top-k instances (embedding (B, A, C), centres (B, A, 3) metres
    LiDAR, velo (B, A, 2), scores (B, A) max class probability) and history tokens
    (B, H, C) into the memory of `pre_update_det`; the result is stored (world frame)."""
    B, dev = embedding.shape[0], embedding.device
    idx = topk_rows(scores, spec.topk)
    k = idx.shape[1]
    eye = torch.eye(4, device=dev, dtype=F64).expand(B, k, 4, 4)
    ego_pose = ego_pose.to(F64)
    canbus = torch.cat([current_can_bus(can_bus, command)[:, None], mem['canbus']], dim=1)
    length = mem['canbus_len'] + 1
    rows = torch.arange(canbus.shape[1], device=dev)
    past = (rows[None] < length[:, None]).to(F64)[..., None]
    delta = torch.zeros_like(canbus)
    delta[..., 1:4] = can_bus[:, None, 0:3].to(F64)
    delta[..., 18] = can_bus[:, None, 17].to(F64)
    ref = torch.cat([_gather(centres.detach().to(F64), idx), mem['reference_point']], dim=1)
    zeros_t = torch.zeros(B, k, 1, device=dev, dtype=F64)
    zeros_s = torch.zeros(B, history.shape[1], 1, device=dev, dtype=F64)
    return {
        'embedding': torch.cat([_gather(embedding.detach(), idx), mem['embedding']], dim=1),
        'reference_point': _transform_points(ref, ego_pose),
        'timestamp': torch.cat([zeros_t, mem['timestamp']], dim=1) - now.view(-1, 1, 1),
        'egopose': ego_pose[:, None] @ torch.cat([eye, mem['egopose']], dim=1),
        'velo': torch.cat([_gather(velo.detach(), idx), mem['velo']], dim=1),
        'canbus': canbus + past * delta,
        'canbus_len': length,
        'sample_time': mem['sample_time'] - now.to(F64),
        'scene_query': torch.cat([history.detach(), mem['scene_query']], dim=1),
        'scene_timestamp': torch.cat([zeros_s, mem['scene_timestamp']], dim=1)
        - now.view(-1, 1, 1),
    }


def empty_map_memory(spec: MapMemorySpec, batch: int, device, dtype) -> Memory:
    M = spec.memory_len
    z = dict(device=device, dtype=F64)
    return {
        'embedding': torch.zeros(batch, M, spec.embed_dims, device=device, dtype=dtype),
        'reference_point': torch.zeros(batch, M, spec.n_control, 3, **z),
        'timestamp': torch.zeros(batch, M, 1, **z),
        'egopose': torch.zeros(batch, M, 4, 4, **z),
        'mask': torch.zeros(batch, M, 1, device=device, dtype=dtype),
        'sample_time': torch.zeros(batch, **z),
    }


def pre_update_map(mem: Optional[Memory], spec: MapMemorySpec, ego_pose: torch.Tensor,
                   now: torch.Tensor, keep: Optional[torch.Tensor] = None,
                   dtype=torch.float32) -> Memory:
    """Stored map memory -> memory in the current frame (no pseudo points: cleared slots
    keep zero points and poses)."""
    B, dev = ego_pose.shape[0], ego_pose.device
    x = _keep_mask(mem, now.to(F64), spec.reset_gap_s, keep)
    if mem is None:
        mem = empty_map_memory(spec, B, dev, dtype)
    inv = rigid_inverse(ego_pose.to(F64))
    M = spec.memory_len
    return {
        'embedding': _refresh(mem['embedding'][:, :M], x),
        'reference_point': _refresh(_transform_points(mem['reference_point'], inv)[:, :M], x),
        'timestamp': _refresh((mem['timestamp'] + now.view(-1, 1, 1))[:, :M], x),
        'egopose': _refresh((inv[:, None] @ mem['egopose'])[:, :M], x),
        'mask': _refresh(mem['mask'][:, :M], x),
        'sample_time': torch.zeros(B, device=dev, dtype=F64),
    }


def post_update_map(mem: Memory, spec: MapMemorySpec, ego_pose: torch.Tensor,
                    now: torch.Tensor, embedding: torch.Tensor, points: torch.Tensor,
                    scores: torch.Tensor) -> Memory:
    """Write the top-k one-to-one lanes (embedding (B, A, C), points (B, A, P, 3) metres
    LiDAR, scores (B, A)) into the memory of `pre_update_map`."""
    B, dev = embedding.shape[0], embedding.device
    idx = topk_rows(scores, spec.topk)
    k = idx.shape[1]
    eye = torch.eye(4, device=dev, dtype=F64).expand(B, k, 4, 4)
    ego_pose = ego_pose.to(F64)
    ref = torch.cat([_gather(points.detach().to(F64), idx), mem['reference_point']], dim=1)
    return {
        'embedding': torch.cat([_gather(embedding.detach(), idx), mem['embedding']], dim=1),
        'reference_point': _transform_points(ref, ego_pose),
        'timestamp': torch.cat([torch.zeros(B, k, 1, device=dev, dtype=F64),
                                mem['timestamp']], dim=1) - now.view(-1, 1, 1),
        'egopose': ego_pose[:, None] @ torch.cat([eye, mem['egopose']], dim=1),
        'mask': torch.cat([torch.ones(B, k, 1, device=dev, dtype=mem['mask'].dtype),
                           mem['mask']], dim=1),
        'sample_time': mem['sample_time'] - now.to(F64),
    }


def detach_memory(mem: Optional[Memory]) -> Optional[Memory]:
    return None if mem is None else {k: v.detach() for k, v in mem.items()}
