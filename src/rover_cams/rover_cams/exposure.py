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
Software auto-exposure for low sun: meter the lit ground, not the black sky or the glare.

Under a low sun a lunar scene is a black sky, long black shadows and a few sunlit slopes near
saturation. A device's own auto-exposure averages all of that and overexposes the ground, or
hunts. :class:`AutoExposure` meters only the lower part of the frame (below the horizon band),
aims the mean of the pixels that are neither shadow nor clipped at a target level, keeps the
share of clipped pixels under a limit, moves exposure time first and gain only when the time
is at its limit, changes by a bounded factor per step, and holds still inside a dead band so
the stream does not flicker. Pure numpy; the node applies the result with
``FrameSource.set_exposure`` when the backend supports it.
"""

from dataclasses import dataclass
import math

import numpy as np

from rover_cams.frames import Exposure


@dataclass(frozen=True)
class AutoExposureLimits:
    """
    Targets and limits of the controller.

    :param target: wanted mean level of the metered pixels, fraction of full scale.
    :param min_exposure_s: shortest integration time, s.
    :param max_exposure_s: longest integration time, s (motion blur bound).
    :param max_gain: highest gain (noise bound); gain rises only at ``max_exposure_s``.
    :param max_clipped: largest share of saturated metered pixels before stepping down.
    :param deadband: relative error inside which nothing changes.
    :param max_step: largest factor of change per update (and 1 / it downwards).
    :param meter_from: metering starts at this fraction of the height (skips the sky).
    """

    target: float = 0.45
    min_exposure_s: float = 0.0001
    max_exposure_s: float = 0.05
    max_gain: float = 4.0
    max_clipped: float = 0.02
    deadband: float = 0.08
    max_step: float = 2.0
    meter_from: float = 0.4

    def __post_init__(self) -> None:
        """Refuse inconsistent limits."""
        if not 0.05 <= self.target <= 0.95:
            raise ValueError(f'target must be 0.05..0.95, got {self.target}')
        if not 0 < self.min_exposure_s <= self.max_exposure_s:
            raise ValueError('need 0 < min_exposure_s <= max_exposure_s, got '
                             f'{self.min_exposure_s}, {self.max_exposure_s}')
        if self.max_gain < 1.0:
            raise ValueError(f'max_gain must be >= 1, got {self.max_gain}')
        if not (0 <= self.max_clipped < 1 and 0 <= self.deadband < 1 and self.max_step > 1
                and 0 <= self.meter_from < 1):
            raise ValueError('max_clipped, deadband and meter_from must be in [0, 1), '
                             'max_step > 1')


@dataclass(frozen=True)
class Metering:
    """What one metering pass saw: mean level and clipped share of the metered pixels."""

    level: float
    clipped: float


def meter(image: np.ndarray, meter_from: float = 0.4, stride: int = 8) -> Metering:
    """
    Meter an image: mean level (0..1) of the unclipped, non-shadow pixels, clipped share.

    Reads every ``stride``-th pixel of the rows below ``meter_from`` of the height, so a
    720p frame costs about 10k samples. Colour images are metered on their brightest channel.
    """
    start = int(image.shape[0] * meter_from)
    sample = image[start::stride, ::stride]
    if sample.ndim == 3:
        sample = sample.max(axis=2)
    if sample.size == 0:
        return Metering(level=0.0, clipped=0.0)
    clipped = float(np.count_nonzero(sample >= 250)) / sample.size
    useful = sample[(sample > 8) & (sample < 250)]
    level = float(useful.mean()) / 255.0 if useful.size else (1.0 if clipped > 0.5 else 0.0)
    return Metering(level=level, clipped=clipped)


class AutoExposure:
    """
    Closed-loop exposure: call :meth:`update` with each (or every n-th) frame.

    :param limits: targets and limits.
    :param initial: starting exposure (clamped into the limits).
    """

    def __init__(self, limits: AutoExposureLimits,
                 initial: Exposure = Exposure(0.01, 1.0)) -> None:
        self._limits = limits
        self._exposure = self._clamp(initial.exposure_s * initial.gain)

    @property
    def exposure(self) -> Exposure:
        """Return the exposure currently commanded."""
        return self._exposure

    @property
    def limits(self) -> AutoExposureLimits:
        """Return the limits in force."""
        return self._limits

    def update(self, image: np.ndarray) -> Exposure:
        """Meter ``image`` (taken at :attr:`exposure`) and return the next exposure."""
        metering = meter(image, self._limits.meter_from)
        current = self._exposure.exposure_s * self._exposure.gain
        if metering.clipped > self._limits.max_clipped:
            factor = 1.0 / min(self._limits.max_step, 1.0 + 10.0 * metering.clipped)
        elif metering.level <= 0.0:
            factor = self._limits.max_step
        else:
            ratio = self._limits.target / metering.level
            if abs(math.log(ratio)) < math.log1p(self._limits.deadband):
                return self._exposure
            factor = min(self._limits.max_step, max(1.0 / self._limits.max_step, ratio))
        self._exposure = self._clamp(current * factor)
        return self._exposure

    def _clamp(self, product: float) -> Exposure:
        """Split exposure x gain into time first, then gain, within the limits."""
        limits = self._limits
        product = min(max(product, limits.min_exposure_s),
                      limits.max_exposure_s * limits.max_gain)
        exposure_s = min(product, limits.max_exposure_s)
        return Exposure(exposure_s=exposure_s, gain=max(1.0, product / exposure_s))
