"""orion-lite-teacher: train the privileged teacher, annotate episodes, drive in closed loop.

    orion-lite-teacher train --config config/teacher.yaml episodes_dir=data/episodes/train
    orion-lite-teacher annotate --checkpoint runs/teacher/teacher \
        --episodes data/episodes/train --cache data/teacher_cache
    orion-lite-teacher eval --checkpoint runs/teacher/teacher --routes heldout --out r.json
    orion-lite-teacher eval --expert --routes red_light:100001,stop_sign:100001

`train` takes `field=value` overrides (`model.<field>`, `model.tokens.<field>`).
`eval` drives the embedded simulator without ROS (physics only, no rendering) and prints the
Bench2Drive summary (eval.bench2drive); `--out` writes records + summary as JSON.
"""
import argparse
from dataclasses import asdict
import json
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='orion-lite-teacher', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='cmd', required=True)
    train = sub.add_parser('train', help='behaviour cloning on recorded episodes')
    train.add_argument('--config', default=None, help='YAML file (config/teacher.yaml)')
    train.add_argument('--print-config', action='store_true')
    train.add_argument('overrides', nargs='*', metavar='field=value')
    ann = sub.add_parser('annotate', help='planning tokens -> feature cache / episodes')
    ann.add_argument('--checkpoint', required=True, help='directory from `train`')
    ann.add_argument('--episodes', required=True)
    ann.add_argument('--cache', default=None, help='FeatureCache root')
    ann.add_argument('--workers', type=int, default=1, help='processes (whole episodes each)')
    ann.add_argument('--into-episodes', action='store_true',
                     help='also store `teacher_token` in every frame .npz')
    ev = sub.add_parser('eval', help='closed-loop drive on the embedded simulator')
    ev.add_argument('--checkpoint', default=None)
    ev.add_argument('--expert', action='store_true', help='drive the expert instead')
    ev.add_argument('--routes', default='heldout',
                    help="'heldout' or family:seed,family:seed,... (training seeds allowed)")
    ev.add_argument('--limit', type=int, default=None, help='first N routes only')
    ev.add_argument('--max-steps', type=int, default=None)
    ev.add_argument('--out', default=None, help='JSON file for records + summary')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    return parser.parse_args(argv)


def _routes(spec: str, limit):
    from orion_lite_ros.sim.backend import heldout_routes, scenario_route
    if spec == 'heldout':
        routes = heldout_routes()
    else:
        pairs = [item.rsplit(':', 1) for item in spec.split(',') if item]
        routes = [scenario_route(family, int(seed)) for family, seed in pairs]
    return routes[:limit] if limit else routes


def run_eval(args) -> dict:
    from orion_lite_ros.eval.bench2drive import summarize
    from orion_lite_ros.teacher.driver import ExpertDriver, TeacherDriver, drive_routes
    if args.expert:
        driver = ExpertDriver()
    elif args.checkpoint:
        from orion_lite_ros.teacher.model import load_teacher
        driver = TeacherDriver(load_teacher(args.checkpoint))
    else:
        raise SystemExit('eval needs --checkpoint or --expert')
    routes = _routes(args.routes, args.limit)

    def show(r):
        print(json.dumps({'route': r.route_id, 'status': r.status,
                          'completion': r.route_completion_pct,
                          'infractions': [i.kind for i in r.infractions]}), flush=True)

    records = drive_routes(routes, driver, args.max_steps, on_record=show)
    result = {'driver': driver.name, 'summary': asdict(summarize(records)),
              'records': [r.to_json() for r in records]}
    if args.out:
        from pathlib import Path
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return result['summary']


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    if args.cmd == 'train':
        from orion_lite_ros.teacher.config import TeacherTrainConfig, load_config
        cfg = load_config(TeacherTrainConfig, args.config, args.overrides)
        if args.print_config:
            print(json.dumps(asdict(cfg), indent=2))
            return 0
        from orion_lite_ros.teacher.train import train_teacher
        summary = train_teacher(cfg)
        print(json.dumps({k: v for k, v in summary.items() if k != 'history'}))
    elif args.cmd == 'annotate':
        from orion_lite_ros.teacher.train import annotate
        print(json.dumps(annotate(args.checkpoint, args.episodes, args.cache,
                                  args.into_episodes, workers=args.workers)))
    else:
        summary = run_eval(args)
        print(json.dumps({k: summary[k] for k in ('driving_score', 'route_completion',
                                                   'success_rate', 'infraction_penalty')}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
