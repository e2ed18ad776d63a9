"""Reader (and a synthetic writer) for the official Orion-Lite per-frame distillation `.npz`.

Layout (one file per frame, `data_<scene_token>_<frame_idx>.npz`, every array float16, leading
batch axis of 1; shapes as written by the official data collection):

| key | shape | meaning |
|---|---|---|
| visual_queries | (1, 513, 4096) | tokens handed to the planner: 256 scene + 1 ego + 256 map |
| planning_token | (1, 1, 4096) | teacher LLM hidden state at `<waypoint_ego>` (after final norm) |
| ego_fut_trajs | (1, 1, 6, 2) | ground-truth future, per-step offsets, 0.5 s apart |
| ego_fut_masks | (1, 1, 6) | 1 where the ground-truth step exists |
| ego_fut_cmd | (1, 1, 1, 6) | command one-hot (ORION's 6 commands; all zero = none) |
| lane_scores | (1, L, 6) | map-head class outputs of the L one-to-one lane queries |
| lane_preds | (1, L, 11, 2) | lane polylines, metres, clamped to the point-cloud range |
| agent_preds | (1, A, 2) | detected agents' positions |
| agent_fut_preds | (1, A, 6, 6, 2) | agents' futures: modes x steps, per-step offsets |
| agent_score_preds | (1, A, 9) | detection class scores (sigmoid) |
| agent_fut_cls_preds | (1, A, 6) | future-mode scores (sigmoid) |

Leading singleton axes are tolerated (the reader reshapes by the trailing sizes). xy data are in
the frame named by `frame`: 'right_forward' (x right, y forward: the VAD/ORION Bench2Drive ego
frame, the default) or 'rep103' (x forward, y left); the reader converts them to REP-103.
"""
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from orion_lite_ros.layout import NUM_COMMANDS, NUM_WAYPOINTS, Command

FRAMES = ('right_forward', 'rep103')
REQUIRED_KEYS = ('visual_queries', 'ego_fut_trajs', 'ego_fut_masks', 'ego_fut_cmd')
LANE_KEYS = ('lane_scores', 'lane_preds')
AGENT_KEYS = ('agent_preds', 'agent_fut_preds', 'agent_score_preds', 'agent_fut_cls_preds')


def to_rep103(xy: np.ndarray, frame: str) -> np.ndarray:
    """(…, 2) xy in `frame` -> REP-103 (x forward, y left)."""
    if frame == 'rep103':
        return xy
    if frame == 'right_forward':
        return np.stack([xy[..., 1], -xy[..., 0]], axis=-1)
    raise ValueError(f'unknown frame {frame!r}; expected one of {FRAMES}')


def from_rep103(xy: np.ndarray, frame: str) -> np.ndarray:
    """Inverse of `to_rep103`."""
    if frame == 'rep103':
        return xy
    if frame == 'right_forward':
        return np.stack([-xy[..., 1], xy[..., 0]], axis=-1)
    raise ValueError(f'unknown frame {frame!r}; expected one of {FRAMES}')


def command_from_onehot(onehot: np.ndarray) -> int:
    """Command index of a one-hot; an all-zero vector ("void") is LANE_FOLLOW."""
    if onehot.sum() <= 0:
        return int(Command.LANE_FOLLOW)
    return int(np.argmax(onehot))


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def parse_official(data, frame: str = 'right_forward') -> Dict[str, np.ndarray]:
    """One official frame (mapping of arrays) -> the training sample dict (numpy, REP-103)."""
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise KeyError(f'official distillation frame lacks {missing}')
    vq = _f32(data['visual_queries'])
    offsets = to_rep103(_f32(data['ego_fut_trajs']).reshape(-1, NUM_WAYPOINTS, 2)[-1], frame)
    onehot = _f32(data['ego_fut_cmd']).reshape(-1)
    if onehot.size != NUM_COMMANDS:
        raise ValueError(f'ego_fut_cmd has {onehot.size} values, expected {NUM_COMMANDS}')
    sample = {
        'tokens': vq.reshape(vq.shape[-2], vq.shape[-1]),
        'gt_future': np.cumsum(offsets, axis=0),
        'gt_mask': _f32(data['ego_fut_masks']).reshape(-1)[-NUM_WAYPOINTS:],
        'command': np.int64(command_from_onehot(onehot)),
        'command_onehot': onehot,
    }
    if 'planning_token' in data:
        sample['teacher_token'] = _f32(data['planning_token']).reshape(-1)
    if all(k in data for k in LANE_KEYS):
        scores = _f32(data['lane_scores'])
        lanes = _f32(data['lane_preds'])
        sample['lane_scores'] = scores.reshape(scores.shape[-2:])
        sample['lane_points'] = to_rep103(lanes.reshape(lanes.shape[-3:]), frame)
    if all(k in data for k in AGENT_KEYS):
        sample.update(_parse_agents(data, frame))
    return sample


def _parse_agents(data, frame: str) -> Dict[str, np.ndarray]:
    fut = _f32(data['agent_fut_preds'])
    score = _f32(data['agent_score_preds'])
    mode = _f32(data['agent_fut_cls_preds'])
    return {
        'agent_xy': to_rep103(_f32(data['agent_preds']).reshape(-1, 2), frame),
        'agent_future': to_rep103(fut.reshape(fut.shape[-4:]), frame),
        'agent_score': score.reshape(score.shape[-2:]),
        'agent_mode_score': mode.reshape(mode.shape[-2:]),
    }


