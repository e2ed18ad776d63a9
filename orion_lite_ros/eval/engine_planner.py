"""The inference engine as a replay planner (torch imported here only).

Built as the planner node builds it (``nodes/planner_node.make_engine``: EngineConfig fields
``checkpoint``, ``model_preset``, ``device``, ``precision``, ``vae_mode``), with the VAE
planner's mean (``vae_mode='mean'``) and a fixed torch seed (untrained weights are then the same
on every run), so a replay is repeatable for a given checkpoint and bag. ``reset()`` clears the
temporal memory; ``replay`` calls it before the first frame. Without temporal memory the
replay plans several frames per forward pass (``run_batch``, ``ReplayConfig.batch``).
"""
from dataclasses import fields
from typing import List

from orion_lite_ros.types import FrameInputs, PlanResult


class EnginePlanner:
    def __init__(self, checkpoint: str = '', preset: str = 'mini', device: str = 'cpu',
                 seed: int = 0, precision: str = 'fp32', stream: str = 'replay',
                 temporal_memory: bool = True):
        import torch

        from orion_lite_ros.model.engine import EngineConfig
        from orion_lite_ros.planning.frame_assembly import build_engine, engine_config
        torch.manual_seed(seed)
        wanted = {'checkpoint': checkpoint, 'model_preset': preset, 'device': device,
                  'precision': precision, 'vae_mode': 'mean', 'seed': seed,
                  'temporal_memory': temporal_memory}
        names = {f.name for f in fields(EngineConfig)}
        # checkpoint='default' -> the shipped checkpoint with its engine settings
        self.engine = build_engine(engine_config(**{k: v for k, v in wanted.items()
                                                    if k in names}))
        self.stream = stream

    def reset(self) -> None:
        self.engine.reset(self.stream)

    def __call__(self, frame: FrameInputs) -> PlanResult:
        return self.engine.plan(frame, self.stream)

    def prepare(self, frame: FrameInputs):
        """Validation + preprocessing only (thread-safe against `run`; the replay's prefetch
        thread calls it one frame ahead; the prepared frame keeps its views, not the images)."""
        return self.engine.prepare(frame, reuse_buffer=False, keep_images=False)

    @property
    def decode_threads(self) -> int:
        return self.engine.decode_threads

    def jpeg_size_hint(self, src_hw, jpeg_quality):
        return self.engine.jpeg_size_hint(src_hw, jpeg_quality)

    def run(self, prepared) -> PlanResult:
        return self.engine.run_prepared(prepared, self.stream)

    @property
    def can_batch(self) -> bool:
        """Frames may be planned several at a time (no temporal memory links them)."""
        return not self.engine.cfg.temporal_memory

    def run_batch(self, prepared: List) -> List[PlanResult]:
        return self.engine.run_prepared_batch(prepared, self.stream)


def build_engine_planner(checkpoint: str = '', preset: str = 'mini', device: str = 'cpu',
                         seed: int = 0, temporal_memory: bool = True,
                         precision: str = 'fp32') -> EnginePlanner:
    return EnginePlanner(checkpoint, preset, device, seed, precision,
                         temporal_memory=temporal_memory)
