"""Episodes recorded from our own simulator / bridge: on-disk format, writer and reader.

Layout (see docs/training.md for the full field list):

    <root>/<episode_id>/meta.json            written last (atomically) by EpisodeWriter.close()
    <root>/<episode_id>/frames/000000.npz    one compressed .npz per frame

`meta.json` holds the camera rig and, per frame, the stamp and map-frame pose, so a reader can
build ground-truth futures (0.5 s apart, ego frame at the frame's pose) without opening images.
An episode without `meta.json` is incomplete (the recorder died) and is skipped.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from orion_lite_ros.atomic_io import atomic_write
from orion_lite_ros.layout import CAMERA_NAMES, NUM_COMMANDS, NUM_WAYPOINTS, WAYPOINT_DT_S
from orion_lite_ros.types import FrameInputs

FORMAT = 'orion_lite_episode'
VERSION = 1
AGENT_CLASSES = 9          # ORION's detection classes; recorded agents are class 0 (car)
LANE_CLASSES = 6           # recorded lanes are boundaries (class 2) with score 1
BOUNDARY_CLASS = 2


class EpisodeWriter:
    """Records one episode. `add_frame` per step, `close()` at the end (writes meta.json)."""

    def __init__(self, root: str, episode_id: str, camera_names=CAMERA_NAMES, **meta):
        self.dir = Path(root) / episode_id
        (self.dir / 'frames').mkdir(parents=True, exist_ok=True)
        self.meta = {'format': FORMAT, 'version': VERSION, 'episode_id': episode_id,
                     'camera_names': list(camera_names), 'frames': [], **meta}

    def add_frame(self, frame: FrameInputs, can_bus: Optional[np.ndarray] = None,
                  **extra: np.ndarray) -> int:
        """Store one frame. Optional `extra` arrays (ego frame, REP-103, metres):
        future_xy (6, 2) + future_mask (6,) to override the pose-derived future,
        teacher_token (D,), lane_points (L, P, 2) boundaries, agent_xy (A, 2) and
        agent_future_xy (A, 6, 2) absolute future positions."""
        index = len(self.meta['frames'])
        ego = frame.ego
        arrays = {
            'stamp_ns': np.int64(frame.stamp_ns),
            'images': np.asarray(frame.images, np.uint8),
            'intrinsics': np.asarray(frame.intrinsics, np.float32),
            'cam_to_ego': np.asarray(frame.cam_to_ego, np.float32),
            'ego_pose': np.array([ego.x_m, ego.y_m, ego.z_m, ego.yaw_rad], np.float64),
            'ego_twist': np.array([ego.vx_mps, ego.vy_mps, ego.ax_mps2, ego.ay_mps2,
                                   ego.yaw_rate_rps], np.float32),
            'command': np.int64(frame.command),
            'target_point': np.asarray(frame.target_point, np.float32),
        }
        if can_bus is not None:
            arrays['can_bus'] = np.asarray(can_bus, np.float32)
        arrays.update({k: np.asarray(v) for k, v in extra.items()})
        np.savez_compressed(self.dir / 'frames' / f'{index:06d}.npz', **arrays)
        self.meta['frames'].append({'stamp_ns': int(frame.stamp_ns),
                                    'pose': [ego.x_m, ego.y_m, ego.yaw_rad]})
        return index

    def close(self) -> Path:
        path = self.dir / 'meta.json'
        text = json.dumps(self.meta, indent=1)
        atomic_write(path, lambda handle: handle.write(text))
        return path


def future_from_poses(stamps_ns: np.ndarray, poses: np.ndarray, index: int,
                      dt_s: float = WAYPOINT_DT_S) -> Tuple[np.ndarray, np.ndarray]:
    """Ground-truth future of frame `index`: positions 0.5 s, 1.0 s, … ahead, in its ego frame.

    stamps_ns (F,), poses (F, 3) [x, y, yaw] map frame. A step is valid when a frame lies within
    half a frame interval of its time. Returns (6, 2) positions and (6,) mask.
    """
    x0, y0, yaw0 = poses[index]
    period = np.median(np.diff(stamps_ns)) if len(stamps_ns) > 1 else 1
    targets = stamps_ns[index] + np.round(np.arange(1, NUM_WAYPOINTS + 1) * dt_s * 1e9)
    nearest = np.clip(np.searchsorted(stamps_ns, targets), 0, len(stamps_ns) - 1)
    prev = np.clip(nearest - 1, 0, None)
    pick = np.where(np.abs(stamps_ns[prev] - targets) < np.abs(stamps_ns[nearest] - targets),
                    prev, nearest)
    mask = (np.abs(stamps_ns[pick] - targets) <= period / 2).astype(np.float32)
    d = poses[pick, :2] - np.array([x0, y0])
    c, s = np.cos(yaw0), np.sin(yaw0)
    ego = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=-1)
    return (ego * mask[:, None]).astype(np.float32), mask


def _pad(array: np.ndarray, count: int, fill: float = 0.0) -> np.ndarray:
    out = np.full((count,) + array.shape[1:], fill, dtype=np.float32)
    out[:min(count, len(array))] = array[:count]
    return out


def _lane_fields(frame, max_lanes: int) -> Dict[str, np.ndarray]:
    lanes = np.asarray(frame['lane_points'], np.float32) if 'lane_points' in frame else None
    n_points = lanes.shape[1] if lanes is not None and lanes.ndim == 3 else 2
    lanes = lanes if lanes is not None else np.zeros((0, n_points, 2), np.float32)
    scores = np.zeros((len(lanes), LANE_CLASSES), np.float32)
    scores[:, BOUNDARY_CLASS] = 1.0
    return {'lane_points': _pad(lanes, max_lanes), 'lane_scores': _pad(scores, max_lanes)}


def _agent_fields(frame, max_agents: int) -> Dict[str, np.ndarray]:
    xy = np.asarray(frame['agent_xy'], np.float32).reshape(-1, 2) if 'agent_xy' in frame \
        else np.zeros((0, 2), np.float32)
    fut = np.asarray(frame['agent_future_xy'], np.float32).reshape(len(xy), NUM_WAYPOINTS, 2) \
        if 'agent_future_xy' in frame else np.repeat(xy[:, None], NUM_WAYPOINTS, axis=1)
    order = np.argsort(np.linalg.norm(xy, axis=-1))[:max_agents]     # keep the nearest
    xy, fut = xy[order], fut[order]
    offsets = np.diff(np.concatenate([xy[:, None], fut], axis=1), axis=1)[:, None]
    score = np.zeros((len(xy), AGENT_CLASSES), np.float32)
    score[:, 0] = 1.0
    return {'agent_xy': _pad(xy, max_agents), 'agent_future': _pad(offsets, max_agents),
            'agent_score': _pad(score, max_agents),
            'agent_mode_score': _pad(np.ones((len(xy), 1), np.float32), max_agents)}


MAX_SIGNAL_OBJECTS = 4     # stop lines ahead kept as detection targets, besides the agents


def _object_fields(frame, max_objects: int) -> Dict[str, np.ndarray]:
    """Detection targets (training/perception.py) from the recorded teacher tokens."""
    from orion_lite_ros.training.perception import OBJECT_DIM, object_targets
    if 'tok_agents' not in frame:
        return {'gt_objects': np.zeros((max_objects, OBJECT_DIM), np.float32),
                'gt_objects_mask': np.zeros(max_objects, bool)}
    objects, mask = object_targets(frame['tok_agents'], frame['tok_agents_mask'],
                                   frame['tok_signals'], frame['tok_signals_mask'], max_objects)
    return {'gt_objects': objects, 'gt_objects_mask': mask}


def rest_from_poses(stamps_ns: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """(N,) seconds at rest of an episode's frames (model/nav_token.rest_times), the speed
    of each frame taken from its pose and the previous one's (the first frame: at rest)."""
    from orion_lite_ros.model.nav_token import rest_times
    stamps = np.asarray(stamps_ns, np.int64)
    if len(stamps) == 0:
        return np.zeros(0, np.float32)
    dist = np.linalg.norm(np.diff(poses[:, :2], axis=0), axis=1)
    dt = np.maximum(np.diff(stamps) * 1e-9, 1e-6)
    speeds = np.concatenate([[0.0], dist / dt])
    return np.asarray(rest_times(stamps, speeds)[0], np.float32)


