"""Ctrl-C and user errors on the real console scripts (one process per node, real DDS).

SIGINT: every node exits 0 on its own (not killed), with no traceback and no ERROR line, its
worker threads stopped before the context went down; the bridge mid-route
leaves a valid results.json. User errors: exit 2 with one line, never a traceback."""
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest

from orion_lite_ros.ros.dds import dds_environment

pytestmark = pytest.mark.ros
GRACE_S = 5.0       # ros2 launch's SIGINT grace period: here well under 1 s; the tests print
WAIT_S = 60.0       # the time and wait up to WAIT_S (a loaded CI machine ran 20x slower), as
                    # timed assertions would fail on noise, not on a hung node


def _start(module, params, env, log: Path, remap=()):
    args = [sys.executable, '-m', module, '--ros-args']
    for key, value in params.items():
        args += ['-p', f'{key}:={json.dumps(value)}']
    for src, dst in remap:
        args += ['-r', f'{src}:={dst}']
    handle = open(log, 'w')
    return subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT), handle


def _interrupt(proc) -> float:
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return time.monotonic() - t0


def _wait_for(log: Path, text: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text():
            return True
        time.sleep(0.2)
    return False


def _clean(log: Path):
    out = log.read_text()
    assert 'Traceback' not in out and '[ERROR]' not in out and 'RCLError' not in out, out
    return out


@pytest.mark.parametrize('executor', ['single', 'events'])
def test_sigint_stops_planner_and_controller_cleanly(tmp_path, ros_domain, executor):
    env = dict(dds_environment(True, ros_domain, base=os.environ), ORION_LITE_EXECUTOR=executor)
    procs = [_start('orion_lite_ros.nodes.planner_node', {'planner': 'constant_velocity',
                                                          'diagnostics_period_s': 0.1},
                    env, tmp_path / 'planner.log'),
             _start('orion_lite_ros.nodes.controller_node', {'rate_hz': 50.0},
                    env, tmp_path / 'controller.log')]
    try:
        assert _wait_for(tmp_path / 'controller.log', 'braking: no trajectory yet', 30.0)
        time.sleep(1.0)                          # planner timers and worker running
        for proc, handle in procs:
            assert proc.poll() is None
            took = _interrupt(proc)
            handle.close()
            print(f'\nSIGINT -> exit {proc.returncode} in {took:.2f} s')
            assert proc.returncode == 0, (proc.returncode, took)
    finally:
        for proc, handle in procs:
            if proc.poll() is None:
                proc.kill()
            handle.close()
    _clean(tmp_path / 'planner.log')
    out = _clean(tmp_path / 'controller.log')
    assert out.count('braking: no trajectory yet') == 1      # logged once, not every 2 s


def test_sigint_mid_route_bridge_exits_cleanly_results_valid(tmp_path, ros_domain):
    env = dds_environment(True, ros_domain, base=os.environ)
    out_dir = tmp_path / 'out'
    proc, handle = _start('orion_lite_ros.nodes.bridge_node', {
        'driver': 'expert', 'num_routes': 2, 'output_dir': str(out_dir),
        'progress_every_n': 5}, env, tmp_path / 'bridge.log')
    try:
        deadline = time.monotonic() + 60
        while not (out_dir / 'progress.json').exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out_dir / 'progress.json').exists(), (tmp_path / 'bridge.log').read_text()
        took = _interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        handle.close()
    print(f'\nbridge SIGINT mid-route -> exit {proc.returncode} in {took:.2f} s')
    assert proc.returncode == 0, (proc.returncode, took)
    out = _clean(tmp_path / 'bridge.log')
    assert 'stopped during route' in out
    results = out_dir / 'results.json'
    if results.exists():                                    # routes finished so far
        json.loads(results.read_text())
        assert results.stat().st_mode & 0o040                # group-readable


@pytest.mark.parametrize('module,params,needle', [
    ('orion_lite_ros.nodes.planner_node', {'rig_file': '/nonexistent/rig.yaml'}, 'rig_file'),
    ('orion_lite_ros.nodes.planner_node', {'planner': 'constant_velocity',
                                           'rig_file': '__MALFORMED__'}, 'rig_file'),
    ('orion_lite_ros.nodes.planner_node', {'jpeg_quality': 500}, 'jpeg_quality'),
    ('orion_lite_ros.nodes.controller_node', {'max_throttle': 2.0}, 'max_throttle'),
])
def test_user_errors_exit_2_with_one_line(tmp_path, ros_domain, module, params, needle):
    if params.get('rig_file') == '__MALFORMED__':
        bad = tmp_path / 'rig.yaml'
        bad.write_text('rig: [this is: not, a rig\n')
        params = dict(params, rig_file=str(bad))
    env = dds_environment(True, ros_domain, base=os.environ)
    proc, handle = _start(module, params, env, tmp_path / 'node.log')
    proc.wait(60)
    handle.close()
    out = (tmp_path / 'node.log').read_text()
    lines = [line for line in out.splitlines() if 'refused parameter' in line]
    assert proc.returncode == 2, out
    assert len(lines) == 1 and needle in lines[0] and 'Traceback' not in out, out


