"""Camera JPEGs decoded at the size the engine needs, and not JPEG-encoded a second time when
they are already as compressed as the authors' round trip (issue 20)."""
import io

import numpy as np
from PIL import Image
import pytest

from orion_lite_ros.bench.planner_e2e import natural_image
from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.model.preprocess import PreprocessConfig, crop_box, preprocess_views
from orion_lite_ros.planning.frame_assembly import FrameAssembler
from orion_lite_ros.ros.conversions import camera_info_from_intrinsics, odometry_from_ego_state
from orion_lite_ros.ros.image_codec import (
    decode_compressed,
    jpeg_quality_estimate,
    rgb_to_compressed,
    rgb_to_image,
)
from orion_lite_ros.ros.rig import load_rig
from orion_lite_ros.types import EgoState

H, W = 450, 800


def _natural(hw, seed=0):
    return natural_image(hw, seed)


def _jpeg_set(quality, raw_camera=None):
    out = []
    for i, cam in enumerate(CAMERA_NAMES):
        rgb = _natural((H, W), i)
        msg = rgb_to_image(rgb) if cam == raw_camera else rgb_to_compressed(rgb, 'jpeg', quality)
        out.append((cam, msg, f'/cam/{cam}'))
    return out


def _quarter(src_hw, quality):
    return src_hw[1] / 4, src_hw[0] / 4


@pytest.mark.parametrize('quality', [10, 20, 55, 80, 95])
def test_quality_estimate_of_libjpeg_files(quality):
    buf = io.BytesIO()
    Image.fromarray(_natural((64, 64), 0)).save(buf, 'JPEG', quality=quality)
    assert jpeg_quality_estimate(Image.open(buf).quantization[0]) == quality
    assert jpeg_quality_estimate(list(range(64))) is None          # not libjpeg's tables


def test_hint_decodes_a_reduced_image_and_reports_its_source():
    msg = rgb_to_compressed(_natural((H, W), 0), 'jpeg', 20)
    seen = []

    def hint(src_hw, quality):
        seen.append((src_hw, quality))
        return src_hw[1] / 4, src_hw[0] / 4
    out = decode_compressed(msg, '/cam', hint)
    assert seen == [((H, W), 20)]
    assert out.rgb.shape == (H // 4 + (H % 4 > 0), W // 4, 3) and out.source_hw == (H, W)
    assert decode_compressed(msg).rgb.shape == (H, W, 3)            # no hint: full size


def test_all_jpeg_set_is_decoded_small_and_camera_info_scaled():
    asm = FrameAssembler(load_rig(), use_camera_info=True)
    asm.jpeg_size_hint = _quarter
    k = np.array([[400.0, 0.0, 400.0], [0.0, 400.0, 225.0], [0.0, 0.0, 1.0]])
    asm.set_camera_info('CAM_BACK', camera_info_from_intrinsics(k, W, H))
    decoded = asm.decode_set(_jpeg_set(20))
    assert decoded.images.shape[1:3] == (113, 200) and decoded.source_hw == (H, W)
    assert decoded.source_jpeg_quality == 20
    frame = asm.frame_inputs(1, decoded.images, odometry_from_ego_state(
        EgoState(1, 0.0, 0.0, 0.0, 0.0, 3.0)), decoded.source_jpeg_quality, decoded.source_hw)
    back = CAMERA_NAMES.index('CAM_BACK')
    np.testing.assert_allclose(frame.intrinsics[back][0], [100.0, 0.0, 100.0])
    np.testing.assert_allclose(frame.intrinsics[back][1], [0.0, 400.0 * 113 / 450,
                                                          225.0 * 113 / 450])
    assert frame.source_jpeg_quality == 20


def test_a_set_with_a_raw_camera_is_decoded_whole():
    asm = FrameAssembler(load_rig())
    asm.jpeg_size_hint = _quarter
    decoded = asm.decode_set(_jpeg_set(20, raw_camera='CAM_BACK'))
    assert decoded.images.shape[1:3] == (H, W) and decoded.source_jpeg_quality is None


def test_engine_hint_and_passthrough_rules():
    pytest.importorskip('torch')
    from orion_lite_ros.model.engine import EngineConfig, InferenceEngine
    eng = InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0))
    assert eng.passes_through(20) and eng.passes_through(25)
    assert not eng.passes_through(26) and not eng.passes_through(None)
    w, h = eng.jpeg_size_hint((900, 1600), 20)
    assert w == pytest.approx(1600 * 256 / 1600) and h == pytest.approx(900 * 128 / 800)
    assert eng.jpeg_size_hint((900, 1600), 90) is None       # re-encoded: decode it whole
    exact = InferenceEngine(EngineConfig(model_preset='mini', device='cpu', warmup_iters=0,
                                         jpeg_decode='full'))
    assert exact.jpeg_size_hint((900, 1600), 20) is None


