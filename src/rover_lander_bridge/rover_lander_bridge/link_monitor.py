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
Link state from contact times, the link hold and the link-loss safing latch.

Contact is an authenticated, fresh uplink frame (a telecommand, a heartbeat ping or a CFDP
PDU). With none for ``link_timeout`` the link is declared down (LOST): telemetry stays in the
store instead of being sent into a dead link, and the rover is *held*: the bridge stops the
moves in progress and refuses new motion. The hold ends at the first update after contact
returns, so the motion telecommands of the very uplink batch that brought the link back are
still refused (the ground sent them without current telemetry); nothing resumes by itself.
With no contact for ``safing_timeout`` the rover is safed (the bridge latches the drive's
e-stop and holds the shovel) and stays safed, link back or not, until the ground releases it.

Both timeouts are deadlines (:meth:`LinkMonitor.next_deadline`), so the owner's loop can wake
on them instead of finding them at its next tick. The clock is passed in (monotonic seconds),
so tests run on simulated time. The start counts as contact: a rover that boots and never
hears from Earth safes itself ``safing_timeout`` later (it is not held at boot: nothing moves).
"""

import enum
import math
from typing import List

from rover_link.protocol import LinkState


class LinkTransition(enum.Enum):
    """What changed at a contact or an update."""

    LOST = 'lost'  # and the hold begins
    RESTORED = 'restored'
    SAFED = 'safed'


class LinkMonitor:
    """
    Tracks contact and decides link-down (and the hold it starts) and safing.

    :param link_timeout: seconds without contact before the link is down (> 0).
    :param safing_timeout: seconds without contact before the rover is safed
        (>= link_timeout).
    :param now: start time (counts as contact).
    """

    def __init__(self, *, link_timeout: float, safing_timeout: float, now: float) -> None:
        self.set_timeouts(link_timeout, safing_timeout)
        self._last_contact = now
        self._up = False
        self._lost_at = now
        self._safed = False
        self._held = False
        self._silence = 0.0

    def set_timeouts(self, link_timeout: float, safing_timeout: float) -> None:
        """Change both timeouts; ValueError names the rule if they are inconsistent."""
        if not (math.isfinite(link_timeout) and link_timeout > 0.0):
            raise ValueError(f'link_timeout must be > 0 s, got {link_timeout}')
        if not (math.isfinite(safing_timeout) and safing_timeout >= link_timeout):
            raise ValueError(f'safing_timeout ({safing_timeout} s) must be >= link_timeout '
                             f'({link_timeout} s)')
        self._link_timeout = float(link_timeout)
        self._safing_timeout = float(safing_timeout)

    @property
    def up(self) -> bool:
        """Return True while contact is recent enough to downlink."""
        return self._up

    @property
    def safed(self) -> bool:
        """Return True while the safing latch is set."""
        return self._safed

    @property
    def held(self) -> bool:
        """Return True from a link loss until the first update after contact returned."""
        return self._held

    @property
    def last_contact(self) -> float:
        """Return the time of the last contact."""
        return self._last_contact

    @property
    def state(self) -> LinkState:
        """Return SAFED while latched, else UP or DOWN."""
        if self._safed:
            return LinkState.SAFED
        return LinkState.UP if self._up else LinkState.DOWN

    @property
    def silence_at_transition(self) -> float:
        """Return how long the ground had been silent when LOST or SAFED was declared (s)."""
        return self._silence

    def seconds_since_contact(self, now: float) -> float:
        """Return the time since the last contact (s)."""
        return max(0.0, now - self._last_contact)

    def outage_seconds(self, now: float) -> float:
        """Return how long the link has been down (0 while up)."""
        return 0.0 if self._up else max(0.0, now - self._lost_at)

    def next_deadline(self) -> float:
        """Return the time of the next LOST or SAFED transition (inf if none is pending)."""
        deadlines = []
        if self._up:
            deadlines.append(self._last_contact + self._link_timeout)
        if not self._safed:
            deadlines.append(self._last_contact + self._safing_timeout)
        return min(deadlines, default=math.inf)

    def contact(self, now: float) -> List[LinkTransition]:
        """Record a contact at ``now``; return [RESTORED] if the link was down."""
        transitions = self.update(now)
        self._last_contact = max(self._last_contact, now)
        if not self._up:
            self._up = True
            transitions.append(LinkTransition.RESTORED)
        return transitions

    def update(self, now: float) -> List[LinkTransition]:
        """
        Apply the timeouts at ``now``; return LOST and/or SAFED as they happen.

        A transition happens at ``now >= last contact + timeout``, the very sum
        :meth:`next_deadline` returns, so a loop that wakes on the deadline finds it due.
        """
        transitions = []
        lost_at = self._last_contact + self._link_timeout
        safed_at = self._last_contact + self._safing_timeout
        if self._up:
            self._held = False
        if (self._up and now >= lost_at) or (not self._safed and now >= safed_at):
            self._silence = now - self._last_contact
        if self._up and now >= lost_at:
            self._up = False
            self._held = True
            self._lost_at = lost_at
            transitions.append(LinkTransition.LOST)
        if not self._safed and now >= safed_at:
            self._safed = True
            transitions.append(LinkTransition.SAFED)
        return transitions

    def release(self) -> bool:
        """Clear the safing latch (on the ground's command); return True if it was set."""
        was_safed, self._safed = self._safed, False
        return was_safed
