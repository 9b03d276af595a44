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
Shovel fault detection: stall, overcurrent, position error, sensor range, communication.

Every check is "condition true for at least a time", on the times passed in, so one noisy
sample never trips it and a real jam always does. The first fault latches: it stays until
:meth:`FaultMonitor.clear` is called and its condition is gone, whatever the joint does
meanwhile. A latched fault is what the controller uses to stop the joint and refuse motion.
"""

from dataclasses import dataclass
import math
from typing import Optional

from rover_shovel.shovel_types import Fault, JointReading


@dataclass(frozen=True)
class FaultLimits:
    """Thresholds of the checks (see the ``stall_*``, ``overcurrent_*``... parameters)."""

    stall_current: float
    stall_velocity: float
    stall_time: float
    overcurrent_limit: float
    overcurrent_time: float
    position_error_tolerance: float
    position_error_time: float
    lower_limit: float
    upper_limit: float
    sensor_margin: float
    comm_error_limit: int


class _Persistence:
    """Tracks since when a condition has been true."""

    def __init__(self) -> None:
        self.since: Optional[float] = None

    def update(self, condition: bool, now: float) -> float:
        """Return for how long the condition has held (0 when false)."""
        if not condition:
            self.since = None
            return 0.0
        if self.since is None:
            self.since = now
        return now - self.since


class FaultMonitor:
    """
    Watches joint readings and latches the first fault it finds.

    :param limits: the thresholds; :meth:`set_limits` changes them at run time.
    """

    def __init__(self, limits: FaultLimits) -> None:
        self._limits = limits
        self._fault = Fault.NONE
        self._reason = ''
        self._stall = _Persistence()
        self._overcurrent = _Persistence()
        self._position = _Persistence()
        self._comm_errors = 0
        self._last_comm_error = ''

    @property
    def fault(self) -> Fault:
        """Return the latched fault; NONE when healthy."""
        return self._fault

    @property
    def reason(self) -> str:
        """Return why the fault latched, in words."""
        return self._reason

    @property
    def comm_errors(self) -> int:
        """Return the number of failed reads in a row."""
        return self._comm_errors

    def set_limits(self, limits: FaultLimits) -> None:
        """Use new thresholds from the next reading on."""
        self._limits = limits

    def latch(self, fault: Fault, reason: str) -> None:
        """Latch ``fault`` unless one is latched already (the first cause is kept)."""
        if self._fault == Fault.NONE and fault != Fault.NONE:
            self._fault = fault
            self._reason = reason

    def on_read_error(self, message: str) -> None:
        """Count a failed read; ``comm_error_limit`` failures in a row latch COMMUNICATION."""
        self._comm_errors += 1
        self._last_comm_error = message
        if self._comm_errors >= self._limits.comm_error_limit:
            self.latch(Fault.COMMUNICATION,
                       f'{self._comm_errors} failed reads in a row; last: {message}')

    def check(self, reading: JointReading, setpoint: float, *, moving: bool) -> Fault:
        """
        Check one reading against the setpoint and return the latched fault.

        :param reading: the measured joint state.
        :param setpoint: where the joint should be now (rad).
        :param moving: True while a move is commanded; a stall is only a stall when the
            joint is asked to move or push, so the check runs while holding too.
        """
        self._comm_errors = 0
        lim = self._limits
        now = reading.stamp
        if reading.hardware_fault is not None:
            self.latch(*reading.hardware_fault)
        angle = reading.angle
        if not math.isfinite(angle) or not (
                lim.lower_limit - lim.sensor_margin <= angle
                <= lim.upper_limit + lim.sensor_margin):
            self.latch(Fault.SENSOR_RANGE,
                       f'measured angle {angle:.3f} rad outside [{lim.lower_limit:.3f}, '
                       f'{lim.upper_limit:.3f}] +/- {lim.sensor_margin:.3f} rad')
            return self._fault
        # NaN: the backend measures no current (Gazebo); stall and overcurrent cannot be
        # judged, the position error below still catches a jammed joint. An infinite reading
        # is a broken sensor and counts as overcurrent.
        current = abs(reading.current) if not math.isnan(reading.current) else 0.0
        over = self._overcurrent.update(current > lim.overcurrent_limit, now)
        if current > lim.overcurrent_limit and over >= lim.overcurrent_time:
            self.latch(Fault.OVERCURRENT,
                       f'|current| {current:.3f} A above {lim.overcurrent_limit:.3f} A '
                       f'for {over:.2f} s')
        stalled = (current > lim.stall_current and abs(reading.velocity) < lim.stall_velocity)
        stall_for = self._stall.update(stalled, now)
        if stalled and stall_for >= lim.stall_time:
            self.latch(Fault.STALL,
                       f'|current| {current:.3f} A above {lim.stall_current:.3f} A at '
                       f'{abs(reading.velocity):.3f} rad/s for {stall_for:.2f} s at '
                       f'{angle:.3f} rad{" while moving" if moving else ""}')
        error = abs(angle - setpoint)
        error_for = self._position.update(error > lim.position_error_tolerance, now)
        if error > lim.position_error_tolerance and error_for >= lim.position_error_time:
            self.latch(Fault.POSITION_ERROR,
                       f'|measured - setpoint| {error:.3f} rad above '
                       f'{lim.position_error_tolerance:.3f} rad for {error_for:.2f} s')
        return self._fault

    def clear(self, reading: Optional[JointReading]) -> Optional[str]:
        """
        Clear the latched fault if its cause is gone; return why not, or None when cleared.

        :param reading: the latest reading, or None when the backend cannot be read.
        """
        if self._fault == Fault.NONE:
            return None
        if reading is None:
            return 'the joint cannot be read; the fault stays latched'
        lim = self._limits
        if not math.isfinite(reading.angle) or not (
                lim.lower_limit - lim.sensor_margin <= reading.angle
                <= lim.upper_limit + lim.sensor_margin):
            return f'measured angle {reading.angle!r} rad is still out of range'
        if reading.hardware_fault is not None:
            return f'the servo still reports: {reading.hardware_fault[1]}'
        self._fault = Fault.NONE
        self._reason = ''
        self._stall = _Persistence()
        self._overcurrent = _Persistence()
        self._position = _Persistence()
        self._comm_errors = 0
        return None
