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
The link parameters both CFDP ends share, and the constants of the Earth-Moon link.

One frozen value, checked when it is made, so that a sender and a receiver built from the same
configuration agree on every timer and limit (:mod:`rover_link.cfdp`).
"""

from dataclasses import dataclass, replace
import math


EARTH_MOON_RTT_S = 2.6
"""Light-time floor of the Earth-Moon round trip; relay queueing comes on top."""

ENTITY_ID_BYTES = 2
"""Width of the CFDP entity ids on the wire."""


@dataclass(frozen=True)
class CfdpConfig:
    """
    Link parameters shared by both ends. Defaults suit the Earth-Moon link.

    The timers must exceed the round trip (>= 2.6 s) plus the time queued frames take to
    leave the relay; tests scale them down with :meth:`scaled`.
    """

    ack_timer_s: float = 5.0
    """Positive-ACK timer (EOF and Finished PDUs), s."""
    ack_limit: int = 30
    """Positive-ACK expiries before POSITIVE_ACK_LIMIT_REACHED."""
    nak_timer_s: float = 5.0
    """Deferred-NAK timer: a new NAK after this long without any missing data arriving, s."""
    nak_limit: int = 30
    """NAK timer expiries without progress before NAK_LIMIT_REACHED."""
    inactivity_s: float = 120.0
    """Silence, s, after which an end abandons a transaction cfdp-py has no timer for."""
    max_pdu_len: int = 1024
    """Largest PDU, bytes (file-data segments are cut to fit)."""
    pdu_crc: bool = True
    """Append a CRC-16 to every PDU: the lander relay may not check integrity end to end."""
    metadata_copies: int = 2
    """How many times the Metadata PDU is sent at the start of a transaction."""

    def __post_init__(self) -> None:
        """Refuse inconsistent values, naming the valid range."""
        for name in ('ack_timer_s', 'nak_timer_s', 'inactivity_s'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f'{name} must be a finite number > 0 s, got {value}')
        for name, low, high in (('ack_limit', 1, 1000), ('nak_limit', 1, 1000),
                                ('max_pdu_len', 128, 65000), ('metadata_copies', 1, 5)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f'{name} must be in [{low}, {high}], got {value}')
        if self.inactivity_s <= 2.0 * max(self.ack_timer_s, self.nak_timer_s):
            raise ValueError(
                f'inactivity_s ({self.inactivity_s}) must exceed twice the longer of '
                f'ack_timer_s and nak_timer_s ({max(self.ack_timer_s, self.nak_timer_s)})')

    def scaled(self, factor: float) -> 'CfdpConfig':
        """Return a copy with every timer multiplied by ``factor`` (for tests)."""
        return replace(self, ack_timer_s=self.ack_timer_s * factor,
                       nak_timer_s=self.nak_timer_s * factor,
                       inactivity_s=self.inactivity_s * factor)
