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
Plumbing between the two CFDP ends and cfdp-py 0.7.0: time, indications, ids, exceptions.

* **Simulated time.** cfdp-py's timers are spacepackets Countdowns that read the wall clock;
  :func:`engine_time` makes them read the ``now`` of the engine call in progress instead, so a
  test's simulated 2.6 s round trip costs no wall time.
* **Indications.** :class:`Recorder` and :class:`FaultRecorder` record what the handler reports
  during one call, for the end to act on after it.
* **Exceptions.** cfdp-py raises on out-of-state PDUs (``PduIgnoredForSource``/
  ``PduIgnoredForDest``, a wrong sequence number, ...) and spacepackets on undecodable bytes:
  :data:`MALFORMED`, :data:`FOREIGN` and :data:`OUT_OF_STATE` are the groups each end catches
  and counts, so neither ever raises from ``on_pdu``.
* **Resuming.** :class:`ResumableSourceHandler` re-enters a transaction after a restart without
  re-sending its file data (:mod:`rover_link.cfdp.sender`).
"""

import contextlib
from dataclasses import dataclass, field
import struct
import threading
from typing import Iterator, List, Optional, Tuple

from cfdppy import get_packet_destination, PacketDestination, RemoteEntityConfig
from cfdppy.exceptions import (
    InvalidDestinationId, InvalidNakPdu, InvalidPduDirection, InvalidPduForDestHandler,
    InvalidPduForSourceHandler, InvalidSourceId, InvalidTransactionSeqNum,
    NoRemoteEntityConfigFound, PduIgnoredForDest, PduIgnoredForSource,
)
from cfdppy.filestore import NativeFilestore
from cfdppy.handler import SourceHandler
from cfdppy.mib import CheckTimerProvider, DefaultFaultHandlerBase, EntityType
from cfdppy.user import CfdpUserBase, FileSegmentRecvdParams, MetadataRecvParams
from cfdppy.user import TransactionFinishedParams, TransactionParams
from rover_link.cfdp.config import CfdpConfig, ENTITY_ID_BYTES
from rover_link.cfdp.downlink_queue import SEQ_NUM_BITS
from spacepackets import countdown
from spacepackets.cfdp import ChecksumType, ConditionCode, TransmissionMode
from spacepackets.cfdp.defs import InvalidCrcError, UnsupportedCfdpVersionError
from spacepackets.seqcount import ProvidesSeqCount
from spacepackets.util import UnsignedByteField


MALFORMED = (ValueError, IndexError, struct.error, InvalidCrcError, UnsupportedCfdpVersionError,
             TypeError)
"""What spacepackets raises on bytes that are not a valid PDU (found by fuzzing it)."""

FOREIGN = (InvalidDestinationId, InvalidSourceId, InvalidPduDirection, InvalidPduForDestHandler,
           InvalidPduForSourceHandler, NoRemoteEntityConfigFound)
"""What the handlers raise on a PDU that is not theirs."""

OUT_OF_STATE = (PduIgnoredForDest, PduIgnoredForSource, InvalidTransactionSeqNum, InvalidNakPdu)
"""What the handlers raise on a PDU of theirs they cannot use in their current step."""

# --- Simulated-time support -------------------------------------------------------------
# cfdp-py's timers are spacepackets Countdowns, which read the wall clock through the module
# function ``spacepackets.countdown.time_ms``. That function is replaced once by one that
# returns the ``now`` of the engine call in progress on this thread, and the wall clock
# otherwise, so other users of Countdown see no change.
_engine_clock = threading.local()

if not getattr(countdown.time_ms, 'follows_engine_clock', False):
    _wall_time_ms = countdown.time_ms

    def _engine_time_ms() -> int:
        now_ms = getattr(_engine_clock, 'now_ms', None)
        return _wall_time_ms() if now_ms is None else now_ms

    _engine_time_ms.follows_engine_clock = True
    countdown.time_ms = _engine_time_ms


@contextlib.contextmanager
def engine_time(now: float) -> Iterator[None]:
    """Make cfdp-py's timers read ``now`` (s) during the engine call in the ``with`` block."""
    previous = getattr(_engine_clock, 'now_ms', None)
    _engine_clock.now_ms = round(now * 1000.0)
    try:
        yield
    finally:
        _engine_clock.now_ms = previous


@dataclass
class Indications:
    """What the handler reported during one engine call."""

    finished: List[TransactionFinishedParams] = field(default_factory=list)
    faults: List[Tuple[ConditionCode, str]] = field(default_factory=list)
    metadata: List[MetadataRecvParams] = field(default_factory=list)
    segments: List[FileSegmentRecvdParams] = field(default_factory=list)


