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
Speed and acceleration limits, enforced in the core whatever the caller asked for.

Speed limits scale linear and angular speed by one common factor, so a command that is too
fast still follows the same arc (same curvature), only slower. The ramp limits the change of
each axis per step: ``accel`` while the speed magnitude grows, ``decel`` while it shrinks or
changes sign (it first decelerates to zero). Jerk is not limited: the wheel velocity loops of
the motors already smooth the steps at 20 Hz.
"""

from dataclasses import dataclass
import math
from typing import Tuple

#: Lets a ramp land exactly on its target despite float rounding of repeated steps.
_ROUNDING = 1.0 + 1e-9


@dataclass(frozen=True)
class MotionLimits:
    """Body speed limits (m/s, rad/s) and rates (m/s^2, rad/s^2); all > 0."""

    max_linear: float
    max_angular: float
    linear_accel: float
    linear_decel: float
    angular_accel: float
    angular_decel: float

    def __post_init__(self) -> None:
        """Refuse a non-positive or non-finite limit."""
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f'{name} must be a positive finite number, got {value!r}')


def scale_to_limits(linear: float, angular: float, max_linear: float, max_angular: float
                    ) -> Tuple[float, float]:
    """
    Return the twist scaled by the largest common factor <= 1 that respects both limits.

    :raises ValueError: a non-finite component (never passed on to the wheels).
    """
    if not (math.isfinite(linear) and math.isfinite(angular)):
        raise ValueError(f'twist must be finite, got ({linear!r}, {angular!r})')
    factor = 1.0
    if abs(linear) > max_linear:
        factor = max_linear / abs(linear)
    if abs(angular) > max_angular:
        factor = min(factor, max_angular / abs(angular))
    return linear * factor, angular * factor


def ramp(current: float, target: float, accel: float, decel: float, dt: float) -> float:
    """
    Return the value one step of ``dt`` seconds from ``current`` towards ``target``.

    Moving away from zero is limited by ``accel``, towards zero by ``decel``; a sign change
    first stops at zero (within the step) so a reversal always decelerates fully first.
    """
    if dt <= 0.0:
        return current
    if current != 0.0 and (target == 0.0 or (target > 0.0) != (current > 0.0)):
        step = decel * dt * _ROUNDING
        if abs(current) <= step:
            return 0.0
        return current - math.copysign(step, current)
    if abs(target) >= abs(current):
        step = accel * dt
    else:
        step = decel * dt
    delta = target - current
    if abs(delta) <= step * _ROUNDING:
        return target
    return current + math.copysign(step, delta)


class TwistRamp:
    """The rate-limited body twist actually commanded, one step at a time."""

    def __init__(self, limits: MotionLimits) -> None:
        self.limits = limits
        self._linear = 0.0
        self._angular = 0.0

    @property
    def twist(self) -> Tuple[float, float]:
        """Return the last commanded (linear, angular)."""
        return self._linear, self._angular

    def step(self, linear: float, angular: float, dt: float) -> Tuple[float, float]:
        """Advance towards the target twist by one step of ``dt`` seconds and return it."""
        lim = self.limits
        self._linear = ramp(self._linear, linear, lim.linear_accel, lim.linear_decel, dt)
        self._angular = ramp(self._angular, angular, lim.angular_accel, lim.angular_decel, dt)
        return self._linear, self._angular

    def reset(self, linear: float = 0.0, angular: float = 0.0) -> None:
        """Set the commanded twist (e.g. zero after an e-stop, or what saturation allowed)."""
        self._linear = linear
        self._angular = angular