class EpisodeDataset(Dataset):
    """Every frame of every complete episode under `root`, as torch sample dicts.

    Teacher features come from the frame itself (`teacher_token`) or from `cache`
    (`training.teacher.FeatureCache`); `require_teacher` makes a missing one an error.
    With `view_hw` the cameras go through the model's preprocessing (model/preprocess.py:
    ORION's JPEG re-encode, crop, resize) and `images` is (N_cam, 3, h, w) uint8 with matching
    `intrinsics`; without, the raw (N_cam, H, W, 3) frames are returned.
    """

    def __init__(self, root: str, max_lanes: int = 64, max_agents: int = 32, cache=None,
                 require_teacher: bool = False, view_hw: Optional[Tuple[int, int]] = None,
                 preprocess=None):
        self.view_hw, self.preprocess = view_hw, preprocess
        self.root = Path(root)
        self.max_lanes, self.max_agents = max_lanes, max_agents
        self.cache, self.require_teacher = cache, require_teacher
        self.index: List[Tuple[Path, int]] = []
        self.timing: Dict[Path, Tuple[np.ndarray, np.ndarray]] = {}
        self.rest_s: Dict[Path, np.ndarray] = {}
        for meta_path in sorted(self.root.glob('*/meta.json')):
            meta = json.loads(meta_path.read_text())
            if meta.get('format') != FORMAT or meta.get('version', 0) > VERSION:
                raise ValueError(f'{meta_path}: not a version <= {VERSION} {FORMAT}')
            ep = meta_path.parent
            stamps = np.array([f['stamp_ns'] for f in meta['frames']], np.int64)
            poses = np.array([f['pose'] for f in meta['frames']], np.float64).reshape(-1, 3)
            self.timing[ep] = (stamps, poses)
            self.rest_s[ep] = rest_from_poses(stamps, poses)
            self.index += [(ep, i) for i in range(len(stamps))]
        if not self.index:
            raise FileNotFoundError(f'no complete episodes (with meta.json) under {self.root}')

    def __len__(self) -> int:
        return len(self.index)

    def frame_id(self, idx: int) -> str:
        ep, i = self.index[idx]
        return f'{ep.name}/{i:06d}'

    def __getitem__(self, idx: int) -> Dict[str, torch.Tensor]:
        ep, i = self.index[idx]
        with np.load(ep / 'frames' / f'{i:06d}.npz', allow_pickle=False) as data:
            frame = {k: data[k] for k in data.files}
        sample = self._supervision(frame, ep, i)
        if self.view_hw is not None:
            sample['images'], sample['intrinsics'] = self._views(frame)
        sample.update(_lane_fields(frame, self.max_lanes))
        sample.update(_agent_fields(frame, self.max_agents))
        sample.update(_object_fields(frame, self.max_agents + MAX_SIGNAL_OBJECTS))
        teacher = self._teacher(frame, idx)
        if teacher is not None:
            sample['teacher_token'] = teacher
        out = {k: torch.from_numpy(np.asarray(v)) for k, v in sample.items()}
        out['frame_id'] = self.frame_id(idx)
        return out

    def future_labels(self) -> Tuple[np.ndarray, np.ndarray]:
        """(N, T, 2) future waypoints and (N, T) masks of every frame, images not decoded."""
        futs, masks = [], []
        for ep, i in self.index:
            with np.load(ep / 'frames' / f'{i:06d}.npz', allow_pickle=False) as data:
                fut, mask = self._future(data, ep, i)
            futs.append(fut)
            masks.append(mask)
        return np.stack(futs), np.stack(masks)

    def _future(self, frame, ep: Path, i: int) -> Tuple[np.ndarray, np.ndarray]:
        if 'future_xy' in frame:
            fut = frame['future_xy'].astype(np.float32)
            mask = (frame['future_mask'] if 'future_mask' in frame
                    else np.ones(NUM_WAYPOINTS)).astype(np.float32)
            return fut, mask
        return future_from_poses(*self.timing[ep], i)

    def _supervision(self, frame, ep: Path, i: int) -> Dict[str, np.ndarray]:
        fut, mask = self._future(frame, ep, i)
        command = int(frame['command'])
        onehot = np.zeros(NUM_COMMANDS, np.float32)
        onehot[command] = 1.0
        can_bus = frame.get('can_bus', np.zeros(18, np.float32)).astype(np.float32)
        return {'images': frame['images'], 'intrinsics': frame['intrinsics'],
                'cam_to_ego': frame['cam_to_ego'], 'can_bus': can_bus,
                'ego_twist': frame['ego_twist'], 'target_point': frame['target_point'],
                'command': np.int64(command), 'command_onehot': onehot,
                'gt_future': fut, 'gt_mask': mask,
                'reaction_hold': np.float32(frame.get('expert_reaction_hold', 0.0)),
                'rest_s': np.float32(self.rest_s[ep][i])}

    def _views(self, frame):
        from orion_lite_ros.model.preprocess import PreprocessConfig, preprocess_views
        return preprocess_views(frame['images'], frame['intrinsics'], tuple(self.view_hw),
                                self.preprocess or PreprocessConfig())

    def _teacher(self, frame, idx: int) -> Optional[np.ndarray]:
        if 'teacher_token' in frame:
            return frame['teacher_token'].astype(np.float32)
        if self.cache is not None:
            cached = self.cache.get(self.frame_id(idx))
            if cached is not None:
                return cached.astype(np.float32)
        if self.require_teacher:
            raise KeyError(f'no teacher feature for frame {self.frame_id(idx)}')
        return None
