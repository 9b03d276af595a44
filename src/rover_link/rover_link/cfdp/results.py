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
What a CFDP end reports: how a transaction ended, its progress, resumptions and counters.

Plain frozen values (the counters excepted, which an end updates and hands out as a copy), so
the bridge and the ground tool can keep and compare them without touching cfdp-py types other
than the condition code.
"""

from dataclasses import dataclass
import enum
from pathlib import Path
from typing import Optional

from spacepackets.cfdp import ConditionCode


class TransferOutcome(enum.Enum):
    """How a transaction ended, seen from one end."""

    DELIVERED = 'delivered'
    """Both ends agree the file arrived intact (NO_ERROR, data complete)."""
    FAILED = 'failed'
    """CFDP ended the transaction with a fault or an error condition."""
    ABANDONED = 'abandoned'
    """This end gave up on it: peer silent, superseded by a restart, or cancelled."""


@dataclass(frozen=True)
class TransferProgress:
    """Progress of the transaction in work."""

    transaction_seq: int
    dest_name: Optional[str]
    """None at the receiver until the Metadata PDU arrived."""
    transferred_bytes: int
    """Sender: file bytes sent at least once. Receiver: file bytes received."""
    confirmed_bytes: int
    """Sender: bytes the receiver has confirmed (NAK scopes, Finished). Receiver: received."""
    total_bytes: Optional[int]
    """File size; None at the receiver until the Metadata or EOF PDU arrived."""


@dataclass(frozen=True)
class TransferResult:
    """The completion indication of one transaction at one end."""

    transaction_seq: int
    dest_name: Optional[str]
    outcome: TransferOutcome
    condition: ConditionCode
    """The CFDP condition code this end ended with (NO_ERROR on success)."""
    file_complete: bool
    """Receiver: the file is on disk and its checksum verified. Sender: the receiver said so."""
    size: Optional[int]
    path: Optional[Path]
    """Receiver: the delivered file (None if incomplete). Sender: the source file."""
    reason: str
    downlink_id: Optional[int] = None
    """Sender: the queue id of the request."""
    will_retry: bool = False
    """Sender: the request is queued again (another attempt follows); not its final result."""


@dataclass(frozen=True)
class Resumption:
    """A restarted sender takes up a transfer a killed process left unfinished."""

    downlink_id: int
    dest_name: str
    transaction_seq: int
    from_start: bool
    """True when it must start a new transaction from byte 0 (the reason says why)."""
    reason: str


@dataclass
class CfdpCounters:
    """
    What an end has seen.

    A received PDU that is not used lands in exactly one of ``malformed``, ``misrouted``,
    ``out_of_state`` and ``stale``.
    """

    pdus_received: int = 0
    bytes_received: int = 0
    pdus_sent: int = 0
    bytes_sent: int = 0
    malformed: int = 0
    """Undecodable bytes, bad PDU CRC, unsupported version."""
    misrouted: int = 0
    """A PDU for the other role, or for/from an entity that is not our peer."""
    out_of_state: int = 0
    """cfdp-py refused it in its current step (PduIgnoredFor*, wrong sequence number)."""
    stale: int = 0
    """A PDU of a transaction that has ended here (duplicates, late arrivals)."""
    eof_reacked: int = 0
    """Workaround 1: a duplicate EOF of the transaction in work answered outside cfdp-py.
    (An EOF of an ended transaction is answered too, per CFDP 4.7.2, and counted stale.)"""
    finished_reacked: int = 0
    """Workaround 2: a Finished PDU of a closed transaction answered outside cfdp-py."""
    metadata_requests: int = 0
    """Workaround 3: NAKs (0, 0) sent for a missing Metadata PDU."""
    transfers_delivered: int = 0
    transfers_failed: int = 0
    transfers_abandoned: int = 0
