"""Results store: atomic writes after every route, resume, run-key check; episode runner."""
import json
import os

import numpy as np
import pytest
from test_bridge_fakes import PointBackend, straight_route

from orion_lite_ros.bridge.backend import ControlInput
from orion_lite_ros.bridge.episode_runner import Interrupted, RunOptions, drive_routes
from orion_lite_ros.bridge.results_store import ResultsMismatch, ResultsStore, atomic_write_json


class FullThrottle:
    name = 'test'

    def start_route(self, route):
        self.route = route

    def act(self, frame):
        return ControlInput(throttle=1.0)

    def route_meta(self):
        return {'k': 'v'}


def test_drive_routes_writes_after_every_route_and_resumes(tmp_path):
    path = tmp_path / 'results.json'
    routes = [straight_route('r0'), straight_route('r1'), straight_route('r2')]
    ids = [r.route_id for r in routes]
    calls = []

    def stop_after_first():
        return len(calls) >= 1

    store = ResultsStore(path, ids, run_key='k1')
    with pytest.raises(Interrupted):
        drive_routes(PointBackend(), routes, FullThrottle(), store,
                     on_step=lambda *a: None, should_stop=stop_after_first,
                     on_route_done=lambda rec: calls.append(rec.route_id))
    data = json.loads(path.read_text())
    assert [r['route_id'] for r in data['_checkpoint']['records']] == ['r0']
    assert data['_checkpoint']['progress'] == [1, 3]
    assert data['bench2drive']['driving_score'] == pytest.approx(100.0 / 3)

    backend = PointBackend()
    store2 = ResultsStore(path, ids, run_key='k1')
    assert store2.pending(ids) == ['r1', 'r2']
    done = drive_routes(backend, routes, FullThrottle(), store2,
                        RunOptions(log_dir=tmp_path / 'logs'))
    assert [r.route_id for r in done] == ['r1', 'r2']
    assert backend.routes_loaded == ['r1', 'r2']                 # r0 not driven again
    data = json.loads(path.read_text())
    assert data['entry_status'] == 'Finished'
    assert data['bench2drive']['success_rate'] == pytest.approx(100.0)
    assert data['_checkpoint']['records'][1]['route_id'] == 'r1'
    log = np.load(tmp_path / 'logs' / 'r1.npz')
    assert log['ego_xy'].shape[1] == 2 and log['ego_xy'][-1, 0] > 9.0
    assert log['target_speed_mps'].shape == (len(log['ego_xy']),)   # nan: no desired speed
    assert done[0].meta['k'] == 'v' and done[0].meta['driver'] == 'test'


def test_other_run_key_is_refused_and_resume_false_starts_afresh(tmp_path):
    path = tmp_path / 'results.json'
    store = ResultsStore(path, ['r0'], run_key='expert')
    drive_routes(PointBackend(), [straight_route('r0')], FullThrottle(), store)
    with pytest.raises(ResultsMismatch, match='expert'):
        ResultsStore(path, ['r0'], run_key='stack')
    assert ResultsStore(path, ['r0'], run_key='stack', resume=False).pending(['r0']) == ['r0']


def test_atomic_write_leaves_old_file_when_serialisation_fails(tmp_path):
    path = tmp_path / 'x.json'
    atomic_write_json(path, {'a': 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {'a': object()})
    assert json.loads(path.read_text()) == {'a': 1}
    assert os.listdir(tmp_path) == ['x.json']                  # no temporary left behind


def test_results_files_are_group_readable(tmp_path):
    """atomic_write gives what open() would (the umask applied), not mkstemp's 0600."""
    from orion_lite_ros.atomic_io import atomic_write
    mask = os.umask(0o022)
    os.umask(mask)
    path = atomic_write(tmp_path / 'results.json', lambda f: f.write('{}'))
    plain = tmp_path / 'plain.json'
    plain.write_text('{}')
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o666 & ~mask
