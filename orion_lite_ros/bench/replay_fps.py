"""Frames per second of the offline replay (bag read + sync + decode + plan + metrics).

    python -m orion_lite_ros.bench.replay_fps [--preset mini] [--device cpu] [--seconds 10]
        [--hw 160 256] [--out results/replay_fps_mini_cpu.json]

Writes a synthetic six-camera bag (sim camera size by default), replays it twice: once with a
no-op planner (the replay's own cost) and once with the inference engine (untrained weights;
the cost does not depend on them). The engine is built and warmed up before timing.
"""
import argparse
import json
import os
from pathlib import Path
import platform
import tempfile
import time

import numpy as np

from orion_lite_ros.eval.replay import ReplayConfig, replay
from orion_lite_ros.eval.synthetic_bag import SyntheticDrive, write_synthetic_bag
from orion_lite_ros.types import PlanResult


def _noop(frame):
    return PlanResult(frame.stamp_ns, np.zeros((6, 2)), np.zeros((6, 6, 2)), frame.command)


def _timed(bag, planner) -> dict:
    t0 = time.perf_counter()
    result = replay(bag, ReplayConfig(progress=False, keep_images=0), planner)
    wall = time.perf_counter() - t0
    lat = result.summary['latency_s']
    return {'frames': len(result.frames), 'wall_s': round(wall, 3),
            'frames_per_s': round(len(result.frames) / wall, 3),
            'planner_ms_mean': round(lat['mean'] * 1e3, 2),
            'planner_ms_p50': round(lat['p50'] * 1e3, 2),
            'planner_ms_p95': round(lat['p95'] * 1e3, 2)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--preset', default='mini')
    p.add_argument('--device', default='cpu')
    p.add_argument('--seconds', type=float, default=10.0)
    p.add_argument('--hw', type=int, nargs=2, default=(160, 256))
    p.add_argument('--out', default='results/replay_fps_mini_cpu.json')
    a = p.parse_args(argv)
    from orion_lite_ros.eval.engine_planner import EnginePlanner
    with tempfile.TemporaryDirectory() as tmp:
        bag = write_synthetic_bag(Path(tmp) / 'bag', SyntheticDrive(
            duration_s=a.seconds, image_hw=tuple(a.hw)))
        overhead = _timed(bag, _noop)
        warm = write_synthetic_bag(Path(tmp) / 'warm', SyntheticDrive(
            duration_s=1.0, image_hw=tuple(a.hw)))
        planner = EnginePlanner(preset=a.preset, device=a.device)
        _timed(warm, planner)                                  # warm-up (not timed)
        full = _timed(bag, planner)
    out = {'preset': a.preset, 'device': a.device, 'bag': {
        'seconds': a.seconds, 'cameras': 6, 'image_hw': list(a.hw), 'camera_hz': 10,
        'storage': 'mcap'}, 'replay_only_noop_planner': overhead, 'replay_with_engine': full,
        'machine': {'cpus_visible': os.cpu_count(), 'python': platform.python_version(),
                    'torch_threads': _torch_threads()},
        'load_average_1min': round(os.getloadavg()[0], 2),
        'note': 'CPU shared with other jobs while measured; untrained mini weights'}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + '\n')
    print(json.dumps(out, indent=1))
    return out


def _torch_threads() -> int:
    import torch
    return torch.get_num_threads()


if __name__ == '__main__':
    main()
