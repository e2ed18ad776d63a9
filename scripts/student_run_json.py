"""Issue 16: one student run's figures in one JSON file (results/student_experiment_*.json):
the last validation record of its train_log.jsonl (with the constant-velocity columns and the
input sensitivity) and the closed-loop summary and per-route status of orion-lite-demo
results, next to each other.

  python scripts/student_run_json.py --run data/run9/runs/gt_only \
      --closed-loop run9=out/run9/gt_only/planner/results.json [--probe F] --out R.json \
      KEY=VALUE..."""
import argparse
import json
from pathlib import Path
import sys


def last_val(train_log: str) -> dict:
    lines = Path(train_log).read_text().splitlines()
    val = [json.loads(line) for line in lines if '"kind": "val"' in line]
    if not val:
        raise SystemExit(f'{train_log}: no validation record')
    return {k: v for k, v in val[-1].items() if k not in ('kind', 'time')}


def closed_loop(results: str) -> dict:
    r = json.loads(Path(results).read_text())
    labels, values = r['labels'], r['values']
    routes = {}
    for rec in r['_checkpoint']['records']:
        routes[rec['route_id']] = {
            'status': rec['status'],
            'route_completion_pct': rec['scores']['score_route'],
            'infractions': sorted(k for k, v in rec['infractions'].items() if v)}
    return {'summary': dict(zip(labels, values)), 'routes': routes}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--run', required=True, help='training out_dir (train_log.jsonl)')
    ap.add_argument('--closed-loop', action='append', default=[], metavar='NAME=RESULTS')
    ap.add_argument('--probe', default='', help='scripts/probe_wait_gate.py output')
    ap.add_argument('--out', required=True)
    ap.add_argument('fields', nargs='*', metavar='KEY=VALUE')
    args = ap.parse_args(argv)
    out = dict(f.split('=', 1) for f in args.fields)
    out['validation'] = last_val(f'{args.run}/train_log.jsonl')
    if args.probe:
        out['wait_gate_probe'] = json.loads(Path(args.probe).read_text())
    out['closed_loop'] = {name: closed_loop(path) for name, path in
                          (c.split('=', 1) for c in args.closed_loop)}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out['closed_loop'], indent=1)[:3000])
    return 0


if __name__ == '__main__':
    sys.exit(main())
