"""scripts/distill_experiment.sh end to end at toy scale (slow: renders and trains on CPU)."""
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_distill_script_toy_run(tmp_path):
    env = dict(os.environ, PY=sys.executable, WORK=str(tmp_path / 'w'), JOBS='1',
               SEEDS_PER_JOB='1', TOKEN_SEEDS_PER_JOB='1', DATAGEN_S='90', TRAIN_S='10',
               VARIANTS='full mimic_only', TEACHER_ARGS='epochs=1', TEACHER_INLINE='0',
               TRAIN_ARGS='batch_size=2 warmup_steps=1 curve_repeat=2',
               COMMON_ARGS='view_h=32 view_w=64 num_workers=0',
               MUJOCO_GL=os.environ.get('MUJOCO_GL', 'egl'))
    proc = subprocess.run(['bash', str(ROOT / 'scripts' / 'distill_experiment.sh')], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    work = tmp_path / 'w'
    for arm in ('full', 'mimic_only'):
        assert (work / 'runs' / arm / 'export' / 'model.safetensors').is_file()
        encoder = json.loads((work / 'runs' / arm / 'export' / 'config.json').read_text())[
            'config']['encoder']
        assert (encoder['img_h'], encoder['img_w']) == (32, 64)     # COMMON_ARGS reached it
    log = [json.loads(x) for x in (work / 'runs' / 'full' / 'train_log.jsonl').read_text()
           .splitlines()]
    assert any('mimic' in x for x in log if x['kind'] == 'train')    # teacher tokens reached it
    assert list((work / 'teacher_features').iterdir())       # through the feature cache
    assert json.loads((work / 'eval_expert.json').read_text())['summary']['driving_score'] > 90
