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
Rate- and acceleration-limited joint setpoints (a trapezoidal profile, stepped in time).

The servo runs in position mode; the core never sends it a far target. It sends a setpoint
that moves at most ``max_velocity`` and changes speed at most ``max_acceleration``, so the
limits hold whatever the servo's own tuning, and the fault monitor can compare the measured
angle with where the joint should be at this instant.
"""

from dataclasses import dataclass
import math


@dataclass(frozen=True)
class Setpoint:
    """Where the joint should be now (rad) and how fast it should move (rad/s)."""

    position: float
    velocity: float
    accelerating: bool


class JointProfile:
    """
    A setpoint that moves towards a target within speed and acceleration limits.

    :param position: initial setpoint (rad), normally the measured angle.
    :param lower: lower joint limit (rad); the setpoint never leaves [lower, upper].
    :param upper: upper joint limit (rad).
    """

    def __init__(self, position: float, *, lower: float, upper: float) -> None:
        if not lower < upper:
            raise ValueError(f'lower limit {lower} must be below upper limit {upper}')
        self._lower = lower
        self._upper = upper
        self._position = min(max(position, lower), upper)
        self._velocity = 0.0
        self._target = self._position
        self._max_velocity = 0.0
        self._max_acceleration = 1.0
        self._accelerating = False

    @property
    def target(self) -> float:
        """Return the target the setpoint is moving to (rad)."""
        return self._target

    @property
    def setpoint(self) -> Setpoint:
        """Return the current setpoint."""
        return Setpoint(self._position, self._velocity, self._accelerating)

    @property
    def at_target(self) -> bool:
        """Return True when the setpoint rests on its target."""
        return self._position == self._target and self._velocity == 0.0

    def set_limits(self, lower: float, upper: float) -> None:
        """Change the joint limits; the setpoint and target are clamped into them."""
        if not lower < upper:
            raise ValueError(f'lower limit {lower} must be below upper limit {upper}')
        self._lower, self._upper = lower, upper
        self._target = min(max(self._target, lower), upper)

    def move_to(self, target: float, *, max_velocity: float, max_acceleration: float) -> None:
        """
        Start moving to ``target`` (clamped into the limits) from the present setpoint.

        :raises ValueError: when a limit is not a positive finite number.
        """
        for name, value in (('max_velocity', max_velocity),
                            ('max_acceleration', max_acceleration), ('target', target)):
            if not math.isfinite(value):
                raise ValueError(f'{name} must be finite, got {value!r}')
        if max_velocity <= 0.0 or max_acceleration <= 0.0:
            raise ValueError('max_velocity and max_acceleration must be > 0')
        self._target = min(max(target, self._lower), self._upper)
        self._max_velocity = max_velocity
        self._max_acceleration = max_acceleration

    def hold(self, position: float) -> None:
        """Stop at once at ``position`` (clamped): the setpoint rests there, speed zero."""
        self._position = min(max(position, self._lower), self._upper)
        self._velocity = 0.0
        self._target = self._position
        self._accelerating = False

    def stop(self) -> None:
        """Decelerate to rest within the acceleration limit and hold there."""
        v, a = self._velocity, self._max_acceleration
        braking = v * abs(v) / (2.0 * a)
        self._target = min(max(self._position + braking, self._lower), self._upper)

    def planned_duration(self, start: float, target: float, max_velocity: float,
                         max_acceleration: float) -> float:
        """Return the time a rest-to-rest move from ``start`` to ``target`` takes (s)."""
        distance = abs(target - start)
        ramp = max_velocity / max_acceleration
        if distance >= max_velocity * ramp:
            return distance / max_velocity + ramp
        return 2.0 * math.sqrt(distance / max_acceleration)

    def step(self, dt: float) -> Setpoint:
        """
        Advance the setpoint by ``dt`` seconds and return it.

        The speed allowed at a remaining distance ``e`` is the largest ``n * a * dt`` whose
        discrete braking run (``n, n-1, ..., 1`` steps of ``a * dt``) covers at most ``e``:
        ``n = sqrt(1/4 + 2 e / (a dt^2)) - 1/2``. So the setpoint lands on the target without
        overshoot and never changes speed by more than ``a * dt`` in a step.
        """
        if dt <= 0.0:
            return self.setpoint
        a = self._max_acceleration
        error = self._target - self._position
        if error == 0.0 and self._velocity == 0.0:
            self._accelerating = False
            return self.setpoint
        step_dv = a * dt
        allowed = step_dv * (math.sqrt(0.25 + 2.0 * abs(error) / (step_dv * dt)) - 0.5)
        desired = math.copysign(min(self._max_velocity, allowed), error)
        new_velocity = self._velocity + min(max(desired - self._velocity, -step_dv), step_dv)
        travel = new_velocity * dt
        if abs(new_velocity) <= step_dv + 1e-12 and travel * error >= 0.0 \
                and abs(travel) >= abs(error) - 1e-12:
            # Land on the target; the speed of this last step is reported once, then zero.
            self._position, self._velocity, self._accelerating = self._target, new_velocity, False
            return self.setpoint
        # Too fast to stop on the target (it moved behind a fast setpoint): brake, come back.
        self._accelerating = abs(new_velocity) > abs(self._velocity) + 1e-12
        new_position = self._position + travel
        clamped = min(max(new_position, self._lower), self._upper)
        self._position = clamped
        self._velocity = new_velocity if clamped == new_position else 0.0
        return self.setpoint
