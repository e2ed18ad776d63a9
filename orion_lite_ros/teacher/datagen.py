"""Expert episodes for distillation, with perturbations the expert recovers from.

Per route (`training_routes`, seeds disjoint from the held-out set): one clean episode and
`perturbed_per_route` noisy ones. A noisy episode adds bursts of steering offset or
throttle/brake on top of the expert's control; the expert keeps running (its PID state too)
and steers back. Frames are recorded every `frame_stride` steps with a 3 s delay, once their
future is known: the label is the recorded future, cut (masked) where a noise burst starts,
so every stored waypoint is the expert's own corrective driving; frames inside a burst are
not stored. Extras per frame: future_xy/future_mask, lane_points, agent_xy,
agent_future_xy (the keep-out losses) and the teacher's tokens (`tok_*`); with
`teacher_checkpoint` also the teacher's planning token (`teacher_token`, fp16), the
distillation target, computed from the same tokens while recording (no second pass).

Deterministic from (family, seed, episode index); resumable: episodes with meta.json are
skipped, incomplete ones (no meta.json) are recorded again.
"""
from collections import deque
from dataclasses import asdict, dataclass, field
import os
from pathlib import Path
import shutil
import time
from typing import Dict, List, Optional
import zlib

import numpy as np

from orion_lite_ros.bridge.backend import ControlInput, RouteSpec
from orion_lite_ros.layout import NUM_WAYPOINTS, WAYPOINT_DT_S
from orion_lite_ros.model.geometry import can_bus_from_ego
from orion_lite_ros.sim.infractions import STATUS_COMPLETED
from orion_lite_ros.teacher.config import DatagenConfig, PerturbConfig
from orion_lite_ros.teacher.scene import SceneReader
from orion_lite_ros.teacher.tokens import to_ego, to_extras
from orion_lite_ros.training.episodes import EpisodeWriter
from orion_lite_ros.types import FrameInputs


def episode_id(route: RouteSpec, index: int) -> str:
    return f'{route.route_id}_p{index}'


class NoiseSchedule:
    """Bursts of (steer offset, forced throttle, forced brake); none when disabled."""

    def __init__(self, cfg: PerturbConfig, rng: Optional[np.random.Generator], dt_s: float):
        self.cfg, self.rng, self.dt_s = cfg, rng, dt_s
        self.next_start_s = cfg.first_after_s
        self.end_s = -1.0
        self.kind, self.value = '', 0.0

    def active(self, time_s: float) -> bool:
        return self.rng is not None and time_s < self.end_s

    def apply(self, control: ControlInput, time_s: float) -> ControlInput:
        if self.rng is None:
            return control
        if time_s >= self.end_s and time_s >= self.next_start_s:
            self._new_burst(time_s)
        if not self.active(time_s):
            return control
        if self.kind == 'steer':
            steer = float(np.clip(control.steer + self.value, -1.0, 1.0))
            return ControlInput(control.throttle, steer, control.brake)
        if self.kind == 'throttle':
            return ControlInput(self.value, control.steer, 0.0)
        return ControlInput(0.0, control.steer, self.value)

    def _new_burst(self, time_s: float) -> None:
        cfg, rng = self.cfg, self.rng
        self.end_s = time_s + rng.uniform(*cfg.duration_s)
        self.next_start_s = self.end_s + rng.uniform(*cfg.gap_s)
        if rng.random() < cfg.speed_burst_prob:
            self.kind = 'throttle' if rng.random() < 0.5 else 'brake'
            self.value = float(rng.uniform(0.5, 0.75) if self.kind == 'throttle'
                               else rng.uniform(0.3, 0.8))
        else:
            self.kind = 'steer'
            self.value = float(rng.uniform(*cfg.steer) * rng.choice([-1.0, 1.0]))


@dataclass
class StepTrace:
    """Per-step ground truth kept for the delayed labels."""

    poses: List[np.ndarray] = field(default_factory=list)        # (3,) x, y, yaw
    noisy: List[bool] = field(default_factory=list)
    agents: List[Dict[str, np.ndarray]] = field(default_factory=list)   # id -> (2,) map xy


def future_labels(trace: StepTrace, step: int, stride: int):
    """Ego future (6, 2) + mask, cut at the first noisy step; agent futures (A, 6, 2) map."""
    idx = step + stride * np.arange(1, NUM_WAYPOINTS + 1)
    n = len(trace.poses)
    noisy = np.asarray(trace.noisy)
    valid = np.zeros(NUM_WAYPOINTS, bool)
    for k, i in enumerate(idx):
        if i >= n or noisy[step:i + 1].any():
            break
        valid[k] = True
    poses = np.asarray(trace.poses)
    future = to_ego(poses[np.minimum(idx, n - 1), :2], poses[step]) * valid[:, None]
    return future.astype(np.float32), valid.astype(np.float32)


