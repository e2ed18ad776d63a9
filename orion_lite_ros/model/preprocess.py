"""Camera preprocessing as ORION does it, generalised to any model view size.

ORION (Bench2Drive, 1600x900 cameras): JPEG re-encode at quality 20, resize by 0.4
(0.37-0.45 random in training), crop 320x640 (bottom, centred), resize to 640x640.
Here the crop box is mapped back to the source image and resampled once (same geometry,
one resize). Normalisation (pixel mean/std) happens inside the model.

Two JPEG decoders (`jpeg_decode`): 'full' decodes the round trip at full resolution, as the
authors; 'scaled' lets libjpeg decode straight to the smallest DCT scale (1/1, 1/2, 1/4, 1/8)
that still covers the model view over the crop box, which is 3-4x cheaper for six 1600x900
cameras and a small view and changes the views by about one grey level (docs/performance.md).
Camera views are processed on `threads` threads (Pillow releases the GIL while coding and
resampling). numpy + Pillow only.
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import io
from typing import Optional, Tuple

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class PreprocessConfig:
    jpeg_reencode: bool = True
    jpeg_quality: int = 20
    resize_scale: float = 0.4     # 0: scale the source width to crop_w (or keep it)
    crop_h: int = 320             # 0: auto, crop_w / 2 (ORION's aspect) capped by the image
    crop_w: int = 640             # 0: the whole resized width
    jpeg_decode: str = 'full'     # 'full' (as the authors) | 'scaled' (DCT-scaled decode)
    threads: int = 1              # camera views processed in parallel

    def __post_init__(self):
        if self.jpeg_decode not in JPEG_DECODES:
            raise ValueError(f'jpeg_decode must be one of {JPEG_DECODES}, got '
                             f'{self.jpeg_decode!r}')
        if not 1 <= int(self.jpeg_quality) <= 100:
            raise ValueError(f'jpeg_quality must be in 1..100, got {self.jpeg_quality}')
        if int(self.threads) < 1:
            raise ValueError(f'threads must be >= 1, got {self.threads}')


JPEG_DECODES = ('full', 'scaled')


def jpeg_encode(image: np.ndarray, quality: int = 20) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format='JPEG', quality=int(quality))
    return buf.getvalue()


def open_scaled(data: bytes, min_size: Optional[Tuple[int, int]] = None) -> Image.Image:
    """A JPEG decoded at the smallest DCT scale whose (w, h) is at least `min_size` (full
    resolution when None)."""
    im = Image.open(io.BytesIO(data))
    if min_size is not None:
        im.draft('RGB', (max(1, int(min_size[0])), max(1, int(min_size[1]))))   # as Pillow
                                                                                # divides
    return im.convert('RGB')


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


def scaled_min_size(src_hw: Tuple[int, int], box: Tuple[float, ...],
                    out_hw: Tuple[int, int]) -> Tuple[float, float]:
    """(w, h) of the whole image at which the crop box covers the view pixel for pixel."""
    H, W = src_hw
    left, top, right, bottom = box
    return W * out_hw[1] / (right - left), H * out_hw[0] / (bottom - top)


def view_from_image(img: np.ndarray, box: Tuple[float, ...], out_hw: Tuple[int, int],
                    cfg: PreprocessConfig) -> np.ndarray:
    """(H, W, 3) uint8 -> (h, w, 3) uint8: the JPEG round trip (if any), crop and resize."""
    if not cfg.jpeg_reencode:
        pil = Image.fromarray(np.ascontiguousarray(img))
        return np.asarray(pil.resize((out_hw[1], out_hw[0]), Image.BILINEAR, box=box))
    data = jpeg_encode(img, cfg.jpeg_quality)
    return view_from_jpeg(data, img.shape[:2], box, out_hw, cfg.jpeg_decode)


def view_from_jpeg(data: bytes, src_hw: Tuple[int, int], box: Tuple[float, ...],
                   out_hw: Tuple[int, int], decode: str = 'full') -> np.ndarray:
    """JPEG bytes of an (H, W) image -> the (h, w, 3) uint8 view of `box` (source pixels)."""
    min_size = scaled_min_size(src_hw, box, out_hw) if decode == 'scaled' else None
    pil = open_scaled(data, min_size)
    s = pil.size[0] / src_hw[1]
    scaled_box = tuple(v * s for v in box)
    return np.asarray(pil.resize((out_hw[1], out_hw[0]), Image.BILINEAR, box=scaled_box))


_POOLS: dict = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix='preprocess')
    return _POOLS[threads]


def preprocess_views(images: np.ndarray, intrinsics: np.ndarray, out_hw: Tuple[int, int],
                     cfg: PreprocessConfig = PreprocessConfig(), out: Optional[np.ndarray] = None):
    """images (N, H, W, 3) uint8, intrinsics (N, 3, 3) -> views (N, 3, h, w) uint8 and the
    intrinsics of the views (N, 3, 3) float32. `out` (N, 3, h, w) uint8 is filled if given."""
    box = crop_box(images.shape[1:3], cfg)
    A = view_matrix(box, out_hw)
    views = out if out is not None else np.empty(
        (images.shape[0], 3, out_hw[0], out_hw[1]), dtype=np.uint8)

    def one(i: int) -> None:
        views[i] = view_from_image(images[i], box, out_hw, cfg).transpose(2, 0, 1)
    if cfg.threads > 1 and len(images) > 1:
        list(_pool(int(cfg.threads)).map(one, range(len(images))))
    else:
        for i in range(len(images)):
            one(i)
    return views, (A @ np.asarray(intrinsics, np.float64)).astype(np.float32)
