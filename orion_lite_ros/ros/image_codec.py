"""sensor_msgs/Image and CompressedImage <-> numpy, without cv_bridge.

Decoding returns views on the message buffer where numpy allows (no copy for rgb8, bgr8,
rgba8, bgra8, mono8, with or without row padding); ``to_rgb`` gives the planner's
``(H, W, 3)`` uint8 RGB. Bad input raises :class:`ImageDecodeError` naming the topic,
never anything a node would not expect.
"""
import functools
import io
from typing import Callable, NamedTuple, Optional, Tuple, Union

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from orion_lite_ros.ros.time import ns_to_stamp

try:                                    # libjpeg-turbo into numpy; Pillow without it
    import simplejpeg as _simplejpeg
except ImportError:                     # pragma: no cover - in requirements/base.txt
    _simplejpeg = None

# encoding -> channels; all 8-bit.
CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}
COMPRESSED_FORMATS = ('jpeg', 'png')
# A compressed image may declare any size in a few bytes (a 117 KB PNG can decompress to
# 1.3 GB): larger than this many pixels is refused before decompression (8K UHD fits).
MAX_DECODED_PIXELS = 7680 * 4320
# (H, W, 3) RGB <- (H, W, C) in the encoding's channel order (views, no copies).
_RGB_INDEX = {'rgb8': slice(0, 3), 'bgr8': slice(2, None, -1),
              'rgba8': slice(0, 3), 'bgra8': slice(2, None, -1)}


class ImageDecodeError(ValueError):
    """An image message that cannot be converted; the message names topic and sizes."""

    def __init__(self, reason: str, topic: Optional[str] = None):
        self.reason = reason
        self.topic = topic
        super().__init__(f'{topic or "<unknown topic>"}: {reason}')


def _channels(encoding: str, topic: Optional[str]) -> int:
    try:
        return CHANNELS[encoding]
    except KeyError:
        raise ImageDecodeError(f'unsupported encoding {encoding!r} '
                               f'(supported: {", ".join(CHANNELS)})', topic) from None


def image_to_array(msg: Image, topic: Optional[str] = None) -> np.ndarray:
    """Image -> (H, W, C) uint8 view in the message's channel order ((H, W) for mono8).

    The result shares memory with ``msg.data``; copy it if the message is reused.
    """
    channels = _channels(msg.encoding, topic)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels
    sizes = f'encoding {msg.encoding}, {width}x{height}, step {step}, {len(msg.data)} bytes'
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f'empty image ({sizes})', topic)
    if width * height > MAX_DECODED_PIXELS:
        raise ImageDecodeError(f'larger than {MAX_DECODED_PIXELS} pixels ({sizes})', topic)
    if step < row_bytes:
        raise ImageDecodeError(f'step smaller than width*channels={row_bytes} ({sizes})', topic)
    needed = step * (height - 1) + row_bytes if height > 0 else 0
    if len(msg.data) < needed:
        raise ImageDecodeError(f'data too short, needs {needed} bytes ({sizes})', topic)
    buffer = msg.data if len(msg.data) else b''
    shape = (height, width, channels)
    array = np.ndarray(shape, dtype=np.uint8, buffer=memoryview(buffer).cast('B'),
                       strides=(step, channels, 1))
    return array[:, :, 0] if channels == 1 else array


def to_rgb(msg: Union[Image, CompressedImage], topic: Optional[str] = None) -> np.ndarray:
    """Image or CompressedImage -> (H, W, 3) uint8 RGB (a view where possible)."""
    if isinstance(msg, CompressedImage) or hasattr(msg, 'format'):
        return compressed_to_rgb(msg, topic)
    array = image_to_array(msg, topic)
    if msg.encoding == 'mono8':
        return np.repeat(array[:, :, None], 3, axis=2)
    return array[:, :, _RGB_INDEX[msg.encoding]]


def _stamp(stamp_ns: Optional[int]):
    return ns_to_stamp(0 if stamp_ns is None else stamp_ns)