def agent_future(trace: StepTrace, step: int, stride: int) -> np.ndarray:
    """(A, 6, 2) map-frame positions of the agents of `step`; last known when gone."""
    ids = list(trace.agents[step])
    out = np.zeros((len(ids), NUM_WAYPOINTS, 2))
    for a, agent in enumerate(ids):
        last = trace.agents[step][agent]
        for k in range(NUM_WAYPOINTS):
            i = step + stride * (k + 1)
            if i < len(trace.agents):
                last = trace.agents[i].get(agent, last)
            out[a, k] = last
    return out


@dataclass
class Pending:
    step: int
    frame: FrameInputs
    extras: Dict[str, np.ndarray]


class EpisodeRecorder:
    """Drives one episode with the expert (+ noise) and writes it with EpisodeWriter."""

    def __init__(self, backend, cfg: DatagenConfig, out_dir: Path, teacher=None):
        self.backend, self.cfg, self.out_dir = backend, cfg, Path(out_dir)
        self.stride = int(round(WAYPOINT_DT_S / backend.fixed_delta_s))
        self.teacher = teacher.eval() if teacher is not None else None

    def record(self, route: RouteSpec, index: int) -> Dict[str, object]:
        cfg, backend = self.cfg, self.backend
        backend.load_route(route, (cfg.camera_height_px, cfg.camera_width_px))
        rng = None if index == 0 else np.random.default_rng(
            [route.seed, index, zlib.crc32(route.scenario.encode())])
        noise = NoiseSchedule(cfg.perturb, rng, backend.fixed_delta_s)
        scene = SceneReader(backend, route, cfg.tokens)
        writer = EpisodeWriter(str(self.out_dir), episode_id(route, index),
                               camera_names=cfg.camera_names, route_id=route.route_id,
                               family=route.scenario, seed=route.seed, perturbed=index > 0,
                               datagen=_jsonable(asdict(cfg)))
        trace, pending, written, ended = StepTrace(), deque(), 0, False
        for step in range(cfg.max_steps):
            tokens, nav = scene.read()
            time_s = backend.world.time_s
            control = noise.apply(backend.expert_control(), time_s)
            self._trace(trace, noise.active(time_s))
            if step % cfg.frame_stride == 0 and not noise.active(time_s):
                pending.append(self._pending(step, tokens, nav))
            status = backend.apply_and_tick(control)
            written += self._flush(writer, trace, pending, final=status.done)
            if status.done:
                ended = True
                break
        written += self._flush(writer, trace, pending, final=True)
        record = backend.finish_route()
        writer.meta.update(status=record.status, infractions=len(record.infractions),
                           completion_pct=record.route_completion_pct)
        writer.close()
        drop = ended and record.status != STATUS_COMPLETED and not cfg.keep_failed
        if drop:
            set_aside(writer.dir)
        return {'episode': writer.dir.name, 'frames': written, 'status': record.status,
                'kept': not drop}

    def _trace(self, trace: StepTrace, noisy: bool) -> None:
        gt = self.backend.ground_truth()
        trace.poses.append(np.asarray(gt.ego_pose, np.float64))
        trace.noisy.append(noisy)
        trace.agents.append({i: gt.agent_boxes[k, :2].copy()
                             for k, i in enumerate(gt.agent_ids)})

    def _pending(self, step: int, tokens, nav) -> Pending:
        sensors = self.backend.sensors() if self.cfg.render else None
        ego = self.backend.ego_state()
        h, w = self.cfg.camera_height_px, self.cfg.camera_width_px
        names = self.cfg.camera_names
        if sensors is None:
            from orion_lite_ros.sim import cameras as cam
            rig = cam.BENCH2DRIVE_RIG
            images = np.zeros((len(names), h, w, 3), np.uint8)
            intr = np.stack([cam.intrinsics(rig[n], (h, w)) for n in names])
            c2e = np.stack([cam.cam_to_ego(rig[n]) for n in names])
        else:
            images = np.stack([sensors.images[n] for n in names])
            intr = np.stack([sensors.intrinsics[n] for n in names])
            c2e = np.stack([sensors.cam_to_ego[n] for n in names])
        frame = FrameInputs(ego.stamp_ns, images, intr, c2e, ego, int(nav.command),
                            np.asarray(nav.target_point, np.float32))
        lanes = tokens['lanes'][tokens['lanes_mask']]
        extras = {'lane_points': lanes.astype(np.float32), **to_extras(tokens)}
        hold = getattr(self.backend, 'expert_reaction_hold', None)
        if hold is not None:   # "free to go, the expert still reacting" (training labels)
            extras['expert_reaction_hold'] = np.float32(hold())
        if self.teacher is not None:
            extras['teacher_token'] = planning_token(self.teacher, tokens)
        return Pending(step, frame, extras)

    def _flush(self, writer: EpisodeWriter, trace: StepTrace, pending: deque, final: bool
               ) -> int:
        horizon, count = self.stride * NUM_WAYPOINTS, 0
        while pending and (final or len(trace.poses) > pending[0].step + horizon):
            item = pending.popleft()
            future, mask = future_labels(trace, item.step, self.stride)
            if not mask.any():
                continue
            pose = trace.poses[item.step]
            agents = agent_future(trace, item.step, self.stride)
            now = np.array(list(trace.agents[item.step].values())).reshape(-1, 2)
            keep = np.argsort(np.linalg.norm(now - pose[:2], axis=1))[
                :self.cfg.max_agents_recorded]
            writer.add_frame(item.frame, can_bus=can_bus_from_ego(item.frame.ego),
                             future_xy=future, future_mask=mask,
                             agent_xy=to_ego(now[keep], pose).astype(np.float32),
                             agent_future_xy=to_ego(agents[keep], pose).astype(np.float32),
                             **item.extras)
            count += 1
        return count


