"""Distillation trainer: AdamW + schedule, DDP via torchrun, atomic resumable checkpoints.

One process (CPU or one GPU) or many (`torchrun --nproc_per_node N`, env:// rendezvous; gloo
on CPU, nccl on CUDA) run the same code. Determinism: the data order of epoch e is a function
of (seed, e) only, every RNG state is checkpointed, and the learning-rate schedule is a function
of the optimizer step only, so `resume` continues the loss curve of an uninterrupted run.
"""
from dataclasses import dataclass
import gc
import json
import math
import os
from pathlib import Path
import random
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from orion_lite_ros.eval.sensitivity import sensitivity
from orion_lite_ros.layout import WAYPOINT_DT_S
from orion_lite_ros.training.augment import check_speed_dropout, hide_ego_inputs
from orion_lite_ros.training.config import TrainConfig
from orion_lite_ros.training.losses import distillation_losses, wait_gate_stats
from orion_lite_ros.training.metrics import OpenLoopL2

CKPT_FORMAT = 'orion_lite_train'
CKPT_NAME = 'last.pt'


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device('cpu')

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (env://), else single process."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    cuda = torch.cuda.is_available()
    device = torch.device('cuda', local_rank) if cuda else torch.device('cpu')
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group('nccl' if cuda else 'gloo', init_method='env://')
    rank = dist.get_rank() if world > 1 else 0
    return DistInfo(rank, world, local_rank, device)


def shutdown_distributed(trainer: Optional['Trainer'] = None, wait: bool = True) -> None:
    """Leave the torchrun process group cleanly (no-op in one process).

    `wait`: a barrier first, so no rank tears its gloo pairs down while a peer still talks to
    it (skip it on an error path: a dead peer would hold the barrier until its timeout). The
    trainer's DDP wrapper holds the group too: it is dropped and collected here so the group
    is destroyed now, not by interpreter finalisation (gloo's threads abort the process there).
    """
    if not dist.is_initialized():
        return
    if trainer is not None:
        trainer.model = trainer.module
    gc.collect()
    try:
        if wait:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def lr_factor(step: int, cfg: TrainConfig, total_steps: int, steps_per_epoch: int) -> float:
    """Multiplier of `cfg.lr` at optimizer step `step` (linear warm-up, then the schedule)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == 'constant':
        return 1.0
    if cfg.schedule == 'step':
        return cfg.step_gamma ** (step // max(1, cfg.step_every_epochs * steps_per_epoch))
    if cfg.schedule == 'cosine':
        span = max(1, total_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f'unknown schedule {cfg.schedule!r} (cosine | step | constant)')


def autocast_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """None = plain fp32. 'auto': bf16 on CUDA when supported (fp16 otherwise), fp32 on CPU."""
    if precision == 'fp32' or (precision == 'auto' and device.type != 'cuda'):
        return None
    if precision == 'auto':
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision in ('bf16', 'fp16'):
        if device.type != 'cuda':
            raise ValueError(f'precision={precision} needs CUDA; use fp32 or auto on CPU')
        return torch.bfloat16 if precision == 'bf16' else torch.float16
    raise ValueError(f'unknown precision {precision!r} (auto | fp32 | bf16 | fp16)')


def collect_rng_state() -> Dict[str, Any]:
    np_state = np.random.get_state()
    state = {'torch': torch.get_rng_state(), 'python': random.getstate(),
             'numpy': [np_state[0], np_state[1].tolist(), *np_state[2:]]}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state['torch'])
    random.setstate(_as_tuple(state['python']))
    kind, keys, *rest = state['numpy']
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save through `atomic_io.atomic_write`: a crash mid-write leaves the previous
    checkpoint intact."""
    from orion_lite_ros.atomic_io import atomic_write
    atomic_write(path, lambda handle: torch.save(obj, handle), binary=True)


def batch_ego_speed(batch: Dict[str, Any]) -> torch.Tensor:
    """(B,) forward ego speed (m/s, >= 0 from the twist) of a batch; zero for official .npz
    samples, which carry none."""
    if 'ego_twist' in batch:
        return batch['ego_twist'][:, 0].float().clamp(min=0.0)
    if 'can_bus' in batch:
        return batch['can_bus'][:, 7].float()
    return torch.zeros(batch['gt_future'].shape[0])


def constant_velocity_waypoints(batch: Dict[str, Any]) -> torch.Tensor:
    """(B, T, 2) the constant-velocity baseline (keep speed, straight on) of a batch."""
    speed = batch_ego_speed(batch)
    T = batch['gt_future'].shape[1]
    speed = speed.to(batch['gt_future'].device)
    times = WAYPOINT_DT_S * torch.arange(1, T + 1, device=speed.device, dtype=torch.float32)
    xy = torch.zeros(speed.shape[0], T, 2, device=speed.device)
    xy[..., 0] = speed[:, None] * times
    return xy


def to_device(batch: Dict[str, Any], device: torch.device) -> Dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
            for k, v in batch.items()}


