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