class OfficialNpzDataset(Dataset):
    """All `*.npz` frames under `root` (sorted by name), as torch sample dicts."""

    def __init__(self, root: str, frame: str = 'right_forward', with_teacher: bool = True):
        if frame not in FRAMES:
            raise ValueError(f'unknown frame {frame!r}; expected one of {FRAMES}')
        self.root = Path(root)
        self.files: List[Path] = sorted(self.root.glob('*.npz'))
        if not self.files:
            raise FileNotFoundError(f'no .npz frames in {self.root}')
        self.frame = frame
        self.with_teacher = with_teacher

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx: int) -> Dict[str, torch.Tensor]:
        path = self.files[idx]
        with np.load(path, allow_pickle=False) as data:
            sample = parse_official(data, self.frame)
        if not self.with_teacher:
            sample.pop('teacher_token', None)
        out = {k: torch.from_numpy(np.asarray(v)) for k, v in sample.items()}
        out['frame_id'] = path.stem
        return out


def synthetic_frame(rng: np.random.Generator, basis: np.ndarray, teacher_proj: np.ndarray,
                    n_lanes: int = 8, n_points: int = 11, n_agents: int = 8,
                    frame: str = 'right_forward') -> Dict[str, np.ndarray]:
    """One learnable synthetic frame: the tokens encode speed and curvature, the ground truth
    and the teacher token are functions of them. basis (3, N_tok, D), teacher_proj (3, D)."""
    speed, curv = rng.uniform(2.0, 10.0), rng.uniform(-0.08, 0.08)
    latent = np.array([speed / 10.0, curv * 10.0, 1.0], dtype=np.float32)
    tokens = np.tensordot(latent, basis, axes=1) + 0.05 * rng.standard_normal(basis.shape[1:])
    t = np.arange(1, NUM_WAYPOINTS + 1) * 0.5
    arc = speed * t
    fut = np.stack([arc, 0.5 * curv * arc ** 2], axis=-1)          # REP-103 positions
    cmd = np.zeros(NUM_COMMANDS, np.float32)
    cmd[rng.integers(NUM_COMMANDS)] = 1.0
    mask = np.ones(NUM_WAYPOINTS, np.float32)
    mask[NUM_WAYPOINTS - rng.integers(0, 2):] = 0.0
    xs = np.linspace(-10.0, 40.0, n_points)
    side = np.where(np.arange(n_lanes) % 2 == 0, 1.0, -1.0) * (2.0 + np.arange(n_lanes) // 2 * 3.5)
    lanes = np.stack([np.broadcast_to(xs, (n_lanes, n_points)),
                      np.broadcast_to(side[:, None], (n_lanes, n_points))], axis=-1)
    lane_scores = rng.uniform(0.0, 1.0, (n_lanes, 6)).astype(np.float32)
    agents = np.stack([rng.uniform(-20, 40, n_agents), rng.uniform(-8, 8, n_agents)], -1)
    agent_fut = np.broadcast_to(np.array([1.0, 0.0]), (n_agents, 6, NUM_WAYPOINTS, 2)).copy()
    offsets = np.diff(np.concatenate([np.zeros((1, 2)), fut]), axis=0)
    return {
        'visual_queries': tokens[None],
        'planning_token': np.tanh(latent @ teacher_proj)[None, None],
        'ego_fut_trajs': from_rep103(offsets, frame)[None, None],
        'ego_fut_masks': mask[None, None],
        'ego_fut_cmd': cmd[None, None, None],
        'lane_scores': lane_scores[None],
        'lane_preds': from_rep103(lanes, frame)[None],
        'agent_preds': from_rep103(agents, frame)[None],
        'agent_fut_preds': from_rep103(agent_fut, frame)[None],
        'agent_score_preds': rng.uniform(0.0, 1.0, (1, n_agents, 9)),
        'agent_fut_cls_preds': rng.uniform(0.0, 1.0, (1, n_agents, 6)),
    }


def write_synthetic_official(out_dir: str, n: int, n_tokens: int = 513, d_token: int = 4096,
                             seed: int = 0, frame: str = 'right_forward',
                             scene: str = 'synthetic', **frame_kwargs) -> List[Path]:
    """Write `n` synthetic frames in the official layout (float16, compressed) for tests.

    The token basis and teacher projection depend only on the sizes, so sets written with
    different `seed`s (train / val) share one underlying task.
    """
    task = np.random.default_rng([n_tokens, d_token])
    basis = task.standard_normal((3, n_tokens, d_token)).astype(np.float32)
    teacher_proj = task.standard_normal((3, d_token)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        arrays = synthetic_frame(rng, basis, teacher_proj, frame=frame, **frame_kwargs)
        path = out / f'data_{scene}_{i}.npz'
        np.savez_compressed(path, **{k: np.asarray(v, np.float16) for k, v in arrays.items()})
        paths.append(path)
    return paths


def official_frame_keys(path: str) -> Optional[Dict[str, tuple]]:
    """Key -> (shape, dtype) of one stored frame (handy to check a downloaded set)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: (tuple(data[k].shape), str(data[k].dtype)) for k in data.files}
