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
    for run in ('planner', 'baseline'):
        assert list((tmp_path / run / 'videos').glob('*.mp4')), run


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
