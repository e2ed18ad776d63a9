"""Image / CompressedImage <-> numpy without cv_bridge."""
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from orion_lite_ros.ros.image_codec import (
    CHANNELS,
    ImageDecodeError,
    array_to_image,
    compressed_to_rgb,
    image_to_array,
    rgb_to_compressed,
    rgb_to_image,
    to_rgb,
)


@pytest.fixture
def rgb():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)


def _buffer(msg):
    return np.frombuffer(msg.data, dtype=np.uint8)


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8'])
def test_colour_round_trip_is_exact_and_zero_copy(rgb, encoding):
    msg = rgb_to_image(rgb, encoding, frame_id='CAM_FRONT', stamp_ns=1_500_000_000)
    assert (msg.height, msg.width, msg.step) == (9, 13, 13 * CHANNELS[encoding])
    assert msg.header.stamp.sec == 1 and msg.header.stamp.nanosec == 500_000_000
    out = to_rgb(msg)
    np.testing.assert_array_equal(out, rgb)
    assert np.shares_memory(out, _buffer(msg))


def test_channel_order_of_bgr8_in_the_buffer():
    pixel = np.array([[[10, 20, 30]]], dtype=np.uint8)
    msg = rgb_to_image(pixel, 'bgr8')
    assert list(_buffer(msg)) == [30, 20, 10]
    assert list(_buffer(rgb_to_image(pixel, 'bgra8'))) == [30, 20, 10, 255]


def test_mono8_round_trip_of_grey_image():
    grey = np.repeat(np.arange(0, 240, 20, dtype=np.uint8).reshape(3, 4, 1), 3, axis=2)
    msg = rgb_to_image(grey, 'mono8')
    assert image_to_array(msg).shape == (3, 4)
    np.testing.assert_array_equal(to_rgb(msg), grey)


@pytest.mark.parametrize('encoding', list(CHANNELS))
def test_row_padding_is_skipped_without_copy(encoding):
    channels = CHANNELS[encoding]
    height, width, pad = 5, 7, 9
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    rows = np.full((height, width * channels + pad), 0xAB, dtype=np.uint8)
    rows[:, :width * channels] = pixels.reshape(height, -1)
    msg = Image(height=height, width=width, encoding=encoding, step=width * channels + pad)
    msg.data = rows.tobytes()
    array = image_to_array(msg)
    expected = pixels[:, :, 0] if channels == 1 else pixels
    np.testing.assert_array_equal(array, expected)
    assert np.shares_memory(array, _buffer(msg))
    assert to_rgb(msg).shape == (height, width, 3)


def test_last_row_without_padding_is_accepted(rgb):
    msg = Image(height=2, width=2, encoding='rgb8', step=8)
    msg.data = bytes(range(8 + 6))
    np.testing.assert_array_equal(image_to_array(msg)[1, 1], [11, 12, 13])


def test_unsupported_encoding_names_topic_and_encoding():
    msg = Image(height=2, width=2, encoding='yuv422', step=4)
    msg.data = bytes(8)
    with pytest.raises(ImageDecodeError, match=r'/cam/front.*yuv422') as info:
        to_rgb(msg, topic='/cam/front')
    assert isinstance(info.value, ValueError)
    assert info.value.topic == '/cam/front'


@pytest.mark.parametrize('step, size, what', [(30, 100, 'data too short'),
                                              (5, 100, 'step smaller')])
def test_inconsistent_sizes_raise_with_sizes(step, size, what):
    msg = Image(height=4, width=10, encoding='rgb8', step=step)
    msg.data = bytes(size)
    with pytest.raises(ImageDecodeError, match=what) as info:
        image_to_array(msg, topic='/cam/back')
    assert '10x4' in str(info.value) and '/cam/back' in str(info.value)


def test_array_to_image_rejects_wrong_shape():
    with pytest.raises(ValueError, match='rgba8'):
        array_to_image(np.zeros((4, 4, 3), np.uint8), 'rgba8')
    with pytest.raises(ValueError):
        array_to_image(np.zeros((4, 4, 3), np.float32), 'rgb8')


def test_png_round_trip_is_exact(rgb):
    msg = rgb_to_compressed(rgb, 'png', frame_id='CAM_BACK', stamp_ns=7)
    assert msg.format == 'rgb8; png compressed bgr8'
    assert bytes(msg.data[:4]) == b'\x89PNG'
    np.testing.assert_array_equal(to_rgb(msg), rgb)


def test_jpeg_round_trip_is_close():
    smooth = np.zeros((64, 96, 3), np.uint8)
    smooth[..., 0] = np.linspace(0, 255, 96, dtype=np.uint8)
    smooth[..., 1] = 128
    smooth[..., 2] = np.linspace(255, 0, 64, dtype=np.uint8)[:, None]
    out = compressed_to_rgb(rgb_to_compressed(smooth, 'jpeg', quality=95))
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth).mean() < 3.0


def test_format_is_sniffed_from_magic_bytes(rgb):
    msg = rgb_to_compressed(rgb, 'png')
    msg.format = ''
    np.testing.assert_array_equal(compressed_to_rgb(msg), rgb)


def test_corrupt_or_unknown_compressed_data_names_topic():
    msg = CompressedImage(format='jpeg')
    msg.data = b'\xff\xd8not really a jpeg'
    with pytest.raises(ImageDecodeError, match='/cam/left.*jpeg'):
        to_rgb(msg, topic='/cam/left')
    msg = CompressedImage(format='tiff')
    msg.data = b'II*\x00'
    with pytest.raises(ImageDecodeError, match='tiff'):
        compressed_to_rgb(msg)
