"""Camera preprocessing as ORION does it, generalised to any model view size.

ORION (Bench2Drive, 1600x900 cameras): JPEG re-encode at quality 20, resize by 0.4
(0.37-0.45 random in training), crop 320x640 (bottom, centred), resize to 640x640.
Here the crop box is mapped back to the source image and resampled once (same geometry,
one resize). Normalisation (pixel mean/std) happens inside the model.
numpy + Pillow only.
"""
from dataclasses import dataclass
import io
from typing import Tuple

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class PreprocessConfig:
    jpeg_reencode: bool = True
    jpeg_quality: int = 20
    resize_scale: float = 0.4     # 0: scale the source width to crop_w (or keep it)
    crop_h: int = 320             # 0: auto, crop_w / 2 (ORION's aspect) capped by the image
    crop_w: int = 640             # 0: the whole resized width


def jpeg_reencode(image: np.ndarray, quality: int = 20) -> np.ndarray:
    """(H, W, 3) uint8 -> the same after a JPEG round trip."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format='JPEG', quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert('RGB'))


def crop_box(src_hw: Tuple[int, int], cfg: PreprocessConfig) -> Tuple[float, ...]:
    """(left, top, right, bottom) in source pixels of ORION's resize + bottom-centre crop."""
    H, W = src_hw
    scale = cfg.resize_scale or ((cfg.crop_w / W) if cfg.crop_w else 1.0)
    rh, rw = H * scale, W * scale
    cw = min(cfg.crop_w or rw, rw)
    ch = min(cfg.crop_h or cw / 2, rh)
    left, top = (rw - cw) / 2.0, rh - ch
    return left / scale, top / scale, (left + cw) / scale, (top + ch) / scale


def view_matrix(box: Tuple[float, ...], out_hw: Tuple[int, int]) -> np.ndarray:
    """(3, 3) map from source pixels to model-view pixels for `box` resampled to out_hw."""
    left, top, right, bottom = box
    sx, sy = out_hw[1] / (right - left), out_hw[0] / (bottom - top)
    return np.array([[sx, 0.0, -sx * left], [0.0, sy, -sy * top], [0.0, 0.0, 1.0]])


def preprocess_views(images: np.ndarray, intrinsics: np.ndarray, out_hw: Tuple[int, int],
                     cfg: PreprocessConfig = PreprocessConfig()):
    """images (N, H, W, 3) uint8, intrinsics (N, 3, 3) -> views (N, 3, h, w) uint8 and the
    intrinsics of the views (N, 3, 3) float32."""
    box = crop_box(images.shape[1:3], cfg)
    A = view_matrix(box, out_hw)
    views = np.empty((images.shape[0], 3, out_hw[0], out_hw[1]), dtype=np.uint8)
    for i, img in enumerate(images):
        if cfg.jpeg_reencode:
            img = jpeg_reencode(img, cfg.jpeg_quality)
        pil = Image.fromarray(np.ascontiguousarray(img))
        out = pil.resize((out_hw[1], out_hw[0]), Image.BILINEAR, box=box)
        views[i] = np.asarray(out).transpose(2, 0, 1)
    return views, (A @ intrinsics).astype(np.float32)