def forward_model(model, batch: Dict[str, Any], target: str, mean_plan: bool = False,
                  detach_plan: bool = False, with_gt: bool = True):
    """Run the student (on cached tokens) or the full model (on images) on a batch.

    `mean_plan`: plan from the mean of the latent (noise='mean'; the validation setting, which
    draws nothing from the RNG); otherwise the VAE samples, as in training. `with_gt=False`:
    the ground-truth future is not given to the model (the inference path: what validation's
    L2, baseline comparison and input sensitivity must measure; with it, the planner's
    posterior reads the answer). `detach_plan`:
    trajectory head behind a stop-gradient (LossConfig.trajectory_head_only).
    """
    kwargs = {'gt_future': batch['gt_future']} if with_gt else {}
    if detach_plan:
        kwargs['detach_plan'] = True
    if mean_plan:
        kwargs['noise'] = 'mean'
    if target == 'student':
        return model(batch['tokens'], batch['command'], **kwargs)
    if target == 'full':
        core = model.module if isinstance(model, DistributedDataParallel) else model
        core.reset_memory()          # shuffled single frames: no temporal memory
        images = batch['images']     # (B, N_cam, 3, h, w) uint8 model views
        if images.shape[2] != 3:
            raise ValueError('target=full needs model views: EpisodeDataset(view_hw=...)')
        return model(images, batch['intrinsics'].float(), batch['cam_to_ego'].float(),
                     batch['can_bus'], batch['command'], target_point=batch.get('target_point'),
                     rest_s=batch.get('rest_s'), **kwargs)
    raise ValueError(f'unknown target {target!r} (student | full)')


class TimeBudget:
    """Wall-clock budget of one `fit` call (`TrainConfig.time_budget_s`; 0 = none).

    From the measured step rate it shrinks the planned step count so that the schedule (cosine)
    ends when the budget does; it never grows it past the configured epochs. Such a run is
    not step-for-step reproducible (the step count depends on the machine's speed).
    """

    def __init__(self, seconds: float, start_step: int, clock=time.monotonic,
                 refit_every: int = 25, min_steps: int = 10):
        self.seconds, self.clock = float(seconds), clock
        self.start_step, self.t0 = start_step, clock()
        self.refit_every, self.min_steps = refit_every, min_steps

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def spent(self) -> bool:
        return self.enabled and self.elapsed() >= self.seconds

    def fit_total(self, step: int, total_steps: int) -> Optional[int]:
        """Total steps that end with the budget, at most `total_steps`; None between refits
        (every `refit_every` steps) and when there is no budget."""
        done = step - self.start_step
        if not self.enabled or done < self.min_steps or done % self.refit_every:
            return None
        elapsed = max(self.elapsed(), 1e-6)
        projected = step + int(done / elapsed * max(0.0, self.seconds - elapsed))
        return max(step + 1, min(total_steps, projected))