def array_to_image(array: np.ndarray, encoding: str = 'rgb8', frame_id: str = '',
                   stamp_ns: Optional[int] = None) -> Image:
    """(H, W, C) uint8 already in ``encoding``'s channel order -> Image (one copy, no padding)."""
    channels = _channels(encoding, None)
    array = np.asarray(array)
    expected_ndim = 2 if channels == 1 else 3
    if array.dtype != np.uint8 or array.ndim not in (expected_ndim, 3) or (
            array.ndim == 3 and array.shape[2] != channels):
        raise ValueError(f'{encoding} needs uint8 (H, W, {channels}), '
                         f'got {array.dtype} {array.shape}')
    msg = Image()
    msg.header.stamp = _stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def rgb_to_image(rgb: np.ndarray, encoding: str = 'rgb8', frame_id: str = '',
                 stamp_ns: Optional[int] = None) -> Image:
    """(H, W, 3) uint8 RGB -> Image in ``encoding`` (channel order converted)."""
    rgb = _check_rgb(rgb)
    if encoding == 'mono8':
        weights = np.array([0.299, 0.587, 0.114])
        pixels = np.clip(np.rint(rgb @ weights), 0, 255).astype(np.uint8)
    elif encoding in ('rgba8', 'bgra8'):
        alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
        pixels = np.concatenate([rgb[:, :, _RGB_INDEX[encoding]], alpha], axis=2)
    else:
        _channels(encoding, None)
        pixels = rgb[:, :, _RGB_INDEX[encoding]]
    return array_to_image(pixels, encoding, frame_id, stamp_ns)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected (H, W, 3) uint8 RGB, got {rgb.dtype} {rgb.shape}')
    return rgb


def _compressed_kind(msg: CompressedImage, topic: Optional[str]) -> str:
    fmt = msg.format.lower()
    data = bytes(msg.data[:8])
    if 'png' in fmt or data.startswith(b'\x89PNG'):
        return 'png'
    if 'jpeg' in fmt or 'jpg' in fmt or data.startswith(b'\xff\xd8'):
        return 'jpeg'
    raise ImageDecodeError(f'unsupported compressed format {msg.format!r} '
                           f'(supported: {", ".join(COMPRESSED_FORMATS)})', topic)


def compressed_to_rgb(msg: CompressedImage, topic: Optional[str] = None) -> np.ndarray:
    """CompressedImage (jpeg or png; image_transport format strings accepted) -> RGB."""
    return decode_compressed(msg, topic).rgb


# IJG's standard luminance quantisation table (JPEG Annex K), which libjpeg scales by quality.
_IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24,
             40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77,
             24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95,
             98, 112, 100, 103, 99)


def jpeg_quality_estimate(luma_table) -> Optional[int]:
    """libjpeg quality (1..100) whose scaled standard table is closest to `luma_table` (64
    values, any order); None for tables not of that family (then nothing is assumed)."""
    return _quality_of(tuple(int(v) for v in luma_table))


@functools.lru_cache(maxsize=64)       # a camera stream repeats one table: once per stream
def _quality_of(luma_table: Tuple[int, ...]) -> Optional[int]:
    table = np.asarray(luma_table, np.float64)
    if table.size != 64:
        return None
    std = np.sort(np.asarray(_IJG_LUMA, np.float64))
    table = np.sort(table)
    best, best_err = None, np.inf
    for q in range(1, 101):
        scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
        ref = np.clip(np.floor((std * scale + 50.0) / 100.0), 1, 255)
        err = float(np.abs(ref - table).mean())
        if err < best_err:
            best, best_err = q, err
    return best if best_err <= 1.0 else None


class DecodedImage(NamedTuple):
    rgb: np.ndarray                     # (h, w, 3) uint8
    source_hw: Tuple[int, int]          # size the image was encoded at
    jpeg_quality: Optional[int]         # estimated, for JPEG; None otherwise


