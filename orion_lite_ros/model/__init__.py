"""Orion-Lite in plain PyTorch (see docs/model.md). Imports torch; no ROS."""
from orion_lite_ros.model.config import (
                                         EncoderConfig,
                                         OrionLiteConfig,
                                         PlannerConfig,
                                         QTFormerConfig,
                                         StudentConfig,
)
from orion_lite_ros.model.orion_lite import OrionLite
from orion_lite_ros.model.student import StudentPlanner

__all__ = ['EncoderConfig', 'OrionLite', 'OrionLiteConfig', 'PlannerConfig', 'QTFormerConfig',
           'StudentConfig', 'StudentPlanner']
