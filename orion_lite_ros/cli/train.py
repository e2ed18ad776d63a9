"""orion-lite-train: distil / fine-tune the Orion-Lite student.

    orion-lite-train --config config/train_mini.yaml out_dir=runs/mini lr=1e-4 loss.kl_weight=0
    orion-lite-train --config config/train_mini.yaml out_dir=runs/mini --resume
    orion-lite-train --config config/train_episodes.yaml sample_cache=data/cache --build-cache
    torchrun --nproc_per_node 4 -m orion_lite_ros.cli.train --config config/train_paper.yaml

`key=value` pairs override the config file by field name (`loss.<field>` for loss fields).
"""
import argparse
import json
import sys

from orion_lite_ros.training.config import load_config


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='orion-lite-train', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=None, help='YAML file (config/train_*.yaml)')
    parser.add_argument('--resume', action='store_true',
                        help='continue from <out_dir>/checkpoints/last.pt when it exists')
    parser.add_argument('--build-cache', action='store_true',
                        help='build the sample cache(s) of train_dir/val_dir (sample_cache=DIR, '
                             'num_workers processes) and exit; runs then share them')
    parser.add_argument('--print-config', action='store_true',
                        help='print the resolved config as JSON and exit')
    parser.add_argument('overrides', nargs='*', metavar='field=value')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    if args.build_cache:
        if not cfg.sample_cache:
            print('orion-lite-train: --build-cache needs sample_cache=DIR', file=sys.stderr)
            return 2
        from orion_lite_ros.training.build import build_datasets
        train, val = build_datasets(cfg)
        print(json.dumps({'train': str(train.path), 'train_samples': len(train),
                          'val': str(val.path) if val is not None else None}))
        return 0
    from orion_lite_ros.training.build import run
    from orion_lite_ros.training.trainer import shutdown_distributed
    try:
        trainer = run(cfg, resume=args.resume)
    except BaseException:
        shutdown_distributed(wait=False)
        raise
    if trainer.dist.is_main and trainer.val_history:
        print(json.dumps(trainer.val_history[-1]))
    shutdown_distributed(trainer)
    return 0


if __name__ == '__main__':
    sys.exit(main())
