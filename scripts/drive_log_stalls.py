"""Stalls of every drive log in a closed-loop run folder (orion_lite_ros/eval/stalls.py).

  python scripts/drive_log_stalls.py out/demo/planner [--json stalls.json]
"""
import argparse
import json
from pathlib import Path
import sys

from orion_lite_ros.eval.stalls import stalls_of_log


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('run', help='a run folder with logs/<route>.npz (e.g. out/demo/planner)')
    ap.add_argument('--speed', type=float, default=0.3, help='m/s: standing below this')
    ap.add_argument('--min-s', type=float, default=5.0, help='shortest stall reported (s)')
    ap.add_argument('--json', default='', help='also write the stalls here')
    args = ap.parse_args(argv)
    logs = sorted(Path(args.run, 'logs').glob('*.npz'))
    if not logs:
        print(f'no drive logs in {Path(args.run, "logs")}', file=sys.stderr)
        return 2
    result = {}
    for path in logs:
        stalls = stalls_of_log(path, speed_mps=args.speed, min_s=args.min_s)
        result[path.stem] = [s.as_dict() for s in stalls]
        for s in stalls:
            print(f'{path.stem}: t={s.start_s:.1f} s for {s.duration_s:.1f} s, brake '
                  f'{100 * s.brake_share:.0f} % of ticks, switches {100 * s.switch_share:.0f} %,'
                  f' speed {s.mean_speed_mps:.2f} m/s, desired {s.mean_target_mps:.2f} m/s')
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
