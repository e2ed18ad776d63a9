"""orion-lite-demo: drive embedded routes through real ROS 2 nodes and score them.

Runs, each through ``bridge_node`` over DDS (loopback, our Fast DDS profile):
  1. expert:   the simulator's privileged expert drives (bridge ``driver: expert``);
  2. teacher (with ``--teacher CKPT``): the privileged teacher drives inside the bridge;
  3. baseline: constant velocity (keep the speed, straight on) through planner_node +
     controller_node, the trivial plan the learned planner must beat; it reads no images, so
     the simulator renders none for it (odometry only);
  4. planner:  bridge + ``planner_node`` (the shipped student) + ``controller_node``, its
     routes in ``--lanes`` parallel closed loops (default 2: a lock-step loop keeps about
     one core busy), lane k in DDS domain ROS_DOMAIN_ID + k.
Per route a progress bar while it drives and a short video (front camera with the plan drawn
in, bird's-eye view of route, ego, agents and plan) for the planner; then
the Bench2Drive table of every run side by side, results JSON per run and a BEV plot per
route, under ``--out``. Each run resumes from its results file (``--fresh`` starts over).

    orion-lite-demo                 # one held-out route per scenario family (7 routes)
    orion-lite-demo --all           # every held-out route (10)
    orion-lite-demo --seeds 100003 100004   # every family at other evaluation seeds
    orion-lite-demo --quick         # one short route, CI-sized
"""
import argparse
from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
import signal
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

from orion_lite_ros.paths import DEFAULT_CHECKPOINT

UNTRAINED_NOTE = ('NOTE: the planner is UNTRAINED (random-initialised mini model, '
                  '--random-weights); its score says nothing about Orion-Lite.')


RUN_DIRS = {'expert': 'expert', 'teacher': 'teacher', 'baseline': 'baseline',
            'stack': 'planner'}
STACK_PLANNERS = {'baseline': 'constant_velocity', 'stack': 'model'}


def _reads_images(driver: str) -> bool:
    """Whether the run's planner reads camera images (the baseline plans from odometry:
    no cameras rendered or synchronised, no video)."""
    return STACK_PLANNERS.get(driver) == 'model'


@dataclass(frozen=True)
class DemoConfig:
    out_dir: Path = Path('out/demo')
    num_routes: int = 0                  # 0 = every selected route
    route_ids: tuple = ()                # explicit routes; () = one held-out route per family
    quick: bool = False
    checkpoint: str = DEFAULT_CHECKPOINT # config/default_checkpoint.yaml; '' = random weights
    temporal_memory: bool = False        # explicit checkpoints: plan each frame alone
    blind_views: bool = False            # ablation: the planner's model sees black views
    mode: str = 'processes'              # processes | threads (nodes/runner.py)
    run_expert: bool = True
    run_planner: bool = True
    run_baseline: bool = True
    video_every_n: int = 5               # video frame every n steps (0 = no videos)
    progress: bool = True
    teacher_checkpoint: str = ''         # non-empty: also drive the privileged teacher
    fresh: bool = False
    max_steps_per_route: int = 0         # 0 = routes run to their end / timeout
    command_timeout_s: float = 10.0
    frames_every_n: int = 40             # front-camera PNG every n steps of the planner run
    run_timeout_s: float = 6 * 3600.0
    lanes: int = 1                       # planner run: routes in this many parallel loops
    wait_threshold: float = 0.0          # planner: go/wait gate threshold (0 = checkpoint's)

    @property
    def routes_to_drive(self) -> int:
        return 1 if self.quick and self.num_routes == 0 else self.num_routes

    @property
    def steps_cap(self) -> int:
        return self.max_steps_per_route or (800 if self.quick else 0)


def default_routes() -> tuple:
    """The first held-out route of each scenario family (7 of the 10)."""
    from orion_lite_ros.sim.backend import heldout_routes
    seen, out = set(), []
    for r in heldout_routes():
        if r.scenario not in seen:
            seen.add(r.scenario)
            out.append(r.route_id)
    return tuple(out)


