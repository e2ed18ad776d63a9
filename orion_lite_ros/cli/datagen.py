"""orion-lite-datagen: record expert episodes (with perturbations) for distillation.

    orion-lite-datagen --config config/datagen.yaml out_dir=data/episodes/train num_seeds=40
    orion-lite-datagen --config config/datagen.yaml camera_height_px=64 camera_width_px=128

`field=value` pairs override the YAML by field name (`perturb.<field>`, `tokens.<field>`).
Training routes only (seeds of the held-out set are refused). Re-running resumes: finished
episodes (meta.json present) are skipped.
"""
import argparse
from dataclasses import asdict
import json
import os
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='orion-lite-datagen', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=None, help='YAML file (config/datagen.yaml)')
    parser.add_argument('--print-config', action='store_true',
                        help='print the resolved config as JSON and exit')
    parser.add_argument('overrides', nargs='*', metavar='field=value')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from orion_lite_ros.teacher.config import DatagenConfig, load_config
    cfg = load_config(DatagenConfig, args.config, args.overrides)
    if args.print_config:
        print(json.dumps(asdict(cfg), indent=2))
        return 0
    os.environ.setdefault('MUJOCO_GL', 'egl')     # headless rendering before mujoco loads
    from orion_lite_ros.teacher.datagen import datagen_routes, generate
    done = generate(cfg, datagen_routes(cfg), log=lambda s: print(json.dumps(s), flush=True))
    print(json.dumps({'episodes_recorded': len(done),
                      'frames': sum(int(s['frames']) for s in done)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
