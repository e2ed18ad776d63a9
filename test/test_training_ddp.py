"""DDP with 2 CPU processes (torchrun, env://, gloo) and the orion-lite-train CLI."""
import json
from pathlib import Path
import subprocess
import sys
import textwrap

import pytest
import torch

from orion_lite_ros.cli import train as train_cli
from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.training.official_npz import write_synthetic_official

ROOT = Path(__file__).resolve().parents[1]
MODEL_CFG = OrionLiteConfig.mini()

WORKER = textwrap.dedent("""
    import json, os, sys
    import torch
    from orion_lite_ros.training.build import run
    from orion_lite_ros.training.trainer import shutdown_distributed
    from orion_lite_ros.training.config import load_config

    cfg = load_config(sys.argv[1], sys.argv[3:])
    trainer = run(cfg)
    rank = trainer.dist.rank
    seen = [trainer.train_set.files[i].stem for i in trainer._train_indices(0, 0)]
    checksum = sum(float(p.detach().double().sum()) for p in trainer.module.parameters())
    with open(os.path.join(sys.argv[2], f'rank{rank}.json'), 'w') as f:
        json.dump({'rank': rank, 'world': trainer.dist.world_size, 'seen': seen,
                   'checksum': checksum, 'steps': trainer.step,
                   'backend': torch.distributed.get_backend()}, f)
    shutdown_distributed(trainer)
    assert not torch.distributed.is_initialized()
""")


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('ddp_data')
    write_synthetic_official(root / 'train', 16, n_tokens=MODEL_CFG.num_tokens,
                             d_token=MODEL_CFG.token_dim, n_lanes=4, n_agents=4)
    return root


def _overrides(data_dir, out_dir):
    return [f'train_dir={data_dir / "train"}', 'val_dir=', f'out_dir={out_dir}',
            'batch_size=4', 'epochs=1', 'max_steps=2', 'log_every_steps=1', 'progress_bar=false']


def test_ddp_two_cpu_processes_gloo(tmp_path, data_dir):
    script = tmp_path / 'worker.py'
    script.write_text(WORKER)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
           '--nproc_per_node', '2', str(script), str(ROOT / 'config' / 'train_mini.yaml'),
           str(tmp_path)] + _overrides(data_dir, tmp_path / 'run')
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert all(r['world'] == 2 and r['steps'] == 2 and r['backend'] == 'gloo' for r in ranks)
    assert not set(ranks[0]['seen']) & set(ranks[1]['seen'])     # DistributedSampler shards
    assert ranks[0]['checksum'] == pytest.approx(ranks[1]['checksum'], rel=0, abs=1e-9)
    state = torch.load(tmp_path / 'run' / 'checkpoints' / 'last.pt', weights_only=True)
    assert state['step'] == 2 and state['world_size'] == 2 and len(state['rng']) == 2


def test_ddp_cli_under_torchrun_exits_cleanly(tmp_path, data_dir):
    """The documented `torchrun -m orion_lite_ros.cli.train` path: both ranks leave the group
    (barrier, DDP wrapper dropped, group destroyed) and torchrun reports success."""
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
           '--nproc_per_node', '2', '-m', 'orion_lite_ros.cli.train',
           '--config', str(ROOT / 'config' / 'train_mini.yaml')] + _overrides(data_dir, tmp_path)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'terminate called' not in proc.stderr
    state = torch.load(tmp_path / 'checkpoints' / 'last.pt', weights_only=True)
    assert state['step'] == 2 and state['world_size'] == 2


def test_cli_single_process_and_resume(tmp_path, data_dir, capsys):
    args = ['--config', str(ROOT / 'config' / 'train_mini.yaml')]
    assert train_cli.main(args + _overrides(data_dir, tmp_path)) == 0
    log = [json.loads(x) for x in (tmp_path / 'train_log.jsonl').read_text().splitlines()]
    assert [x['step'] for x in log if x['kind'] == 'train'][-1] == 2
    more = _overrides(data_dir, tmp_path) + ['max_steps=3']
    assert train_cli.main(args + more + ['--resume']) == 0
    log = [json.loads(x) for x in (tmp_path / 'train_log.jsonl').read_text().splitlines()]
    assert any(x['kind'] == 'resume' and x['step'] == 2 for x in log)
    assert [x['step'] for x in log if x['kind'] == 'train'][-1] == 3
    capsys.readouterr()
    assert train_cli.main(args + ['--print-config', 'lr=0.5']) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index('{'):])['lr'] == 0.5
