#!/usr/bin/env python3
"""Error of each inference precision against the golden reference (the authors' fp32 run).

    .venv/bin/python scripts/golden_precision.py --weights W.safetensors \
        [--golden ../shared/golden] [--precisions fp32,fp16,bf16] [--out results/x.json]

Runs test/golden_adapter.py's model in each precision over the golden frames (memories
carried) and writes, per precision, the worst rel error (max |y - ref| / max |ref|) of every
output group, the worst absolute error of the selected plan (m) and the wall time.
"""
import argparse
import json
from pathlib import Path
import platform
import sys
import time

import torch

REPO = Path(__file__).resolve().parents[1]
DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
GROUPS = ('vision_embeded', 'student.ego_feature', 'plan.selected_traj', 'det.', 'map.')


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--weights', required=True)
    ap.add_argument('--golden', default=str(REPO.parent / 'shared' / 'golden'))
    ap.add_argument('--precisions', default='fp32,fp16,bf16')
    ap.add_argument('--out', default=str(REPO / 'results' / 'golden_precision_cpu.json'))
    args = ap.parse_args()
    sys.path[:0] = [args.golden, str(REPO / 'test')]
    import compare
    import golden_adapter
    from safetensors.torch import load_file
    gdir = Path(args.golden) / 'qtformer'
    meta = json.loads((gdir / 'meta.json').read_text())
    inputs = load_file(str(gdir / 'inputs.safetensors'))
    ref = load_file(str(gdir / 'outputs.safetensors'))
    model = golden_adapter.load(str(gdir), args.weights, meta)
    report = {'device': 'cpu', 'threads': torch.get_num_threads(), 'torch': torch.__version__,
              'machine': platform.processor() or platform.machine(), 'results': {}}
    for name in args.precisions.split(','):
        model.to(DTYPES[name])
        t0 = time.perf_counter()
        with torch.no_grad():
            out = golden_adapter.run(model, inputs, meta, dtype=DTYPES[name])
        wall = time.perf_counter() - t0
        finals = {k: r for k, r in ref.items()
                  if not ('.i.' in k or '.mem.' in k or k.startswith('i.'))}
        _, rows = compare.compare(finals, out, 1e-4)
        groups = {g: 0.0 for g in GROUPS}
        for row in rows:       # detection rows: as a row set where only their order differs
            rel = min(row['rel'], row.get('rowset_rel', row['rel']))
            for g in GROUPS:
                if g in row['name']:
                    groups[g] = max(groups[g], rel)
        plan_abs = max(float((out[k].double() - r.double()).abs().max())
                       for k, r in ref.items() if '.plan.selected_traj' in k)
        report['results'][name] = {'rel_max_by_output': groups, 'plan_max_abs_m': plan_abs,
                                   'within_1e-4': all(r['status'] in ('ok', 'ok-rowset')
                                                      for r in rows),
                                   'frames': len(meta['frames']), 'wall_s': wall}
        print(name, json.dumps(report['results'][name]))
    Path(args.out).write_text(json.dumps(report, indent=1) + '\n')


if __name__ == '__main__':
    main()
