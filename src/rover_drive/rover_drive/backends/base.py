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
The interface every wheel backend implements, and its two kinds of failure.

The controller calls, from its control loop only: :meth:`WheelBackend.start` once,
:meth:`~WheelBackend.read` then :meth:`~WheelBackend.write` every step, :meth:`~WheelBackend.
recover` when a fault is cleared, :meth:`~WheelBackend.stop` and :meth:`~WheelBackend.close`
at shutdown. Velocities and positions are wheel angular values (rad/s, rad) in the contract
order front left, front right, rear left, rear right, positive turning the wheel forward.

* :class:`BackendError`: a transient failure (timeout, checksum error, stale feedback). The
  controller counts consecutive ones and latches a fault after ``backend_error_limit``.
* :class:`BackendFault`: a failure that must stop the rover at once (a motor's hardware error,
  a watchdog that expired, a port that cannot open). The controller latches it immediately.
"""

import abc
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple


class BackendError(Exception):
    """A transient wheel I/O failure; counted, and a fault only when it persists."""


class BackendFault(Exception):
    """A wheel failure that latches a drive fault at once."""


@dataclass(frozen=True)
class WheelFeedback:
    """Measured wheel state (contract order); ``currents`` in A when the backend has them."""

    positions: Tuple[float, float, float, float]
    velocities: Tuple[float, float, float, float]
    currents: Optional[Tuple[float, float, float, float]] = None


class WheelBackend(abc.ABC):
    """Where wheel commands go and wheel measurements come from."""

    #: Short name for status and diagnostics.
    name = 'backend'

    def start(self, now: float) -> None:
        """Prepare the wheels (open ports, configure motors); BackendFault when impossible."""

    @abc.abstractmethod
    def read(self, now: float) -> WheelFeedback:
        """Return the latest wheel measurement."""

    @abc.abstractmethod
    def write(self, velocities: Sequence[float], now: float) -> None:
        """Command wheel angular velocities (rad/s)."""

    def recover(self, now: float) -> None:
        """Bring the wheels back after a fault (e.g. reboot motors); BackendFault if not."""

    def stop(self) -> None:
        """Command zero to every wheel, best effort, never raising (used in ``finally``)."""

    def close(self) -> None:
        """Release the wheels' resources."""

    def health_values(self) -> Dict[str, str]:
        """Return key/value strings for diagnostics (counters, port)."""
        return {}
