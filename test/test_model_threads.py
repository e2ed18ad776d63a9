"""Thread policy and governor (model/threads.py), and the preprocessing paths it feeds."""
import io

import numpy as np
from PIL import Image
import pytest

from orion_lite_ros.bench.planner_e2e import natural_image
from orion_lite_ros.model import threads
from orion_lite_ros.model.preprocess import (
    PreprocessConfig,
    crop_box,
    jpeg_encode,
    preprocess_views,
    view_from_jpeg,
)


def test_policy_leaves_a_core_and_explicit_values_win():
    assert threads.plan_threads(cores=2) == threads.ThreadPlan(torch=1, preprocess=2, cores=2)
    assert threads.plan_threads(cores=16).torch == 8
    assert threads.plan_threads(cores=32).preprocess == 6
    assert threads.plan_threads(device_type='cuda', cores=16).torch == 1
    assert threads.plan_threads(3, 4, cores=2) == threads.ThreadPlan(3, 4, 2)
    with pytest.raises(ValueError, match='>= 0'):
        threads.plan_threads(-1)


class _Machine:
    """Fake /proc readings: `others` cores busy besides this process, which uses `own`."""

    def __init__(self, cores=2):
        self.cores, self.t, self.busy, self.total, self.own = cores, 0.0, 0.0, 0.0, 0.0
        self.others, self.own_rate = 0.0, 1.0

    def advance(self, dt=0.5):
        self.t += dt
        self.total += dt * self.cores
        self.own += dt * self.own_rate
        self.busy += dt * (self.own_rate + self.others)

    def read(self):
        return self.busy, self.total, self.own


def _governor(m):
    return threads.ThreadGovernor(1, 2, m.cores, read=m.read, clock=lambda: m.t)


def test_governor_goes_up_only_after_sustained_idle_and_down_at_once():
    m = _Machine()
    g = _governor(m)
    seen = []
    for _ in range(6):
        m.advance()
        seen.append(g.update())
    assert seen == [1, 1, 1, 2, 2, 2]              # 4 idle periods, then all cores
    m.others = 1.0                                  # another process takes a core
    m.advance()
    assert g.update() == 1 and g.others_cores == pytest.approx(1.0)
    m.others = 0.25                                 # in between: stays where it is
    for _ in range(5):
        m.advance()
        assert g.update() == 1


def test_governor_reads_at_most_once_per_period():
    m = _Machine()
    calls = []

    def read():
        calls.append(1)
        return m.read()
    g = threads.ThreadGovernor(1, 2, 2, read=read, clock=lambda: m.t)
    for _ in range(10):
        m.t += 0.01
        g.update()
    assert len(calls) == 1                          # the constructor's reading only


def test_no_governor_for_explicit_threads_or_cuda():
    plan = threads.plan_threads(cores=2)
    assert threads.governor_for(plan, 2, 'cpu') is None
    assert threads.governor_for(plan, 0, 'cuda') is None


def _natural(hw, seed=0):
    return natural_image(hw, seed)


def test_scaled_decode_is_close_to_full_and_exact_when_the_view_is_large():
    imgs = np.stack([_natural((900, 1600), s) for s in range(2)])
    K = np.repeat(np.eye(3)[None], 2, 0)
    full, K_full = preprocess_views(imgs, K, (128, 256), PreprocessConfig(jpeg_decode='full'))
    scaled, K_scaled = preprocess_views(imgs, K, (128, 256),
                                        PreprocessConfig(jpeg_decode='scaled', threads=2))
    raw, _ = preprocess_views(imgs, K, (128, 256), PreprocessConfig(jpeg_reencode=False))
    d = np.abs(full.astype(float) - scaled)
    assert np.array_equal(K_full, K_scaled)
    assert 0 < d.mean() < 2.5                      # about one grey level
    assert d.mean() < 0.6 * np.abs(full.astype(float) - raw).mean()   # JPEG still applied
    big_full, _ = preprocess_views(imgs, K, (640, 640), PreprocessConfig(jpeg_decode='full'))
    big_scaled, _ = preprocess_views(imgs, K, (640, 640), PreprocessConfig(jpeg_decode='scaled'))
    assert np.array_equal(big_full, big_scaled)    # ORION's 640x640 view: no DCT scaling


def test_threads_and_buffer_reuse_give_the_same_views():
    imgs = np.stack([_natural((160, 256), s) for s in range(6)])
    K = np.repeat(np.eye(3)[None], 6, 0)
    one, _ = preprocess_views(imgs, K, (128, 256), PreprocessConfig(threads=1))
    buf = np.full_like(one, 7)
    many, _ = preprocess_views(imgs, K, (128, 256), PreprocessConfig(threads=3), out=buf)
    assert many is buf and np.array_equal(one, many)


def test_view_from_jpeg_decodes_at_a_reduced_scale():
    img = _natural((900, 1600))
    data = jpeg_encode(img, 20)
    box = crop_box((900, 1600), PreprocessConfig())
    view = view_from_jpeg(data, (900, 1600), box, (128, 256), 'scaled')
    assert view.shape == (128, 256, 3)
    im = Image.open(io.BytesIO(data))
    im.draft('RGB', (400, 225))
    assert im.size == (400, 225)                   # 1/4 covers a 256-wide view of 1600 px


def test_bad_preprocess_config_is_refused():
    with pytest.raises(ValueError, match='jpeg_decode'):
        PreprocessConfig(jpeg_decode='fast')
    with pytest.raises(ValueError, match='jpeg_quality'):
        PreprocessConfig(jpeg_quality=500)
    with pytest.raises(ValueError, match='threads'):
        PreprocessConfig(threads=0)
