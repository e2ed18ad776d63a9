"""Behaviour cloning of the teacher on recorded episodes, and annotation for distillation.

Training reads only the token arrays and labels of each frame (`tok_*`, future_xy,
future_mask), never the images, so it needs no re-simulation and runs on a CPU. Episodes are
split by episode: every `val_every_k_episodes`-th (sorted by id) validates. The best
checkpoint (lowest validation L2 averaged over 2 s) is saved as `<out_dir>/teacher`
(model.safetensors + config.json) and the last as `<out_dir>/last`.

`annotate` writes the teacher's planning token of every frame into the `FeatureCache`
(keyed like `EpisodeDataset.frame_id`), optionally also as `teacher_token` into the frames.
"""
from dataclasses import dataclass
import json
from pathlib import Path
import time
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
import torch

from orion_lite_ros.teacher.config import TeacherTrainConfig
from orion_lite_ros.teacher.model import (
    PrivilegedTeacher,
    bc_loss,
    load_teacher,
    save_teacher,
    teacher_id,
    to_torch,
)
from orion_lite_ros.teacher.tokens import PREFIX, TOKEN_KEYS, from_frame, stack
from orion_lite_ros.training.metrics import OpenLoopL2
from orion_lite_ros.training.teacher import FeatureCache

LABEL_KEYS = ('future_xy', 'future_mask')


def episode_dirs(root: str) -> List[Path]:
    """Complete episodes (with meta.json), sorted."""
    return sorted(p.parent for p in Path(root).glob('*/meta.json'))


def frame_files(ep: Path) -> List[Path]:
    return sorted((ep / 'frames').glob('*.npz'))


@dataclass
class TokenSet:
    """Tokens + labels of many frames, stacked: tokens[k] (N, ...), future (N, 6, 2)."""

    tokens: Dict[str, np.ndarray]
    future: np.ndarray
    mask: np.ndarray
    frame_ids: List[str]

    def __len__(self) -> int:
        return len(self.frame_ids)

    def batch(self, idx: np.ndarray, device='cpu'):
        return ({k: torch.from_numpy(v[idx]).to(device) for k, v in self.tokens.items()},
                torch.from_numpy(self.future[idx]).to(device),
                torch.from_numpy(self.mask[idx]).to(device))


def _read_episode(ep: Path):
    toks, fut, mask, ids = [], [], [], []
    for path in frame_files(ep):
        with np.load(path, allow_pickle=False) as data:       # images are never read
            toks.append(from_frame(data))
            fut.append(data['future_xy'].astype(np.float32))
            mask.append(data['future_mask'].astype(np.float32))
        ids.append(f'{ep.name}/{path.stem}')
    return toks, fut, mask, ids


def load_tokens(episodes: List[Path], workers: int = 1) -> TokenSet:
    """Tokens and labels of every frame of `episodes` (in order); `workers` processes."""
    if workers > 1 and len(episodes) > 1:
        from multiprocessing import get_context
        with get_context('fork').Pool(workers) as pool:
            parts = pool.map(_read_episode, episodes, chunksize=4)
    else:
        parts = [_read_episode(ep) for ep in episodes]
    toks = [t for part in parts for t in part[0]]
    fut = [f for part in parts for f in part[1]]
    mask = [m for part in parts for m in part[2]]
    ids = [i for part in parts for i in part[3]]
    if not ids:
        raise FileNotFoundError('no frames with teacher tokens')
    stacked = stack(toks)
    stacked = {k: v.astype(bool if k.endswith('mask') else np.float32)
               for k, v in stacked.items()}
    return TokenSet(stacked, np.stack(fut), np.stack(mask), ids)


def split_episodes(root: str, every_k: int):
    eps = episode_dirs(root)
    if not eps:
        raise FileNotFoundError(f'no complete episodes under {root}')
    val = [e for i, e in enumerate(eps) if every_k > 0 and i % every_k == every_k - 1]
    train = [e for e in eps if e not in val]
    return train, val


@torch.no_grad()
def evaluate(model: PrivilegedTeacher, data: TokenSet, batch_size: int = 256
             ) -> Dict[str, float]:
    model.eval()
    device = next(model.parameters()).device
    metric, losses = OpenLoopL2(), []
    for start in range(0, len(data), batch_size):
        tokens, fut, mask = data.batch(np.arange(start, min(start + batch_size, len(data))),
                                       device)
        out = model(tokens)
        losses.append(float(bc_loss(out, fut, mask)) * len(fut))
        metric.update(out['waypoints'].cpu(), fut.cpu(), mask.cpu())
    result = OpenLoopL2.compute(metric.state())
    result['bc_l1'] = sum(losses) / max(len(data), 1)
    return result


def train_epoch(model, optim, data: TokenSet, cfg: TeacherTrainConfig,
                rng: np.random.Generator) -> float:
    model.train()
    device = next(model.parameters()).device
    order, total = rng.permutation(len(data)), 0.0
    for start in range(0, len(order), cfg.batch_size):
        tokens, fut, mask = data.batch(order[start:start + cfg.batch_size], device)
        loss = bc_loss(model(tokens), fut, mask)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optim.step()
        total += float(loss.detach()) * len(fut)
    return total / max(len(data), 1)


