"""orion-lite-replay: offline replay of a rosbag2 bag through the planner, open-loop metrics.

    orion-lite-replay BAG [--topic-map sim|autoware|carla|FILE.yaml] [--checkpoint DIR]
                      [--out DIR] [--output-bag DIR] [--reference ref.json --tolerance M]

Exit status: 0 ok; 1 regression failed; 2 nothing could be evaluated (message says why).
"""
import argparse
from dataclasses import replace
import sys
from typing import List, Optional

from orion_lite_ros.eval.bag_io import TYPESTORES, BagError
from orion_lite_ros.eval.frames import NodeSettings, ReplayError
from orion_lite_ros.eval.replay import ReplayConfig, check_bag, make_engine_planner, replay
from orion_lite_ros.eval.report import (
    compare_runs,
    load_report,
    result_to_json,
    summary_text,
    write_report,
)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog='orion-lite-replay', description=__doc__.split('\n')[0])
    p.add_argument('bag', help='rosbag2 directory, .mcap or .db3 file')
    p.add_argument('--topic-map', default='', help='sim | autoware | carla | YAML path '
                   '(default: detected from the bag)')
    p.add_argument('--typestore', default='auto', choices=['auto', *TYPESTORES])
    p.add_argument('--checkpoint', default='', help="model checkpoint; 'default' = the shipped "
                   'student (config/default_checkpoint.yaml); empty = untrained')
    p.add_argument('--single-frame', action='store_true',
                   help='plan every frame alone (no temporal memory), for checkpoints trained '
                        'on single frames (the shipped one sets this itself)')
    p.add_argument('--preset', default='mini', choices=['mini', 'orion_lite'])
    p.add_argument('--device', default='cpu')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16', 'fp16'],
                   help='model precision (bf16 pays on CPUs with AMX/AVX-512-BF16: '
                        'docs/performance.md)')
    p.add_argument('--batch', type=int, default=ReplayConfig.batch,
                   help='frames per forward pass without temporal memory (0: 8)')
    p.add_argument('--rig', default='', help='camera rig YAML (default: Bench2Drive rig)')
    p.add_argument('--slop-s', type=float, default=NodeSettings.slop_s)
    p.add_argument('--queue-size', type=int, default=NodeSettings.queue_size)
    p.add_argument('--use-camera-info', action='store_true')
    p.add_argument('--route-from-drive', action='store_true',
                   help='bags without a nav_msgs/Path route: use the recorded drive')
    p.add_argument('--max-frames', type=int, default=0)
    p.add_argument('--out', default='', help='directory for replay.json, summary, plots')
    p.add_argument('--no-plots', action='store_true')
    p.add_argument('--output-bag', default='', help='write input + planned trajectories here')
    p.add_argument('--output-storage', default='mcap', choices=['mcap', 'sqlite3'])
    p.add_argument('--reference', default='', help='replay.json of a reference run')
    p.add_argument('--tolerance', type=float, default=0.01, help='regression tolerance (m)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p.parse_args(argv)


def config_from_args(a: argparse.Namespace) -> ReplayConfig:
    node = NodeSettings(queue_size=a.queue_size, slop_s=a.slop_s,
                        use_camera_info=a.use_camera_info, route_from_drive=a.route_from_drive)
    return replace(ReplayConfig(), topic_map=a.topic_map, typestore=a.typestore, rig=a.rig,
                   node=node, max_frames=a.max_frames, progress=not a.quiet,
                   batch=a.batch)


def run(a: argparse.Namespace, planner=None) -> int:
    config = config_from_args(a)
    print(check_bag(a.bag, config).text())       # before the (slow) engine is built
    planner = planner or make_engine_planner(a.checkpoint, a.preset, a.device,
                                             temporal_memory=not a.single_frame,
                                             precision=a.precision)
    result = replay(a.bag, config, planner)
    report = result_to_json(result, {'checkpoint': a.checkpoint, 'preset': a.preset,
                                     'device': a.device, 'precision': a.precision,
                                     'batch': config.batch})
    print(summary_text(report))
    if a.out:
        write_report(report, a.out)
        if not a.no_plots:
            from orion_lite_ros.eval.plots import write_plots
            write_plots(report, result, a.out)
        print(f'written: {a.out}/replay.json, summary.txt' + ('' if a.no_plots else ', *.png'))
    if a.output_bag:
        from orion_lite_ros.eval.output_bag import write_output_bag
        write_output_bag(a.bag, a.output_bag, report, result.log_times_ns, a.output_storage,
                         a.typestore)
        print(f'output bag: {a.output_bag}')
    return _regression(a, report)


def _regression(a: argparse.Namespace, report: dict) -> int:
    if not a.reference:
        return 0 if report['frames'] else 2
    reg = compare_runs(report, load_report(a.reference), a.tolerance)
    print(reg.text())
    if a.out:
        import json
        from pathlib import Path
        (Path(a.out) / 'regression.json').write_text(json.dumps(reg.to_json(), indent=1))
    return 0 if reg.passed else 1


def main(argv: Optional[List[str]] = None) -> int:
    a = parse_args(argv)
    try:
        return run(a)
    except (BagError, ReplayError, ValueError, FileNotFoundError) as err:
        print(f'orion-lite-replay: {err}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    raise SystemExit(main())