def _bridge_params(cfg: DemoConfig, driver: str, out: Path,
                   routes: Optional[Sequence[str]] = None) -> dict:
    """The bridge's parameters; `routes`: these route ids (a lane's) instead of the
    selection of `cfg`."""
    extra = {'teacher_checkpoint': cfg.teacher_checkpoint} if driver == 'teacher' else {}
    num_routes = cfg.routes_to_drive if routes is None else 0
    routes = list(cfg.route_ids if routes is None else routes) or ['']
    stack = driver in STACK_PLANNERS
    return {**extra, 'driver': 'stack' if stack else driver, 'backend': 'embedded',
            'routes': routes, 'num_routes': num_routes,
            'video_every_n': cfg.video_every_n if _reads_images(driver) else 0,
            'stack_cameras': _reads_images(driver),
            'output_dir': str(out), 'max_steps_per_route': cfg.steps_cap,
            'command_timeout_s': cfg.command_timeout_s, 'first_command_timeout_s': 180.0,
            'wait_for_stack_s': 180.0, 'on_missing_command': 'brake',
            'save_frames_every_n': cfg.frames_every_n if driver == 'stack' else 0,
            'run_key': f'demo/{driver}/quick={cfg.quick}/steps={cfg.steps_cap}/'
                       f'ckpt={_run_checkpoint(cfg, driver) or "random"}/'
                       f'memory={cfg.temporal_memory}/routes={",".join(routes)}'
                       + (f'/wait={cfg.wait_threshold:g}'
                          if cfg.wait_threshold and driver == 'stack' else '')
                       + ('/blind' if cfg.blind_views and driver == 'stack' else '')}


def _run_checkpoint(cfg: DemoConfig, driver: str) -> str:
    return {'stack': cfg.checkpoint, 'teacher': cfg.teacher_checkpoint}.get(driver, '')


def _stack_specs(cfg: DemoConfig, planner: str = 'model') -> list:
    from orion_lite_ros.cli.drive import drive_specs
    specs = drive_specs('sim', use_sim_time=True)
    out = []
    for spec in specs:
        params = dict(spec.parameters)
        if spec.executable == 'planner_node':
            params.update(checkpoint=cfg.checkpoint, model_preset='mini', device='auto',
                          temporal_memory=cfg.temporal_memory, planner=planner)
            if planner != STACK_PLANNERS['stack']:      # `_reads_images`
                params.update(cameras=False)
            if planner == 'model' and cfg.wait_threshold:
                params.update(wait_threshold=cfg.wait_threshold)
            if planner == 'model' and cfg.blind_views:
                params.update(blind_views=True)
        if spec.executable == 'controller_node':
            # Lock-step: every command must answer a trajectory. The controller's timer would
            # also publish (stamped with the clock, from the previous trajectory) and could
            # win the race for a step; slow it to once per 1000 s of sim time.
            params.update(rate_hz=0.0)
        out.append(type(spec)(spec.executable, params_files=spec.params_files,
                              parameters=params, remappings=spec.remappings))
    return out


def _prepare_out(out: Path, run_key: str, fresh: bool) -> None:
    """Resume only results of the same run; anything else in ``out`` is replaced."""
    results = out / 'results.json'
    if results.is_file() and not fresh:
        try:
            stored = json.loads(results.read_text()).get('run', {}).get('run_key', '')
        except (OSError, ValueError):
            stored = None
        if stored == run_key:
            print(f'[demo] resuming {results}')
            return
        print(f'[demo] {results} is from another run ({stored!r}); starting afresh')
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)


class RouteProgress:
    """One progress bar per route (tqdm), fed from the bridge's progress.json."""

    def __init__(self, path: Path, label: str, enabled: bool, position: Optional[int] = None):
        self.path, self.label, self.enabled, self.position = path, label, enabled, position
        self.route, self.bar = None, None

    def poll(self) -> None:
        if not self.enabled:
            return
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if state['route_id'] != self.route:
            self.close()
            from tqdm import tqdm
            self.route = state['route_id']
            self.bar = tqdm(total=100.0, desc=f'{self.label} {self.route}', unit='%',
                            bar_format='{desc}: {percentage:3.0f}%|{bar}| {postfix}',
                            dynamic_ncols=True, position=self.position)
        self.bar.n = min(100.0, float(state['completion_pct']))
        self.bar.set_postfix_str(f"step {state['step']}" + (' done' if state['done'] else ''))
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _wait_for_bridge(group, timeout_s: float, progress: Optional['RouteProgress'] = None
                     ) -> None:
    deadline = time.monotonic() + timeout_s
    try:
        _wait(group, deadline, progress)
    finally:
        if progress is not None:
            progress.poll()
            progress.close()


