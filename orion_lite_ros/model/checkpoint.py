"""Checkpoints: safetensors weights + the model config (JSON) side by side.

`path` is a directory (model.safetensors + config.json) or a `<stem>.safetensors` file with
`<stem>.json` beside it. Loading is strict: missing, unexpected and mis-shaped keys are
named in a `CheckpointError`. `.pth` files are read with `torch.load(weights_only=True)`
only (no arbitrary unpickling) and must be the authors' fused layout (see convert.py).

`graft_student(model, cfg, path)` puts a trained `StudentPlanner` checkpoint (what training on
cached tokens exports) into a full OrionLite's `student_model` (the engine's
`EngineConfig.student_checkpoint`).
"""
from dataclasses import replace
import json
from pathlib import Path
from typing import Dict, List, Mapping, Tuple, Union

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
import torch
from torch import nn

from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.orion_lite import OrionLite
from orion_lite_ros.model.student import StudentPlanner

FORMAT = 'orion_lite_ros/1'
MODEL_CLASSES = {'OrionLite': OrionLite, 'StudentPlanner': StudentPlanner}
PathLike = Union[str, Path]


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model."""


def checkpoint_paths(path: PathLike) -> Tuple[Path, Path]:
    """(weights, config) files of a checkpoint directory or `<stem>.safetensors`."""
    path = Path(path)
    if path.suffix == '.safetensors':
        return path, path.with_suffix('.json')
    return path / 'model.safetensors', path / 'config.json'


def save_checkpoint(path: PathLike, model: nn.Module, cfg: OrionLiteConfig) -> Path:
    """Write weights + config; returns the weights file."""
    weights, config = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights), metadata={'format': FORMAT})
    meta = {'format': FORMAT, 'model': type(model).__name__, 'config': cfg.to_dict()}
    config.write_text(json.dumps(meta, indent=2) + '\n')
    return weights


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise CheckpointError naming every missing / unexpected / mis-shaped key."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(f'{k}: checkpoint {tuple(state[k].shape)} != model {tuple(v.shape)}'
                    for k, v in expected.items() if k in state and state[k].shape != v.shape)
    if missing or unexpected or shapes:
        parts = [f'{len(missing)} missing: {_short(missing)}' if missing else '',
                 f'{len(unexpected)} unexpected: {_short(unexpected)}' if unexpected else '',
                 f'{len(shapes)} mis-shaped: {_short(shapes)}' if shapes else '']
        raise CheckpointError('state dict does not fit the model; '
                              + '; '.join(p for p in parts if p))


def _short(items, limit: int = 8) -> str:
    more = f' ... (+{len(items) - limit})' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more


def load_state_strict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True)
    return model


def read_config(path: PathLike) -> Tuple[str, OrionLiteConfig]:
    _, config = checkpoint_paths(path)
    if not config.is_file():
        raise CheckpointError(f'no model config next to the weights: {config}')
    try:
        meta = json.loads(config.read_text())
        return meta.get('model', 'OrionLite'), OrionLiteConfig.from_dict(meta['config'])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f'{config}: not a model config ({exc})') from exc


def read_weights(path: PathLike) -> Dict[str, torch.Tensor]:
    weights, _ = checkpoint_paths(path)
    if not weights.is_file():
        raise CheckpointError(f'no weights file: {weights}')
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f'{weights}: unreadable safetensors file ({exc})') from exc


def load_checkpoint(path: PathLike, device: Union[str, torch.device] = 'cpu'):
    """-> (model, cfg). Our format, or an official fused `.pth` (converted on the fly)."""
    if Path(path).suffix in ('.pth', '.pt'):
        return load_official_fused(path, device=device)
    name, cfg = read_config(path)
    if name not in MODEL_CLASSES:
        raise CheckpointError(f'unknown model class {name!r} in the config')
    state = read_weights(path)
    model = load_state_strict(MODEL_CLASSES[name](cfg), state)
    return model.to(device), cfg


def read_pth(path: PathLike) -> Dict:
    """torch.load with weights_only=True; anything that is not plain tensors/containers is
    refused with a CheckpointError."""
    try:
        return torch.load(str(path), map_location='cpu', weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:   # UnpicklingError, RuntimeError (corrupt zip), EOFError
        raise CheckpointError(
            f'{path}: refused; not a weights-only torch checkpoint ({type(exc).__name__}: '
            f'{str(exc).splitlines()[0] if str(exc) else ""})') from exc


def load_official_fused(path: PathLike, cfg: OrionLiteConfig = None,
                        device: Union[str, torch.device] = 'cpu'):
    """The authors' `fused_ckpts/orion_lite.pth` -> (OrionLite, cfg) (see convert.py)."""
    from orion_lite_ros.model.convert import convert_official_state
    raw = read_pth(path)
    state = raw.get('state_dict', raw) if isinstance(raw, dict) else None
    if not isinstance(state, Mapping):
        raise CheckpointError(f'{path}: no state_dict mapping inside')
    from orion_lite_ros.model.convert import official_config
    cfg = official_config(cfg or OrionLiteConfig.orion_lite())    # head frame: right_forward
    model = OrionLite(cfg)
    report = convert_official_state(state, model)
    return load_state_strict(model, report.state).to(device), cfg


def student_fit_errors(host: OrionLiteConfig, student: OrionLiteConfig) -> List[str]:
    """Why a student trained with config `student` cannot read `host`'s tokens ([] = fits)."""
    errors = []
    if host.token_dim != student.token_dim:
        errors.append(f'token_dim {student.token_dim} != model {host.token_dim}')
    if host.num_tokens != student.num_tokens:
        errors.append(f'num_tokens (scene + ego + map) {student.num_tokens} != model '
                      f'{host.num_tokens}')
    return errors


def graft_student(model: OrionLite, cfg: OrionLiteConfig,
                  path: PathLike) -> Tuple[OrionLite, OrionLiteConfig]:
    """Replace `model.student_model` by the StudentPlanner checkpoint at `path` (strict load).

    The token interface (token_dim, token count) must agree; the student's own `student` and
    `planner` configs (sizes, output_frame) replace the model's, and the returned config
    says so (a saved grafted model reloads as one OrionLite)."""
    name, student_cfg = read_config(path)
    if name != 'StudentPlanner':
        raise CheckpointError(f'{path} holds a {name}, not a StudentPlanner checkpoint')
    errors = student_fit_errors(cfg, student_cfg)
    if errors:
        raise CheckpointError(f'student checkpoint {path} ({student_cfg.name}) does not fit '
                              f'the model ({cfg.name}): ' + '; '.join(errors))
    merged = replace(cfg, student=student_cfg.student, planner=student_cfg.planner)
    with torch.random.fork_rng(devices=[]):        # the init is overwritten; keep global RNG
        student = StudentPlanner(merged)
    load_state_strict(student, read_weights(path))
    param = next(model.parameters())
    model.student_model = student.to(param.device, param.dtype)
    model.cfg = merged
    return model, merged
