"""orion-lite-drive: planner + controller without ``ros2 launch`` (same YAML, same profiles).

    orion-lite-drive --profile sim     # package config/planner.yaml + controller.yaml
    orion-lite-drive --profile carla --config my.yaml --use-sim-time --mode processes
    orion-lite-drive --profile autoware --print          # show the equivalent `ros2 run` lines
    orion-lite-drive --profile carla --checkpoint /models/orion_lite   # other weights

``--checkpoint`` (launch argument ``checkpoint``) defaults to ``default``, the shipped student
(config/default_checkpoint.yaml), for every profile; it wins over the YAMLs. ``''`` plans with
random weights (tests only). After a colcon build the same is ``ros2 run orion_lite_ros
orion-lite-drive ...``.

Profiles live in config/profiles/<name>.yaml (format in docs/nodes.md); ``--profile`` also
takes a path. ``launch/drive.launch.py`` reads the same files through ``drive_specs``.
"""
import argparse
from pathlib import Path
import shlex
import sys
from typing import Any, Dict, List, Optional, Sequence

import yaml

_PACKAGE = 'orion_lite_ros'
PROFILES = ('sim', 'carla', 'autoware')
DRIVE_NODES = ('planner_node', 'controller_node')
DEFAULT_CHECKPOINT = 'default'             # the shipped student (config/default_checkpoint.yaml)


def config_dir() -> Path:
    """config/ of the source tree, else the installed share directory."""
    here = Path(__file__).resolve().parents[2] / 'config'
    if (here / 'profiles').is_dir():
        return here
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory(_PACKAGE)) / 'config'


def default_config_files() -> List[str]:
    return [str(config_dir() / 'planner.yaml'), str(config_dir() / 'controller.yaml')]


def profile_path(profile: str) -> Path:
    if profile in PROFILES or not profile.endswith(('.yaml', '.yml')):
        path = config_dir() / 'profiles' / f'{profile}.yaml'
    else:
        path = Path(profile)
    if not path.is_file():
        raise FileNotFoundError(f'profile {profile!r}: {path} not found (known: {PROFILES})')
    return path


def load_profile(profile: str) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """{node name: {'remappings': {from: to}, 'parameters': {name: value}}}."""
    data = yaml.safe_load(profile_path(profile).read_text()) or {}
    out = {}
    for node, entry in data.items():
        entry = entry or {}
        unknown = set(entry) - {'remappings', 'parameters'}
        if unknown:
            raise ValueError(f'profile {profile!r}, node {node!r}: unknown keys {sorted(unknown)}')
        out[node] = {'remappings': {str(k): str(v) for k, v in
                                    (entry.get('remappings') or {}).items()},
                     'parameters': dict(entry.get('parameters') or {})}
    return out


def drive_specs(profile: str = 'sim', config_files: Optional[Sequence[str]] = None,
                use_sim_time: bool = False, nodes: Sequence[str] = DRIVE_NODES,
                checkpoint: Optional[str] = DEFAULT_CHECKPOINT) -> list:
    """NodeSpecs for the planner and controller with the profile's remappings/parameters;
    ``checkpoint`` (None: leave it to the YAMLs and the profile) overrides them."""
    from orion_lite_ros.nodes.runner import NodeSpec
    files = tuple(str(f) for f in (config_files or default_config_files()))
    for path in files:
        if not Path(path).is_file():
            raise FileNotFoundError(f'config file {path} not found')
    entries = load_profile(profile)
    specs = []
    for node in nodes:
        entry = entries.get(node, {'remappings': {}, 'parameters': {}})
        params = dict(entry['parameters'], use_sim_time=bool(use_sim_time))
        if node == 'planner_node' and checkpoint is not None:
            params['checkpoint'] = checkpoint
        specs.append(NodeSpec(node, params_files=files, parameters=params,
                              remappings=entry['remappings']))
    return specs


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='orion-lite-drive', description=__doc__.split('\n')[0])
    p.add_argument('--profile', default='sim', help=f'{"|".join(PROFILES)} or a YAML path')
    p.add_argument('--config', action='append', default=None,
                   help='parameter YAML (repeatable); default: package planner + controller')
    p.add_argument('--use-sim-time', action='store_true')
    p.add_argument('--checkpoint', default=DEFAULT_CHECKPOINT,
                   help="planner weights: 'default' = the shipped student, a checkpoint path, "
                        "or '' for random weights (tests only)")
    p.add_argument('--mode', choices=('threads', 'processes'), default='threads')
    p.add_argument('--no-dds-profile', action='store_true',
                   help='do not load the shipped Fast DDS shared-memory profile')
    p.add_argument('--domain-id', type=int, default=None)
    p.add_argument('--duration', type=float, default=None, help='stop after this many seconds')
    p.add_argument('--only', choices=DRIVE_NODES, action='append', default=None,
                   help='start only this node (repeatable)')
    p.add_argument('--print', dest='print_only', action='store_true',
                   help='print the equivalent `ros2 run` command lines and exit')
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        specs = drive_specs(args.profile, args.config, args.use_sim_time,
                            args.only or DRIVE_NODES, args.checkpoint)
    except (FileNotFoundError, ValueError) as exc:
        print(f'orion-lite-drive: {exc}', file=sys.stderr)
        return 2
    if args.print_only:
        for spec in specs:
            print(shlex.join(['ros2', 'run', _PACKAGE, spec.executable] + spec.ros_args()))
        return 0
    from orion_lite_ros.nodes.runner import run_nodes
    return run_nodes(specs, mode=args.mode, use_dds_profile=not args.no_dds_profile,
                     domain_id=args.domain_id, duration_s=args.duration)


if __name__ == '__main__':
    raise SystemExit(main())
