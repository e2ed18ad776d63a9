"""scripts/student_run_json.py: a run's last validation record and a demo's closed-loop
results in one JSON (issue 16 result files)."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / 'scripts' / 'student_run_json.py'


def _module():
    spec = importlib.util.spec_from_file_location('student_run_json', SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _results(path: Path) -> None:
    path.write_text(json.dumps({
        'labels': ['Avg. driving score', 'Avg. route completion'], 'values': ['12.5', '40.0'],
        '_checkpoint': {'records': [{
            'route_id': 'stop_sign_1', 'status': 'Failed - Agent timed out',
            'scores': {'score_route': 40.0, 'score_penalty': 1.0, 'score_composed': 12.5},
            'infractions': {'route_timeout': ['Route timeout.'], 'red_light': []}}]}}))


def test_joins_last_validation_and_closed_loop(tmp_path):
    run = tmp_path / 'run'
    run.mkdir()
    lines = [{'kind': 'train', 'step': 1, 'total': 3.0},
             {'kind': 'val', 'time': 1.0, 'step': 5, 'l2_avg_2s': 0.9},
             {'kind': 'val', 'time': 2.0, 'step': 9, 'l2_avg_2s': 0.5, 'cv_l2_avg_2s': 0.8}]
    (run / 'train_log.jsonl').write_text('\n'.join(json.dumps(x) for x in lines) + '\n')
    _results(tmp_path / 'results.json')
    out = tmp_path / 'out.json'
    assert _module().main(['--run', str(run), '--closed-loop',
                           f'a={tmp_path / "results.json"}', '--out', str(out), 'run=9']) == 0
    got = json.loads(out.read_text())
    assert got['run'] == '9'
    assert got['validation'] == {'step': 9, 'l2_avg_2s': 0.5, 'cv_l2_avg_2s': 0.8}
    loop = got['closed_loop']['a']
    assert loop['summary'] == {'Avg. driving score': '12.5', 'Avg. route completion': '40.0'}
    assert loop['routes'] == {'stop_sign_1': {'status': 'Failed - Agent timed out',
                                              'route_completion_pct': 40.0,
                                              'infractions': ['route_timeout']}}


def test_a_run_without_validation_is_an_error(tmp_path):
    (tmp_path / 'train_log.jsonl').write_text(json.dumps({'kind': 'train'}) + '\n')
    with pytest.raises(SystemExit, match='no validation record'):
        _module().main(['--run', str(tmp_path), '--out', str(tmp_path / 'o.json')])