def _wait(group, deadline: float, progress, others: Sequence = ()) -> None:
    """Until `group`'s bridge has finished; a node of `others` (groups running beside it)
    that exits early fails it too."""
    timeout_s = deadline - time.monotonic()
    if group.mode == 'threads':
        bridge = next(n for n in group.nodes if hasattr(n, 'done'))
        if not bridge.done.wait(timeout_s):
            raise TimeoutError('the bridge did not finish in time')
        if bridge.error:
            raise RuntimeError(f'bridge failed: {bridge.error}')
        return
    proc = group.processes[0]
    while proc.poll() is None:
        if time.monotonic() > deadline:
            raise TimeoutError('the bridge did not finish in time')
        early = [(name, code) for g in (group, *others) for name, code in g.exited()
                 if name != 'bridge_node' or (g is not group and code != 0)]
        if early:
            from orion_lite_ros.nodes.runner import describe_exit
            raise RuntimeError('; '.join(f'{name} exited early: {describe_exit(code)}'
                                         for name, code in early) + ' (see its log above)')
        if progress is not None:
            progress.poll()
        time.sleep(0.2)
    if proc.returncode != 0:
        from orion_lite_ros.nodes.runner import describe_exit
        raise RuntimeError(f'bridge_node exited: {describe_exit(proc.returncode)}')


def _specs(cfg: DemoConfig, driver: str, params: dict) -> list:
    from orion_lite_ros.nodes.runner import NodeSpec
    specs = [NodeSpec('bridge_node', parameters=params)]
    if driver in STACK_PLANNERS:
        specs += _stack_specs(cfg, STACK_PLANNERS[driver])
    return specs


def run_one(cfg: DemoConfig, driver: str) -> dict:
    """One closed-loop run through ROS nodes; returns its results JSON."""
    from orion_lite_ros.nodes.runner import start_nodes
    routes = selected_routes(cfg)
    lanes = lane_count(len(routes), cfg.lanes if _lane_parallel(cfg, driver) else 1)
    if lanes > 1:
        return run_lanes(cfg, driver, routes, lanes)
    out = cfg.out_dir / RUN_DIRS[driver]
    params = _bridge_params(cfg, driver, out)
    _prepare_out(out, params['run_key'], cfg.fresh)
    specs = _specs(cfg, driver, params)
    print(f'[demo] {RUN_DIRS[driver]}: {" + ".join(s.executable for s in specs)} ({cfg.mode})',
          flush=True)
    t0 = time.monotonic()
    progress = RouteProgress(out / 'progress.json', RUN_DIRS[driver], cfg.progress)
    with start_nodes(specs, mode=cfg.mode) as group:
        _wait_for_bridge(group, cfg.run_timeout_s, progress)
    print(f'[demo] {RUN_DIRS[driver]}: done in {time.monotonic() - t0:.0f} s', flush=True)
    return json.loads((out / 'results.json').read_text())


# -- parallel lanes ---------------------------------------------------------------------------
# In lock-step the bridge and the planner mostly wait for each other: one closed loop keeps
# ~1.1 of 2 cores busy (simulator cameras, mini model). The planner run therefore drives its
# routes in `lanes` loops at once, each a bridge + planner + controller of its own in its own
# DDS domain (ROS_DOMAIN_ID + k), its results under <run>/lanes/<k>/, merged into <run>/.
# The lanes work off one queue (the bridges' route_claims_dir), longest route first: a lane
# that finishes early takes the next route, so one slow route does not hold up the others.

def _lane_parallel(cfg: DemoConfig, driver: str) -> bool:
    return driver == 'stack' and cfg.mode == 'processes'


def selected_routes(cfg: DemoConfig) -> List[str]:
    """The route ids the run drives (the held-out file when `cfg.route_ids` is empty)."""
    if cfg.route_ids:
        ids = list(cfg.route_ids)
    else:
        from orion_lite_ros.sim.backend import heldout_routes
        ids = [r.route_id for r in heldout_routes()]
    n = cfg.routes_to_drive
    return ids[:n] if n > 0 else ids


def lane_count(routes: int, lanes: int) -> int:
    """Loops to run: at most one per route, at least one."""
    return max(1, min(int(lanes), int(routes)))


def queue_order(routes: Sequence[str], length_m: Callable[[str], float]) -> List[str]:
    """The lanes' queue: longest route first (a greedy schedule whose last route to finish
    is a short one), ties in the run's order."""
    return sorted(routes, key=lambda r: -float(length_m(r)))


