"""The main job end to end (slow): orion-lite-demo --quick writes both results and a plot."""
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.ros
def test_demo_quick(tmp_path, ros_domain):
    env = dict(os.environ, MUJOCO_GL=os.environ.get('MUJOCO_GL', 'egl'))
    proc = subprocess.run([sys.executable, '-m', 'orion_lite_ros.cli.demo', '--quick', '--out',
                           str(tmp_path)], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'planner checkpoint: default' in proc.stdout and 'Driving Score' in proc.stdout
    expert = json.loads((tmp_path / 'expert' / 'results.json').read_text())
    planner = json.loads((tmp_path / 'planner' / 'results.json').read_text())
    assert expert['_checkpoint']['progress'] == [1, 1]
    assert expert['bench2drive']['route_completion'] > 50.0
    rec = planner['route_records'][0]['meta']
    assert int(rec['commands_received']) == int(rec['steps'])
    assert list((tmp_path / 'plots').glob('*.png'))
    baseline = json.loads((tmp_path / 'baseline' / 'results.json').read_text())
    assert baseline['_checkpoint']['progress'] == [1, 1]
    assert 'constant-velocity baseline' in proc.stdout
    assert list((tmp_path / 'planner' / 'videos').glob('*.mp4'))
    assert not (tmp_path / 'baseline' / 'videos').exists()    # odometry only: no cameras


@pytest.mark.ros
@pytest.mark.timeout(900)
def test_demo_drives_routes_in_parallel_lanes_and_merges_them(tmp_path, ros_domain):
    """--lanes 2: two closed loops at once, each in its own DDS domain; one results file in
    route order, the drive logs and frames of both lanes beside it; a rerun resumes."""
    cmd = [sys.executable, '-m', 'orion_lite_ros.cli.demo', '--only', 'planner', '--lanes', '2',
           '--max-steps', '30', '--no-video', '--seeds', '100001', '--routes', '3',
           '--out', str(tmp_path)]
    env = dict(os.environ, MUJOCO_GL=os.environ.get('MUJOCO_GL', 'egl'))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '2 parallel loops' in proc.stdout
    merged = json.loads((tmp_path / 'planner' / 'results.json').read_text())
    got = [r['route_id'] for r in merged['route_records']]
    assert merged['_checkpoint']['progress'] == [3, 3] and len(got) == 3
    for rec in merged['route_records']:
        assert int(rec['meta']['commands_received']) >= 30
    assert sorted(p.stem for p in (tmp_path / 'planner' / 'logs').glob('*.npz')) == sorted(got)
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0 and 'resuming' in rerun.stdout, rerun.stdout[-2000:]


def test_demo_teacher_run_needs_a_checkpoint(capsys):
    from orion_lite_ros.cli.demo import DemoConfig, _bridge_params, main
    assert main(['--only', 'teacher']) == 2
    assert '--teacher CKPT' in capsys.readouterr().err
    params = _bridge_params(DemoConfig(teacher_checkpoint='/x/teacher'), 'teacher',
                            __import__('pathlib').Path('/tmp/o'))
    assert params['driver'] == 'teacher' and params['teacher_checkpoint'] == '/x/teacher'
    assert DemoConfig().checkpoint == 'default'            # the main job drives the shipped one


def _processes_naming(text: str):
    """PIDs whose command line contains ``text`` (Linux /proc)."""
    pids = []
    for proc in Path('/proc').glob('[0-9]*'):
        try:
            if text.encode() in (proc / 'cmdline').read_bytes():
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


@pytest.mark.ros
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_sigterm_stops_the_demo_and_its_node_processes(tmp_path, ros_domain):
    """A job runner's SIGTERM to orion-lite-demo stops its bridge, planner and controller
    processes too (they were left running, orphaned), and the demo says it was interrupted."""
    import signal
    import time
    out = tmp_path / 'demo_out'
    env = dict(os.environ, MUJOCO_GL=os.environ.get('MUJOCO_GL', 'egl'))
    proc = subprocess.Popen([sys.executable, '-m', 'orion_lite_ros.cli.demo', '--quick',
                             '--only', 'baseline', '--no-video', '--out', str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (out / 'baseline' / 'progress.json').exists() and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out / 'baseline' / 'progress.json').exists(), proc.poll()
        assert len(_processes_naming(str(out))) >= 2         # the demo and its bridge at least
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output[-2000:]
    assert 'interrupted' in output and 'Traceback' not in output, output[-2000:]
    deadline = time.monotonic() + 30
    while _processes_naming(str(out)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_naming(str(out)), 'node processes outlived the demo'


def test_lanes_queue_longest_first_and_domains_stay_valid():
    from orion_lite_ros.cli.demo import lane_count, lane_domain, queue_order
    lengths = {'a': 150.0, 'b': 240.0, 'c': 200.0, 'd': 240.0}
    assert queue_order(list(lengths), lengths.get) == ['b', 'd', 'c', 'a']
    assert lane_count(5, 2) == 2 and lane_count(1, 2) == 1 and lane_count(3, 0) == 1
    assert [lane_domain(231, k) for k in range(3)] == [231, 232, 0]


def test_route_claims_hand_each_route_to_one_runner(tmp_path):
    from test_eval_bench2drive import _record

    from orion_lite_ros.bridge.episode_runner import RouteClaims, drive_routes
    from orion_lite_ros.bridge.results_store import ResultsStore
    from orion_lite_ros.cli.demo import claim_finished
    a, b = RouteClaims(tmp_path / 'claims'), RouteClaims(tmp_path / 'claims')
    assert a('r1') and not b('r1') and b('r2') and not a('r2')
    # a resumed run: routes finished in a lane are claimed again, the others are free
    lane = tmp_path / 'lanes' / '0'
    store = ResultsStore(lane / 'results.json', ['r1', 'r2'], run_key='k')
    store.add(_record('r1', 100.0))
    assert claim_finished(tmp_path / 'claims', [lane, tmp_path / 'lanes' / '1']) == ['r1']
    c = RouteClaims(tmp_path / 'claims')
    assert not c('r1') and c('r2')
    # drive_routes asks the claim before a route starts: a route claimed elsewhere is skipped
    store2 = ResultsStore(tmp_path / 'other' / 'results.json', ['r1', 'r2'], run_key='k')
    assert drive_routes(None, [type('R', (), {'route_id': 'r1'})()], None, store2,
                        claim=lambda rid: False) == []


def test_merged_lanes_keep_route_order_and_files(tmp_path):
    from test_eval_bench2drive import _record

    from orion_lite_ros.bridge.results_store import ResultsStore
    from orion_lite_ros.cli.demo import merge_lanes
    from orion_lite_ros.eval.records import RouteRecord
    lanes = [tmp_path / 'lanes' / str(k) for k in range(2)]
    for k, ids in enumerate((['r1', 'r3'], ['r2'])):
        store = ResultsStore(lanes[k] / 'results.json', ids, run_key=f'lane{k}')
        for rid in ids:
            store.add(_record(rid, 100.0))
            (lanes[k] / 'logs').mkdir(parents=True, exist_ok=True)
            (lanes[k] / 'logs' / f'{rid}.npz').write_bytes(b'x')
    merged = ResultsStore(tmp_path / 'results.json', ['r1', 'r2', 'r3'], run_key='all')
    merge_lanes(merged, lanes, tmp_path)
    data = json.loads((tmp_path / 'results.json').read_text())
    assert [r['route_id'] for r in data['route_records']] == ['r1', 'r2', 'r3']
    assert data['_checkpoint']['progress'] == [3, 3]
    assert sorted(p.name for p in (tmp_path / 'logs').iterdir()) == ['r1.npz', 'r2.npz',
                                                                      'r3.npz']
    assert isinstance(RouteRecord.from_json(data['route_records'][0]), RouteRecord)
