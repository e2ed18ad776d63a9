"""orion-lite-bench: per-frame latency of the inference engine on synthetic frames.

    orion-lite-bench --preset mini --device cpu --iters 50 --out results/latency_mini_cpu.json
    orion-lite-bench --preset orion_lite --device cuda --precision bf16 --compile --cuda-graphs

Times `InferenceEngine.plan()` (preprocess + model + copy back) per frame and reports
p50/p90/p99 in ms and frames/s, with the device and torch version.
"""
import argparse
import json
import os
from pathlib import Path
import platform
import sys
import time

import numpy as np
import torch

from orion_lite_ros.model.engine import EngineConfig, InferenceEngine, synthetic_frame
from orion_lite_ros.planning.frame_assembly import resolve_default_checkpoint


def device_info(device: torch.device) -> dict:
    info = {'device': str(device), 'torch': torch.__version__, 'python': platform.python_version(),
            'cpu': platform.processor() or platform.machine(),
            'torch_threads': torch.get_num_threads(), 'cpu_count': os.cpu_count(),
            'load_avg_1min_at_end': os.getloadavg()[0]}
    if device.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(device)
        info['cuda'] = torch.version.cuda
    return info


def percentiles_ms(samples_s) -> dict:
    ms = np.asarray(samples_s) * 1e3
    return {f'p{q}': float(np.percentile(ms, q)) for q in (50, 90, 99)} | {
        'mean': float(ms.mean()), 'min': float(ms.min()), 'max': float(ms.max())}


def run(cfg: EngineConfig, iters: int, src_hw=(900, 1600), images: str = 'noise') -> dict:
    engine = InferenceEngine(resolve_default_checkpoint(cfg))
    frame = synthetic_frame(engine.model_cfg, src_hw=src_hw)
    if images == 'natural':                 # JPEG costs as on camera images
        from orion_lite_ros.bench.planner_e2e import natural_image
        frame = frame.__class__(**{**frame.__dict__, 'images': np.stack(
            [natural_image(src_hw, i) for i in range(len(frame.images))])})
    totals, stages = [], {'preprocess': [], 'model': []}
    t0 = time.perf_counter()
    for i in range(iters):
        frame = frame.__class__(**{**frame.__dict__, 'stamp_ns': i * 100_000_000})
        result = engine.plan(frame)
        totals.append(result.timing_s['total'])
        for k in stages:
            stages[k].append(result.timing_s[k])
    wall = time.perf_counter() - t0
    return {
        'preset': engine.model_cfg.name, 'iters': iters, 'source_hw': list(src_hw),
        'images': images,
        'view_hw': list(engine.view_hw), 'engine': engine.cfg.__dict__,
        'threads': engine.threads.__dict__,
        'latency_ms': percentiles_ms(totals),
        'stages_ms': {k: percentiles_ms(v) for k, v in stages.items()},
        'frames_per_s': iters / wall, 'system': device_info(engine.device),
        'weights': 'random init (latency only)' if not cfg.checkpoint else cfg.checkpoint,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='orion-lite-bench', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='mini')
    p.add_argument('--checkpoint', default='',
                   help="checkpoint dir/file, or 'default' (the shipped one)")
    p.add_argument('--device', default='auto')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'fp16', 'bf16'])
    p.add_argument('--compile', action='store_true')
    p.add_argument('--cuda-graphs', action='store_true')
    p.add_argument('--no-jpeg', action='store_true', help='skip the JPEG re-encode')
    p.add_argument('--iters', type=int, default=50)
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--threads', type=int, default=0,
                   help='torch CPU threads (0: the engine policy, model/threads.py)')
    p.add_argument('--preprocess-threads', type=int, default=0,
                   help='camera views preprocessed in parallel (0: the engine policy)')
    p.add_argument('--jpeg-decode', default='scaled', choices=['scaled', 'full'])
    p.add_argument('--hw', type=int, nargs=2, default=(900, 1600), metavar=('H', 'W'),
                   help='source camera size')
    p.add_argument('--images', default='noise', choices=['noise', 'natural'],
                   help='uniform noise (worst case for JPEG) or smooth scenes with sensor noise')
    p.add_argument('--out', default='')
    a = p.parse_args(argv)
    cfg = EngineConfig(model_preset=a.preset, checkpoint=a.checkpoint, device=a.device,
                       precision=a.precision, compile=a.compile, cuda_graphs=a.cuda_graphs,
                       jpeg_reencode=not a.no_jpeg, warmup_iters=a.warmup,
                       jpeg_decode=a.jpeg_decode, torch_threads=a.threads,
                       preprocess_threads=a.preprocess_threads)
    try:
        report = run(cfg, a.iters, tuple(a.hw), a.images)
    except (FileNotFoundError, ValueError) as exc:
        print(f'orion-lite-bench: {exc}', file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2)
    print(text)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