def _route_lengths_m(route_ids: Sequence[str]) -> Dict[str, float]:
    """Route id -> length of its waypoint polyline (held-out file, else the seeded route)."""
    from orion_lite_ros.sim import geometry as geo
    from orion_lite_ros.sim.backend import evaluation_route, heldout_routes
    by_id = {r.route_id: r for r in heldout_routes()}
    routes = [by_id.get(r) or evaluation_route(r) for r in route_ids]
    return {r.route_id: float(geo.arc_length(r.waypoints_xy)[-1]) for r in routes}


def claim_finished(claims_dir: Path, lane_dirs: Sequence[Path]) -> List[str]:
    """A fresh claims directory holding the routes the lanes have already finished (a resumed
    run drives only the others, each once); returns those route ids."""
    from orion_lite_ros.bridge.episode_runner import RouteClaims
    if claims_dir.exists():
        shutil.rmtree(claims_dir)
    claims, done = RouteClaims(claims_dir), []
    for d in lane_dirs:
        try:
            data = json.loads((d / 'results.json').read_text())
        except (OSError, ValueError):
            continue
        for record in records_of(data):
            if claims(record.route_id):
                done.append(record.route_id)
    return done


def lane_domain(base: int, k: int) -> int:
    """DDS domain of lane k (0..232, the ids Fast DDS maps to ports)."""
    return (base + k) % 233


class _Progresses:
    def __init__(self, bars: Sequence['RouteProgress']):
        self.bars = list(bars)

    def poll(self) -> None:
        for bar in self.bars:
            bar.poll()

    def close(self) -> None:
        for bar in self.bars:
            bar.close()


def run_lanes(cfg: DemoConfig, driver: str, routes: List[str], lanes: int) -> dict:
    from contextlib import ExitStack

    from orion_lite_ros.bridge.results_store import ResultsStore
    from orion_lite_ros.layout import CAMERA_NAMES
    from orion_lite_ros.nodes.runner import start_nodes
    out, name = cfg.out_dir / RUN_DIRS[driver], RUN_DIRS[driver]
    run_key = _bridge_params(cfg, driver, out, routes)['run_key'] + f'/lanes={lanes}'
    _prepare_out(out, run_key, cfg.fresh)
    store = ResultsStore(out / 'results.json', routes, run_key=run_key, resume=False,
                         sensors=list(CAMERA_NAMES), extra={'driver': 'stack'},
                         metric_dir=out / 'metric_info')
    store.write()                 # the run's key: an interrupted run resumes its lanes
    lane_dirs = [out / 'lanes' / str(k) for k in range(lanes)]
    queue = queue_order(routes, _route_lengths_m(routes).__getitem__)
    params = {**_bridge_params(cfg, driver, out, queue), 'route_claims_dir': str(out / 'claims')}
    params = [dict(params, output_dir=str(d)) for d in lane_dirs]
    for d, p in zip(lane_dirs, params):
        _prepare_out(d, p['run_key'], cfg.fresh)
    done = claim_finished(out / 'claims', lane_dirs)
    base = int(os.environ.get('ROS_DOMAIN_ID') or 0)
    domains = [lane_domain(base, k) for k in range(lanes)]
    print(f'[demo] {name}: {len(routes) - len(done)} routes in {lanes} parallel loops off one '
          f'queue, longest first (DDS domains {", ".join(map(str, domains))}), each bridge_node '
          f'+ planner_node + controller_node ({cfg.mode})', flush=True)
    t0 = time.monotonic()
    progress = _Progresses([RouteProgress(d / 'progress.json', f'{name}[{k}]', cfg.progress,
                                          position=k) for k, d in enumerate(lane_dirs)])
    try:
        with ExitStack() as stack:
            groups = [stack.enter_context(start_nodes(_specs(cfg, driver, p), mode=cfg.mode,
                                                      domain_id=dom))
                      for p, dom in zip(params, domains)]
            deadline = time.monotonic() + cfg.run_timeout_s
            for group in groups:
                _wait(group, deadline, progress, others=groups)
    finally:
        progress.poll()
        progress.close()
    merge_lanes(store, lane_dirs, out)
    print(f'[demo] {name}: done in {time.monotonic() - t0:.0f} s', flush=True)
    return json.loads((out / 'results.json').read_text())


