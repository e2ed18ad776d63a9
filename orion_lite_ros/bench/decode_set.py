"""Decode time of one six-camera set of CompressedImages (the node's and the replay's first
step), per decoder and thread count, side by side in one run.

    python -m orion_lite_ros.bench.decode_set --hw 900 1600 --quality 20 90 \
        --out results/perf_decode/decode_set_1600x900.json

For each JPEG quality: the set decoded whole (what the q90 path's JPEG round trip needs) and
at the scale the shipped engine asks for (`jpeg_size_hint`; whole when the engine re-encodes
that quality), with Pillow alone (the decoder before) and with simplejpeg (libjpeg-turbo into
numpy; Pillow's pixels), on 1 and `--threads` threads. Images: bench.planner_e2e's smooth
scenes with sensor noise.
"""
import argparse
from dataclasses import dataclass
import json
import os
from pathlib import Path
import platform
import time
from typing import Dict, List, Optional, Sequence

from orion_lite_ros.bench.planner_e2e import natural_image
from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.planning.frame_assembly import FrameAssembler
from orion_lite_ros.ros import image_codec
from orion_lite_ros.ros.rig import load_rig


@dataclass(frozen=True)
class DecodeBenchConfig:
    height_px: int = 900
    width_px: int = 1600
    qualities: Sequence[int] = (20, 90)
    threads: int = 2
    iters: int = 10


def _time_set(asm: FrameAssembler, cams, iters: int) -> float:
    asm.decode_set(cams)
    t0 = time.perf_counter()
    for _ in range(iters):
        out = asm.decode_set(cams)
    if out.images is None:
        raise RuntimeError(f'set did not decode: {out.faults}')
    return (time.perf_counter() - t0) / iters * 1e3


def run_benchmark(cfg: DecodeBenchConfig, size_hint=None) -> Dict:
    """size_hint: the engine's `jpeg_size_hint` (None: build the shipped engine's)."""
    if size_hint is None:
        from orion_lite_ros.eval.engine_planner import build_engine_planner
        size_hint = build_engine_planner(checkpoint='default', device='cpu').jpeg_size_hint
    hw = (cfg.height_px, cfg.width_px)
    images = [natural_image(hw, i) for i in range(len(CAMERA_NAMES))]
    fast = image_codec._simplejpeg
    rows: List[Dict] = []
    for quality in cfg.qualities:
        cams = [(cam, image_codec.rgb_to_compressed(im, 'jpeg', int(quality)), f'/{cam}')
                for cam, im in zip(CAMERA_NAMES, images)]
        for scale, hint in (('whole', lambda src_hw, q: None), ('engine', size_hint)):
            for decoder in ('pillow', 'simplejpeg'):
                if decoder == 'simplejpeg' and fast is None:
                    continue
                for threads in sorted({1, int(cfg.threads)}):
                    image_codec._simplejpeg = fast if decoder == 'simplejpeg' else None
                    try:
                        asm = FrameAssembler(load_rig(None))
                        asm.jpeg_size_hint, asm.decode_threads = hint, threads
                        ms = _time_set(asm, cams, cfg.iters)
                        shape = asm.decode_set(cams).images.shape[1:3]
                    finally:
                        image_codec._simplejpeg = fast
                    rows.append({'quality': int(quality), 'scale': scale,
                                 'decoded_hw': list(shape), 'decoder': decoder,
                                 'threads': threads, 'ms_per_set': round(ms, 2)})
    return {'config': {**cfg.__dict__, 'qualities': list(cfg.qualities)}, 'rows': rows,
            'machine': {'cpu_count': os.cpu_count(), 'loadavg_after': os.getloadavg(),
                        'platform': platform.platform(), 'python': platform.python_version()}}


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--hw', type=int, nargs=2, default=(900, 1600), metavar=('H', 'W'))
    p.add_argument('--quality', type=int, nargs='+', default=[20, 90])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--out', type=Path, default=None)
    a = p.parse_args(argv)
    summary = run_benchmark(DecodeBenchConfig(a.hw[0], a.hw[1], tuple(a.quality), a.threads,
                                              a.iters))
    text = json.dumps(summary, indent=1)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + '\n')
    for r in summary['rows']:
        print(f"q{r['quality']:<3} {r['scale']:<6} {r['decoded_hw']} {r['decoder']:<10} "
              f"threads {r['threads']}: {r['ms_per_set']:.1f} ms")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
