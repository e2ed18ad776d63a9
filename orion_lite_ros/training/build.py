"""Build datasets and the model from a `TrainConfig`, and run a whole training job."""
from dataclasses import replace
from pathlib import Path
from typing import Optional, Tuple

import torch
from torch.utils.data import Dataset, Subset

from orion_lite_ros.training.config import TrainConfig
from orion_lite_ros.training.episodes import EpisodeDataset
from orion_lite_ros.training.official_npz import OfficialNpzDataset
from orion_lite_ros.training.trainer import DistInfo, Trainer, init_distributed


def build_dataset(cfg: TrainConfig, root: str) -> Dataset:
    """The reader of `cfg.data_format`; for target=full, episodes come as model views."""
    if cfg.data_format == 'official':
        return OfficialNpzDataset(root, frame=cfg.official_frame,
                                  with_teacher=cfg.loss.mimic_weight > 0)
    if cfg.data_format == 'episodes':
        enc = model_config(cfg).encoder
        view_hw = (enc.img_h, enc.img_w) if cfg.target == 'full' else None
        mimic = cfg.loss.mimic_weight > 0
        features = None
        if mimic and cfg.teacher_features:
            from orion_lite_ros.training.teacher import FeatureCache
            features = FeatureCache.open(cfg.teacher_features)
        dataset = EpisodeDataset(root, max_lanes=cfg.max_lanes, max_agents=cfg.max_agents,
                                 require_teacher=mimic, view_hw=view_hw, cache=features,
                                 preprocess=preprocess_config(cfg))
        if not cfg.sample_cache:
            return dataset
        from orion_lite_ros.training.sample_cache import cached, dataset_key
        extra = {}
        if mimic:     # a cache built without teacher tokens must not serve a mimic run
            extra['teacher'] = (str(features.root.resolve()) if features is not None
                                else 'frames')
        key = dataset_key(root, view_hw=view_hw, preprocess=preprocess_config(cfg),
                          max_lanes=cfg.max_lanes, max_agents=cfg.max_agents,
                          fields=SAMPLE_FIELDS_VERSION, **extra)
        samples = cached(dataset, cfg.sample_cache, key, Path(root).name,
                         workers=cfg.num_workers)
        if mimic and 'teacher_token' not in samples.arrays:
            raise ValueError(f'{samples.path}: no teacher_token in the cached samples, but '
                             f'loss.mimic_weight={cfg.loss.mimic_weight}')
        return samples
    raise ValueError(f'unknown data_format {cfg.data_format!r} (official | episodes)')


def preprocess_config(cfg: TrainConfig):
    from orion_lite_ros.model.preprocess import PreprocessConfig
    return PreprocessConfig(jpeg_reencode=cfg.jpeg_reencode, jpeg_quality=cfg.jpeg_quality,
                            resize_scale=cfg.resize_scale, crop_h=cfg.crop_h, crop_w=cfg.crop_w)


def build_datasets(cfg: TrainConfig) -> Tuple[Dataset, Optional[Dataset]]:
    if cfg.target == 'full' and cfg.data_format != 'episodes':
        raise ValueError('target=full trains on images: use data_format=episodes')
    train = build_dataset(cfg, cfg.train_dir)
    if cfg.curve_repeat != 1 or cfg.moveoff_repeat != 1:
        from orion_lite_ros.training.sampling import curve_indices, future_labels
        fut, mask = future_labels(train)
        indices = curve_indices(fut, mask, cfg.curve_lateral_m, cfg.curve_repeat,
                                cfg.moveoff_repeat)
        print(f'[train] curve_repeat={cfg.curve_repeat} moveoff_repeat={cfg.moveoff_repeat}: '
              f'{len(train)} frames -> {len(indices)} per epoch', flush=True)
        train = Subset(train, indices.tolist())
    val = build_dataset(cfg, cfg.val_dir) if cfg.val_dir else None
    return train, val


