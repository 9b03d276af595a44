# Copyright 2026 The Rover Software Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Encoding: JPEG round trips in every pixel format, and the thumbnail byte bound."""

import numpy as np
import pytest
from rover_cams.encoding import (decode_jpeg, encode_frame, encode_jpeg, EncodeError,
                                 jpeg_size, make_thumbnail, MIN_THUMBNAIL_WIDTH,
                                 THUMBNAIL_QUALITIES, ThumbnailTooLarge)
from rover_cams.fake_source import FakeSource
from rover_cams.frames import Frame


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


@pytest.fixture(scope='module')
def frame720():
    return FakeSource('left', width=1280, height=720, seed=3).read()


def test_round_trip_bgr(frame720):
    data = encode_frame(frame720, 90)
    assert data[:2] == b'\xff\xd8' and data[-2:] == b'\xff\xd9'
    assert jpeg_size(data) == (1280, 720)
    decoded = decode_jpeg(data, 'bgr8')
    assert decoded.shape == frame720.image.shape
    assert psnr(decoded, frame720.image) > 33.0


def test_round_trip_keeps_colour_order():
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :, 0] = 200  # blue in bgr8
    decoded = decode_jpeg(encode_jpeg(image, 'bgr8', 95), 'rgb8')
    assert decoded[32, 32, 2] > 180 and decoded[32, 32, 0] < 20
    decoded = decode_jpeg(encode_jpeg(image[:, :, ::-1], 'rgb8', 95), 'bgr8')
    assert decoded[32, 32, 0] > 180 and decoded[32, 32, 2] < 20


def test_round_trip_mono_and_non_contiguous(frame720):
    mono = np.ascontiguousarray(frame720.image[:, :, 1])
    decoded = decode_jpeg(encode_jpeg(mono, 'mono8', 90), 'mono8')
    assert decoded.shape == mono.shape and psnr(decoded, mono) > 33.0
    view = frame720.image[::2, ::2]  # a strided view, as a crop or decimation gives
    assert decode_jpeg(encode_jpeg(view, 'bgr8', 90)).shape == view.shape


def test_quality_orders_size(frame720):
    sizes = [len(encode_frame(frame720, q)) for q in (30, 60, 85, 95)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 3


@pytest.mark.parametrize('quality', [0, 101, -5])
def test_bad_quality_refused(frame720, quality):
    with pytest.raises(EncodeError, match='1..100'):
        encode_frame(frame720, quality)


def test_bad_pixel_format_refused(frame720):
    with pytest.raises(EncodeError, match='pixel_format'):
        encode_jpeg(frame720.image, 'yuv422', 80)


def _noise_frame(width: int, height: int) -> Frame:
    rng = np.random.default_rng(1)
    return Frame(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), 'bgr8', 0.0, 0)


def _checker_frame(width: int, height: int) -> Frame:
    yy, xx = np.mgrid[0:height, 0:width]
    board = (((yy // 3) + (xx // 3)) % 2 * 255).astype(np.uint8)
    return Frame(np.repeat(board[:, :, None], 3, axis=2), 'bgr8', 0.0, 0)


@pytest.mark.parametrize('make', [
    lambda: FakeSource('left', width=1280, height=720).read(),
    lambda: FakeSource('right', width=1920, height=1080, seed=9).read(),
    lambda: _noise_frame(1280, 720),
    lambda: _checker_frame(1920, 1080),
    lambda: _checker_frame(2048, 256),
])
@pytest.mark.parametrize('width, budget', [(320, 8000), (640, 8000), (160, 3000),
                                           (1280, 8000)])
def test_thumbnail_fits_the_budget(make, width, budget):
    frame = make()
    thumb = make_thumbnail(frame, width=width, max_bytes=budget)
    assert len(thumb.data) <= budget
    assert MIN_THUMBNAIL_WIDTH <= thumb.width <= min(width, frame.width)
    assert jpeg_size(thumb.data) == (thumb.width, thumb.height)
    assert abs(thumb.height / thumb.width - frame.height / frame.width) < 0.02
    assert thumb.quality in THUMBNAIL_QUALITIES
    better = [q for q in THUMBNAIL_QUALITIES if q > thumb.quality]
    if better and thumb.width == min(width, frame.width):
        # It took the best quality that fits: the next better one does not.
        assert len(make_thumbnail(frame, width=thumb.width, max_bytes=10**9,
                                  qualities=[better[-1]]).data) > budget


def test_thumbnail_of_easy_image_keeps_width_and_best_quality(frame720):
    thumb = make_thumbnail(frame720, width=160, max_bytes=8000)
    assert (thumb.width, thumb.quality) == (160, THUMBNAIL_QUALITIES[0])


def test_thumbnail_too_large_for_absurd_budget():
    with pytest.raises(ThumbnailTooLarge, match='fits in 200 B'):
        make_thumbnail(_noise_frame(640, 480), width=320, max_bytes=200)


def test_thumbnail_arguments_checked(frame720):
    with pytest.raises(EncodeError, match='width'):
        make_thumbnail(frame720, width=8)
    with pytest.raises(EncodeError, match='budget'):
        make_thumbnail(frame720, max_bytes=0)
