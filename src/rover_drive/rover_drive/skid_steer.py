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
Four-wheel skid-steer kinematics: body twist <-> wheel angular velocities.

A skid-steered rover turns by dragging its wheels sideways, so it turns *less* than a
differential-drive robot with the same track would for the same wheel speed difference. The
usual model (Mandow et al. 2007, "Experimental kinematics for wheeled skid-steer mobile
robots") keeps the differential-drive equations with an *effective* track::

    track_eff = icr_factor * track            (icr_factor >= 1; ~1.5 on loose soil)
    v_left  = (v - w * track_eff / 2) / r     (rad/s, both left wheels)
    v_right = (v + w * track_eff / 2) / r     (rad/s, both right wheels)

``icr_factor`` is the ratio of the distance between the instantaneous centres of rotation of
the left and right wheels to the geometric track. It is tuned by commanding a spin of a known
angle and comparing the measured yaw (IMU, survey) with odometry: multiply the factor by
``odometry_yaw / true_yaw``. The same factor must be used for commands and for odometry.

Wheel arrays are ordered front left, front right, rear left, rear right (the contract order).
"""

from dataclasses import dataclass
import math
from typing import Sequence, Tuple

#: Indices of the wheels in every wheel array.
FRONT_LEFT, FRONT_RIGHT, REAR_LEFT, REAR_RIGHT = range(4)
WHEEL_COUNT = 4


@dataclass(frozen=True)
class SkidSteerGeometry:
    """
    Wheel radius, geometric track and ICR factor of a four-wheel skid-steer rover.

    :param wheel_radius: wheel radius (m), > 0.
    :param track: distance between the left and right wheel contact lines (m), > 0.
    :param icr_factor: effective track / geometric track, >= 1.
    """

    wheel_radius: float
    track: float
    icr_factor: float = 1.0

    def __post_init__(self) -> None:
        """Refuse a geometry that cannot describe a rover."""
        for name in ('wheel_radius', 'track'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f'{name} must be a positive number of metres, got {value!r}')
        if not (math.isfinite(self.icr_factor) and self.icr_factor >= 1.0):
            raise ValueError(f'icr_factor must be >= 1, got {self.icr_factor!r}')

    @property
    def effective_track(self) -> float:
        """Return the track the kinematics use (m)."""
        return self.track * self.icr_factor

    def body_to_wheels(self, linear: float, angular: float) -> Tuple[float, float, float, float]:
        """
        Return the wheel angular velocities (rad/s, contract order) for a body twist.

        :param linear: forward speed along base_link x (m/s).
        :param angular: yaw rate about base_link z (rad/s, counter-clockwise positive).
        """
        half = 0.5 * angular * self.effective_track
        left = (linear - half) / self.wheel_radius
        right = (linear + half) / self.wheel_radius
        return (left, right, left, right)

    def wheels_to_body(self, wheels: Sequence[float]) -> Tuple[float, float]:
        """
        Return the body twist (m/s, rad/s) of wheel angular velocities (or increments).

        Both wheels of a side are averaged: on a skid-steer rover they are mechanically close
        and the average halves the effect of one wheel slipping.
        """
        left = 0.5 * (wheels[FRONT_LEFT] + wheels[REAR_LEFT]) * self.wheel_radius
        right = 0.5 * (wheels[FRONT_RIGHT] + wheels[REAR_RIGHT]) * self.wheel_radius
        return 0.5 * (left + right), (right - left) / self.effective_track

    def rim_speed_scale(self, linear: float, angular: float, limit: float) -> float:
        """
        Return the factor in (0, 1] that keeps every wheel's rim speed within ``limit`` (m/s).

        Scaling linear and angular speed by the same factor keeps the path curvature.
        """
        peak = abs(linear) + 0.5 * abs(angular) * self.effective_track
        if peak <= limit or peak == 0.0:
            return 1.0
        return limit / peak


def saturate_wheels(wheels: Sequence[float], max_wheel_speed: float
                    ) -> Tuple[Tuple[float, ...], float]:
    """
    Scale all wheel speeds by one factor so the fastest is at most ``max_wheel_speed``.

    Scaling every wheel by the same factor keeps the ratio between the sides, i.e. the
    commanded curvature: the rover follows the same arc, only slower.

    :return: the scaled speeds and the factor applied (1.0 when nothing saturated).
    """
    peak = max(abs(w) for w in wheels)
    if peak <= max_wheel_speed or peak == 0.0:
        return tuple(wheels), 1.0
    factor = max_wheel_speed / peak
    return tuple(w * factor for w in wheels), factor