def merge_lanes(store, lane_dirs: Sequence[Path], out: Path) -> None:
    """The lanes' route records into `store` (route order of the run) and their drive logs,
    videos and frames into `out`."""
    for d in lane_dirs:
        data = json.loads((d / 'results.json').read_text())
        for record in records_of(data):
            store.add(record)
        for sub in ('logs', 'videos', 'frames'):
            if (d / sub).is_dir():
                shutil.copytree(d / sub, out / sub, dirs_exist_ok=True)
    store.write()


def records_of(results: dict) -> list:
    from orion_lite_ros.eval.records import RouteRecord
    return [RouteRecord.from_json(d) for d in results.get('route_records', [])]


def steps_per_s(results: dict) -> Optional[float]:
    values = [float(r['meta']['steps_per_s']) for r in results.get('route_records', [])
              if r.get('meta', {}).get('steps_per_s')]
    return sum(values) / len(values) if values else None


def plot_routes(out_dir: Path, runs: Dict[str, Path]) -> List[Path]:
    """One BEV PNG per route: the route and each run's driven path (from the drive logs)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    route_ids = sorted({p.stem for d in runs.values() for p in (d / 'logs').glob('*.npz')})
    written = []
    for rid in route_ids:
        fig, ax = plt.subplots(figsize=(6, 6))
        drawn_route = False
        colors = ('tab:green', 'tab:purple', 'tab:orange', 'tab:red', 'tab:blue')
        for (name, folder), color in zip(runs.items(), colors):
            path = folder / 'logs' / f'{rid}.npz'
            if not path.is_file():
                continue
            log = np.load(path)
            if not drawn_route:
                ax.plot(*log['route_xy'].T, 'k--', lw=1, label='route')
                drawn_route = True
            ax.plot(*log['ego_xy'].T, color=color, lw=2, label=f'{name} ({len(log["ego_xy"])} '
                    'steps)')
        ax.set_aspect('equal')
        ax.set_xlabel('x (m, map)')
        ax.set_ylabel('y (m, map)')
        ax.set_title(rid)
        ax.legend(loc='best', fontsize=8)
        target = out_dir / 'plots' / f'{rid}.png'
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=90)
        plt.close(fig)
        written.append(target)
    return written


def report(cfg: DemoConfig, results: Dict[str, dict]) -> str:
    from orion_lite_ros.eval.bench2drive import summarize, summary_table
    summaries, lines = {}, []
    for name, data in results.items():
        expected = data['_checkpoint']['progress'][1]
        summaries[name] = summarize(records_of(data), expected_routes=expected)
    lines.append(summary_table(summaries))
    for name, data in results.items():
        rate = steps_per_s(data)
        lines.append(f'{name}: mean {rate:.1f} simulation steps/s (20 Hz sim time)'
                     if rate else f'{name}: no routes driven')
    if 'planner' in results:
        lines.append(UNTRAINED_NOTE if not cfg.checkpoint else
                     f'planner checkpoint: {cfg.checkpoint}')
    if 'planner' in summaries and 'baseline' in summaries:
        p, b = summaries['planner'], summaries['baseline']
        lines.append(f'planner vs constant-velocity baseline: DS {p.driving_score:.1f} vs '
                     f'{b.driving_score:.1f} -> '
                     + ('the planner beats it' if p.driving_score > b.driving_score
                        else 'the planner does NOT beat it'))
    text = '\n'.join(lines)
    (cfg.out_dir / 'summary.txt').write_text(text + '\n')
    return text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='orion-lite-demo', description=__doc__.split('\n')[0])
    p.add_argument('--routes', type=int, default=0, help='first N of the selected routes')
    p.add_argument('--all', action='store_true', help='every held-out route (10)')
    p.add_argument('--seeds', type=int, nargs='*', default=None, metavar='SEED',
                   help='every scenario family at these evaluation seeds (>= 100000; seeds '
                        'nobody tuned on) instead of the held-out file')
    p.add_argument('--no-baseline', action='store_true',
                   help='skip the constant-velocity baseline run')
    p.add_argument('--no-video', action='store_true', help='no videos per route')
    p.add_argument('--quick', action='store_true', help='one route, at most 800 steps (40 s)')
    p.add_argument('--out', default='out/demo', help='output folder')
    p.add_argument('--checkpoint', default=DEFAULT_CHECKPOINT,
                   help='trained planner directory (default: the shipped student, '
                        'config/default_checkpoint.yaml)')
    p.add_argument('--random-weights', action='store_true',
                   help='drive an untrained (random-initialised) mini planner instead')
    p.add_argument('--temporal-memory', action='store_true',
                   help='keep the QT-Former memory across frames (models trained on clips)')
    p.add_argument('--blind', action='store_true',
                   help="ablation: the planner's model gets black camera views (route, ego "
                        'and command unchanged): the plan-without-images baseline')
    p.add_argument('--mode', choices=('processes', 'threads'), default='processes')
    p.add_argument('--max-steps', type=int, default=0, help='cap per route (0 = none)')
    p.add_argument('--command-timeout', type=float, default=10.0,
                   help='lock-step wait for each command (s)')
    p.add_argument('--teacher', default='', metavar='CKPT',
                   help='also drive the privileged teacher (orion-lite-teacher checkpoint)')
    p.add_argument('--only', choices=('expert', 'teacher', 'baseline', 'planner'), default=None)
    p.add_argument('--fresh', action='store_true', help='ignore earlier results in --out')
    p.add_argument('--wait-threshold', type=float, default=0.0, metavar='P',
                   help="students with the go/wait gate: plan 'wait' from this probability "
                        "(0 = the checkpoint's, 0.5)")
    p.add_argument('--lanes', type=int, default=min(2, os.cpu_count() or 1),
                   help='planner run: drive the routes in this many parallel closed loops, '
                        'lane k in DDS domain ROS_DOMAIN_ID+k (default: 2 where there are 2 '
                        'cores; a lock-step loop keeps about one core busy; 1 = one loop)')
    return p


def _route_ids(args) -> tuple:
    if args.seeds:
        from orion_lite_ros.sim.backend import evaluation_routes
        return tuple(r.route_id for r in evaluation_routes(args.seeds))
    if args.all or args.quick:
        return ()                        # the held-out file (quick: its first route)
    return default_routes()


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.only == 'teacher' and not args.teacher:
        print('orion-lite-demo: --only teacher needs --teacher CKPT', file=sys.stderr)
        return 2
    cfg = DemoConfig(out_dir=Path(args.out), num_routes=args.routes, quick=args.quick,
                     route_ids=_route_ids(args),
                     run_baseline=args.only in (None, 'baseline') and not args.no_baseline,
                     video_every_n=0 if args.no_video else 5,
                     checkpoint='' if args.random_weights else args.checkpoint,
                     temporal_memory=args.temporal_memory, blind_views=args.blind,
                     mode=args.mode, fresh=args.fresh,
                     run_expert=args.only in (None, 'expert'),
                     run_planner=args.only in (None, 'planner'),
                     teacher_checkpoint=args.teacher if args.only in (None, 'teacher') else '',
                     max_steps_per_route=args.max_steps, command_timeout_s=args.command_timeout,
                     lanes=args.lanes, wait_threshold=args.wait_threshold)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    # Offscreen MuJoCo rendering in the bridge (inherited by node processes); GLFW needs a display.
    os.environ.setdefault('MUJOCO_GL', 'egl')
    if cfg.run_planner and not cfg.checkpoint:
        print(UNTRAINED_NOTE, flush=True)
    results = {}
    # SIGTERM (a job runner, `kill`) stops the node processes as Ctrl-C does: without this the
    # default handler ends this process alone and its nodes keep running, orphaned
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if cfg.run_expert:
            results['expert'] = run_one(cfg, 'expert')
        if cfg.teacher_checkpoint:
            results['teacher'] = run_one(cfg, 'teacher')
        if cfg.run_baseline:
            results['baseline'] = run_one(cfg, 'baseline')
        if cfg.run_planner:
            results['planner'] = run_one(cfg, 'stack')
    except (RuntimeError, TimeoutError, FileNotFoundError) as exc:
        print(f'orion-lite-demo: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('orion-lite-demo: interrupted; finished routes are kept (re-run to resume)',
              file=sys.stderr)
        return 130
    plots = plot_routes(cfg.out_dir, {n: cfg.out_dir / n for n in results})
    print(report(cfg, results))
    print(f'[demo] results: {", ".join(str(cfg.out_dir / n / "results.json") for n in results)}'
          f'; {len(plots)} plots in {cfg.out_dir / "plots"}; videos in '
          f'{cfg.out_dir / "planner" / "videos"}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
