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
The ``hardware`` backend: four Dynamixel X-series motors in velocity mode on one serial bus.

Each step is one sync write of the goal velocities and one sync read of present
current/velocity/position (plus the bus-watchdog register), through
:mod:`rover_common.dynamixel_bus` (ROBOTIS ``dynamixel_sdk`` over pyserial). Failures map to
the controller's policy:

* timeout, checksum error, port error -> :class:`BackendError` (transient, counted);
* the alert bit in a status packet -> the Hardware Error Status is read and a
  :class:`BackendFault` names the motor, wheel and error bits (the motor has shut down);
* the bus watchdog register reads -1 -> :class:`BackendFault` (the motors stopped themselves
  because the control loop went quiet for ``bus_watchdog`` seconds).

The motors' bus watchdog is the last line of defence: if this process dies without its
``finally`` (SIGKILL, a hang), the motors stop on their own. :meth:`DynamixelWheels.recover`
reboots the motors (clearing latched errors) and configures them again.
"""

from typing import Dict, Optional, Sequence

from rover_common.dynamixel_bus import (DynamixelBus, DynamixelError, MotorGroup,
                                        OperatingMode)
from rover_drive.backends.base import BackendError, BackendFault, WheelBackend, WheelFeedback
from rover_drive.skid_steer import WHEEL_COUNT

WHEEL_NAMES = ('front left', 'front right', 'rear left', 'rear right')


class DynamixelWheels(WheelBackend):
    """
    Four wheel motors on one Dynamixel bus.

    :param port: serial device (``/dev/ttyUSB0``, or the emulator's pty).
    :param baudrate: bus baud rate.
    :param motor_ids: motor id of each wheel, contract order.
    :param directions: +1/-1 per wheel (right-side motors are usually mounted mirrored).
    :param max_wheel_speed: the drive's wheel limit (rad/s); start() refuses motors whose
        Velocity Limit is lower, since they would silently ignore faster goals.
    :param bus_watchdog: motor-side watchdog period (s), 0 to disable.
    """

    name = 'hardware'

    def __init__(self, port: str, *, baudrate: int, motor_ids: Sequence[int],
                 directions: Sequence[int], max_wheel_speed: float,
                 bus_watchdog: float) -> None:
        if len(motor_ids) != WHEEL_COUNT:
            raise ValueError(f'expected {WHEEL_COUNT} motor ids, got {list(motor_ids)}')
        self._bus = DynamixelBus(port, baudrate=baudrate)
        self._group = MotorGroup(self._bus, motor_ids, OperatingMode.VELOCITY,
                                 directions=directions, bus_watchdog_s=bus_watchdog)
        self._max_wheel_speed = max_wheel_speed
        self._wheel_of = {motor_id: WHEEL_NAMES[i] for i, motor_id in enumerate(motor_ids)}
        self._last_error: Optional[str] = None

    def start(self, now: float) -> None:
        """Open the port, configure the motors, check their velocity limit."""
        try:
            if not self._bus.is_open:
                self._bus.connect()
            self._group.configure()
        except DynamixelError as exc:
            raise BackendFault(f'cannot start wheel motors on {self._bus.port_name}: '
                               f'{exc}') from exc
        limit = self._group.velocity_limit
        if limit < self._max_wheel_speed:
            raise BackendFault(f'motor Velocity Limit {limit:.3f} rad/s is below '
                               f'max_wheel_speed {self._max_wheel_speed} rad/s')

    def read(self, now: float) -> WheelFeedback:
        """Sync-read the wheels; raise on a failure (see the module docstring)."""
        try:
            states = self._group.read_state()
        except DynamixelError as exc:
            self._last_error = str(exc)
            raise BackendError(str(exc)) from exc
        alerting = [s.motor_id for s in states if s.alert]
        if alerting:
            raise BackendFault(self._describe_hardware_errors(alerting))
        expired = [s.motor_id for s in states if s.watchdog_expired]
        if expired:
            raise BackendFault('bus watchdog expired on motor(s) '
                               f'{", ".join(map(str, expired))}: the control loop went quiet')
        return WheelFeedback(tuple(s.position for s in states),
                             tuple(s.velocity for s in states),
                             tuple(s.current for s in states))

    def write(self, velocities: Sequence[float], now: float) -> None:
        """Sync-write the goal velocities."""
        try:
            self._group.write_velocities(velocities)
        except DynamixelError as exc:
            self._last_error = str(exc)
            raise BackendError(str(exc)) from exc

    def recover(self, now: float) -> None:
        """Reboot every motor (clears hardware errors and the watchdog) and reconfigure."""
        try:
            self._group.reboot()
            self._group.configure()
        except DynamixelError as exc:
            raise BackendFault(f'motor recovery failed: {exc}') from exc

    def stop(self) -> None:
        """Write zero velocity; a bus failure here is recorded, never raised."""
        try:
            if self._bus.is_open:
                self._group.write_velocities([0.0] * WHEEL_COUNT)
        except DynamixelError as exc:
            self._last_error = f'stop: {exc}'

    def close(self) -> None:
        """Close the port; torque stays on so the motors hold the rover on a slope."""
        self._bus.close()

    def health_values(self) -> Dict[str, str]:
        """Return the bus counters."""
        c = self._bus.counters
        values = {'port': self._bus.port_name, 'transactions': str(c.transactions),
                  'timeouts': str(c.timeouts), 'checksum_errors': str(c.checksum_errors),
                  'device_errors': str(c.device_errors), 'alerts': str(c.alerts)}
        if self._last_error:
            values['last_bus_error'] = self._last_error
        return values

    def _describe_hardware_errors(self, motor_ids: Sequence[int]) -> str:
        try:
            errors = self._group.hardware_errors(motor_ids)
        except DynamixelError as exc:
            return (f'hardware error on motor(s) {", ".join(map(str, motor_ids))} '
                    f'(status unreadable: {exc})')
        return '; '.join(f'motor {i} ({self._wheel_of[i]} wheel): hardware error '
                         f'{errors[i].describe()}' for i in motor_ids)
