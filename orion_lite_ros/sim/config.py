"""Simulator configuration (single source of defaults; ``config/sim.yaml`` overrides)."""
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional, Tuple

from orion_lite_ros.layout import SIM_FIXED_DELTA_S
from orion_lite_ros.paths import config_dir


@dataclass(frozen=True)
class SimConfig:
    fixed_delta_s: float = SIM_FIXED_DELTA_S
    camera_height_px: int = 160
    camera_width_px: int = 256
    render: bool = True                  # False: physics only, images are all zero
    skybox: bool = True
    route_deviation_m: float = 8.0
    outside_lane_tolerance_m: float = 2.0
    blocked_time_s: float = 90.0
    expert_cruise_speed_mps: float = 8.0
    expert_green_reaction_s: float = 0.0  # ExpertConfig.green_reaction_s
    expert_restart_reaction_s: float = 0.0  # ExpertConfig.restart_reaction_s

    @property
    def camera_size_hw(self) -> Tuple[int, int]:
        return (self.camera_height_px, self.camera_width_px)

    @staticmethod
    def from_dict(d: dict) -> 'SimConfig':
        known = {f.name for f in fields(SimConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f'unknown SimConfig fields: {unknown}')
        return SimConfig(**d)

    @staticmethod
    def from_yaml(path: Optional[str] = None) -> 'SimConfig':
        """Read ``/**: ros__parameters:`` (or a flat mapping) from a YAML file."""
        import yaml
        path = Path(path) if path else config_dir() / 'sim.yaml'
        data = yaml.safe_load(path.read_text()) or {}
        if '/**' in data:
            data = data['/**'].get('ros__parameters', {})
        return SimConfig.from_dict(data)
