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
A synthetic camera: lunar regolith under a low sun, a moving horizon, the shovel in view.

Frames are deterministic for a seed and a sequence number, so tests can compare them, and
cheap: the scene (a shaded fractal height field with craters, a black sky above a ridged
horizon, perspective towards the horizon) is rendered once at construction; each frame is one
slice of it, shifted sideways as if the rover drove past and up and down as if it pitched,
plus a paste of the shovel sprite. That is one 2.7 MB copy per 720p frame.
"""

import math
import time
from typing import Callable, Optional

import cv2
import numpy as np

from rover_cams.frames import DeviceError, Exposure, Frame, FrameSource

#: Exposure at which the fake scene has its designed brightness.
NOMINAL_EXPOSURE = Exposure(exposure_s=0.01, gain=1.0)


class FakeSource(FrameSource):
    """
    Deterministic synthetic frames, ``bgr8``.

    :param side: ``left`` or ``right``; mirrors the shovel into the near lower corner.
    :param width: frame width in pixels.
    :param height: frame height in pixels.
    :param fps: nominal frame rate; motion advances by ``1 / fps`` per frame.
    :param seed: scene seed; the same seed gives the same frames.
    :param clock: UTC time source for stamps (``time.time`` by default).
    :param drive_speed_px: sideways scroll speed of the ground, pixels per second.
    :param pitch_amplitude_px: amplitude of the horizon bobbing, pixels.
    :param pitch_period_s: period of the horizon bobbing, seconds.
    """

    def __init__(self, side: str = 'left', *, width: int = 1280, height: int = 720,
                 fps: float = 10.0, seed: int = 0, clock: Callable[[], float] = time.time,
                 drive_speed_px: float = 40.0, pitch_amplitude_px: int = 12,
                 pitch_period_s: float = 6.0) -> None:
        if side not in ('left', 'right'):
            raise ValueError(f'side must be left or right, got {side!r}')
        if not (16 <= width <= 4096 and 16 <= height <= 4096):
            raise ValueError(f'frame size {width}x{height} out of 16..4096')
        if not fps > 0:
            raise ValueError(f'fps must be > 0, got {fps}')
        self._side = side
        self._width, self._height = int(width), int(height)
        self._fps = float(fps)
        self._clock = clock
        self._speed = float(drive_speed_px)
        self._amplitude = int(pitch_amplitude_px)
        self._period = float(pitch_period_s)
        self._span = max(1, self._width // 2)
        rng = np.random.default_rng(seed)
        self._scene = _render_scene(rng, self._width + self._span,
                                    self._height + 2 * self._amplitude)
        self._shovel, self._shovel_mask, self._shovel_origin = _render_shovel(
            self._width, self._height, side)
        self._out = np.empty((self._height, self._width, 3), np.uint8)
        self._exposure = NOMINAL_EXPOSURE
        self._sequence = 0
        self._open = False

    @property
    def running(self) -> bool:
        """Return True while open."""
        return self._open

    @property
    def supports_exposure(self) -> bool:
        """Return True: brightness follows exposure time times gain."""
        return True

    def start(self) -> None:
        """Open (nothing to acquire)."""
        self._open = True

    def stop(self) -> None:
        """Close (nothing to release)."""
        self._open = False

    def set_exposure(self, exposure: Optional[Exposure]) -> None:
        """Scale brightness by exposure x gain relative to 10 ms at unity; None = nominal."""
        if exposure is not None and not (exposure.exposure_s > 0 and exposure.gain > 0):
            raise DeviceError(f'exposure must be positive, got {exposure}')
        self._exposure = NOMINAL_EXPOSURE if exposure is None else exposure

    def render(self, sequence: int) -> np.ndarray:
        """Return frame ``sequence`` of the scene (a fresh array), at the current exposure."""
        self._compose(sequence)
        return self._out.copy()

    def read(self, timeout_s: float = 1.0) -> Frame:
        """Return the next frame (never blocks)."""
        if not self._open:
            self.start()
        image = self.render(self._sequence)
        frame = Frame(image=image, pixel_format='bgr8', stamp=self._clock(),
                      sequence=self._sequence, exposure=self._exposure)
        self._sequence += 1
        return frame

    def _compose(self, sequence: int) -> None:
        t = sequence / self._fps
        travel = (t * self._speed) % (2 * self._span)
        x0 = int(travel if travel < self._span else 2 * self._span - travel)
        bob = math.sin(2 * math.pi * t / self._period)
        y0 = self._amplitude + int(round(self._amplitude * bob))
        np.copyto(self._out, self._scene[y0:y0 + self._height, x0:x0 + self._width])
        sy, sx = self._shovel_origin
        h, w = self._shovel_mask.shape[:2]
        np.copyto(self._out[sy:sy + h, sx:sx + w], self._shovel, where=self._shovel_mask)
        gain = (self._exposure.exposure_s * self._exposure.gain /
                (NOMINAL_EXPOSURE.exposure_s * NOMINAL_EXPOSURE.gain))
        if abs(gain - 1.0) > 1e-3:
            cv2.convertScaleAbs(self._out, dst=self._out, alpha=gain)


def _fractal_noise(rng: np.random.Generator, width: int, height: int,
                   octaves: int = 6) -> np.ndarray:
    """Return zero-mean float32 noise with detail at every scale (1/f-like)."""
    total = np.zeros((height, width), np.float32)
    for k in range(octaves):
        cells = 4 * 2 ** k
        small = rng.standard_normal((max(2, height * cells // width), cells)).astype(np.float32)
        total += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) * 0.55 ** k
    return total - total.mean()


def _add_craters(rng: np.random.Generator, heights: np.ndarray, count: int) -> None:
    """Carve bowl-shaped craters with raised rims into the height field (in place)."""
    rows, cols = heights.shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    for _ in range(count):
        radius = float(rng.uniform(0.01, 0.08)) * cols
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        y_lo, y_hi = int(max(0, cy - 1.6 * radius)), int(min(rows, cy + 1.6 * radius))
        x_lo, x_hi = int(max(0, cx - 1.6 * radius)), int(min(cols, cx + 1.6 * radius))
        if y_lo >= y_hi or x_lo >= x_hi:
            continue
        r = np.hypot(yy[y_lo:y_hi, x_lo:x_hi] - cy, xx[y_lo:y_hi, x_lo:x_hi] - cx) / radius
        bowl = np.where(r < 1.0, r ** 2 - 0.75, 0.25 * np.exp(-((r - 1.0) / 0.25) ** 2))
        heights[y_lo:y_hi, x_lo:x_hi] += 0.6 * radius / cols * 40 * bowl.astype(np.float32)


def _render_scene(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Render the whole scrolling scene once: sky, horizon ridge, shaded regolith."""
    horizon = int(height * 0.3)
    rows_out = height - horizon
    # Ground plane in top view, then squeezed into the image: 3 ground rows per image row at
    # the horizon, 0.7 at the bottom, so detail shrinks with distance.
    depth = np.linspace(0.0, 1.0, rows_out, dtype=np.float32)
    src_rows = rows_out * (3.0 * depth - 1.15 * depth ** 2)
    ground_rows = int(math.ceil(src_rows[-1])) + 2
    heights = _fractal_noise(rng, width, ground_rows) * 0.35
    _add_craters(rng, heights, count=max(4, width * ground_rows // 40000))
    # Sun low over the left edge: slopes facing it light up, the far sides fall into shadow.
    slope = cv2.Sobel(heights, cv2.CV_32F, 1, 0, ksize=3)
    shade = np.clip(0.42 + 1.6 * slope, 0.02, 1.0)
    grain = rng.normal(1.0, 0.06, size=heights.shape).astype(np.float32)
    ground = shade * grain
    map_y = np.repeat(src_rows[:, None], width, axis=1)
    map_x = np.tile(np.arange(width, dtype=np.float32), (rows_out, 1))
    near = cv2.remap(ground, map_x, map_y, interpolation=cv2.INTER_AREA)
    luminance = np.zeros((height, width), np.float32)
    luminance[horizon:] = near
    ridge = horizon + (_fractal_noise(rng, width, 1, octaves=4)[0] * 0.02 * height)
    rows = np.arange(height, dtype=np.float32)[:, None]
    luminance[rows < ridge[None, :]] = 0.0
    tint = np.array([0.93, 0.98, 1.0], np.float32)  # BGR: regolith is a warm grey
    scene = luminance[:, :, None] * tint[None, None, :] * 200.0
    return np.clip(scene, 0, 255).astype(np.uint8)


def _render_shovel(width: int, height: int, side: str):
    """Return the shovel sprite, its mask and its (row, col) origin in the frame."""
    h, w = max(8, height // 4), max(8, width // 4)
    mask = np.zeros((h, w), np.uint8)
    poly = np.array([[0.05, 1.0], [0.25, 0.15], [0.85, 0.0], [1.0, 0.35], [0.7, 1.0]])
    points = (poly * [w - 1, h - 1]).astype(np.int32)
    cv2.fillPoly(mask, [points], 255)
    lip = np.array([[0.25, 0.15], [0.85, 0.0], [0.88, 0.08], [0.3, 0.24]])
    gradient = np.linspace(90, 190, w, dtype=np.float32)[None, :].repeat(h, axis=0)
    sprite = np.repeat(gradient[:, :, None], 3, axis=2).astype(np.uint8)
    cv2.fillPoly(sprite, [(lip * [w - 1, h - 1]).astype(np.int32)], (235, 235, 235))
    if side == 'right':
        sprite, mask = sprite[:, ::-1].copy(), mask[:, ::-1].copy()
    col = 0 if side == 'left' else width - w
    return sprite, (mask > 0)[:, :, None], (height - h, col)