def test_passthrough_views_are_close_to_the_round_trip_views():
    """A q20 camera JPEG: decoded small and resized vs decoded whole, re-encoded at q20,
    decoded and resized (the authors' path)."""
    src = np.stack([_natural((900, 1600), i) for i in range(2)])
    jpegs = [rgb_to_compressed(img, 'jpeg', 20) for img in src]
    whole = np.stack([decode_compressed(m).rgb for m in jpegs])
    K = np.repeat(np.eye(3)[None], 2, 0)
    rel = PreprocessConfig(resize_scale=0.0)               # the engine's crop geometry
    exact, _ = preprocess_views(whole, K, (128, 256), PreprocessConfig(
        resize_scale=0.0, jpeg_decode='full'))
    box = crop_box((900, 1600), rel)
    size = (256 * 1600 / (box[2] - box[0]), 128 * 900 / (box[3] - box[1]))
    small = np.stack([decode_compressed(m, None, lambda hw, q: size).rgb for m in jpegs])
    fast, _ = preprocess_views(small, K, (128, 256), PreprocessConfig(resize_scale=0.0,
                                                                      jpeg_reencode=False))
    assert small.shape[1:3] == (225, 400)
    assert np.abs(exact.astype(float) - fast).mean() < 2.0


def _gray_jpeg(hw, quality):
    buf = io.BytesIO()
    Image.fromarray(_natural(hw, 3)[..., 0]).save(buf, 'JPEG', quality=quality)
    return buf.getvalue()


@pytest.mark.parametrize('quality', [20, 90])
@pytest.mark.parametrize('divisor', [None, 2, 4, 8])
def test_simplejpeg_decode_equals_pillow(monkeypatch, quality, divisor):
    """libjpeg-turbo through simplejpeg (the fast path) gives Pillow's pixels exactly, at full
    size and at each DCT scale, for colour, odd-sized and greyscale JPEGs."""
    from orion_lite_ros.ros import image_codec
    pytest.importorskip('simplejpeg')
    hint = None if divisor is None else (lambda hw, q: (hw[1] / divisor, hw[0] / divisor))
    msgs = [rgb_to_compressed(_natural((H, W), 0), 'jpeg', quality),
            rgb_to_compressed(_natural((225, 401), 1), 'jpeg', quality)]
    gray = rgb_to_compressed(_natural((8, 8), 0), 'jpeg', quality)
    gray.data = _gray_jpeg((230, 410), quality)
    msgs.append(gray)
    fast = [decode_compressed(m, '/cam', hint) for m in msgs]
    monkeypatch.setattr(image_codec, '_simplejpeg', None)
    slow = [decode_compressed(m, '/cam', hint) for m in msgs]
    for f, s in zip(fast, slow):
        assert f.rgb.shape == s.rgb.shape and f.rgb.dtype == np.uint8
        np.testing.assert_array_equal(f.rgb, s.rgb)
        assert (f.source_hw, f.jpeg_quality) == (s.source_hw, s.jpeg_quality)


def test_truncated_jpeg_is_a_decode_error_on_the_fast_path():
    from orion_lite_ros.ros.image_codec import ImageDecodeError
    msg = rgb_to_compressed(_natural((H, W), 0), 'jpeg', 90)
    msg.data = bytes(msg.data)[: len(msg.data) // 2]
    with pytest.raises(ImageDecodeError, match='/cam'):
        decode_compressed(msg, '/cam', _quarter)
    with pytest.raises(ImageDecodeError, match='/cam'):
        decode_compressed(msg, '/cam')


@pytest.mark.parametrize('stop_at_first_fault', [False, True])
def test_a_set_decoded_on_threads_equals_the_serial_decode(stop_at_first_fault):
    cams = _jpeg_set(90)
    bad = rgb_to_compressed(_natural((H, W), 0), 'jpeg', 90)
    bad.data = b'\xff\xd8 not a jpeg'
    broken = cams[:2] + [(cams[2][0], bad, cams[2][2])] + cams[3:]
    out = {}
    for threads in (1, 3):
        asm = FrameAssembler(load_rig(None), stop_at_first_fault=stop_at_first_fault)
        asm.jpeg_size_hint, asm.decode_threads = _quarter, threads
        out[threads] = asm.decode_set(cams), asm.decode_set(broken)
    (good1, bad1), (good3, bad3) = out[1], out[3]
    np.testing.assert_array_equal(good1.images, good3.images)
    assert good3.images.shape == (len(CAMERA_NAMES), H // 4 + 1, W // 4, 3)
    assert (good1.source_jpeg_quality, good1.source_hw) == (good3.source_jpeg_quality,
                                                            good3.source_hw) == (90, (H, W))
    assert bad1.images is None and bad3.images is None
    assert [f.camera for f in bad1.faults] == [f.camera for f in bad3.faults] == [cams[2][0]]
