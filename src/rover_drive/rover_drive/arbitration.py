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
Command arbitration: which source owns the wheels, and the per-source command watchdog.

Priorities (highest first), the values of ``DriveStatus.SOURCE_*``:

1. ``ESTOP``: the latched e-stop (held by the controller, not a command slot here);
2. ``GROUND``: the lander bridge and the bounded-move actions (deliberate operator intent);
3. ``TELEOP``: ``cmd_vel`` (a joystick or keyboard on the rover network);
4. ``AUTONOMY``: ``cmd_vel_nav`` (an on-board planner).

Each source keeps only its latest command, valid until its effective time plus that source's
timeout. The freshest-valid command of the highest-priority source wins; a lower source takes
over only when every higher one has expired. When the winning source expires the arbiter
reports it once, so the controller can count a watchdog stop and ramp the rover down.
"""

from dataclasses import dataclass
import enum
from typing import Dict, List, Mapping, Optional, Tuple


class Source(enum.IntEnum):
    """Command sources; the values are those of DriveStatus.SOURCE_* (lower wins)."""

    NONE = 0
    ESTOP = 1
    GROUND = 2
    TELEOP = 3
    AUTONOMY = 4


#: Sources that send velocity commands, highest priority first.
COMMAND_SOURCES = (Source.GROUND, Source.TELEOP, Source.AUTONOMY)


@dataclass(frozen=True)
class Command:
    """One velocity command held by the arbiter."""

    source: Source
    linear: float
    angular: float
    effective_time: float
    expires: float


class CommandArbiter:
    """
    Latest command per source, with per-source timeouts.

    :param timeouts: timeout (s, > 0) of each of :data:`COMMAND_SOURCES`.
    """

    def __init__(self, timeouts: Mapping[Source, float]) -> None:
        self._timeouts: Dict[Source, float] = {}
        for source in COMMAND_SOURCES:
            self.set_timeout(source, timeouts[source])
        self._slots: Dict[Source, Command] = {}
        self._owner: Optional[Source] = None

    def timeout(self, source: Source) -> float:
        """Return the timeout of ``source`` (s)."""
        return self._timeouts[source]

    def set_timeout(self, source: Source, timeout: float) -> None:
        """Change the timeout of one command source."""
        if source not in COMMAND_SOURCES:
            raise ValueError(f'{source!r} is not a command source; '
                             f'known: {", ".join(s.name for s in COMMAND_SOURCES)}')
        if not timeout > 0.0:
            raise ValueError(f'timeout of {source.name} must be > 0 s, got {timeout!r}')
        self._timeouts[source] = timeout

    def offer(self, source: Source, linear: float, angular: float,
              effective_time: float) -> None:
        """Store the latest command of ``source`` (it replaces the previous one)."""
        if source not in COMMAND_SOURCES:
            raise ValueError(f'{source!r} is not a command source')
        self._slots[source] = Command(source, linear, angular, effective_time,
                                      effective_time + self._timeouts[source])

    def clear(self, source: Optional[Source] = None) -> None:
        """Forget the command of one source, or of all (e-stop, fault, release)."""
        if source is None:
            self._slots.clear()
            self._owner = None
        else:
            self._slots.pop(source, None)
            if self._owner == source:
                self._owner = None

    def select(self, now: float) -> Tuple[Optional[Command], List[Source]]:
        """
        Return the winning command at ``now`` (or None) and the sources that just expired.

        An expired command is dropped, so each expiry is reported exactly once.
        """
        expired = [s for s, c in self._slots.items() if now > c.expires]
        for source in expired:
            del self._slots[source]
        winner = None
        for source in COMMAND_SOURCES:
            command = self._slots.get(source)
            if command is not None:
                winner = command
                break
        self._owner = winner.source if winner is not None else None
        return winner, expired
