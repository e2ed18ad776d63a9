"""Orion-Lite: EVA ViT per view -> QT-Former (scene, history, ego, map tokens) -> StudentPlanner.

Our side of the interface is REP-103 (intrinsics of the model view, cam_to_ego from the
camera optical frame, waypoints x forward / y left); `geometry` converts to the official
frames in one place (lidar2img, lidar2global from the CAN bus).
"""
from typing import Dict, Optional

import torch
from torch import nn

from orion_lite_ros.model import geometry
from orion_lite_ros.model.can_bus import without_planar_accel
from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.eva_vit import EVAViT
from orion_lite_ros.model.nav_token import NavToken
from orion_lite_ros.model.qt_former import QTFormer
from orion_lite_ros.model.student import Noise, StudentPlanner, light_features


class OrionLite(nn.Module):
    """Full model. Temporal memories live in `qt_former.memory` (plain tensors, not in the
    state dict); `reset_memory()` clears them, `get_memory()/set_memory()` swap streams.
    `backbone=False` builds it without the image encoder (features given, e.g. the golden
    comparison or training on cached features)."""

    def __init__(self, cfg: OrionLiteConfig, backbone: bool = True):
        super().__init__()
        self.cfg = cfg
        self.img_backbone = EVAViT(cfg.encoder) if backbone else None
        self.qt_former = QTFormer(cfg)
        self.student_model = StudentPlanner(cfg)
        self.nav_token = NavToken(cfg) if cfg.nav.enabled else None
        mean = torch.tensor(cfg.encoder.pixel_mean).view(1, 1, 3, 1, 1)
        std = torch.tensor(cfg.encoder.pixel_std).view(1, 1, 3, 1, 1)
        self.register_buffer('pixel_mean', mean, persistent=False)
        self.register_buffer('pixel_std', std, persistent=False)

    @property
    def dtype(self) -> torch.dtype:
        return self.qt_former.position_encoder[0].weight.dtype

    def reset_memory(self) -> None:
        self.qt_former.reset_memory()

    def get_memory(self) -> Optional[Dict]:
        return self.qt_former.get_memory()

    def set_memory(self, memory: Optional[Dict]) -> None:
        self.qt_former.set_memory(memory)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, N_cam, 3, H, W) RGB 0..255 (uint8 or float) -> (B, N_cam, gh, gw, C)."""
        if self.img_backbone is None:
            raise RuntimeError('this OrionLite was built without its image backbone')
        B, N = images.shape[:2]
        x = (images.to(self.dtype) - self.pixel_mean.to(self.dtype)) / self.pixel_std.to(
            self.dtype)
        feats = self.img_backbone(x.flatten(0, 1))                         # (B*N, gh, gw, C)
        return feats.unflatten(0, (B, N))

    def forward(self, images: torch.Tensor, intrinsics: torch.Tensor, cam_to_ego: torch.Tensor,
                can_bus: torch.Tensor, command: torch.Tensor, noise: Noise = None,
                gt_future: Optional[torch.Tensor] = None,
                timestamp_s: Optional[torch.Tensor] = None,
                detach_plan: bool = False, reset: Optional[torch.Tensor] = None,
                target_point: Optional[torch.Tensor] = None,
                rest_s: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """images (B, N_cam, 3, H, W) RGB 0..255; intrinsics (B, N_cam, 3, 3) pixels of the
        model view; cam_to_ego (B, N_cam, 4, 4) optical frame -> REP-103 ego; can_bus (B, 18)
        as `geometry.can_bus_from_ego`; command (B,) long; timestamp_s (B,) optional (else
        frames `frame_dt_s` apart); reset (B,) bool: clear the memories (scene change);
        detach_plan: see StudentPlanner.forward; target_point (B, 2) route target point, ego
        frame (m), and rest_s (B,) seconds at rest (nav_token.rest_times), read by the
        route/ego token when `cfg.nav.enabled` (rest_s with `cfg.nav.rest_scale_s`).
        Returns StudentPlanner's dict plus `tokens` and the QT-Former outputs."""
        feats = self.encode(images)
        return self.forward_features(feats, geometry.lidar2img(intrinsics, cam_to_ego),
                                     can_bus, command, noise, gt_future, timestamp_s,
                                     detach_plan, tuple(images.shape[-2:]), reset,
                                     target_point, rest_s)

    def forward_features(self, feats: torch.Tensor, lidar2img: torch.Tensor,
                         can_bus: torch.Tensor, command: torch.Tensor, noise: Noise = None,
                         gt_future: Optional[torch.Tensor] = None,
                         timestamp_s: Optional[torch.Tensor] = None, detach_plan: bool = False,
                         view_hw=None, reset: Optional[torch.Tensor] = None,
                         target_point: Optional[torch.Tensor] = None,
                         rest_s: Optional[torch.Tensor] = None
                         ) -> Dict[str, torch.Tensor]:
        """The model after the backbone, in the official conventions: feats (B, N, gh, gw, C),
        lidar2img (B, N, 4, 4) model-view pixels."""
        if not self.cfg.ego_accel_input:
            can_bus = without_planar_accel(can_bus)
        out = self.qt_former(feats, lidar2img, can_bus, command, timestamp_s, view_hw, reset)
        query_bias = None
        if self.nav_token is not None:
            nav = self.nav_token(can_bus, target_point, rest_s).to(out['tokens'].dtype)
            out['tokens'] = torch.cat([out['tokens'], nav], dim=1)
            query_bias = self.nav_token.query_bias(nav)
        gate_lights = None
        if self.cfg.planner.wait_gate_lights:
            gate_lights = light_features(out['cls_scores'].float(),
                                         out['traffic_states'].float())
        out.update(self.student_model(out['tokens'], command, noise=noise,
                                      gt_future=gt_future, detach_plan=detach_plan,
                                      query_bias=query_bias, gate_lights=gate_lights))
        return out
