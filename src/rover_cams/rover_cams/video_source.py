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
The hardware camera: a V4L2 device through OpenCV, or a video file or stream URL.

``device`` is ``/dev/video0`` (or its index ``0``) for a UVC/V4L2 camera, which gets the
V4L2 backend with the requested resolution, frame rate, pixel format and exposure; anything
else (a file path, ``rtsp://`` or ``http://`` URL) goes to OpenCV's FFmpeg backend, which plays
it at its own size, optionally looping. Tests drive this class with a video file made by
``cv2.VideoWriter``.
"""

import threading
import time
from typing import Callable, Optional, Union

import cv2

from rover_cams.frames import DeviceError, Exposure, Frame, FrameSource

#: V4L2 ``exposure_time_absolute`` unit, seconds (OpenCV's CAP_PROP_EXPOSURE on V4L2).
V4L2_EXPOSURE_UNIT_S = 100e-6
#: CAP_PROP_AUTO_EXPOSURE values of the V4L2 backend.
V4L2_EXPOSURE_MANUAL = 1
V4L2_EXPOSURE_APERTURE_PRIORITY = 3


def is_v4l2_device(device: Union[str, int]) -> bool:
    """Return True for a V4L2 camera (``/dev/video*`` or a bare index)."""
    return isinstance(device, int) or str(device).isdigit() or \
        str(device).startswith('/dev/video')


class VideoSource(FrameSource):
    """
    Frames from ``cv2.VideoCapture``, ``bgr8``.

    :param device: ``/dev/videoN``, ``N``, a video file or a stream URL.
    :param width: requested width (V4L2 only; files keep their size), px.
    :param height: requested height, px.
    :param fps: requested frame rate (V4L2 only), Hz.
    :param fourcc: V4L2 pixel format, e.g. ``MJPG`` (needed by many UVC cameras for HD at
        full rate); '' keeps the device default.
    :param loop: rewind a file at its end instead of failing (demos and tests).
    :param gain_register_unity: V4L2 gain register value at unity gain; the register is set to
        ``gain x`` this. None leaves the gain register alone (exposure time only).
    :param clock: UTC time source for stamps.
    """

    def __init__(self, device: Union[str, int], *, width: int = 1280, height: int = 720,
                 fps: float = 10.0, fourcc: str = '', loop: bool = False,
                 gain_register_unity: Optional[float] = None,
                 clock: Callable[[], float] = time.time) -> None:
        if fourcc and len(fourcc) != 4:
            raise ValueError(f'fourcc must be 4 characters or empty, got {fourcc!r}')
        self._device = device
        self._v4l2 = is_v4l2_device(device)
        self._width, self._height, self._fps = int(width), int(height), float(fps)
        self._fourcc = fourcc
        self._loop = loop
        self._gain_unity = gain_register_unity
        self._clock = clock
        self._capture: Optional[cv2.VideoCapture] = None
        self._exposure: Optional[Exposure] = None
        self._sequence = 0
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        """Return the device, file or URL."""
        return str(self._device)

    @property
    def running(self) -> bool:
        """Return True while the capture is open."""
        return self._capture is not None

    @property
    def supports_exposure(self) -> bool:
        """Return True for V4L2 devices (files and streams have a fixed exposure)."""
        return self._v4l2

    @property
    def actual_size(self) -> tuple:
        """Return (width, height, fps) the device reports, or zeros when closed."""
        capture = self._capture
        if capture is None:
            return (0, 0, 0.0)
        return (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                float(capture.get(cv2.CAP_PROP_FPS)))

    def start(self) -> None:
        """Open and configure the device; raise DeviceError if it cannot be opened."""
        with self._lock:
            if self._capture is not None:
                return
            if self._v4l2:
                index = self._device
                if isinstance(index, str) and index.isdigit():
                    index = int(index)
                capture = cv2.VideoCapture(index, cv2.CAP_V4L2)
            else:
                capture = cv2.VideoCapture(str(self._device))
            if not capture.isOpened():
                capture.release()
                raise DeviceError(f'cannot open camera {self._device!r}')
            if self._v4l2:
                if self._fourcc:
                    capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self._fourcc))
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._width)
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._height)
                capture.set(cv2.CAP_PROP_FPS, self._fps)
                capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            self._capture = capture
            if self._exposure is not None:
                self._apply_exposure(self._exposure)

    def read(self, timeout_s: float = 1.0) -> Frame:
        """
        Return the next frame.

        ``timeout_s`` is bounded by the backend itself (V4L2 select timeout, FFmpeg read
        timeout); OpenCV gives no per-call timeout.

        :raises DeviceError: the device failed or a file ended without ``loop``.
        """
        self.start()
        with self._lock:
            capture = self._capture
            if capture is None:
                raise DeviceError(f'camera {self._device!r} closed during read')
            ok, image = capture.read()
            if not ok and self._loop and not self._v4l2:
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, image = capture.read()
            if not ok or image is None:
                raise DeviceError(f'camera {self._device!r}: no frame (device lost or end of '
                                  'stream)')
            stamp = self._clock()
            sequence = self._sequence
            self._sequence += 1
        if image.ndim == 2:
            return Frame(image=image, pixel_format='mono8', stamp=stamp, sequence=sequence,
                         exposure=self._exposure)
        return Frame(image=image, pixel_format='bgr8', stamp=stamp, sequence=sequence,
                     exposure=self._exposure)

    def stop(self) -> None:
        """Release the device."""
        with self._lock:
            if self._capture is not None:
                self._capture.release()
                self._capture = None

    def set_exposure(self, exposure: Optional[Exposure]) -> None:
        """
        Set a manual exposure (V4L2 ``exposure_time_absolute``, gain) or None for device auto.

        Kept and re-applied on every open.

        :raises DeviceError: not a V4L2 device, or the device refused the setting.
        """
        if not self._v4l2:
            raise DeviceError(f'{self._device!r} is not a V4L2 camera: no exposure control')
        with self._lock:
            self._exposure = exposure
            if self._capture is not None:
                self._apply_exposure(exposure)

    def _apply_exposure(self, exposure: Optional[Exposure]) -> None:
        capture = self._capture
        if exposure is None:
            if not capture.set(cv2.CAP_PROP_AUTO_EXPOSURE, V4L2_EXPOSURE_APERTURE_PRIORITY):
                raise DeviceError(f'{self._device}: auto exposure refused')
            return
        units = max(1, round(exposure.exposure_s / V4L2_EXPOSURE_UNIT_S))
        ok = capture.set(cv2.CAP_PROP_AUTO_EXPOSURE, V4L2_EXPOSURE_MANUAL) and \
            capture.set(cv2.CAP_PROP_EXPOSURE, units)
        if ok and self._gain_unity is not None:
            ok = capture.set(cv2.CAP_PROP_GAIN, exposure.gain * self._gain_unity)
        if not ok:
            raise DeviceError(f'{self._device}: exposure {exposure} refused')
