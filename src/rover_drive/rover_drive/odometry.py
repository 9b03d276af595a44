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
Wheel odometry: pose and twist from measured wheel positions, with covariances.

Integrates wheel *positions* (encoder angles), never commanded speeds, so a stalled or
slipping command does not move the estimate. Each update takes the per-side mean wheel
increment, converts it to a body increment with the skid-steer model (same effective track as
the commands) and integrates along the exact arc.

Pose covariance follows the classic differential-drive error model (Siegwart, Nourbakhsh,
"Introduction to Autonomous Mobile Robots", 5.2.4): each side's travel has a variance
proportional to its distance, ``wheel_noise * |d|`` (m^2), propagated through the Jacobians of
the update. Twist covariance is a fixed diagonal from parameters. Axes odometry cannot see
(z, roll, pitch) get :data:`UNOBSERVED_VARIANCE`.

A wheel increment larger than possible at the wheel speed limit (e.g. a motor rebooted and
its position restarted) is discarded and counted, so the estimate never jumps.
"""

from dataclasses import dataclass
import math
from typing import Optional, Sequence, Tuple

import numpy as np
from rover_drive.skid_steer import SkidSteerGeometry, WHEEL_COUNT
import transforms3d

#: Variance given to axes the wheel odometry does not observe.
UNOBSERVED_VARIANCE = 1e6


@dataclass(frozen=True)
class Pose2D:
    """Planar pose in the odom frame: x, y (m), yaw (rad, in (-pi, pi])."""

    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0


def wrap_angle(angle: float) -> float:
    """Return ``angle`` wrapped into (-pi, pi]."""
    wrapped = math.remainder(angle, 2.0 * math.pi)
    return math.pi if wrapped == -math.pi else wrapped


def yaw_to_quaternion(yaw: float) -> Tuple[float, float, float, float]:
    """Return the (x, y, z, w) quaternion of a rotation by ``yaw`` about z (ROS order)."""
    w, x, y, z = transforms3d.euler.euler2quat(0.0, 0.0, yaw, 'sxyz')
    return (x, y, z, w)


def quaternion_to_yaw(x: float, y: float, z: float, w: float) -> float:
    """Return the yaw of an (x, y, z, w) quaternion."""
    return transforms3d.euler.quat2euler((w, x, y, z), 'sxyz')[2]


@dataclass(frozen=True)
class OdometryEstimate:
    """Pose, body twist and their covariances at ``stamp``."""

    stamp: float
    pose: Pose2D
    linear: float
    angular: float
    pose_covariance: Tuple[float, ...]
    twist_covariance: Tuple[float, ...]


class WheelOdometry:
    """
    Dead reckoning from the four wheel positions.

    :param geometry: the skid-steer geometry (same as the commands use).
    :param wheel_noise: variance of a side's travel per metre travelled (m^2/m), >= 0.
    :param twist_variance: (linear m^2/s^2, angular rad^2/s^2) of the twist estimate.
    :param max_wheel_speed: increments faster than twice this (rad/s) are discarded.
    """

    def __init__(self, geometry: SkidSteerGeometry, *, wheel_noise: float,
                 twist_variance: Tuple[float, float], max_wheel_speed: float) -> None:
        self.geometry = geometry
        self.wheel_noise = wheel_noise
        self.twist_variance = twist_variance
        self.max_wheel_speed = max_wheel_speed
        self.jumps_discarded = 0
        self.reset()

    def reset(self, pose: Pose2D = Pose2D()) -> None:
        """Restart at ``pose`` with zero covariance; the next update only sets the base."""
        self._x, self._y, self._yaw = pose.x, pose.y, pose.yaw
        self._cov = np.zeros((3, 3))
        self._last_positions: Optional[Tuple[float, ...]] = None
        self._last_time: Optional[float] = None
        self._linear = 0.0
        self._angular = 0.0

    def resync(self) -> None:
        """Keep the pose but take the next wheel positions as the new base (after a reboot)."""
        self._last_positions = None
        self._last_time = None

    @property
    def pose(self) -> Pose2D:
        """Return the current pose."""
        return Pose2D(self._x, self._y, self._yaw)

    def update(self, positions: Sequence[float], now: float,
               velocities: Optional[Sequence[float]] = None) -> OdometryEstimate:
        """
        Integrate the wheel positions (rad, contract order) measured at ``now``.

        :param velocities: measured wheel velocities (rad/s) when the motors report them;
            the twist then comes from them instead of position increments over the loop
            period, whose timing jitter would show up as speed noise.
        """
        if len(positions) != WHEEL_COUNT:
            raise ValueError(f'expected {WHEEL_COUNT} wheel positions, got {len(positions)}')
        current = tuple(float(p) for p in positions)
        previous, last_time = self._last_positions, self._last_time
        self._last_positions, self._last_time = current, now
        if previous is not None and last_time is not None:
            dt = now - last_time
            deltas = [c - p for c, p in zip(current, previous)]
            bound = 2.0 * self.max_wheel_speed * max(dt, 0.0) + 0.05
            if any(not math.isfinite(d) or abs(d) > bound for d in deltas):
                self.jumps_discarded += 1
            else:
                self._integrate(deltas, dt)
        if velocities is not None and all(math.isfinite(v) for v in velocities):
            self._linear, self._angular = self.geometry.wheels_to_body(velocities)
        return self.estimate(now)

    def _integrate(self, deltas: Sequence[float], dt: float) -> None:
        geometry = self.geometry
        r = geometry.wheel_radius
        d_left = 0.5 * (deltas[0] + deltas[2]) * r
        d_right = 0.5 * (deltas[1] + deltas[3]) * r
        ds = 0.5 * (d_left + d_right)
        b = geometry.effective_track
        dyaw = (d_right - d_left) / b
        mid = self._yaw + 0.5 * dyaw
        if abs(dyaw) > 1e-9:
            chord = 2.0 * ds / dyaw * math.sin(0.5 * dyaw)
        else:
            chord = ds
        cos_m, sin_m = math.cos(mid), math.sin(mid)
        # Jacobians of the update w.r.t. the previous pose and the two side travels
        f_pose = np.array([[1.0, 0.0, -chord * sin_m],
                           [0.0, 1.0, chord * cos_m],
                           [0.0, 0.0, 1.0]])
        k = ds / (2.0 * b)
        f_wheels = np.array([[0.5 * cos_m - k * sin_m, 0.5 * cos_m + k * sin_m],
                             [0.5 * sin_m + k * cos_m, 0.5 * sin_m - k * cos_m],
                             [1.0 / b, -1.0 / b]])
        wheel_cov = np.diag([self.wheel_noise * abs(d_right), self.wheel_noise * abs(d_left)])
        self._cov = f_pose @ self._cov @ f_pose.T + f_wheels @ wheel_cov @ f_wheels.T
        self._x += chord * cos_m
        self._y += chord * sin_m
        self._yaw = wrap_angle(self._yaw + dyaw)
        if dt > 0.0:
            self._linear = ds / dt
            self._angular = dyaw / dt

    def estimate(self, now: float) -> OdometryEstimate:
        """Return the estimate in the 6x6 row-major covariance layout of nav_msgs/Odometry."""
        pose_cov = [0.0] * 36
        for i in (2, 3, 4):
            pose_cov[i * 7] = UNOBSERVED_VARIANCE
        for row, i in enumerate((0, 1, 5)):
            for col, j in enumerate((0, 1, 5)):
                pose_cov[i * 6 + j] = float(self._cov[row, col])
        var_linear, var_angular = self.twist_variance
        twist_cov = [0.0] * 36
        # lateral velocity: the non-holonomic constraint, as certain as the forward speed
        for i, value in enumerate((var_linear, var_linear, UNOBSERVED_VARIANCE,
                                   UNOBSERVED_VARIANCE, UNOBSERVED_VARIANCE, var_angular)):
            twist_cov[i * 7] = value
        return OdometryEstimate(now, self.pose, self._linear, self._angular,
                                tuple(pose_cov), tuple(twist_cov))
