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
CameraRig: both cameras, their exposure control and still captures into the product store.

This is the ROS-free facade of the cameras. The ``cameras`` node streams through
:meth:`CameraRig.grab` and serves the ``capture`` action with :meth:`CameraRig.capture_one`;
a standalone (no-ROS) rover process, such as the lander bridge's, uses it directly::

    store = ProductStore(root, budget_bytes=2_000_000_000)
    rig = CameraRig.fake(store, seed=1)                 # or CameraRig({'left': src, ...}, store)
    for image, thumbnail in rig.capture('both', quality=90, thumbnail_width=320,
                                        command_id='tc-17', pose={'x': 1.0, ...}):
        print(image.id, thumbnail.id, thumbnail.size_bytes)   # thumbnail <= 8000 B
    rig.close()

Stable API: ``CameraRig(sources, store, *, jpeg_quality, thumbnail_width,
thumbnail_max_bytes, read_timeout_s, clock)``, ``CameraRig.fake(store, *, width, height,
seed, clock, **options)``, ``cameras``, ``capture(camera, *, quality, thumbnail_width,
command_id, pose) -> list[Capture]`` (``Capture`` is the named tuple ``(image,
thumbnail)`` of two ``Product``), ``capture_one``, ``grab``, ``stream_frame``,
``set_exposure_mode``,
``exposure_state``, ``release``, ``close``.

