"""Frames per second of the offline replay (bag read + sync + decode + plan + metrics).

    python -m orion_lite_ros.bench.replay_fps [--preset mini] [--device cpu] [--seconds 10]
        [--hw 160 256] [--out results/replay_fps_mini_cpu.json]

Writes a synthetic six-camera bag (sim camera size by default), replays it with a no-op
planner (the replay's own cost), then with the inference engine (`--checkpoint`, default the
shipped one, `--precision`): frame by frame (the replay before batching), with the default
batch (`--batch`, 0: ReplayConfig's), and with that batch plus the prefetch thread. The
engine is built and warmed up before timing. `real_time_factor` = bag seconds / wall seconds.
"""
import argparse
import json
import os
from pathlib import Path
import platform
import tempfile
import time

import numpy as np

from orion_lite_ros.eval.replay import ReplayConfig, batch_size, replay
from orion_lite_ros.eval.synthetic_bag import SyntheticDrive, write_synthetic_bag
from orion_lite_ros.types import PlanResult


def _noop(frame):
    return PlanResult(frame.stamp_ns, np.zeros((6, 2)), np.zeros((6, 6, 2)), frame.command)


def _timed(bag, planner, prefetch: int = 2, bag_s: float = 0.0, batch: int = 0) -> dict:
    cfg = ReplayConfig(progress=False, keep_images=0, prefetch=prefetch, batch=batch)
    t0 = time.perf_counter()
    result = replay(bag, cfg, planner)
    wall = time.perf_counter() - t0
    lat = result.summary['latency_s']
    return {'frames': len(result.frames), 'wall_s': round(wall, 3), 'prefetch': prefetch,
            'batch': batch_size(planner, cfg),
            'frames_per_s': round(len(result.frames) / wall, 3),
            'real_time_factor': round(bag_s / wall, 3) if bag_s else None,
            'planner_ms_mean': round(lat['mean'] * 1e3, 2),
            'planner_ms_p50': round(lat['p50'] * 1e3, 2),
            'planner_ms_p95': round(lat['p95'] * 1e3, 2)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--preset', default='mini')
    p.add_argument('--device', default='cpu')
    p.add_argument('--seconds', type=float, default=10.0)
    p.add_argument('--hw', type=int, nargs=2, default=(160, 256))
    p.add_argument('--checkpoint', default='default')
    p.add_argument('--compressed', action='store_true', help='JPEG CompressedImage cameras')
    p.add_argument('--jpeg-quality', type=int, default=90, help='of the compressed cameras')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'])
    p.add_argument('--batch', type=int, default=0, help='frames per forward pass (0: default)')
    p.add_argument('--out', default='results/replay_fps_mini_cpu.json')
    a = p.parse_args(argv)
    from orion_lite_ros.eval.engine_planner import EnginePlanner
    with tempfile.TemporaryDirectory() as tmp:
        bag = write_synthetic_bag(Path(tmp) / 'bag', SyntheticDrive(
            duration_s=a.seconds, image_hw=tuple(a.hw), compressed=a.compressed,
            jpeg_quality=a.jpeg_quality))
        overhead = _timed(bag, _noop, 0, a.seconds)
        warm = write_synthetic_bag(Path(tmp) / 'warm', SyntheticDrive(
            duration_s=1.0, image_hw=tuple(a.hw), compressed=a.compressed,
            jpeg_quality=a.jpeg_quality))
        planner = EnginePlanner(checkpoint=a.checkpoint, preset=a.preset, device=a.device,
                                precision=a.precision)
        _timed(warm, planner, 0, batch=a.batch)            # warm-up (not timed)
        _timed(warm, planner, 0, batch=1)
        single = _timed(bag, planner, 0, a.seconds, batch=1)   # frame by frame (before)
        batched = _timed(bag, planner, 0, a.seconds, batch=a.batch)   # the default
        prefetched = _timed(bag, planner, 2, a.seconds, batch=a.batch)
    out = {'preset': a.preset, 'device': a.device, 'bag': {
        'seconds': a.seconds, 'cameras': 6, 'image_hw': list(a.hw), 'camera_hz': 10,
        'compressed': a.compressed, 'jpeg_quality': a.jpeg_quality if a.compressed else None,
        'storage': 'mcap'}, 'replay_only_noop_planner': overhead,
        'replay_with_engine_frame_by_frame': single, 'replay_with_engine': batched,
        'replay_with_engine_prefetch': prefetched, 'checkpoint': a.checkpoint,
        'precision': a.precision,
        'engine_threads': planner.engine.threads.__dict__,
        'machine': {'cpus_visible': os.cpu_count(), 'python': platform.python_version(),
                    'torch_threads': _torch_threads()},
        'load_average_1min': round(os.getloadavg()[0], 2),
        'note': 'see docs/performance.md for the machine state of each recorded run'}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + '\n')
    print(json.dumps(out, indent=1))
    return out


def _torch_threads() -> int:
    import torch
    return torch.get_num_threads()


if __name__ == '__main__':
    main()