class Recorder(CfdpUserBase):
    """CFDP user that records indications for the engine to act on after the call."""

    def __init__(self, vfs: NativeFilestore) -> None:
        super().__init__(vfs)
        self.seen = Indications()

    def take(self) -> Indications:
        seen, self.seen = self.seen, Indications()
        return seen

    def transaction_indication(self, transaction_indication_params: TransactionParams) -> None:
        """Not needed: the engine reads the transaction id from the handler."""

    def eof_sent_indication(self, transaction_id: object) -> None:
        """Not needed."""

    def transaction_finished_indication(self, params: TransactionFinishedParams) -> None:
        self.seen.finished.append(params)

    def metadata_recv_indication(self, params: MetadataRecvParams) -> None:
        self.seen.metadata.append(params)

    def file_segment_recv_indication(self, params: FileSegmentRecvdParams) -> None:
        self.seen.segments.append(params)

    def report_indication(self, transaction_id: object, status_report: object) -> None:
        """Not used: reports are not requested."""

    def suspended_indication(self, transaction_id: object, cond_code: ConditionCode) -> None:
        """Not used: suspension is not implemented by cfdp-py 0.7.0."""

    def resumed_indication(self, transaction_id: object, progress: int) -> None:
        """Not used."""

    def fault_indication(self, transaction_id: object, cond_code: ConditionCode,
                         progress: int) -> None:
        """Faults arrive through :class:`FaultRecorder`."""

    def abandoned_indication(self, transaction_id: object, cond_code: ConditionCode,
                             progress: int) -> None:
        """Abandonment arrives through :class:`FaultRecorder`."""

    def eof_recv_indication(self, transaction_id: object) -> None:
        """Not needed."""


class FaultRecorder(DefaultFaultHandlerBase):
    """Fault handler that records every declared fault with what cfdp-py did about it."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self._recorder = recorder

    def _record(self, cond: ConditionCode, action: str) -> None:
        self._recorder.seen.faults.append((cond, action))

    def notice_of_suspension_cb(self, transaction_id: object, cond: ConditionCode,
                                progress: int) -> None:
        self._record(cond, 'suspension')

    def notice_of_cancellation_cb(self, transaction_id: object, cond: ConditionCode,
                                  progress: int) -> None:
        self._record(cond, 'cancellation')

    def abandoned_cb(self, transaction_id: object, cond: ConditionCode, progress: int) -> None:
        self._record(cond, 'abandoned')

    def ignore_cb(self, transaction_id: object, cond: ConditionCode, progress: int) -> None:
        self._record(cond, 'ignored')


class CheckTimers(CheckTimerProvider):
    """Check timers (class 1 only in cfdp-py) follow the NAK timer."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def provide_check_timer(self, local_entity_id: UnsignedByteField,
                            remote_entity_id: UnsignedByteField,
                            entity_type: EntityType) -> countdown.Countdown:
        return countdown.Countdown.from_seconds(self._seconds)


class AssignedSeqCount(ProvidesSeqCount):
    """
    Hands cfdp-py the sequence number the sender chose for the next transaction.

    The sender takes a new number from the persisted queue, or the interrupted transaction's
    number to resume it, and commits it before the engine starts.
    """

    def __init__(self) -> None:
        self._next: Optional[int] = None

    @property
    def max_bit_width(self) -> int:
        return SEQ_NUM_BITS

    @max_bit_width.setter
    def max_bit_width(self, width: int) -> None:
        raise AttributeError('the sequence number width is fixed')

    def assign(self, seq: int) -> None:
        self._next = seq

    def get_and_increment(self) -> int:
        seq, self._next = self._next, None
        if seq is None:
            raise RuntimeError('no transaction sequence number assigned')
        return seq


class ResumableSourceHandler(SourceHandler):
    """SourceHandler that can re-enter a transaction without re-sending its file data."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.resume = False
        """Set before put_request: go from the Metadata PDU straight to the EOF PDU."""

    def _transaction_start(self) -> None:
        super()._transaction_start()
        if self.resume:
            # All file data counts as sent: the EOF (whole size, whole-file checksum) follows
            # the Metadata PDU and the receiver NAKs what it lacks. NAKs may ask for any
            # range up to this progress.
            self._params.fp.progress = self._params.fp.file_size


def destination_of(pdu: object) -> Optional[PacketDestination]:
    """Which handler a PDU is for (CFDP 4.5), or None for a directive no handler takes."""
    try:
        return get_packet_destination(pdu)
    except ValueError:
        return None


def entity(value: int) -> UnsignedByteField:
    """Return ``value`` as a CFDP entity id of the link's width; refuse one that does not fit."""
    if not 0 <= value < 1 << (8 * ENTITY_ID_BYTES):
        raise ValueError(f'entity id must be in [0, {(1 << (8 * ENTITY_ID_BYTES)) - 1}], '
                         f'got {value}')
    return UnsignedByteField(value, ENTITY_ID_BYTES)


def remote_config(remote_id: int, config: CfdpConfig) -> RemoteEntityConfig:
    """Return cfdp-py's view of the peer: class 2, deferred NAKs, the timers of ``config``."""
    return RemoteEntityConfig(
        entity_id=entity(remote_id), max_file_segment_len=None,
        max_packet_len=config.max_pdu_len, closure_requested=True,
        crc_on_transmission=config.pdu_crc,
        default_transmission_mode=TransmissionMode.ACKNOWLEDGED, crc_type=ChecksumType.CRC_32,
        positive_ack_timer_interval_seconds=config.ack_timer_s,
        positive_ack_timer_expiration_limit=config.ack_limit,
        disposition_on_cancellation=True, immediate_nak_mode=False,
        nak_timer_interval_seconds=config.nak_timer_s,
        nak_timer_expiration_limit=config.nak_limit)
