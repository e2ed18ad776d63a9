"""Which frames an epoch draws: curve frames (`TrainConfig.curve_repeat`) and moving-off
frames (`TrainConfig.moveoff_repeat`) repeated.

Pure numpy on the samples' future labels; the datasets only have to hand those over.
"""
from typing import Tuple

import numpy as np

# A curve frame: some valid future waypoint lies at least this far to the side (m). The default
# of `TrainConfig.curve_lateral_m` and the threshold of the validation curve metrics.
CURVE_LATERAL_M = 1.0


def _checked(future_xy, future_mask) -> Tuple[np.ndarray, np.ndarray]:
    future_xy, future_mask = np.asarray(future_xy), np.asarray(future_mask)
    if future_xy.ndim != 3 or future_xy.shape[-1] != 2 or future_mask.shape != future_xy.shape[:2]:
        raise ValueError(f'expected future_xy (N, T, 2) and future_mask (N, T), got '
                         f'{future_xy.shape} and {future_mask.shape}')
    return future_xy, future_mask


def curve_mask(future_xy: np.ndarray, future_mask: np.ndarray,
               lateral_m: float = CURVE_LATERAL_M) -> np.ndarray:
    """(N, T, 2) REP-103 futures, (N, T) validity -> (N,) bool: some valid waypoint lies at
    least `lateral_m` to the side."""
    future_xy, future_mask = _checked(future_xy, future_mask)
    lateral = np.abs(future_xy[..., 1]) * (future_mask > 0)
    return lateral.max(axis=1, initial=0.0) >= lateral_m


# A moving-off frame: the ego is (nearly) at rest, its first waypoint (0.5 s) at most
# MOVEOFF_FIRST_M away, and drives off: the last valid waypoint at least MOVEOFF_LAST_M away.
MOVEOFF_FIRST_M = 0.5
MOVEOFF_LAST_M = 4.0


def moveoff_mask(future_xy: np.ndarray, future_mask: np.ndarray,
                 first_max_m: float = MOVEOFF_FIRST_M, last_min_m: float = MOVEOFF_LAST_M
                 ) -> np.ndarray:
    """(N, T, 2), (N, T) -> (N,) bool: the expert starts from (nearly) rest and drives off.
    Waiting frames (at a red light, behind a stopped car) far outnumber these, so a planner
    that does not yet read its cameras learns to stay at rest; repeating them balances the
    two (the images must tell them apart)."""
    future_xy, future_mask = _checked(future_xy, future_mask)
    future_mask = future_mask > 0
    dist = np.linalg.norm(future_xy, axis=-1)
    first_ok = future_mask[:, 0] & (dist[:, 0] <= first_max_m)
    far = (dist * future_mask).max(axis=1, initial=0.0)
    return first_ok & (far >= last_min_m)


def curve_indices(future_xy: np.ndarray, future_mask: np.ndarray, lateral_m: float,
                  repeat: int, moveoff_repeat: int = 1) -> np.ndarray:
    """Every sample index once, curve samples `repeat` times in all and moving-off samples
    `moveoff_repeat` times (the larger count where both apply); sorted."""
    if int(repeat) < 1:
        raise ValueError(f'curve_repeat must be >= 1, got {repeat}')
    if int(moveoff_repeat) < 1:
        raise ValueError(f'moveoff_repeat must be >= 1, got {moveoff_repeat}')
    curve = curve_mask(future_xy, future_mask, lateral_m)
    counts = np.where(curve, int(repeat), 1)
    if int(moveoff_repeat) > 1:
        counts = np.where(moveoff_mask(future_xy, future_mask),
                          np.maximum(counts, int(moveoff_repeat)), counts)
    return np.repeat(np.arange(len(curve)), counts)


def future_labels(dataset) -> Tuple[np.ndarray, np.ndarray]:
    """(N, T, 2) futures and (N, T) masks of a dataset: a sample cache's arrays directly, an
    `EpisodeDataset` through its label reader (no images decoded), otherwise sample by
    sample."""
    arrays = getattr(dataset, 'arrays', None)
    if arrays is not None and 'gt_future' in arrays and 'gt_mask' in arrays:
        return np.asarray(arrays['gt_future']), np.asarray(arrays['gt_mask'])
    if hasattr(dataset, 'future_labels'):
        return dataset.future_labels()
    futs, masks = [], []
    for i in range(len(dataset)):       # keep only the labels of each sample
        sample = dataset[i]
        futs.append(np.asarray(sample['gt_future']))
        masks.append(np.asarray(sample['gt_mask']))
    return np.stack(futs), np.stack(masks)


def dataset_commands(dataset) -> np.ndarray:
    """(N,) command index of every sample, without decoding images (sample cache: the
    memory-mapped field; episodes: the frame's `command` only; Subset: its indices)."""
    from torch.utils.data import Subset

    from orion_lite_ros.training.episodes import EpisodeDataset
    from orion_lite_ros.training.sample_cache import SampleCache
    if isinstance(dataset, Subset):
        return dataset_commands(dataset.dataset)[np.asarray(dataset.indices)]
    if isinstance(dataset, SampleCache):
        return np.asarray(dataset.arrays['command']).astype(np.int64)
    if isinstance(dataset, EpisodeDataset):
        out = []
        for ep, i in dataset.index:
            with np.load(ep / 'frames' / f'{i:06d}.npz', allow_pickle=False) as data:
                out.append(int(data['command']))
        return np.asarray(out, np.int64)
    return np.asarray([int(dataset[i]['command']) for i in range(len(dataset))], np.int64)


def trained_commands(commands: np.ndarray, num_modes: int, min_frames: int = 50,
                     min_share: float = 0.01) -> Tuple[int, ...]:
    """Modes with enough training frames (at least `min_frames` and `min_share` of all; on
    a set too small for that, every mode with a frame)."""
    counts = np.bincount(np.asarray(commands, np.int64), minlength=num_modes)
    need = max(min_frames, min_share * counts.sum())
    modes = tuple(int(m) for m in range(num_modes) if counts[m] >= need)
    return modes or tuple(int(m) for m in range(num_modes) if counts[m] > 0)
