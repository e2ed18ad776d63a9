"""Markdown tables of the issue-20 CPU benchmarks (scripts/bench_cpu.sh) from their JSON.

    python -m orion_lite_ros.bench.perf_table results/perf
"""
import json
from pathlib import Path
import sys


def _load(d: Path, name: str):
    p = d / f'{name}.json'
    return json.loads(p.read_text()) if p.exists() else None


def engine_table(d: Path) -> str:
    rows = ['| run | images | jpeg decode | torch / preprocess threads | busy procs | '
            'preprocess p50 ms | model p50 ms | total p50 / p99 ms | frames/s |',
            '|---|---|---|---|---|---|---|---|---|']
    for p in sorted(d.glob('engine_*.json')):
        r = json.loads(p.read_text())
        busy = p.stem.split('busy')[1] if 'busy' in p.stem else '0'
        th = r.get('threads', {})
        rows.append(
            f"| {p.stem} | {r.get('images', 'noise')} {r['source_hw'][1]}x{r['source_hw'][0]}"
            f" | {r['engine'].get('jpeg_decode', 'full')} | {r['engine'].get('torch_threads')}"
            f"->{th.get('torch')} / {th.get('preprocess')} | {busy} | "
            f"{r['stages_ms']['preprocess']['p50']:.1f} | {r['stages_ms']['model']['p50']:.1f} | "
            f"{r['latency_ms']['p50']:.1f} / {r['latency_ms']['p99']:.1f} | "
            f"{r['frames_per_s']:.2f} |")
    return '\n'.join(rows)


def e2e_table(d: Path) -> str:
    rows = ['| run | cameras | rate Hz | busy | planned ratio | plans/s | '
            'e2e p50 / p99 / max ms |', '|---|---|---|---|---|---|---|']
    for p in sorted(d.glob('e2e_*.json')):
        r = json.loads(p.read_text())
        c, lat = r['config'], r.get('latency_ms', {})
        q = c.get('jpeg_quality', 0)
        kind = f'JPEG q{q}' if q else 'rgb8'
        rows.append(f"| {p.stem} | 6x {c['width_px']}x{c['height_px']} {kind} | "
                    f"{c['rate_hz']:g} | "
                    f"{c['busy']} | {r['planned_ratio']} | {r['plans_per_s']} | "
                    f"{lat.get('p50')} / {lat.get('p99')} / {lat.get('max')} |")
    return '\n'.join(rows)


def replay_table(d: Path) -> str:
    rows = ['| run | cameras | precision | replay only fps | engine frame by frame: fps (x real '
            'time) | engine, batch B (default): fps (x real time) | batch B + prefetch 2 |',
            '|---|---|---|---|---|---|---|']

    def cell(r):
        return f"{r['frames_per_s']} ({r['real_time_factor']}x)"
    for p in sorted(d.glob('replay_*.json')):
        r = json.loads(p.read_text())
        b = r['bag']
        kind = f"JPEG q{b.get('jpeg_quality')}" if b.get('compressed') else 'raw'
        if 'replay_with_engine_frame_by_frame' in r:
            e = r['replay_with_engine']
            single, batched = r['replay_with_engine_frame_by_frame'], f"B={e['batch']}: {cell(e)}"
            ahead = cell(r['replay_with_engine_prefetch'])
        else:             # a run from before batching: frame by frame, with and without prefetch
            single, batched = r['replay_with_engine_no_prefetch'], '-'
            ahead = f"(B=1) {cell(r['replay_with_engine'])}"
        rows.append(f"| {p.stem} | 6x {b['image_hw'][1]}x{b['image_hw'][0]} {kind} | "
                    f"{r.get('precision', 'fp32')} | "
                    f"{r['replay_only_noop_planner']['frames_per_s']} | "
                    f"{cell(single)} | {batched} | {ahead} |")
    return '\n'.join(rows)


def main(argv=None) -> int:
    d = Path((argv or sys.argv[1:] or ['results/perf'])[0])
    print('### Engine (orion-lite-bench, shipped mini checkpoint)\n')
    print(engine_table(d))
    print('\n### Planner node end to end over DDS (bench/planner_e2e.py)\n')
    print(e2e_table(d))
    print('\n### Offline replay (bench/replay_fps.py)\n')
    print(replay_table(d))
    return 0


if __name__ == '__main__':
    sys.exit(main())
