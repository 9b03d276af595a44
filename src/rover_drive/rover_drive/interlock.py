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
The shovel-to-drive interlock: the shovel's permission limits how fast the wheels may turn.

Input: ``ShovelState.drive_permission`` (``DRIVE_ALLOWED``, ``DRIVE_CREEP_ONLY``,
``DRIVE_FORBIDDEN``). Output: ``DriveStatus.INTERLOCK_*`` and a limit on the rim speed of every
wheel (so creep also bounds turning in place):

* allowed: no extra limit;
* creep only (the shovel is deployed for sample collection): every wheel's rim speed is at
  most ``creep_speed``, so the rover may inch forward or back while scooping;
* forbidden (the shovel is between poses or faulted): the rover ramps to a stop and stays;
* nothing received yet: **forbidden**. The shovel publishes its state latched, so the drive
  hears it as soon as both run; until then the shovel may be anywhere. For bench tests with
  no shovel, set ``interlock_enabled:=false`` (the status and diagnostics then say so).
"""

import enum
import math
from typing import Optional


class DrivePermission(enum.IntEnum):
    """ShovelState.DRIVE_* values."""

    ALLOWED = 0
    CREEP_ONLY = 1
    FORBIDDEN = 2


class InterlockState(enum.IntEnum):
    """DriveStatus.INTERLOCK_* values."""

    FREE = 0
    CREEP_ONLY = 1
    BLOCKED = 2


class ShovelInterlock:
    """
    The latest shovel permission and what it allows.

    :param enabled: False ignores the shovel entirely (bench tests only).
    :param creep_speed: rim-speed limit while creep only (m/s), > 0.
    """

    def __init__(self, *, enabled: bool, creep_speed: float) -> None:
        self.enabled = enabled
        self.creep_speed = creep_speed
        self._permission: Optional[DrivePermission] = None

    @property
    def creep_speed(self) -> float:
        """Return the creep rim-speed limit (m/s)."""
        return self._creep_speed

    @creep_speed.setter
    def creep_speed(self, value: float) -> None:
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f'creep_speed must be > 0 m/s, got {value!r}')
        self._creep_speed = value

    @property
    def permission(self) -> Optional[DrivePermission]:
        """Return the last permission received, None before the first."""
        return self._permission

    def set_permission(self, value: int) -> None:
        """
        Record the shovel's permission.

        :raises ValueError: an unknown value (the previous permission stays in force).
        """
        try:
            self._permission = DrivePermission(value)
        except ValueError:
            raise ValueError(f'unknown drive permission {value!r}; known: '
                             f'{", ".join(f"{p.value} ({p.name})" for p in DrivePermission)}'
                             ) from None

    @property
    def state(self) -> InterlockState:
        """Return what the interlock allows now."""
        if not self.enabled:
            return InterlockState.FREE
        if self._permission is None or self._permission == DrivePermission.FORBIDDEN:
            return InterlockState.BLOCKED
        if self._permission == DrivePermission.CREEP_ONLY:
            return InterlockState.CREEP_ONLY
        return InterlockState.FREE

    @property
    def reason(self) -> str:
        """Return why the interlock is in its state, for status and logs."""
        if not self.enabled:
            return 'interlock disabled (interlock_enabled is false)'
        if self._permission is None:
            return 'no shovel state received yet'
        return f'shovel permission {self._permission.name.lower()}'

    def rim_speed_limit(self) -> Optional[float]:
        """Return the rim-speed limit (m/s): None when free, 0.0 when blocked."""
        state = self.state
        if state == InterlockState.FREE:
            return None
        if state == InterlockState.CREEP_ONLY:
            return self._creep_speed
        return 0.0