def train_teacher(cfg: TeacherTrainConfig, log=print) -> Dict[str, Any]:
    """Train, keep the best checkpoint by validation L2; returns the history."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.num_threads)
    train_eps, val_eps = split_episodes(cfg.episodes_dir, cfg.val_every_k_episodes)
    train = load_tokens(train_eps, cfg.load_workers)
    val = load_tokens(val_eps, cfg.load_workers) if val_eps else None
    from orion_lite_ros.model.engine import resolve_device
    device = resolve_device(cfg.device)
    model = PrivilegedTeacher(cfg.model).to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=max(cfg.epochs, 1))
    rng, out = np.random.default_rng(cfg.seed), Path(cfg.out_dir)
    history, best, t0 = [], float('inf'), time.monotonic()
    for epoch in range(cfg.epochs):
        row = {'epoch': epoch, 'train_l1': train_epoch(model, optim, train, cfg, rng)}
        sched.step()
        if val is not None:
            row.update({f'val_{k}': v for k, v in evaluate(model, val).items()})
        history.append(row)
        log(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
        score = row.get('val_l2_avg_2s', row['train_l1'])
        if score < best:
            best = score
            save_teacher(out / 'teacher', model, epoch=epoch, metrics=row)
    save_teacher(out / 'last', model, epoch=cfg.epochs - 1, metrics=history[-1] if history
                 else {})
    summary = {'device': str(device), 'train_frames': len(train),
               'val_frames': len(val) if val else 0,
               'train_episodes': len(train_eps), 'val_episodes': len(val_eps),
               'wall_s': round(time.monotonic() - t0, 1), 'history': history}
    (out / 'history.json').write_text(json.dumps(summary, indent=1))
    return summary


# ------------------------------------------------------------------------------ annotation
class TokenTeacher:
    """`training.teacher.Teacher` over recorded episodes: the frame's `tok_*` arrays when the
    sample carries them, else they are read from `<episodes_root>/<frame_id>.npz`."""

    def __init__(self, model: PrivilegedTeacher, episodes_root: str, teacher_id_: str):
        self.model, self.root, self.teacher_id = model.eval(), Path(episodes_root), teacher_id_

    @classmethod
    def from_checkpoint(cls, path: str, episodes_root: str) -> 'TokenTeacher':
        return cls(load_teacher(path), episodes_root, teacher_id(path))

    def _tokens(self, frame: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        if all(PREFIX + k in frame for k in TOKEN_KEYS):
            return from_frame({k: np.asarray(v) for k, v in frame.items()})
        ep, index = str(frame['frame_id']).rsplit('/', 1)
        with np.load(self.root / ep / 'frames' / f'{index}.npz', allow_pickle=False) as data:
            return from_frame(data)

    @torch.no_grad()
    def planning_token(self, frame: Mapping[str, Any]) -> np.ndarray:
        return self.model(to_torch(self._tokens(frame)))['planning_token'][0].numpy()


def _rewrite_with(path: Path, **arrays: np.ndarray) -> None:
    """Add arrays to a frame .npz atomically (compressed, like EpisodeWriter)."""
    from orion_lite_ros.atomic_io import atomic_write
    with np.load(path, allow_pickle=False) as data:
        content = {k: data[k] for k in data.files}
    content.update(arrays)
    atomic_write(path, lambda handle: np.savez_compressed(handle, **content), binary=True)


def annotate(checkpoint: str, episodes_root: str, cache_root: Optional[str] = None,
             into_episodes: bool = False, batch_size: int = 256, workers: int = 1
             ) -> Dict[str, Any]:
    """Planning token of every frame -> FeatureCache (and/or `teacher_token` in the frame);
    `workers` processes, each taking whole episodes."""
    tid = teacher_id(checkpoint)
    episodes = episode_dirs(episodes_root)
    job = (checkpoint, cache_root, into_episodes, batch_size)
    if workers > 1 and len(episodes) > 1:
        from multiprocessing import get_context
        with get_context('fork').Pool(workers) as pool:
            count = sum(pool.starmap(_annotate_episodes,
                                     [(episodes[i::workers], *job) for i in range(workers)]))
    else:
        count = _annotate_episodes(episodes, *job)
    cache_dir = str(FeatureCache(cache_root, tid).root) if cache_root else None
    return {'teacher_id': tid, 'frames': count, 'cache_dir': cache_dir}


@torch.no_grad()
def _annotate_episodes(episodes: List[Path], checkpoint: str, cache_root: Optional[str],
                       into_episodes: bool, batch_size: int) -> int:
    torch.set_num_threads(1)
    model, tid = load_teacher(checkpoint), teacher_id(checkpoint)
    cache = FeatureCache(cache_root, tid) if cache_root else None
    count = 0
    for ep in episodes:
        data = load_tokens([ep])
        for start in range(0, len(data), batch_size):
            idx = np.arange(start, min(start + batch_size, len(data)))
            feats = model(to_torch(data.batch(idx)[0]))['planning_token'].numpy()
            for i, feat in zip(idx, feats):
                frame_id = data.frame_ids[i]
                if cache is not None:
                    cache.put(frame_id, feat)
                if into_episodes:
                    _rewrite_with(ep / 'frames' / f'{frame_id.rsplit("/", 1)[1]}.npz',
                                  teacher_token=feat.astype(np.float16))
                count += 1
    return count
