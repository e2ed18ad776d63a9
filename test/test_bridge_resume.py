"""A bridge_node process killed mid-run (SIGKILL) resumes: finished routes are kept as they
were and not driven again; the results file is never torn."""
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ros


def _bridge_cmd(out: Path, routes) -> list:
    params = {'driver': 'stack', 'routes': list(routes), 'output_dir': str(out),
              'command_timeout_s': 0.01, 'first_command_timeout_s': 0.01,
              'resend_first_frame_s': 0.01, 'wait_for_stack_s': 0.0,
              'max_steps_per_route': 60, 'camera_height': 32, 'camera_width': 64}
    cmd = [sys.executable, '-m', 'orion_lite_ros.nodes.bridge_node', '--ros-args']
    for key, value in params.items():
        cmd += ['-p', f'{key}:={json.dumps(value)}']
    return cmd


def _records(path: Path) -> list:
    try:
        return json.loads(path.read_text())['_checkpoint']['records']
    except (OSError, ValueError, KeyError):
        return []


def test_killed_run_resumes_without_redoing_finished_routes(tmp_path, ros_domain):
    from orion_lite_ros.sim.backend import heldout_routes
    ids = [r.route_id for r in heldout_routes()[:3]]
    results = tmp_path / 'results.json'
    env = dict(os.environ, MUJOCO_GL=os.environ.get('MUJOCO_GL', 'egl'))
    proc = subprocess.Popen(_bridge_cmd(tmp_path, ids), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not _records(results) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    first = _records(results)
    assert 1 <= len(first) < 3, 'the kill should land after the first route and before the end'

    log = subprocess.run(_bridge_cmd(tmp_path, ids), env=env, capture_output=True, text=True,
                         timeout=180)
    assert log.returncode == 0, log.stdout + log.stderr
    assert f'3 routes, {3 - len(first)} to drive' in log.stdout + log.stderr
    final = _records(results)
    assert [r['route_id'] for r in final] == ids
    assert final[:len(first)] == first                       # untouched, not driven again
    assert json.loads(results.read_text())['entry_status'] == 'Finished'
