"""Distillation training: data readers, teacher cache, losses, trainer (DDP), CLI config.

Modules: `config` (TrainConfig/LossConfig), `official_npz` (the authors' per-frame .npz),
`episodes` (our recorded episodes), `teacher` (teacher protocol + feature cache), `losses`,
`metrics` (open-loop L2), `trainer` (Trainer, DDP, checkpoints), `build` (config -> run).
"""
