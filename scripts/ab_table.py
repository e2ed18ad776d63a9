"""Markdown table of a before/after benchmark folder (scripts/bench_fused_encoder.sh):
files <before|after>_r<round>_<name>.json from orion-lite-bench and bench.replay_fps."""
from collections import defaultdict
import json
from pathlib import Path
import re
import sys


def _figure(d: dict) -> str:
    if 'stages_ms' in d:                                  # orion-lite-bench
        s, lat = d['stages_ms'], d['latency_ms']
        return (f"model {s['model']['p50']:.1f} / preprocess {s['preprocess']['p50']:.1f} / "
                f"total {lat['p50']:.1f} (p99 {lat['p99']:.1f}) ms")
    r = d['replay_with_engine']                          # bench.replay_fps
    return f"{r['frames_per_s']:.1f} frames/s ({r['real_time_factor']:.2f}x, B={r['batch']})"


def main(folder: str) -> None:
    rows = defaultdict(dict)
    for f in sorted(Path(folder).glob('*_r[0-9]_*.json')):
        m = re.match(r'(before|after)_r(\d)_(.+)\.json$', f.name)
        if m:
            rows[m.group(3)][f'{m.group(1)} r{m.group(2)}'] = _figure(json.loads(f.read_text()))
    cols = sorted({c for r in rows.values() for c in r},
                  key=lambda c: (c[-1], not c.startswith('before')))    # before rK, after rK
    print('| run | ' + ' | '.join(cols) + ' |')
    print('|---' * (len(cols) + 1) + '|')
    for name in sorted(rows):
        print(f'| {name} | ' + ' | '.join(rows[name].get(c, '') for c in cols) + ' |')


if __name__ == '__main__':
    main(sys.argv[1])
