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
When the latched ``drive/status`` goes out: at once on a change that matters, else at a rate.

A listener of a latched topic wants every transition (mode, active source, interlock, e-stop,
fault, stopped) without a 20 Hz stream of identical messages; the heartbeat at
``status_rate`` keeps the measured values fresh. A clock that jumps back (sim time reset)
publishes at once rather than waiting for the old time to come round again.
"""

from typing import Hashable, Optional, Tuple

from rover_drive.drive_controller import DriveStatus


def status_key(status: DriveStatus) -> Tuple[Hashable, ...]:
    """Return the fields whose change is published at once."""
    return (status.mode, status.active_source, status.interlock, status.estop_latched,
            status.fault_latched, status.fault_reason, status.stopped)


class StatusThrottle:
    """Decide, step by step, whether to publish the status."""

    def __init__(self) -> None:
        self._last_key: Optional[Tuple[Hashable, ...]] = None
        self._last_time: Optional[float] = None

    def due(self, status: DriveStatus, now: float, rate: float) -> bool:
        """Return whether to publish ``status`` at ``now`` (s) with heartbeat ``rate`` (Hz)."""
        if rate <= 0.0:
            raise ValueError(f'status rate must be > 0 Hz, got {rate}')
        key = status_key(status)
        last = self._last_time
        publish = (last is None or key != self._last_key or now < last
                   or now - last >= 1.0 / rate)
        if publish:
            self._last_key, self._last_time = key, now
        return publish
