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
The ``fake`` backend: an in-process shovel joint with a servo, gravity, friction and soil.

The servo follows its position command with a first-order lag and a speed limit. Its
current is the physics the fill estimator inverts (``rover_shovel.fill``): gravity on the
empty shovel and on the regolith in it, friction against the motion, plus the soil's
resistance once the blade is beyond the ground-contact angle. The scoop is open at the far
end of its arm (rover_description), so its mouth faces up stowed and down beyond pi/2: it
fills only when the blade has reached the bite angle (the dig depth, in the regolith), and the
load counts as a sample (the mean mass with a seeded 10 % spread) once the lift brings the
mouth back above the spill angle; beyond the spill angle (the mouth tipped down) whatever is
in the scoop falls out. So a dump empties it, the hold pose keeps it, and a dump shallower
than the dig depth does not scoop again. Deterministic for a seed. Test hooks inject a jam
(a rock), failed reads, a bad angle sensor and a device error.
"""

from dataclasses import dataclass
import math
import random
from typing import Optional, Tuple

from rover_shovel.shovel_types import ActuatorError, Fault, JointReading

#: Integration step of the joint model (s).
SUBSTEP = 0.005
#: Longest stretch of time one read or command integrates (s); a clock jump (sim time
#: starting) is not replayed step by step.
MAX_CATCH_UP = 1.0


@dataclass(frozen=True)
class FakeJointParams:
    """Physical constants of the fake joint (most come from the shovel parameters)."""

    torque_constant: float = 1.78
    gravity: float = 1.62
    horizontal_angle: float = 0.95
    sample_lever_arm: float = 0.11
    empty_friction_current: float = 0.05
    empty_gravity_current: float = 0.035
    empty_horizontal_angle: float = 1.23
    #: The rim meets flat ground here (rad).
    ground_angle: float = 1.75
    soil_stiffness: float = 1.0
    #: Beyond this angle the mouth faces down and the sample falls out (rad).
    spill_angle: float = 1.65
    #: The blade must reach this angle (the dig depth) for the scoop to fill (rad).
    bite_angle: float = 1.92
    sample_mass: float = 0.15
    current_noise: float = 0.003
    servo_time_constant: float = 0.05
    servo_max_velocity: float = 4.0
    #: The drive's rated 0.8 N*m at 1.78 N*m/A (rover_description shovel_effort).
    servo_current_limit: float = 0.45
    #: Servo current per rad of position error while it cannot move (A/rad).
    servo_stiffness: float = 20.0
    seed: int = 1


class FakeJointActuator:
    """
    A simulated shovel_joint in position mode.

    :param params: physical constants.
    :param initial_angle: where the joint starts (rad).
    :param start_time: the clock value at construction (s).
    """

    def __init__(self, params: FakeJointParams = FakeJointParams(), *,
                 initial_angle: float = 0.0, start_time: float = 0.0) -> None:
        self._p = params
        self._rng = random.Random(params.seed)
        self._time = start_time
        self._angle = initial_angle
        self._velocity = 0.0
        self._command = initial_angle
        self._load_kg = 0.0
        self._bitten = False
        self._jam: Optional[float] = None
        self._failing_reads = 0
        self._last_read: Tuple[float, float] = (start_time, initial_angle)
        self._sensor_override: Optional[float] = None
        self._sensor_bias = 0.0
        self._hardware_fault: Optional[Tuple[Fault, str]] = None
        self.commands = 0

    # -- test hooks ----------------------------------------------------------------------

    @property
    def angle(self) -> float:
        """Return the true joint angle in rad."""
        return self._angle

    @property
    def load_kg(self) -> float:
        """Return the regolith mass in the scoop (kg)."""
        return self._load_kg

    @property
    def command_angle(self) -> float:
        """Return the last position command (rad)."""
        return self._command

    def jam(self, angle: Optional[float]) -> None:
        """Put a rock under the blade: the joint cannot lower past ``angle`` (None removes it)."""
        self._jam = angle

    def fail_reads(self, count: int) -> None:
        """Make the next ``count`` reads raise ActuatorError (a lost bus)."""
        self._failing_reads = count

    def override_sensor(self, angle: Optional[float]) -> None:
        """Report ``angle`` instead of the true angle (a broken sensor); None to heal."""
        self._sensor_override = angle

    def bias_sensor(self, offset: float) -> None:
        """Add ``offset`` (rad) to every reported angle (a slipped encoder); 0 to heal."""
        self._sensor_bias = offset

    def inject_hardware_fault(self, fault: Optional[Tuple[Fault, str]]) -> None:
        """Make the device report its own error until :meth:`reset_fault`."""
        self._hardware_fault = fault

    # -- JointActuator -------------------------------------------------------------------

    def read(self, now: float) -> JointReading:
        """Advance the model to ``now`` and return the measured state."""
        self._advance(now)
        if self._failing_reads > 0:
            self._failing_reads -= 1
            raise ActuatorError('fake joint: read timed out (injected)')
        # The measured speed is the mean since the last read, as an encoder-differencing
        # servo reports it; the instantaneous speed of a servo chasing a stepped setpoint
        # swings within each control period.
        last_time, last_angle = self._last_read
        velocity = self._velocity
        if now - last_time > 1e-6:
            velocity = (self._angle - last_angle) / (now - last_time)
        self._last_read = (now, self._angle)
        angle = self._angle + self._sensor_bias
        if self._sensor_override is not None:
            angle = self._sensor_override
        return JointReading(now, angle, velocity, self._current(), self._hardware_fault)

    def command(self, angle: float, now: float) -> None:
        """Advance the model to ``now`` and set the position command."""
        self._advance(now)
        if not math.isfinite(angle):
            raise ActuatorError(f'fake joint: refused non-finite command {angle!r}')
        self._command = angle
        self.commands += 1

    def reset_fault(self) -> None:
        """Clear an injected device error (a reboot)."""
        self._hardware_fault = None

    def close(self) -> None:
        """Nothing to release."""

    # -- model ---------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        p = self._p
        self._time = max(self._time, now - MAX_CATCH_UP)
        while self._time < now:
            dt = min(SUBSTEP, now - self._time)
            self._time += dt
            wanted = (self._command - self._angle) / p.servo_time_constant
            wanted = max(-p.servo_max_velocity, min(p.servo_max_velocity, wanted))
            new_angle = self._angle + wanted * dt
            if self._jam is not None and new_angle > self._jam >= self._angle:
                new_angle = self._jam
            self._velocity = (new_angle - self._angle) / dt
            self._angle = new_angle
            self._update_load()

    def _update_load(self) -> None:
        p = self._p
        if self._angle >= p.bite_angle and self._angle > p.ground_angle:
            self._bitten = True
        if self._angle > p.spill_angle:
            self._load_kg = 0.0
        elif self._bitten:
            self._bitten = False
            self._load_kg = max(0.0, p.sample_mass * (1.0 + 0.1 * self._rng.gauss(0.0, 1.0)))

    def _current(self) -> float:
        p = self._p
        c = math.cos(self._angle - p.horizontal_angle)
        c_empty = math.cos(self._angle - p.empty_horizontal_angle)
        gravity = -(p.empty_gravity_current * c_empty
                    + self._load_kg * p.gravity * p.sample_lever_arm * c / p.torque_constant)
        moving = abs(self._velocity) > 1e-3
        friction = math.copysign(p.empty_friction_current, self._velocity) if moving else 0.0
        soil = p.soil_stiffness * max(0.0, self._angle - p.ground_angle) / p.torque_constant
        blocked = 0.0
        if self._jam is not None and self._angle == self._jam and self._command > self._jam:
            error = self._command - self._angle
            blocked = max(-p.servo_current_limit,
                          min(p.servo_current_limit, p.servo_stiffness * error))
        current = gravity + friction + soil + blocked + self._rng.gauss(0.0, p.current_noise)
        return max(-p.servo_current_limit, min(p.servo_current_limit, current))