def planning_token(teacher, tokens) -> np.ndarray:
    """The teacher's planning token for one frame's tokens, fp16 (as ORION's cache)."""
    import torch

    from orion_lite_ros.teacher.model import to_torch
    with torch.no_grad():
        out = teacher(to_torch(tokens))['planning_token'][0]
    return out.numpy().astype(np.float16)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


FAILED_DIR = '_failed'


def set_aside(episode_dir: Path) -> Path:
    """Move a finished episode to <out_dir>/_failed/ (out of `EpisodeDataset`'s reach)."""
    episode_dir = Path(episode_dir)
    dest = episode_dir.parent / FAILED_DIR / episode_dir.name
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(exist_ok=True)
    os.replace(episode_dir, dest)
    return dest


def is_finished(out_dir: Path, ep_id: str) -> bool:
    return any((Path(out_dir) / sub / ep_id / 'meta.json').is_file() for sub in ('', FAILED_DIR))


def generate(cfg: DatagenConfig, routes: List[RouteSpec], backend=None, log=print
             ) -> List[Dict[str, object]]:
    """Record every (route, episode index) not finished yet; returns per-episode summaries."""
    from orion_lite_ros.sim.backend import EmbeddedBackend
    from orion_lite_ros.sim.config import SimConfig
    backend = backend or EmbeddedBackend(SimConfig(
        render=cfg.render, skybox=cfg.skybox, camera_height_px=cfg.camera_height_px,
        camera_width_px=cfg.camera_width_px, expert_green_reaction_s=cfg.expert_green_reaction_s,
        expert_restart_reaction_s=cfg.expert_restart_reaction_s))
    teacher = None
    if cfg.teacher_checkpoint:
        import torch

        from orion_lite_ros.teacher.model import load_teacher
        torch.set_num_threads(1)          # datagen runs one process per core
        teacher = load_teacher(cfg.teacher_checkpoint)
    recorder = EpisodeRecorder(backend, cfg, Path(cfg.out_dir), teacher)
    done = []
    try:
        for route in routes:
            for index in range(1 + cfg.perturbed_per_route):
                ep = episode_id(route, index)
                if is_finished(cfg.out_dir, ep):
                    continue
                shutil.rmtree(Path(cfg.out_dir) / ep, ignore_errors=True)   # incomplete
                t0 = time.monotonic()
                summary = recorder.record(route, index)
                summary['wall_s'] = round(time.monotonic() - t0, 2)
                log(summary)
                done.append(summary)
    finally:
        backend.close()
    return done


def datagen_routes(cfg: DatagenConfig) -> List[RouteSpec]:
    from orion_lite_ros.sim.backend import training_routes
    seeds = range(cfg.seed_start, cfg.seed_start + cfg.num_seeds)
    return training_routes(seeds, list(cfg.families) or None)
