"""Preprocessed training samples on disk, memory-mapped: decode and preprocess once, train fast.

`EpisodeDataset` decompresses a frame's .npz and runs the camera preprocessing (JPEG
re-encode, crop, resize) on every access; with six cameras that is ~10 ms of CPU per sample,
which starves a GPU. `build_cache` runs the dataset once (in parallel worker processes) and
stores every tensor field as one ``.npy`` array (N, ...); `SampleCache` memory-maps them, so
several training processes share one copy in the page cache and a batch is a few slices.

Layout of a cache directory (``meta.json`` written last: a directory without it is
incomplete and is rebuilt):

    <dir>/<field>.npy      one array per sample field, first axis = sample index
    <dir>/frame_ids.json   the source dataset's frame ids, in order
    <dir>/meta.json        format, source key (see `cache_key`), fields, count
"""
import hashlib
import json
from multiprocessing import get_context
import os
from pathlib import Path
import shutil
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

FORMAT = 'orion_lite_sample_cache'
VERSION = 1


def cache_key(**source) -> str:
    """Short stable hash of what the samples depend on (root, view size, preprocessing...)."""
    text = json.dumps(source, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _numpy_sample(sample: Dict[str, object]) -> Tuple[Dict[str, np.ndarray], str]:
    arrays = {k: v.numpy() if torch.is_tensor(v) else np.asarray(v)
              for k, v in sample.items() if k != 'frame_id'}
    return arrays, str(sample.get('frame_id', ''))


_WORKER: Dict[str, object] = {}


def _fill(args) -> List[str]:
    """Worker: write samples [start, stop) of the inherited dataset into the memmaps."""
    start, stop = args
    dataset, tmp, spec = _WORKER['dataset'], _WORKER['dir'], _WORKER['spec']
    arrays = {k: np.load(Path(tmp) / f'{k}.npy', mmap_mode='r+') for k in spec}
    ids = []
    for i in range(start, stop):
        sample, frame_id = _numpy_sample(dataset[i])
        if set(sample) != set(spec):
            raise ValueError(f'sample {i} ({frame_id}) has fields {sorted(sample)}, the first '
                             f'sample had {sorted(spec)}')
        for k, value in sample.items():
            if value.shape != tuple(spec[k][0]):
                raise ValueError(f'sample {i} ({frame_id}): {k} has shape {value.shape}, '
                                 f'expected {tuple(spec[k][0])}')
            arrays[k][i] = value
        ids.append(frame_id)
    for a in arrays.values():
        a.flush()
    return ids


def build_cache(dataset: Dataset, out_dir: str, key: str = '', workers: int = 0,
                chunk: int = 256, log=print) -> Path:
    """Write every sample of `dataset` into `out_dir` (see module doc); returns the dir.

    workers: processes (0 = os.cpu_count()); they inherit `dataset` by fork. The cache is
    built in a sibling temporary directory and renamed into place when complete.
    """
    out = Path(out_dir)
    n = len(dataset)
    if n == 0:
        raise ValueError('cannot cache an empty dataset')
    first, _ = _numpy_sample(dataset[0])
    spec = {k: (list(v.shape), v.dtype.str) for k, v in first.items()}
    tmp = out.with_name(f'{out.name}.tmp{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for k, (shape, dtype) in spec.items():
        np.lib.format.open_memmap(tmp / f'{k}.npy', mode='w+', dtype=np.dtype(dtype),
                                  shape=(n, *shape)).flush()
    ranges = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    workers = min(workers or os.cpu_count() or 1, len(ranges))
    _WORKER.update(dataset=dataset, dir=str(tmp), spec=spec)
    ids: List[str] = []
    try:
        if workers <= 1:
            for r in ranges:
                ids += _fill(r)
        else:
            with get_context('fork').Pool(workers) as pool:
                for k, part in enumerate(pool.imap(_fill, ranges)):
                    ids += part
                    if log and (k + 1) % max(1, len(ranges) // 10) == 0:
                        log(f'[cache] {min((k + 1) * chunk, n)}/{n} samples')
    finally:
        _WORKER.clear()
    (tmp / 'frame_ids.json').write_text(json.dumps(ids))
    meta = {'format': FORMAT, 'version': VERSION, 'key': key, 'count': n,
            'fields': {k: {'shape': s, 'dtype': d} for k, (s, d) in spec.items()}}
    (tmp / 'meta.json').write_text(json.dumps(meta, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def is_complete(path: str, key: str = '') -> bool:
    meta = Path(path) / 'meta.json'
    if not meta.is_file():
        return False
    data = json.loads(meta.read_text())
    return data.get('format') == FORMAT and (not key or data.get('key') == key)


class SampleCache(Dataset):
    """A `build_cache` directory as a Dataset of the same sample dicts (plus `frame_id`)."""

    def __init__(self, path: str, key: str = ''):
        self.path = Path(path)
        meta_path = self.path / 'meta.json'
        if not meta_path.is_file():
            raise FileNotFoundError(f'{self.path}: no complete sample cache (meta.json missing)')
        meta = json.loads(meta_path.read_text())
        if meta.get('format') != FORMAT or meta.get('version', 0) > VERSION:
            raise ValueError(f'{meta_path}: not a version <= {VERSION} {FORMAT}')
        if key and meta.get('key') != key:
            raise ValueError(f'{self.path}: built for another source (key {meta.get("key")}, '
                             f'expected {key}); delete it to rebuild')
        self.meta = meta
        self.arrays = {k: np.load(self.path / f'{k}.npy', mmap_mode='r')
                       for k in meta['fields']}
        self.frame_ids: List[str] = json.loads((self.path / 'frame_ids.json').read_text())

    def __len__(self) -> int:
        return int(self.meta['count'])

    def frame_id(self, idx: int) -> str:
        return self.frame_ids[idx]

    def __getitem__(self, idx: int) -> Dict[str, object]:
        out: Dict[str, object] = {k: torch.from_numpy(np.array(a[idx]))
                                  for k, a in self.arrays.items()}
        out['frame_id'] = self.frame_ids[idx]
        return out


def cached(dataset: Dataset, cache_root: str, key: str, name: str,
           workers: int = 0, log=print) -> SampleCache:
    """The cache of `dataset` under `<cache_root>/<name>-<key>`, built when missing."""
    path = Path(cache_root) / f'{name}-{key}'
    if not is_complete(path, key):
        if log:
            log(f'[cache] building {path} from {len(dataset)} samples')
        build_cache(dataset, str(path), key=key, workers=workers, log=log)
    return SampleCache(str(path), key)


def dataset_key(root: str, **config) -> Optional[str]:
    """Cache key of an episode directory: its complete episodes (names + frame counts) and
    the sample-shaping config (view size, preprocessing, padding)."""
    episodes = []
    for meta in sorted(Path(root).glob('*/meta.json')):
        frames = len(json.loads(meta.read_text()).get('frames', []))
        episodes.append((meta.parent.name, frames))
    return cache_key(root=str(Path(root).resolve()), episodes=episodes, **config)