# (source (H, W), estimated JPEG quality) -> smallest (w, h) the consumer needs, or None
SizeHint = Callable[[Tuple[int, int], Optional[int]], Optional[Tuple[float, float]]]


def _turbo_decode(data: bytes, size_wh: Tuple[int, int]) -> Optional[np.ndarray]:
    """A JPEG decoded by simplejpeg (libjpeg-turbo, straight into numpy: about half of
    Pillow's time for a 1600x900 image) at the DCT scale whose output is `size_wh` (the one
    Pillow's draft chose, so the pixels equal Pillow's: same library, same IDCT and
    upsampling). None when simplejpeg is not installed or cannot decode it exactly (CMYK,
    a scale it picks differently, a corrupt stream): the caller decodes with Pillow."""
    if _simplejpeg is None:
        return None
    try:
        rgb = _simplejpeg.decode_jpeg(data, colorspace='RGB', min_width=int(size_wh[0]),
                                      min_height=int(size_wh[1]), strict=True)
    except (ValueError, RuntimeError):
        return None
    return rgb if (rgb.shape[1], rgb.shape[0]) == tuple(size_wh) else None


def decode_compressed(msg: CompressedImage, topic: Optional[str] = None,
                      size_hint: Optional[SizeHint] = None) -> DecodedImage:
    """CompressedImage -> RGB, with its source size and JPEG quality. A JPEG for which
    `size_hint` names a size is decoded at the smallest DCT scale (1, 1/2, 1/4, 1/8) that is
    at least that large (libjpeg's scaled decoding: 3-10x cheaper than full size)."""
    from PIL import Image as PilImage
    kind = _compressed_kind(msg, topic)
    data = bytes(msg.data)
    try:
        with PilImage.open(io.BytesIO(data)) as pil:     # reads the header only
            width, height = pil.size
            if width <= 0 or height <= 0 or width * height > MAX_DECODED_PIXELS:
                raise ImageDecodeError(f'{kind} declares {width}x{height} pixels (accepted: '
                                       f'1..{MAX_DECODED_PIXELS}); not decompressed', topic)
            quality = None
            if kind == 'jpeg':
                tables = getattr(pil, 'quantization', None) or {}
                quality = jpeg_quality_estimate(tables[0]) if 0 in tables else None
                wanted = size_hint((height, width), quality) if size_hint else None
                if wanted is not None:
                    # Pillow picks the scale by integer division: floor keeps the scale
                    # that libjpeg's ceil-sized output covers within a pixel
                    pil.draft('RGB', (max(1, int(wanted[0])), max(1, int(wanted[1]))))
                rgb = _turbo_decode(data, pil.size)
                if rgb is not None:
                    return DecodedImage(rgb, (height, width), quality)
            return DecodedImage(np.asarray(pil.convert('RGB')), (height, width), quality)
    except ImageDecodeError:
        raise
    except (OSError, ValueError, PilImage.DecompressionBombError) as err:
        raise ImageDecodeError(f'cannot decode {kind} ({len(msg.data)} bytes, format '
                               f'{msg.format!r}): {err}', topic) from err


def rgb_to_compressed(rgb: np.ndarray, fmt: str = 'jpeg', quality: int = 90,
                      frame_id: str = '', stamp_ns: Optional[int] = None) -> CompressedImage:
    """(H, W, 3) uint8 RGB -> CompressedImage, format string as image_transport writes it."""
    from PIL import Image as PilImage
    if fmt not in COMPRESSED_FORMATS:
        raise ValueError(f'unsupported compressed format {fmt!r} ({COMPRESSED_FORMATS})')
    buffer = io.BytesIO()
    pil = PilImage.fromarray(np.ascontiguousarray(_check_rgb(rgb)))
    if fmt == 'jpeg':
        pil.save(buffer, format='JPEG', quality=int(quality))
    else:
        pil.save(buffer, format='PNG')
    msg = CompressedImage()
    msg.header.stamp = _stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.format = f'rgb8; {fmt} compressed bgr8'
    msg.data = buffer.getvalue()
    return msg