def model_config(cfg: TrainConfig):
    """OrionLiteConfig of `init_checkpoint` when given (our format), else the preset with the
    view size `view_h` x `view_w` when set (and the planning query conditioned on the
    route/ego token when `nav_condition_query`, and the go/wait gate when `plan_wait_gate`)."""
    from orion_lite_ros.model.config import OrionLiteConfig
    if cfg.init_checkpoint and not cfg.init_checkpoint.endswith(('.pth', '.pt')):
        from orion_lite_ros.model.checkpoint import read_config
        mcfg = read_config(cfg.init_checkpoint)[1]
        if cfg.view_h or cfg.view_w:
            have = (mcfg.encoder.img_h, mcfg.encoder.img_w)
            if have != (cfg.view_h, cfg.view_w):
                raise ValueError(f'view_h/view_w {cfg.view_h}x{cfg.view_w} differ from the '
                                 f"init_checkpoint's views {have[0]}x{have[1]}")
        return mcfg
    mcfg = with_view_size(OrionLiteConfig.preset(cfg.model_preset), cfg.view_h, cfg.view_w)
    if cfg.nav_condition_query:
        if not mcfg.nav.enabled:
            raise ValueError(f'nav_condition_query needs the route/ego token, which the '
                             f'{cfg.model_preset!r} preset does not have (nav.enabled false)')
        mcfg = replace(mcfg, nav=replace(mcfg.nav, condition_query=True))
    if cfg.plan_wait_gate:
        mcfg = replace(mcfg, planner=replace(mcfg.planner, wait_gate=True))
    if cfg.plan_wait_gate_lights:
        mcfg = replace(mcfg, planner=replace(mcfg.planner, wait_gate_lights=True))
    return mcfg


def with_view_size(mcfg, view_h: int, view_w: int):
    """`mcfg` with model views of view_h x view_w pixels (0 x 0: unchanged)."""
    if not view_h and not view_w:
        return mcfg
    patch = mcfg.encoder.patch_size
    if view_h <= 0 or view_w <= 0 or view_h % patch or view_w % patch:
        raise ValueError(f'view_h/view_w must both be positive multiples of the patch size '
                         f'{patch}, got {view_h}x{view_w}')
    return replace(mcfg, encoder=replace(mcfg.encoder, img_h=int(view_h), img_w=int(view_w)))


# bump when EpisodeDataset's samples gain fields, so older sample caches are rebuilt
# (2: reaction_hold and rest_s, issue 16 run 14)
SAMPLE_FIELDS_VERSION = 2


def build_model(cfg: TrainConfig) -> Tuple[torch.nn.Module, object, torch.nn.Module]:
    """(module to train, its OrionLiteConfig, module to export). Same seed on every rank (DDP
    also broadcasts rank 0's weights). `init_checkpoint` (model/checkpoint.py format or the
    official fused .pth) fine-tunes; a full OrionLite there with target=student trains its
    `student_model` and exports the whole OrionLite (what the inference engine loads)."""
    torch.manual_seed(cfg.seed)
    if cfg.init_checkpoint:
        from orion_lite_ros.model.checkpoint import load_checkpoint
        model, mcfg = load_checkpoint(cfg.init_checkpoint)
    else:
        from orion_lite_ros.model.orion_lite import OrionLite
        from orion_lite_ros.model.student import StudentPlanner
        mcfg = model_config(cfg)
        model = StudentPlanner(mcfg) if cfg.target == 'student' else OrionLite(mcfg)
    mcfg = with_nav_target_dropout(model, mcfg, cfg.nav_target_dropout)
    if cfg.nav_rest_scale_s > 0:
        mcfg = with_nav_rest(model, mcfg, cfg.nav_rest_scale_s)
    if cfg.plan_wait_gate_lights:
        mcfg = with_gate_lights(model, mcfg)
    if not cfg.ego_accel_input:
        mcfg = without_ego_accel(model, mcfg)
    export = model
    if cfg.target == 'student' and not _is_student(model):
        model = model.student_model
    if cfg.target == 'full' and cfg.freeze_perception:
        freeze_perception(model)
    return model, mcfg, export


def without_ego_accel(model: torch.nn.Module, mcfg):
    """`mcfg` (and `model`) reading no planar ego acceleration (ego_accel_input=False)."""
    if not hasattr(model, 'qt_former'):
        raise ValueError('ego_accel_input=false needs the full model (target=full): the '
                         'acceleration enters through its QT-Former and route/ego token')
    mcfg = replace(mcfg, ego_accel_input=False)
    _adopt(model, mcfg)
    return mcfg


def _adopt(model: torch.nn.Module, mcfg) -> None:
    """`model` (and its student, when it has one) carry `mcfg` from now on."""
    model.cfg = mcfg
    if getattr(model, 'student_model', None) is not None:
        model.student_model.cfg = mcfg


def validation_model(cfg: TrainConfig):
    """(validation dataset, model in eval mode) of a run's TrainConfig: what the probes of a
    trained run read (scripts/probe_*.py, with the run's overrides so the sample cache is
    found)."""
    _, val = build_datasets(cfg)
    model, _, _ = build_model(cfg)
    return val, model.eval()


