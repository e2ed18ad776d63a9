"""Orion-Lite: EVA ViT per view -> QT-Former (scene, ego, map tokens) -> StudentPlanner."""
from typing import Dict, Optional

import torch
from torch import nn

from orion_lite_ros.model.config import OrionLiteConfig
from orion_lite_ros.model.eva_vit import EVAViT
from orion_lite_ros.model.qt_former import QTFormer
from orion_lite_ros.model.student import Noise, StudentPlanner


class OrionLite(nn.Module):
    """Full model. Temporal memories live in `qt_former.memory` (plain tensors, not in the
    state dict); `reset_memory()` clears them, `get_memory()/set_memory()` swap streams."""

    def __init__(self, cfg: OrionLiteConfig):
        super().__init__()
        self.cfg = cfg
        self.img_backbone = EVAViT(cfg.encoder)
        self.qt_former = QTFormer(cfg)
        self.student_model = StudentPlanner(cfg)
        mean = torch.tensor(cfg.encoder.pixel_mean).view(1, 1, 3, 1, 1)
        std = torch.tensor(cfg.encoder.pixel_std).view(1, 1, 3, 1, 1)
        self.register_buffer('pixel_mean', mean, persistent=False)
        self.register_buffer('pixel_std', std, persistent=False)

    @property
    def dtype(self) -> torch.dtype:
        return self.img_backbone.patch_embed.proj.weight.dtype

    def reset_memory(self) -> None:
        self.qt_former.reset_memory()

    def get_memory(self) -> Optional[Dict]:
        return self.qt_former.get_memory()

    def set_memory(self, memory: Optional[Dict]) -> None:
        self.qt_former.set_memory(memory)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, N_cam, 3, H, W) RGB 0..255 (uint8 or float) -> (B, N_cam, gh, gw, C)."""
        B, N = images.shape[:2]
        x = (images.to(self.dtype) - self.pixel_mean.to(self.dtype)) / self.pixel_std.to(
            self.dtype)
        feats = self.img_backbone(x.flatten(0, 1))                         # (B*N, gh, gw, C)
        return feats.unflatten(0, (B, N))

    def forward(self, images: torch.Tensor, intrinsics: torch.Tensor, cam_to_ego: torch.Tensor,
                can_bus: torch.Tensor, command: torch.Tensor, noise: Noise = None,
                gt_future: Optional[torch.Tensor] = None,
                timestamp_s: Optional[torch.Tensor] = None,
                detach_plan: bool = False) -> Dict[str, torch.Tensor]:
        """images (B, N_cam, 3, H, W) RGB 0..255; intrinsics (B, N_cam, 3, 3) pixels of the
        model view; cam_to_ego (B, N_cam, 4, 4) optical frame -> REP-103 ego; can_bus (B, 18);
        command (B,) long; timestamp_s (B,) optional (else frames `frame_dt_s` apart);
        detach_plan: see StudentPlanner.forward.
        Returns StudentPlanner's dict plus `tokens (B, N_tok, D_tok)` and QT-Former outputs."""
        feats = self.encode(images)
        out = self.qt_former(feats, intrinsics, cam_to_ego, can_bus, command, timestamp_s)
        out.update(self.student_model(out['tokens'], command, noise=noise,
                                      gt_future=gt_future, detach_plan=detach_plan))
        return out
