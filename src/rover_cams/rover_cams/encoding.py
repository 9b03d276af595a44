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

"""
JPEG encoding of frames (simplejpeg, libjpeg-turbo) and size-bounded thumbnails.

simplejpeg takes BGR, RGB and grey buffers as they are, so no colour conversion happens on
the way; ``benchmarks/cams_encode.py`` compares this path against a bare simplejpeg call.
A thumbnail has to fit a byte budget (8 kB by default: the first downlink of every capture),
so :func:`make_thumbnail` shrinks its quality, then its width, until it does.
"""

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from rover_cams.frames import Frame
import simplejpeg

_COLORSPACE = {'bgr8': 'BGR', 'rgb8': 'RGB', 'mono8': 'GRAY'}

#: Qualities tried, best first, before a thumbnail is made narrower.
THUMBNAIL_QUALITIES = (80, 70, 60, 50, 40, 30)
#: A thumbnail is never made narrower than this.
MIN_THUMBNAIL_WIDTH = 32


class EncodeError(ValueError):
    """The frame or the settings cannot be encoded."""


class ThumbnailTooLarge(EncodeError):
    """Even the smallest thumbnail exceeds the byte budget."""


@dataclass(frozen=True)
class Thumbnail:
    """A thumbnail JPEG with the size and quality that met the budget."""

    data: bytes
    width: int
    height: int
    quality: int


def encode_jpeg(image: np.ndarray, pixel_format: str, quality: int, *,
                subsampling: str = '420') -> bytes:
    """
    Encode an image to JPEG.

    :param image: uint8 image in ``pixel_format`` layout (C-contiguous or not).
    :param pixel_format: ``bgr8``, ``rgb8`` or ``mono8``.
    :param quality: 1..100.
    :param subsampling: chroma subsampling, ``420`` (smallest), ``422`` or ``444``.
    :raises EncodeError: an unknown format or a quality out of range.
    """
    colorspace = _COLORSPACE.get(pixel_format)
    if colorspace is None:
        raise EncodeError(f'pixel_format must be one of {", ".join(_COLORSPACE)}, '
                          f'got {pixel_format!r}')
    if not 1 <= int(quality) <= 100:
        raise EncodeError(f'JPEG quality must be 1..100, got {quality}')
    if colorspace == 'GRAY':
        if image.ndim == 2:
            image = image[:, :, None]
        subsampling = 'Gray'
    return simplejpeg.encode_jpeg(np.ascontiguousarray(image), quality=int(quality),
                                  colorspace=colorspace, colorsubsampling=subsampling)


def encode_frame(frame: Frame, quality: int) -> bytes:
    """Encode a frame at full resolution (4:2:0)."""
    return encode_jpeg(frame.image, frame.pixel_format, quality)


def decode_jpeg(data: bytes, pixel_format: str = 'bgr8') -> np.ndarray:
    """Decode a JPEG into ``pixel_format`` layout (mono8 gives an ``H x W`` array)."""
    colorspace = _COLORSPACE.get(pixel_format)
    if colorspace is None:
        raise EncodeError(f'pixel_format must be one of {", ".join(_COLORSPACE)}, '
                          f'got {pixel_format!r}')
    image = simplejpeg.decode_jpeg(data, colorspace=colorspace)
    return image[:, :, 0] if colorspace == 'GRAY' else image


def jpeg_size(data: bytes) -> tuple:
    """Return (width, height) of a JPEG from its header."""
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    return width, height


def make_thumbnail(frame: Frame, *, width: int = 320, max_bytes: int = 8000,
                   qualities: Sequence[int] = THUMBNAIL_QUALITIES) -> Thumbnail:
    """
    Return the best thumbnail of ``frame`` that fits in ``max_bytes``.

    Tries ``width`` (never wider than the frame) at each quality, best first, then 80 % of
    the width, and so on down to :data:`MIN_THUMBNAIL_WIDTH`.

    :raises ThumbnailTooLarge: nothing fits (an absurdly small budget).
    :raises EncodeError: ``width`` or ``max_bytes`` is not positive.
    """
    if width < MIN_THUMBNAIL_WIDTH:
        raise EncodeError(f'thumbnail width must be >= {MIN_THUMBNAIL_WIDTH}, got {width}')
    if max_bytes <= 0:
        raise EncodeError(f'thumbnail byte budget must be > 0, got {max_bytes}')
    target = min(int(width), frame.width)
    while True:
        height = max(1, round(frame.height * target / frame.width))
        small = cv2.resize(frame.image, (target, height), interpolation=cv2.INTER_AREA)
        for quality in qualities:
            data = encode_jpeg(small, frame.pixel_format, quality)
            if len(data) <= max_bytes:
                return Thumbnail(data=data, width=target, height=height, quality=quality)
        if target <= MIN_THUMBNAIL_WIDTH:
            raise ThumbnailTooLarge(f'no thumbnail of {MIN_THUMBNAIL_WIDTH} px at quality '
                                    f'{min(qualities)} fits in {max_bytes} B')
        target = max(MIN_THUMBNAIL_WIDTH, int(target * 0.8))