def with_gate_lights(model: torch.nn.Module, mcfg):
    """`mcfg` (and `model`) with the go/wait gate reading the traffic-light features
    (planner.wait_gate_lights). A gate without them is widened: its planning-token weights
    are kept, the new inputs' start at zero, so the widened model plans as before."""
    from orion_lite_ros.model.student import LIGHT_FEATURES
    if not mcfg.planner.wait_gate:
        raise ValueError('plan_wait_gate_lights needs a model with the go/wait gate '
                         '(plan_wait_gate, planner.wait_gate)')
    if mcfg.planner.wait_gate_lights:
        return mcfg
    student = getattr(model, 'student_model', None)
    if student is None:
        raise ValueError('plan_wait_gate_lights needs the full model (target=full): the '
                         'lights come from its QT-Former')
    old = student.wait_head
    new = torch.nn.Linear(old.in_features + LIGHT_FEATURES, 1).to(old.weight.device,
                                                                   old.weight.dtype)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, :old.in_features] = old.weight
        new.bias.copy_(old.bias)
    student.wait_head = new
    mcfg = replace(mcfg, planner=replace(mcfg.planner, wait_gate_lights=True))
    _adopt(model, mcfg)
    return mcfg


def with_nav_rest(model: torch.nn.Module, mcfg, scale_s: float):
    """`mcfg` (and `model`'s route/ego token) reading the time at rest / `scale_s`
    (NavConfig.rest_scale_s). A token without that input is widened: its first layer gets a
    zero-weight column for it, so the widened model plans as before."""
    token = getattr(model, 'nav_token', None)
    if not mcfg.nav.enabled or token is None:
        raise ValueError('nav_rest_scale_s needs a model with the route/ego token (nav.enabled)')
    had = mcfg.nav.rest_scale_s > 0
    mcfg = replace(mcfg, nav=replace(mcfg.nav, rest_scale_s=float(scale_s)))
    if not had:
        old = token.mlp[0]
        new = torch.nn.Linear(old.in_features + 1, old.out_features).to(old.weight.device,
                                                                         old.weight.dtype)
        with torch.no_grad():
            new.weight.zero_()
            new.weight[:, :old.in_features] = old.weight
            new.bias.copy_(old.bias)
        token.mlp[0] = new
    token.cfg = mcfg.nav
    _adopt(model, mcfg)
    return mcfg


def with_nav_target_dropout(model: torch.nn.Module, mcfg, p: float):
    """`mcfg` (and `model`'s route/ego token) with the target-point drop probability `p`;
    p < 0: unchanged."""
    if p < 0:
        return mcfg
    if p > 1:
        raise ValueError(f'nav_target_dropout must be in [0, 1] (or < 0: keep), got {p}')
    token = getattr(model, 'nav_token', None)
    if not mcfg.nav.enabled or token is None:
        raise ValueError('nav_target_dropout needs a model with the route/ego token '
                         '(nav.enabled)')
    mcfg = replace(mcfg, nav=replace(mcfg.nav, target_dropout=float(p)))
    token.cfg = mcfg.nav
    return mcfg


def with_trained_commands(mcfg, train: Dataset):
    """`mcfg` with `planner.trained_commands` = the modes the training set covers (the
    engine falls back to LANE_FOLLOW for the others)."""
    from orion_lite_ros.training.sampling import dataset_commands, trained_commands
    modes = trained_commands(dataset_commands(train), mcfg.planner.num_modes)
    print(f'[train] command modes with training data: {list(modes)}', flush=True)
    return replace(mcfg, planner=replace(mcfg.planner, trained_commands=modes))


def _is_student(model) -> bool:
    from orion_lite_ros.model.student import StudentPlanner
    return isinstance(model, StudentPlanner)


def freeze_perception(model: torch.nn.Module) -> int:
    """Freeze everything but the student planner (as in the paper); returns #frozen tensors."""
    frozen = 0
    for name, param in model.named_parameters():
        if not name.startswith('student_model.'):
            param.requires_grad_(False)
            frozen += 1
    return frozen


def run(cfg: TrainConfig, resume: bool = False, dist_info: Optional[DistInfo] = None):
    """Train with `cfg` (one process or one torchrun rank); returns the Trainer."""
    dist_info = dist_info or init_distributed()
    train, val = build_datasets(cfg)
    model, mcfg, export = build_model(cfg)
    mcfg = with_trained_commands(mcfg, train)
    trainer = Trainer(cfg, model, train, val, model_cfg=mcfg, dist_info=dist_info,
                      export_module=export)
    try:
        trainer.fit(resume=resume)
    finally:
        trainer.close()
    return trainer
