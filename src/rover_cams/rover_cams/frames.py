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
Frames and the one interface every frame source implements.

A :class:`Frame` is an ``H x W x C`` uint8 numpy image with its pixel format, UTC stamp,
sequence number and the exposure it was taken with. Pixel formats use the ``sensor_msgs``
encoding names (``bgr8``, ``rgb8``, ``mono8``) so the node copies them into messages
without a conversion, and the JPEG encoder takes each one natively.
"""

import abc
from dataclasses import dataclass
from typing import Optional

import numpy as np

#: Pixel formats and their channel counts.
CHANNELS = {'bgr8': 3, 'rgb8': 3, 'mono8': 1}

#: Camera names, in the order of CaptureImage results.
SIDES = ('left', 'right')


class CameraError(Exception):
    """Base class of camera failures."""


class DeviceError(CameraError):
    """The device could not be opened, configured or read."""


class NoFrame(CameraError):
    """No frame arrived within the timeout (a stalled device or simulator)."""


@dataclass(frozen=True)
class Exposure:
    """
    Exposure settings: integration time and analogue gain.

    :param exposure_s: integration time in seconds.
    :param gain: linear gain, 1.0 = unity.
    """

    exposure_s: float
    gain: float = 1.0


@dataclass(frozen=True)
class Frame:
    """
    One image from a camera.

    :param image: ``H x W x C`` (or ``H x W`` for mono8) uint8 array.
    :param pixel_format: ``bgr8``, ``rgb8`` or ``mono8``.
    :param stamp: acquisition time, UTC seconds since the epoch (sim time in gazebo).
    :param sequence: frame counter of the source, starting at 0.
    :param exposure: the exposure the frame was taken with, when the source knows it.
    """

    image: np.ndarray
    pixel_format: str
    stamp: float
    sequence: int
    exposure: Optional[Exposure] = None

    def __post_init__(self) -> None:
        """Refuse an image that does not match its pixel format."""
        if self.pixel_format not in CHANNELS:
            raise ValueError(f'pixel_format must be one of {", ".join(CHANNELS)}, '
                             f'got {self.pixel_format!r}')
        channels = 1 if self.image.ndim == 2 else self.image.shape[2]
        if self.image.dtype != np.uint8 or self.image.ndim not in (2, 3) \
                or channels != CHANNELS[self.pixel_format]:
            raise ValueError(f'{self.pixel_format} needs a uint8 image with '
                             f'{CHANNELS[self.pixel_format]} channel(s), got '
                             f'{self.image.dtype} {self.image.shape}')

    @property
    def width(self) -> int:
        """Return the width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Return the height in pixels."""
        return int(self.image.shape[0])


class FrameSource(abc.ABC):
    """
    A camera: opened on demand, read one frame at a time, closed to save power.

    Implementations: :class:`~rover_cams.fake_source.FakeSource` (synthetic),
    :class:`~rover_cams.video_source.VideoSource` (V4L2 device, video file or stream URL
    through OpenCV) and :class:`~rover_cams.pushed_source.PushedSource` (frames pushed in by
    the node from the Gazebo bridge). One thread reads a source at a time; the caller
    (``CameraRig``) serialises access.
    """

    @property
    @abc.abstractmethod
    def running(self) -> bool:
        """Return True while the device is open."""

    @property
    def supports_exposure(self) -> bool:
        """Return True when :meth:`set_exposure` takes effect."""
        return False

    @abc.abstractmethod
    def start(self) -> None:
        """Open the device (idempotent); raise DeviceError on failure."""

    @abc.abstractmethod
    def read(self, timeout_s: float) -> Frame:
        """
        Return the next frame, opening the device first if needed.

        :raises DeviceError: the device failed.
        :raises NoFrame: nothing arrived within ``timeout_s``.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the device (idempotent)."""

    def set_exposure(self, exposure: Optional[Exposure]) -> None:
        """
        Apply a manual exposure, or None to hand exposure back to the device.

        :raises DeviceError: the backend does not support exposure control.
        """
        raise DeviceError(f'{type(self).__name__} has no exposure control')