class Trainer:
    """Trains `model` on `train_set` with `cfg`; see `fit()`.

    model: StudentPlanner (target 'student') or OrionLite (target 'full'); model_cfg: its
    OrionLiteConfig (carried into checkpoints and the export); export_module: what `export()`
    writes (default `model`; an OrionLite that contains `model` as its student).
    """

    def __init__(self, cfg: TrainConfig, model: torch.nn.Module, train_set: Dataset,
                 val_set: Optional[Dataset] = None, model_cfg=None,
                 dist_info: Optional[DistInfo] = None,
                 export_module: Optional[torch.nn.Module] = None):
        self.cfg, self.model_cfg = cfg, model_cfg
        self.export_module = export_module if export_module is not None else model
        self.dist = dist_info or DistInfo()
        self.out_dir = Path(cfg.out_dir)
        self.train_set, self.val_set = train_set, val_set
        self.module = model.to(self.dist.device)
        self.model = self._wrap(self.module)
        params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas),
                                           weight_decay=cfg.weight_decay)
        self.steps_per_epoch = self._steps_per_epoch()
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(s, cfg, self.total_steps, self.steps_per_epoch))
        self.amp_dtype = autocast_dtype(cfg.precision, self.dist.device)
        self.scaler = torch.amp.GradScaler('cuda', enabled=self.amp_dtype == torch.float16)
        if cfg.speed_dropout and cfg.target != 'full':
            raise ValueError('speed_dropout needs target=full (cached tokens carry no CAN bus)')
        check_speed_dropout(cfg.speed_dropout)
        self._aug_gen = torch.Generator().manual_seed(cfg.seed * 7919 + self.dist.rank)
        self.step = 0
        self.history: List[Dict[str, float]] = []
        self.val_history: List[Dict[str, float]] = []
        self._tb = None
        self._saved_step = -1
        self.clock = time.monotonic          # the time budget's clock
        seed_everything(cfg.seed + self.dist.rank)

    def _wrap(self, module):
        if self.dist.world_size == 1:
            return module
        ids = [self.dist.device.index] if self.dist.device.type == 'cuda' else None
        return DistributedDataParallel(module, device_ids=ids,
                                       find_unused_parameters=self.cfg.ddp_find_unused)

    def _sampler(self, dataset, shuffle: bool) -> DistributedSampler:
        return DistributedSampler(dataset, num_replicas=self.dist.world_size,
                                  rank=self.dist.rank, shuffle=shuffle, seed=self.cfg.seed,
                                  drop_last=shuffle)

    def _steps_per_epoch(self) -> int:
        per_rank = len(self._sampler(self.train_set, shuffle=True))
        steps = per_rank // self.cfg.batch_size
        if steps == 0:
            raise ValueError(f'{len(self.train_set)} training frames over '
                             f'{self.dist.world_size} rank(s) make no full batch of '
                             f'{self.cfg.batch_size}')
        return steps

    def _loader(self, dataset, indices, epoch: int) -> DataLoader:
        # Own generator: creating the iterator must not draw from the global RNG (resume).
        gen = torch.Generator().manual_seed(self.cfg.seed * 1000 + epoch)
        return DataLoader(dataset, batch_size=self.cfg.batch_size, sampler=indices,
                          num_workers=self.cfg.num_workers, drop_last=False, generator=gen,
                          pin_memory=self.dist.device.type == 'cuda',
                          persistent_workers=False)

    def _train_indices(self, epoch: int, skip_batches: int) -> List[int]:
        sampler = self._sampler(self.train_set, shuffle=True)
        sampler.set_epoch(epoch)
        usable = self.steps_per_epoch * self.cfg.batch_size
        return list(sampler)[skip_batches * self.cfg.batch_size:usable]

    # ----------------------------------------------------------------------------- training
    def _train_mode(self) -> None:
        """Train mode, except frozen top-level parts (no trainable parameter) stay in eval:
        a frozen encoder must not run dropout."""
        self.model.train()
        for child in self.module.children():
            params = list(child.parameters())
            if params and not any(p.requires_grad for p in params):
                child.eval()

    def train_step(self, batch: Dict[str, Any]) -> Dict[str, float]:
        self._train_mode()
        batch = to_device(batch, self.dist.device)
        inputs = batch
        if self.cfg.speed_dropout:
            inputs = hide_ego_inputs(batch, self.cfg.speed_dropout, self._aug_gen)
        with torch.autocast(self.dist.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            out = forward_model(self.model, inputs, self.cfg.target,
                                detach_plan=self.cfg.loss.trajectory_head_only)
        terms = distillation_losses(out, batch, self.cfg.loss)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms['total']).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        record = {k: float(v.detach()) for k, v in terms.items()}
        record.update(step=self.step, lr=self.optimizer.param_groups[0]['lr'],
                      grad_norm=float(grad_norm))
        return record

    def fit(self, resume: bool = False) -> List[Dict[str, float]]:
        """Train until `epochs` (or `max_steps`) are done; validate and checkpoint each epoch,
        checkpoint every `ckpt_every_steps`, export the model at the end. Returns the per-step
        records of this call."""
        if resume:
            self.load(self.out_dir / 'checkpoints' / CKPT_NAME)
        budget = TimeBudget(self.cfg.time_budget_s, self.step, clock=self.clock)
        planned = self.cfg.epochs * self.steps_per_epoch
        limit = min(planned, self.cfg.max_steps or planned)
        stop = min(self.total_steps, limit)
        bar = self._progress(stop)
        while self.step < stop and not budget.spent():
            epoch, done = divmod(self.step, self.steps_per_epoch)
            loader = self._loader(self.train_set, self._train_indices(epoch, done), epoch)
            for batch in loader:
                record = self.train_step(batch)
                self._after_step(record, bar)
                fitted = budget.fit_total(self.step, planned)
                if fitted is not None:
                    self.total_steps, stop = fitted, min(limit, fitted)
                if self.step >= stop or budget.spent():
                    break
            if self.step % self.steps_per_epoch == 0 or self.step >= stop or budget.spent():
                self._end_epoch(epoch)
        if bar is not None:
            bar.close()
        if self._saved_step != self.step:
            self.save()
        if self.step >= self.total_steps or budget.enabled:
            self.export()
        return self.history

    def _after_step(self, record: Dict[str, float], bar) -> None:
        record['epoch'] = (self.step - 1) // self.steps_per_epoch
        self.history.append(record)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record['total']:.4f}", lr=f"{record['lr']:.2e}")
        if self.step % max(1, self.cfg.log_every_steps) == 0 or self.step == 1:
            self._log('train', record)
        if self.cfg.ckpt_every_steps and self.step % self.cfg.ckpt_every_steps == 0:
            self.save()

    def _end_epoch(self, epoch: int) -> None:
        if self.val_set is not None:
            metrics = self.validate()
            metrics.update(step=self.step, epoch=epoch)
            self.val_history.append(metrics)
            self._log('val', metrics)
        self.save()

    # --------------------------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> Dict[str, float]:
        """Loss terms and open-loop L2 over the validation set (mean plan), all ranks; beside
        it the constant-velocity baseline's L2 (`cv_*`) and, for target=full, the input
        sensitivity of the plan on the first `val_sensitivity_batches` batches (`sens_*`, m;
        eval/sensitivity.py)."""
        self.model.eval()
        sampler = self._sampler(self.val_set, shuffle=False)
        loader = self._loader(self.val_set, list(sampler), epoch=0)
        l2, cv, sums, count = OpenLoopL2(), OpenLoopL2(), {}, 0
        sens: Dict[str, float] = {}
        for k, batch in enumerate(loader):
            batch = to_device(batch, self.dist.device)
            out = forward_model(self.module, batch, self.cfg.target, mean_plan=True)
            n = batch['gt_mask'].shape[0]
            for name, v in distillation_losses(out, batch, self.cfg.loss).items():
                sums[name] = sums.get(name, 0.0) + float(v) * n
            count += n
            if 'wait_prob' in out:       # the go/wait gate: accuracy and rate of its label
                for name, v in wait_gate_stats(out, batch, self.cfg.loss).items():
                    sums[name] = sums.get(name, 0.0) + v * n
            # eval mode: the GT future only feeds the posterior's loss terms, not the plan
            l2.update(out['waypoints'], batch['gt_future'], batch['gt_mask'])
            cv.update(constant_velocity_waypoints(batch), batch['gt_future'], batch['gt_mask'])
            if self.cfg.target == 'full' and k < self.cfg.val_sensitivity_batches:
                for name, v in sensitivity(self._plan_fn(), batch).items():
                    sens[name] = sens.get(name, 0.0) + v
        keys = sorted(sums)
        sens_keys = sorted(sens)
        state = torch.cat([torch.tensor([sums[k] for k in keys] + [count]
                                        + [sens[k] for k in sens_keys], dtype=torch.float64),
                           l2.state(), cv.state()])
        if self.dist.world_size > 1:
            state = state.to(self.dist.device)
            dist.all_reduce(state)
            state = state.cpu()
        n_terms, n_sens = len(keys), len(sens_keys)
        metrics = {k: float(state[i] / max(1.0, float(state[n_terms]))) for i, k in
                   enumerate(keys)}
        sens_vals = dict(zip(sens_keys, state[n_terms + 1:n_terms + 1 + n_sens].tolist()))
        frames = max(1.0, sens_vals.pop('frames', 1.0))
        metrics.update({f'sens_{k}_m': v / frames for k, v in sens_vals.items()})
        rest = state[n_terms + 1 + n_sens:]
        half = rest.numel() // 2
        metrics.update(OpenLoopL2.compute(rest[:half]))
        metrics.update({f'cv_{k}': v for k, v in OpenLoopL2.compute(rest[half:]).items()})
        return metrics

    def _plan_fn(self):
        def plan(batch):
            return forward_model(self.module, batch, self.cfg.target, mean_plan=True,
                                 with_gt=False)['waypoints']
        return plan

    # -------------------------------------------------------------------------- checkpoints
    def checkpoint_state(self) -> Dict[str, Any]:
        rng = collect_rng_state()
        if self.dist.world_size > 1:
            gathered: List[Any] = [None] * self.dist.world_size
            dist.all_gather_object(gathered, rng)
            rng = gathered
        else:
            rng = [rng]
        return {
            'format': CKPT_FORMAT, 'version': 1, 'step': self.step,
            'model': self.module.state_dict(), 'optimizer': self.optimizer.state_dict(),
            'scheduler': self.scheduler.state_dict(), 'scaler': self.scaler.state_dict(),
            'rng': rng, 'world_size': self.dist.world_size, 'config': self.cfg.to_dict(),
            'model_config': self._model_cfg_dict(),
        }

    def save(self) -> Optional[Path]:
        """Atomically write `<out_dir>/checkpoints/last.pt` (every rank joins, rank 0 writes)."""
        state = self.checkpoint_state()
        self._saved_step = self.step
        if not self.dist.is_main:
            return None
        path = self.out_dir / 'checkpoints' / CKPT_NAME
        atomic_torch_save(state, path)
        return path

    def load(self, path: Path) -> bool:
        """Restore a `save()` checkpoint; False (and nothing changed) when there is none."""
        path = Path(path)
        if not path.is_file():
            return False
        state = torch.load(path, map_location='cpu', weights_only=True)
        if state.get('format') != CKPT_FORMAT:
            raise ValueError(f'{path} is not a training checkpoint ({CKPT_FORMAT})')
        self.module.load_state_dict(state['model'], strict=True)
        self.optimizer.load_state_dict(state['optimizer'])
        self.scheduler.load_state_dict(state['scheduler'])
        self.scaler.load_state_dict(state['scaler'])
        self.step = int(state['step'])
        rng = state['rng']
        restore_rng_state(rng[self.dist.rank] if len(rng) == self.dist.world_size else rng[0])
        self._log('resume', {'step': self.step, 'path': str(path)})
        return True

    def _model_cfg_dict(self) -> Optional[Dict[str, Any]]:
        if self.model_cfg is None:
            return None
        return self.model_cfg.to_dict() if hasattr(self.model_cfg, 'to_dict') else None

    def export(self) -> Optional[Path]:
        """Write the trained weights in the inference engine's format (model/checkpoint.py)."""
        if not self.dist.is_main or self.model_cfg is None:
            return None
        from orion_lite_ros.model.checkpoint import save_checkpoint
        export_dir = Path(self.cfg.export_dir or self.out_dir / 'export')
        save_checkpoint(export_dir, self.export_module, self.model_cfg)
        self._log('export', {'step': self.step, 'path': str(export_dir)})
        return export_dir

    # ------------------------------------------------------------------------------ logging
    def _progress(self, stop: int):
        if not (self.dist.is_main and self.cfg.progress_bar):
            return None
        from tqdm import tqdm
        return tqdm(total=stop, initial=self.step, desc='train', unit='step', dynamic_ncols=True)

    def _log(self, kind: str, record: Dict[str, Any]) -> None:
        """Rank 0: one JSON line in <out_dir>/train_log.jsonl and TensorBoard scalars."""
        if not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        line = {'kind': kind, 'time': time.time(), **record}
        with open(self.out_dir / 'train_log.jsonl', 'a') as handle:
            handle.write(json.dumps(line) + '\n')
        if kind in ('train', 'val'):
            writer = self._writer()
            for key, value in record.items():
                if key not in ('step', 'epoch') and isinstance(value, (int, float)):
                    writer.add_scalar(f'{kind}/{key}', value, self.step)
            writer.flush()

    def _writer(self):
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter
            self._tb = SummaryWriter(str(self.out_dir / 'tb'))
        return self._tb

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
