"""Teachers (frame -> planning-token feature) and an on-disk cache of their features.

A teacher is anything with a `teacher_id` and `planning_token(frame) -> (D,)`: ORION's LLM run
offline, a bigger student, or a test double. Features are computed once per (teacher, frame)
and stored as `<root>/<teacher>/<frame>.npy`, written atomically so that a crash never leaves
a half-written feature that a later run would trust.
"""
import hashlib
from pathlib import Path
import re
from typing import Any, Callable, Mapping, Optional, Protocol, runtime_checkable

import numpy as np

from orion_lite_ros.atomic_io import atomic_write


@runtime_checkable
class Teacher(Protocol):
    teacher_id: str

    def planning_token(self, frame: Mapping[str, Any]) -> np.ndarray:
        """(D,) planning-token feature of one frame (a training sample dict)."""


def _safe_name(text: str) -> str:
    """Readable file name for `text`, made unique by a short hash of the original."""
    readable = re.sub(r'[^A-Za-z0-9._-]+', '_', text).strip('._')[:80] or 'x'
    digest = hashlib.sha1(text.encode('utf-8')).hexdigest()[:10]
    return f'{readable}-{digest}'


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda handle: np.save(handle, array), binary=True)


class FeatureCache:
    """Teacher features on disk, keyed by teacher id and frame id."""

    def __init__(self, root: str, teacher_id: str, dtype=np.float16):
        self.root = Path(root) / _safe_name(teacher_id)
        self.teacher_id = teacher_id
        self.dtype = np.dtype(dtype)

    @classmethod
    def open(cls, directory: str, dtype=np.float16) -> 'FeatureCache':
        """The cache of one teacher by its directory (`<root>/<teacher>`, as annotate
        reports it); an error when it does not exist."""
        path = Path(directory)
        if not path.is_dir():
            raise FileNotFoundError(f'teacher features: no directory {path}')
        cache = cls(str(path.parent), path.name, dtype)
        cache.root = path
        return cache

    def path(self, frame_id: str) -> Path:
        return self.root / (_safe_name(frame_id) + '.npy')

    def __contains__(self, frame_id: str) -> bool:
        return self.path(frame_id).is_file()

    def get(self, frame_id: str) -> Optional[np.ndarray]:
        path = self.path(frame_id)
        if not path.is_file():
            return None
        return np.load(path, allow_pickle=False)

    def put(self, frame_id: str, feature: np.ndarray) -> None:
        atomic_save_npy(self.path(frame_id), np.asarray(feature).astype(self.dtype))

    def get_or_compute(self, frame_id: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        feature = self.get(frame_id)
        if feature is None:
            self.put(frame_id, compute())
            feature = self.get(frame_id)
        return feature


class CachedTeacher:
    """A teacher whose features go through a `FeatureCache` (computed once, then read)."""

    def __init__(self, teacher: Teacher, cache_root: str, dtype=np.float16):
        self.teacher = teacher
        self.teacher_id = teacher.teacher_id
        self.cache = FeatureCache(cache_root, teacher.teacher_id, dtype)
        self.computed = 0

    def planning_token(self, frame: Mapping[str, Any]) -> np.ndarray:
        frame_id = str(frame['frame_id'])

        def compute():
            self.computed += 1
            return np.asarray(self.teacher.planning_token(frame), dtype=np.float32)

        return self.cache.get_or_compute(frame_id, compute)


class ModuleTeacher:
    """A torch module as teacher: `to_inputs(frame)` -> kwargs of its forward, which must
    return a dict with `planning_token (1, D)` (StudentPlanner / OrionLite do)."""

    def __init__(self, teacher_id: str, module, to_inputs: Callable[[Mapping], dict]):
        self.teacher_id = teacher_id
        self.module = module
        self.to_inputs = to_inputs

    def planning_token(self, frame: Mapping[str, Any]) -> np.ndarray:
        import torch
        self.module.eval()
        with torch.no_grad():
            out = self.module(**self.to_inputs(frame))
        return out['planning_token'][0].float().cpu().numpy()


def fill_cache(dataset, teacher: CachedTeacher) -> int:
    """Compute the teacher feature of every frame of `dataset` not cached yet; returns how
    many were computed."""
    before = teacher.computed
    for i in range(len(dataset)):
        frame_id = dataset.frame_id(i)
        if frame_id not in teacher.cache:
            teacher.planning_token(dataset[i])
    return teacher.computed - before