def test_misspelt_parameter_is_warned(tmp_path, ros_domain):
    env = dds_environment(True, ros_domain, base=os.environ)
    proc, handle = _start('orion_lite_ros.nodes.controller_node', {'max_trottle': 0.5}, env,
                          tmp_path / 'node.log')
    try:
        assert _wait_for(tmp_path / 'node.log', "'max_trottle'", 30.0)
        _interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        handle.close()
    out = (tmp_path / 'node.log').read_text()
    assert "did you mean 'max_throttle'?" in out and proc.returncode == 0, out


def test_convert_missing_input_exits_2_with_one_line(tmp_path, capsys):
    pytest.importorskip('torch')
    from orion_lite_ros.cli import convert
    assert convert.main([str(tmp_path / 'missing.pth'), str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'missing.pth: no such file' in err[0]


def test_describe_exit():
    from orion_lite_ros.nodes.runner import describe_exit
    assert describe_exit(2) == 'exit code 2 (refused parameter / usage error)'
    assert describe_exit(-signal.SIGKILL) == 'killed by SIGKILL'
    assert describe_exit(None) == 'still running'


def test_demo_names_the_node_that_exited_early(tmp_path, ros_domain):
    """A controller refusing its parameter while the bridge waits: the demo says which node
    stopped and how, instead of 'a driving node exited early'."""
    from orion_lite_ros.cli import demo
    from orion_lite_ros.nodes.runner import NodeSpec, start_nodes
    specs = [NodeSpec('bridge_node', parameters={'output_dir': str(tmp_path),
                                                 'wait_for_stack_s': 30.0}),
             NodeSpec('controller_node', parameters={'max_throttle': 5.0})]
    with start_nodes(specs, mode='processes', domain_id=ros_domain) as group:
        with pytest.raises(RuntimeError, match=r'controller_node exited early: exit code 2 '
                                               r'\(refused parameter'):
            demo._wait_for_bridge(group, 60.0)


@pytest.mark.slow
def test_sigint_mid_route_closed_loop_with_the_shipped_student(tmp_path, ros_domain):
    """bridge + planner (shipped student) + controller as processes, Ctrl-C mid-route: all
    three exit 0 within the grace period, no traceback or ERROR line anywhere."""
    from orion_lite_ros.cli.drive import drive_specs
    from orion_lite_ros.nodes.runner import NodeSpec
    env = dds_environment(True, ros_domain, base=os.environ)
    out_dir = tmp_path / 'out'
    specs = [NodeSpec('bridge_node', parameters={
        'output_dir': str(out_dir), 'num_routes': 1, 'progress_every_n': 5,
        'camera_height': 64, 'camera_width': 96, 'first_command_timeout_s': 120.0})]
    for spec in drive_specs('sim', use_sim_time=True):
        params = dict(spec.parameters)
        if spec.executable == 'controller_node':
            params['rate_hz'] = 0.0
        specs.append(NodeSpec(spec.executable, params_files=spec.params_files,
                              parameters=params, remappings=spec.remappings))
    procs = []
    for spec in specs:
        log = tmp_path / f'{spec.executable}.log'
        handle = open(log, 'w')
        cmd = [sys.executable, '-m', spec.target()[0]] + spec.ros_args()
        procs.append((subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT),
                      handle, log))
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            progress = out_dir / 'progress.json'
            if progress.exists() and json.loads(progress.read_text() or '{}').get('step', 0) > 20:
                break
            time.sleep(0.5)
        else:
            pytest.fail(procs[0][2].read_text())
        for proc, _, _ in procs:                    # as ros2 launch: SIGINT to every node
            proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        for proc, _, _ in procs:
            proc.wait(WAIT_S)
        took = time.monotonic() - t0
    finally:
        for proc, handle, _ in procs:
            if proc.poll() is None:
                proc.kill()
            handle.close()
    for proc, _, log in procs:
        _clean(log)
        assert proc.returncode == 0, (log.name, proc.returncode, log.read_text()[-2000:])
    print(f'\nclosed loop SIGINT mid-route -> all exited in {took:.2f} s')
    if took > GRACE_S:
        print(f"slower than ros2 launch's SIGINT grace period ({GRACE_S} s): loaded machine?")
    assert 'the shipped student' in procs[1][2].read_text()


@pytest.mark.parametrize('params,needle', [
    ({'backend': 'carla', 'route_file': '/nonexistent/routes.xml'}, 'route_file'),
    ({'routes': ['no_such_route']}, 'routes'),
])
def test_bridge_route_errors_exit_2_with_one_line(tmp_path, ros_domain, params, needle):
    env = dds_environment(True, ros_domain, base=os.environ)
    proc, handle = _start('orion_lite_ros.nodes.bridge_node',
                          dict(params, output_dir=str(tmp_path)), env, tmp_path / 'node.log')
    proc.wait(60)
    handle.close()
    out = (tmp_path / 'node.log').read_text()
    lines = [line for line in out.splitlines() if 'refused parameter' in line]
    assert proc.returncode == 2, out
    assert len(lines) == 1 and needle in lines[0] and 'Traceback' not in out, out