A capture stores the full-resolution JPEG and its thumbnail in one store transaction, the
image's metadata holding the request (``command_id``, ``pose`` if known) and the frame
(``width``, ``height``, ``jpeg_quality``, ``exposure_s``, ``gain``, ``frame_stamp``,
``sequence``). Product stamps are UTC wall time at capture, also in simulation.
"""

import enum
import re
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence

from rover_cams.encoding import encode_frame, EncodeError, make_thumbnail, MIN_THUMBNAIL_WIDTH
from rover_cams.exposure import AutoExposure, AutoExposureLimits
from rover_cams.fake_source import FakeSource
from rover_cams.frames import CameraError, Exposure, Frame, FrameSource, SIDES
from rover_common.product_store import Product, ProductStore, StoreError

#: ``camera`` argument values of :meth:`CameraRig.capture`.
CAPTURE_CHOICES = SIDES + ('both',)
_COMMAND_ID_RE = re.compile(r'^[\x20-\x7e]{0,64}$')


class InvalidCaptureRequest(ValueError):
    """A capture request is malformed; the message names the valid set."""


class ExposureMode(str, enum.Enum):
    """Who sets the exposure: the device, a fixed manual value, or the low-sun controller."""

    DEVICE = 'device'
    MANUAL = 'manual'
    AUTO = 'auto'


class Capture(NamedTuple):
    """One stored capture: the full image and its thumbnail."""

    image: Product
    thumbnail: Product


class _Camera:
    """One source with its lock and exposure state."""

    def __init__(self, name: str, source: FrameSource) -> None:
        self.name = name
        self.source = source
        self.lock = threading.Lock()
        self.captures_waiting = 0
        self.mode = ExposureMode.DEVICE
        self.auto: Optional[AutoExposure] = None
        self.exposure_note = ''


class CameraRig:
    """
    Named frame sources, exposure control and captures into a product store.

    :param sources: camera name (``left``, ``right``) to frame source.
    :param store: where captures go.
    :param jpeg_quality: default full-image JPEG quality, 1..100.
    :param thumbnail_width: default thumbnail width, px.
    :param thumbnail_max_bytes: byte budget of every thumbnail.
    :param read_timeout_s: how long a capture waits for a frame.
    :param clock: UTC wall clock for product stamps.
    """

    def __init__(self, sources: Mapping[str, FrameSource], store: ProductStore, *,
                 jpeg_quality: int = 90, thumbnail_width: int = 320,
                 thumbnail_max_bytes: int = 8000, read_timeout_s: float = 2.0,
                 clock: Callable[[], float] = time.time) -> None:
        unknown = set(sources) - set(SIDES)
        if unknown or not sources:
            raise ValueError(f'sources must be named from {", ".join(SIDES)}, got '
                             f'{sorted(sources)}')
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f'jpeg_quality must be 1..100, got {jpeg_quality}')
        if thumbnail_width < MIN_THUMBNAIL_WIDTH:
            raise ValueError(f'thumbnail_width must be >= {MIN_THUMBNAIL_WIDTH}, '
                             f'got {thumbnail_width}')
        if thumbnail_max_bytes < 500:
            raise ValueError(f'thumbnail_max_bytes must be >= 500, got {thumbnail_max_bytes}')
        self._cameras = {name: _Camera(name, sources[name]) for name in SIDES
                         if name in sources}
        self._store = store
        self.jpeg_quality = int(jpeg_quality)
        self.thumbnail_width = int(thumbnail_width)
        self.thumbnail_max_bytes = int(thumbnail_max_bytes)
        self.read_timeout_s = float(read_timeout_s)
        self._clock = clock
        self._waiting_lock = threading.Lock()

    @classmethod
    def fake(cls, store: ProductStore, *, width: int = 1280, height: int = 720,
             seed: int = 0, clock: Callable[[], float] = time.time,
             **options: Any) -> 'CameraRig':
        """
        Return a rig of two synthetic cameras (seeds ``seed`` and ``seed + 1``).

        ``options`` are the keyword options of the constructor.
        """
        sources = {side: FakeSource(side, width=width, height=height, seed=seed + i,
                                    clock=clock) for i, side in enumerate(SIDES)}
        return cls(sources, store, clock=clock, **options)

    @property
    def cameras(self) -> tuple:
        """Return the camera names, left first."""
        return tuple(self._cameras)

    @property
    def store(self) -> ProductStore:
        """Return the product store."""
        return self._store

    def source(self, camera: str) -> FrameSource:
        """Return the frame source of ``camera``."""
        return self._camera(camera).source

    def grab(self, camera: str, timeout_s: Optional[float] = None) -> Frame:
        """
        Read the next frame of ``camera`` and run its exposure control on it.

        :raises DeviceError: the device failed.
        :raises NoFrame: nothing arrived in time.
        """
        cam = self._camera(camera)
        with cam.lock:
            frame = cam.source.read(self.read_timeout_s if timeout_s is None else timeout_s)
            if cam.auto is not None:
                before = cam.auto.exposure
                after = cam.auto.update(frame.image)
                if after != before:
                    cam.source.set_exposure(after)
        return frame

    def stream_frame(self, camera: str, timeout_s: float) -> Optional[Frame]:
        """
        Read the next frame for a live stream, or None while a capture waits for one.

        A source hands each frame to one reader. With a slow source (Gazebo rendering in
        software: under one frame a second) a stream polling several times a second took
        nearly every frame and starved captures; so the stream steps aside for a capture.

        :raises DeviceError: the device failed.
        :raises NoFrame: nothing arrived in time.
        """
        cam = self._camera(camera)
        with self._waiting_lock:
            if cam.captures_waiting:
                return None
        return self.grab(camera, timeout_s=timeout_s)

    def capture(self, camera: str = 'both', *, quality: int = 0, thumbnail_width: int = 0,
                command_id: str = '', pose: Optional[Mapping[str, Any]] = None
                ) -> List[Capture]:
        """
        Capture now from ``left``, ``right`` or ``both``, store, return (image, thumbnail)s.

        :param quality: JPEG quality 1..100; 0 uses the rig default.
        :param thumbnail_width: px; 0 uses the rig default.
        :param command_id: id of the command that asked (kept in the catalog).
        :param pose: rover pose if known, a JSON-serialisable mapping.
        :raises InvalidCaptureRequest: a malformed request; nothing was captured.
        :raises CaptureFailed: a camera or the store failed; ``captures`` holds the captures
            already stored (with ``both``, the left one may have succeeded).
        """
        names = self.resolve(camera)
        self.check_request(quality=quality, thumbnail_width=thumbnail_width,
                           command_id=command_id)
        done: List[Capture] = []
        for name in names:
            try:
                done.append(self.capture_one(name, quality=quality,
                                             thumbnail_width=thumbnail_width,
                                             command_id=command_id, pose=pose))
            except (CameraError, EncodeError, StoreError, OSError) as err:
                raise CaptureFailed(name, err, done) from err
        return done

    def capture_one(self, camera: str, *, quality: int = 0, thumbnail_width: int = 0,
                    command_id: str = '', pose: Optional[Mapping[str, Any]] = None
                    ) -> Capture:
        """
        Capture from one camera and store image and thumbnail together.

        Raises what fails: InvalidCaptureRequest, DeviceError/NoFrame, EncodeError or a
        StoreError (StoreFull when the budget is exhausted).
        """
        self.check_request(quality=quality, thumbnail_width=thumbnail_width,
                           command_id=command_id)
        cam = self._camera(camera)
        quality = quality or self.jpeg_quality
        with self._waiting_lock:
            cam.captures_waiting += 1
        try:
            frame = self.grab(camera)
        finally:
            with self._waiting_lock:
                cam.captures_waiting -= 1
        stamp = self._clock()
        jpeg = encode_frame(frame, quality)
        thumb = make_thumbnail(frame, width=thumbnail_width or self.thumbnail_width,
                               max_bytes=self.thumbnail_max_bytes)
        metadata: Dict[str, Any] = {'command_id': command_id, 'width': frame.width,
                                    'height': frame.height, 'jpeg_quality': quality,
                                    'frame_stamp': frame.stamp, 'sequence': frame.sequence}
        if frame.exposure is not None:
            metadata['exposure_s'] = frame.exposure.exposure_s
            metadata['gain'] = frame.exposure.gain
        if pose is not None:
            metadata['pose'] = dict(pose)
        thumb_metadata = dict(metadata, width=thumb.width, height=thumb.height,
                              jpeg_quality=thumb.quality)
        image, thumbnail = self._store.put_with_thumbnail(
            jpeg, thumb.data, suffix='.jpg', stamp=stamp, camera=camera,
            metadata=metadata, thumbnail_metadata=thumb_metadata)
        return Capture(image=image, thumbnail=thumbnail)

    def resolve(self, camera: str) -> Sequence[str]:
        """Return the camera names ``camera`` (``left``, ``right`` or ``both``) stands for."""
        if camera == 'both':
            return self.cameras
        if camera not in CAPTURE_CHOICES:
            raise InvalidCaptureRequest(f'camera must be one of {", ".join(CAPTURE_CHOICES)}, '
                                        f'got {camera!r}')
        if camera not in self._cameras:
            raise InvalidCaptureRequest(f'camera {camera} is not configured; configured: '
                                        f'{", ".join(self.cameras)}')
        return (camera,)

    def check_request(self, *, quality: int, thumbnail_width: int, command_id: str) -> None:
        """Raise InvalidCaptureRequest if the capture settings are out of range."""
        if not 0 <= quality <= 100:
            raise InvalidCaptureRequest(
                f'jpeg_quality must be 1..100 (0 = default {self.jpeg_quality}), got {quality}')
        if thumbnail_width and not MIN_THUMBNAIL_WIDTH <= thumbnail_width <= 1920:
            raise InvalidCaptureRequest(
                f'thumbnail_width must be {MIN_THUMBNAIL_WIDTH}..1920 px (0 = default '
                f'{self.thumbnail_width}), got {thumbnail_width}')
        if not isinstance(command_id, str) or not _COMMAND_ID_RE.match(command_id):
            raise InvalidCaptureRequest('command_id must be at most 64 printable ASCII '
                                        f'characters, got {command_id!r}')

    def set_exposure_mode(self, camera: str, mode: ExposureMode, *,
                          manual: Optional[Exposure] = None,
                          limits: Optional[AutoExposureLimits] = None) -> str:
        """
        Choose who sets the exposure of ``camera``; return a note ('' when fully applied).

        ``manual`` is needed for MANUAL, ``limits`` for AUTO. A backend without exposure
        control stays on DEVICE and the note says so (files, streams, the simulator).
        """
        mode = ExposureMode(mode)
        cam = self._camera(camera)
        with cam.lock:
            if mode is not ExposureMode.DEVICE and not cam.source.supports_exposure:
                cam.mode, cam.auto = ExposureMode.DEVICE, None
                cam.exposure_note = f'{mode.value} exposure not supported by this backend'
                return cam.exposure_note
            if mode is ExposureMode.MANUAL:
                if manual is None:
                    raise ValueError('manual exposure mode needs an Exposure')
                cam.source.set_exposure(manual)
                cam.auto = None
            elif mode is ExposureMode.AUTO:
                start = cam.auto.exposure if cam.auto is not None else (
                    manual or Exposure(0.01, 1.0))
                cam.auto = AutoExposure(limits or AutoExposureLimits(), start)
                cam.source.set_exposure(cam.auto.exposure)
            else:
                if cam.source.supports_exposure:
                    cam.source.set_exposure(None)
                cam.auto = None
            cam.mode = mode
            cam.exposure_note = ''
            return ''

    def exposure_state(self, camera: str) -> Dict[str, str]:
        """Return the exposure mode and the current exposure, as diagnostic strings."""
        cam = self._camera(camera)
        state = {'exposure_mode': cam.mode.value}
        if cam.auto is not None:
            state['exposure_s'] = f'{cam.auto.exposure.exposure_s:.5f}'
            state['gain'] = f'{cam.auto.exposure.gain:.2f}'
        if cam.exposure_note:
            state['exposure_note'] = cam.exposure_note
        return state

    def release(self, camera: str) -> None:
        """Close the device of ``camera`` to save power; the next grab reopens it."""
        cam = self._camera(camera)
        with cam.lock:
            cam.source.stop()

    def close(self) -> None:
        """Release every device (the store stays open: it belongs to the caller)."""
        for name in self._cameras:
            self.release(name)

    def _camera(self, camera: str) -> _Camera:
        try:
            return self._cameras[camera]
        except KeyError:
            raise InvalidCaptureRequest(
                f'unknown camera {camera!r}; configured: {", ".join(self.cameras)}') from None


class CaptureFailed(CameraError):
    """
    A capture stopped at ``camera``; ``captures`` were stored before the failure.

    :param camera: the camera that failed.
    :param cause: the underlying error (DeviceError, NoFrame, StoreFull ...).
    :param captures: captures stored before it.
    """

    def __init__(self, camera: str, cause: BaseException, captures: Sequence[Capture]) -> None:
        super().__init__(f'capture from {camera} failed: {cause}')
        self.camera = camera
        self.cause = cause
        self.captures = list(captures)
