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
File downlink with CFDP class 2 (acknowledged) through cfdp-py 0.7.0.

The rover runs a :class:`FileSender` (the CFDP source entity) and the ground a
:class:`FileReceiver` (the destination entity). Both are transport-agnostic and clock-agnostic:
the caller feeds received PDU bytes with :meth:`on_pdu(data, now) <FileSender.on_pdu>`, calls
``poll(now)`` regularly, and sends whatever ``drain()`` returns. ``now`` is any monotonic time
in seconds: ``time.monotonic()`` on the rover, simulated time in tests, where a 2.6 s round trip
then costs no wall time. The sender generates file data lazily, one PDU per ``drain`` step, so a
bandwidth scheduler can hand CFDP only the bytes left over after telemetry.

Class 2 only: class 1 is useless on this link (once the Metadata PDU is lost, cfdp-py drops
every file-data PDU). The NAK mode is deferred (gaps are requested after EOF): in 0.7.0 the
immediate mode re-requests the whole file prefix for every file-data PDU that arrives before a
lost Metadata PDU, a quadratic retransmission. The Metadata PDU is sent ``metadata_copies``
times instead, so losing it (which makes cfdp-py discard the data that arrives before it) is
rare.

cfdp-py 0.7.0 defects worked around here (fixed upstream after that release, in us-irs/cfdp-py
PR #54; each workaround can be switched off so a test shows it is still needed):

1. A duplicate EOF is not re-ACKed once the destination has left the file-data phase, so a lost
   ACK(EOF) makes the source cancel with POSITIVE_ACK_LIMIT_REACHED although the file arrived.
   :class:`FileReceiver` answers such an EOF itself with ACK(EOF, its condition, ACTIVE).
2. An idle source does not re-ACK a duplicate Finished PDU (it raises), so a lost
   ACK(Finished) makes the destination fault although everything succeeded.
   :class:`FileSender` answers a Finished PDU of a transaction it has closed with
   ACK(Finished, TERMINATED), as CFDP 4.7.2 requires.
3. The destination's path for a lost Metadata PDU is broken under loss: file data arriving
   before it is discarded yet each such PDU adds a (0, offset) gap (NAKed as a near-quadratic
   retransmission), the gap bookkeeping is corrupted so the last gaps are never cleared
   (NAK_LIMIT_REACHED), a Metadata PDU arriving after the EOF drops the handler back to the
   file-data step where it waits forever, and the EOF's file checksum is not kept
   (FILE_CHECKSUM_FAILURE). :class:`FileReceiver` keeps cfdp-py off that path: it holds the
   file-data and EOF PDUs of a transaction whose Metadata PDU has not arrived (bounded), asks
   for the Metadata PDU alone with a NAK (0, 0) once per NAK timer, and replays the held PDUs
   once it is in.
4. Every destination handler shares one lost-segment tracker (a mutable dataclass default), so
   gaps left by an abandoned transaction are NAKed in the next one (and across two receivers
   in one process). :class:`FileReceiver` gives each transaction a fresh tracker.

Defects 1 and 2 are the ones documented for 0.7.0; 3 and 4 were found by the lossy tests here.
Every workaround is a field of :class:`Cfdp070Workarounds`, on by default.

cfdp-py raises on out-of-state PDUs (``PduIgnoredForSource``/``PduIgnoredForDest``, a wrong
sequence number, ...): they are caught and counted, never propagated. Undecodable bytes are
counted as malformed. Neither end ever raises from :meth:`on_pdu`.

Transactions that outlive a restart (the queue is :mod:`rover_lander_bridge.cfdp_queue`).
cfdp-py 0.7.0 has no suspend/resume, but class 2 needs none to resume: a restarted
:class:`FileSender` re-enters the interrupted transaction under its persisted sequence number,
sends the Metadata PDU and, without re-sending any file data, the EOF PDU (file size and
checksum of the whole file). To the receiver, still in the transaction, that is an ordinary
EOF after lost file data: its deferred NAK asks for exactly the byte ranges it lacks, the
sender re-sends only those, and the receiver verifies the checksum of the whole file as
always. A resumption is not a new attempt (``max_attempts``). If the receiver had closed the
transaction meanwhile, it answers the EOF with ACK(EOF, TERMINATED) and the Finished PDU it
ended with: a delivered file is then reported delivered (nothing re-sent), otherwise the
sender starts a new transaction from byte 0, still without using an attempt.

The receiver keeps the ended transactions (id, how they ended, the EOF's size and checksum):
their late or duplicated PDUs are dropped, an EOF gets its ACK plus that Finished PDU again (the
success only for an EOF of the same size and checksum, so a reused number cannot pass for a
delivered file), and a PDU of a new transaction from the source it is receiving from means the
source abandoned the old one: the old one is abandoned and its partial file deleted.
"""

from collections import deque
import contextlib
import copy
from dataclasses import dataclass, field, replace
import enum
import logging
import math
import os
from pathlib import Path
import struct
import threading
from typing import Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from cfdppy import CfdpState, get_packet_destination, IndicationConfig, LocalEntityConfig
from cfdppy import PacketDestination, PutRequest
from cfdppy import RemoteEntityConfig, RemoteEntityConfigTable
from cfdppy.exceptions import (
    InvalidDestinationId, InvalidNakPdu, InvalidPduDirection, InvalidPduForDestHandler,
    InvalidPduForSourceHandler, InvalidSourceId, InvalidTransactionSeqNum,
    NoRemoteEntityConfigFound, PduIgnoredForDest, PduIgnoredForSource, SourceFileDoesNotExist,
)
from cfdppy.filestore import NativeFilestore
from cfdppy.handler import DestHandler, DestTransactionStep, SourceHandler
from cfdppy.handler import SourceTransactionStep
from cfdppy.handler.dest import LostSegmentTracker
from cfdppy.mib import CheckTimerProvider, DefaultFaultHandlerBase, EntityType
from cfdppy.user import CfdpUserBase, FileSegmentRecvdParams, MetadataRecvParams
from cfdppy.user import TransactionFinishedParams, TransactionParams
from rover_lander_bridge.cfdp_queue import (
    check_dest_name, DownlinkQueue, DownlinkRecord, DownlinkState, DownlinkTc,
    InvalidDownlinkRequest, SEQ_NUM_BITS,
)
from spacepackets import countdown
from spacepackets.cfdp import ChecksumType, ConditionCode, Direction
from spacepackets.cfdp import FilestoreResponseStatusCode, PduFactory
from spacepackets.cfdp import TransmissionMode
from spacepackets.cfdp.defs import InvalidCrcError, UnsupportedCfdpVersionError
from spacepackets.cfdp.pdu import (
    AckPdu, DeliveryCode, DirectiveType, EofPdu, FileDataPdu, FileStatus, FinishedPdu,
    MetadataPdu, NakPdu, TransactionStatus,
)
from spacepackets.cfdp.pdu.finished import FinishedParams
from spacepackets.seqcount import ProvidesSeqCount
from spacepackets.util import UnsignedByteField


_LOGGER = logging.getLogger(__name__)

EARTH_MOON_RTT_S = 2.6
"""Light-time floor of the Earth-Moon round trip; relay queueing comes on top."""

ENTITY_ID_BYTES = 2
"""Width of the CFDP entity ids on the wire."""

_HISTORY_LEN = 4096
"""Ended transactions remembered to recognise their late and duplicated PDUs."""

_MALFORMED = (ValueError, IndexError, struct.error, InvalidCrcError,
              UnsupportedCfdpVersionError, TypeError)
"""What spacepackets raises on bytes that are not a valid PDU (found by fuzzing it)."""

_FOREIGN = (InvalidDestinationId, InvalidSourceId, InvalidPduDirection,
            InvalidPduForDestHandler, InvalidPduForSourceHandler, NoRemoteEntityConfigFound)
"""What the handlers raise on a PDU that is not theirs."""

_OUT_OF_STATE = (PduIgnoredForDest, PduIgnoredForSource, InvalidTransactionSeqNum, InvalidNakPdu)
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
def _engine_time(now: float) -> Iterator[None]:
    previous = getattr(_engine_clock, 'now_ms', None)
    _engine_clock.now_ms = round(now * 1000.0)
    try:
        yield
    finally:
        _engine_clock.now_ms = previous


# --- Public value types -----------------------------------------------------------------
@dataclass(frozen=True)
class Cfdp070Workarounds:
    """
    Switches for the cfdp-py 0.7.0 workarounds (module docstring). All on in flight.

    Tests turn one off to show the failure it prevents, so they fail, and tell us to remove
    it, once an upstream release fixes the defect.
    """

    reack_duplicate_eof: bool = True
    """1: the receiver re-ACKs an EOF that cfdp-py drops after the file-data phase."""
    reack_duplicate_finished: bool = True
    """2: the sender ACKs a Finished PDU of a transaction it has closed."""
    hold_until_metadata: bool = True
    """3: the receiver holds file data and EOF until the Metadata PDU is in."""
    fresh_lost_segment_tracker: bool = True
    """4: each receiving transaction gets its own lost-segment tracker."""


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


# --- cfdp-py plumbing ------------------------------------------------------------------
class _IntervalSet:
    """Union of half-open byte ranges, for progress accounting."""

    def __init__(self) -> None:
        self._ranges: List[Tuple[int, int]] = []

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        merged = []
        for low, high in self._ranges:
            if high < start or low > end:
                merged.append((low, high))
            else:
                start, end = min(start, low), max(end, high)
        merged.append((start, end))
        self._ranges = sorted(merged)

    @property
    def total(self) -> int:
        return sum(high - low for low, high in self._ranges)


@dataclass
class _Indications:
    """What the handler reported during one engine call."""

    finished: List[TransactionFinishedParams] = field(default_factory=list)
    faults: List[Tuple[ConditionCode, str]] = field(default_factory=list)
    metadata: List[MetadataRecvParams] = field(default_factory=list)
    segments: List[FileSegmentRecvdParams] = field(default_factory=list)


class _Recorder(CfdpUserBase):
    """CFDP user that records indications for the engine to act on after the call."""

    def __init__(self, vfs: NativeFilestore) -> None:
        super().__init__(vfs)
        self.seen = _Indications()

    def take(self) -> _Indications:
        seen, self.seen = self.seen, _Indications()
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
        """Faults arrive through :class:`_FaultRecorder`."""

    def abandoned_indication(self, transaction_id: object, cond_code: ConditionCode,
                             progress: int) -> None:
        """Abandonment arrives through :class:`_FaultRecorder`."""

    def eof_recv_indication(self, transaction_id: object) -> None:
        """Not needed."""


class _FaultRecorder(DefaultFaultHandlerBase):
    """Fault handler that records every declared fault with what cfdp-py did about it."""

    def __init__(self, recorder: _Recorder) -> None:
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


class _CheckTimers(CheckTimerProvider):
    """Check timers (class 1 only in cfdp-py) follow the NAK timer."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def provide_check_timer(self, local_entity_id: UnsignedByteField,
                            remote_entity_id: UnsignedByteField,
                            entity_type: EntityType) -> countdown.Countdown:
        return countdown.Countdown.from_seconds(self._seconds)


class _AssignedSeqCount(ProvidesSeqCount):
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


class _SourceHandler(SourceHandler):
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


class _DownlinkFilestore(NativeFilestore):
    """
    The ground's filestore: names from Metadata PDUs map under one directory, as ``.part``.

    A name that is absolute or climbs out (``..``) raises PermissionError, which cfdp-py turns
    into a FILESTORE_REJECTION fault. Files are written as ``<name>.part`` and renamed by the
    receiver once verified, so nothing half-written ever carries the final name.
    """

    PART_SUFFIX = '.part'

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def final_path(self, name: Union[str, Path]) -> Path:
        try:
            return self.root / check_dest_name(Path(name).as_posix())
        except InvalidDownlinkRequest as error:
            raise PermissionError(str(error)) from error

    def part_path(self, name: Union[str, Path]) -> Path:
        final = self.final_path(name)
        return final.with_name(final.name + self.PART_SUFFIX)

    def is_directory(self, path: Path) -> bool:
        self.final_path(path)
        return False

    def file_exists(self, path: Path) -> bool:
        return super().file_exists(self.part_path(path))

    def file_size(self, file: Path) -> int:
        return super().file_size(self.part_path(file))

    def truncate_file(self, file: Path) -> None:
        super().truncate_file(self.part_path(file))

    def create_file(self, file: Path):
        return super().create_file(self.part_path(file))

    def delete_file(self, file: Path):
        try:
            return super().delete_file(self.part_path(file))
        except PermissionError:
            # Called by cfdp-py after the name was rejected: there is nothing to delete.
            return FilestoreResponseStatusCode.DELETE_NOT_ALLOWED

    def write_data(self, file: Path, data: bytes, offset: Optional[int]) -> None:
        super().write_data(self.part_path(file), data, offset)

    def read_data(self, file: Path, offset: Optional[int],
                  read_len: Optional[int] = None) -> bytes:
        return super().read_data(self.part_path(file), offset, read_len)

    def calculate_checksum(self, checksum_type: ChecksumType, file_path: Path,
                           size_to_verify: int, segment_len: int = 4096) -> bytes:
        return super().calculate_checksum(checksum_type, self.part_path(file_path),
                                          size_to_verify, segment_len)


class _DestHandler(DestHandler):
    """DestHandler with workaround 4, which needs its transaction parameters."""

    def __init__(self, *args: object, workarounds: Cfdp070Workarounds, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.workarounds = workarounds

    def _common_first_packet_handler(self, pdu: object) -> Optional[bool]:
        started = super()._common_first_packet_handler(pdu)
        if started is None and self.workarounds.fresh_lost_segment_tracker:
            self._params.acked_params.lost_seg_tracker = LostSegmentTracker()
        return started


def _destination(pdu: object) -> Optional[PacketDestination]:
    """Which handler a PDU is for (CFDP 4.5), or None for a directive no handler takes."""
    try:
        return get_packet_destination(pdu)
    except ValueError:
        return None


def _entity(value: int) -> UnsignedByteField:
    if not 0 <= value < 1 << (8 * ENTITY_ID_BYTES):
        raise ValueError(f'entity id must be in [0, {(1 << (8 * ENTITY_ID_BYTES)) - 1}], '
                         f'got {value}')
    return UnsignedByteField(value, ENTITY_ID_BYTES)


def _remote_config(remote_id: int, config: CfdpConfig) -> RemoteEntityConfig:
    return RemoteEntityConfig(
        entity_id=_entity(remote_id), max_file_segment_len=None,
        max_packet_len=config.max_pdu_len, closure_requested=True,
        crc_on_transmission=config.pdu_crc,
        default_transmission_mode=TransmissionMode.ACKNOWLEDGED, crc_type=ChecksumType.CRC_32,
        positive_ack_timer_interval_seconds=config.ack_timer_s,
        positive_ack_timer_expiration_limit=config.ack_limit,
        disposition_on_cancellation=True, immediate_nak_mode=False,
        nak_timer_interval_seconds=config.nak_timer_s,
        nak_timer_expiration_limit=config.nak_limit)


class _Endpoint:
    """What both ends share: decoding, the outbound queue, counters and results."""

    def __init__(self, local_id: int, remote_id: int, config: CfdpConfig,
                 refill: Callable[[], None] = lambda: None) -> None:
        if local_id == remote_id:
            raise ValueError(f'local and remote entity ids must differ, both are {local_id}')
        self.config = config
        self.local_id = local_id
        self.remote_id = remote_id
        self._counters = CfdpCounters()
        self._outbound: Deque[bytes] = deque()
        self._results: List[TransferResult] = []
        self._refill = refill
        self._now = 0.0

    @property
    def counters(self) -> CfdpCounters:
        """Return a snapshot of the counters."""
        return replace(self._counters)

    @property
    def queued_bytes(self) -> int:
        """Bytes of PDUs generated and waiting for :meth:`drain`."""
        return sum(len(pdu) for pdu in self._outbound)

    def pop_results(self) -> List[TransferResult]:
        """Return and forget the completion indications since the last call."""
        results, self._results = self._results, []
        return results

    def drain(self, max_bytes: Optional[int] = None) -> List[bytes]:
        """
        Return the PDUs to send now, at most ``max_bytes`` in total (None: no limit).

        File data is produced on demand, so an unlimited drain on the sender returns the whole
        remaining file; a limited one leaves the rest for later calls.
        """
        pdus = []
        budget = math.inf if max_bytes is None else max_bytes
        while True:
            if not self._outbound:
                self._refill()
                if not self._outbound:
                    break
            if len(self._outbound[0]) > budget:
                break
            pdu = self._outbound.popleft()
            budget -= len(pdu)
            pdus.append(pdu)
            self._counters.pdus_sent += 1
            self._counters.bytes_sent += len(pdu)
        return pdus

    def _decode(self, data: bytes, now: float) -> Optional[object]:
        """Count and decode ``data``; return the PDU or None (counted) if unusable."""
        self._now = now
        self._counters.pdus_received += 1
        self._counters.bytes_received += len(data)
        try:
            pdu = PduFactory.from_raw(bytes(data))
            if isinstance(pdu, MetadataPdu):
                # The names are decoded lazily: bad UTF-8 would raise inside cfdp-py.
                _ = (pdu.source_file_name, pdu.dest_file_name)
        except _MALFORMED:
            pdu = None
        if pdu is None:
            self._counters.malformed += 1
            return None
        if isinstance(pdu, EofPdu) and pdu.condition_code > 0x0F:
            # spacepackets 0.32.0 unpacks the EOF condition code without shifting it down
            # (EOF(cancel) reads 240, not 15), which makes cfdp-py fail packing its replies.
            try:
                pdu.condition_code = ConditionCode(pdu.condition_code >> 4)
            except ValueError:
                self._counters.malformed += 1
                return None
        if pdu.source_entity_id.value not in (self.local_id, self.remote_id) or \
                pdu.dest_entity_id.value not in (self.local_id, self.remote_id):
            self._counters.misrouted += 1
            return None
        return pdu

    def _queue_pdus(self, handler: Union[SourceHandler, DestHandler]) -> None:
        while True:
            holder = handler.get_next_packet()
            if holder is None:
                return
            self._outbound.append(bytes(holder.pdu.pack()))

    def _finish(self, result: TransferResult) -> None:
        self._results.append(result)
        if result.outcome is TransferOutcome.DELIVERED:
            self._counters.transfers_delivered += 1
        elif result.outcome is TransferOutcome.FAILED:
            self._counters.transfers_failed += 1
        else:
            self._counters.transfers_abandoned += 1
        log = _LOGGER.info if result.outcome is TransferOutcome.DELIVERED else _LOGGER.warning
        log('CFDP transaction %d (%s) %s: %s, %s', result.transaction_seq, result.dest_name,
            result.outcome.value, result.condition.name, result.reason)


# --- The rover end ------------------------------------------------------------------------
@dataclass
class _Sending:
    record: DownlinkRecord
    seq: int
    last_rx: float
    size: int
    attempts: int
    """Attempts of the request used so far, this one included."""
    resumed: bool = False
    """The transaction was re-entered after a restart (no file data sent before NAKs)."""
    metadata_sent: bool = False
    closed_ack: Optional[AckPdu] = None
    """Resumed: the receiver's ACK(EOF, TERMINATED), held until its Finished PDU arrives."""
    confirmed: _IntervalSet = field(default_factory=_IntervalSet)
    finished: Optional[FinishedParams] = None
    faults: List[Tuple[ConditionCode, str]] = field(default_factory=list)


class FileSender:
    """
    The rover's CFDP source entity: sends queued product files, one transaction at a time.

    Requests, the telecommands waiting on them and the transaction in work are persisted (see
    :class:`~rover_lander_bridge.cfdp_queue.DownlinkQueue`), so a restarted bridge resumes an
    interrupted transfer where the receiver stands (module docstring). Not thread-safe: call it
    from one thread.
    """

    def __init__(self, queue_path: Union[str, Path], *, local_entity_id: int,
                 remote_entity_id: int, config: CfdpConfig = CfdpConfig(),
                 max_attempts: int = 3, retry_delay_s: float = 30.0,
                 workarounds: Cfdp070Workarounds = Cfdp070Workarounds()) -> None:
        """
        Open the queue at ``queue_path`` and recover transfers a killed process left active.

        :param max_attempts: transfer attempts per request before it is marked failed (a
            restart does not use one).
        :param retry_delay_s: wait before retrying a failed attempt, s.
        :param workarounds: only tests proving one is still needed turn it off.
        :raises rover_common.state_db.StateDbUnavailable: the queue file cannot be used now (a
            corrupt one is moved aside instead, see :attr:`moved_aside`).
        """
        if max_attempts < 1:
            raise ValueError(f'max_attempts must be >= 1, got {max_attempts}')
        if retry_delay_s < 0.0:
            raise ValueError(f'retry_delay_s must be >= 0 s, got {retry_delay_s}')
        self._endpoint = _Endpoint(local_entity_id, remote_entity_id, config, self._refill)
        self._config = config
        self._max_attempts = max_attempts
        self._retry_delay_s = retry_delay_s
        self._workarounds = workarounds
        self._queue = DownlinkQueue(queue_path)
        self.recovered: List[DownlinkRecord] = self._queue.recover_interrupted()
        """Requests that were active when the previous process died; they resume first."""
        self._recorder = _Recorder(NativeFilestore())
        self._seq = _AssignedSeqCount()
        self._handler = _SourceHandler(
            cfg=LocalEntityConfig(_entity(local_entity_id), IndicationConfig(),
                                  _FaultRecorder(self._recorder)),
            user=self._recorder,
            remote_cfg_table=RemoteEntityConfigTable([_remote_config(remote_entity_id,
                                                                     config)]),
            check_timer_provider=_CheckTimers(config.nak_timer_s), seq_num_provider=self._seq)
        self._sending: Optional[_Sending] = None
        self._closed_transactions: Deque[int] = deque(maxlen=_HISTORY_LEN)
        self._not_before: Dict[int, float] = {}
        self._resumptions: List[Resumption] = []
        self._results_of_ended_unreported()

    # Public API ---------------------------------------------------------------------------
    @property
    def counters(self) -> CfdpCounters:
        """Return a snapshot of the counters."""
        return self._endpoint.counters

    @property
    def queued_bytes(self) -> int:
        """Bytes of PDUs generated and waiting for :meth:`drain`."""
        return self._endpoint.queued_bytes

    @property
    def busy(self) -> bool:
        """Whether a transaction is in work."""
        return self._sending is not None

    @property
    def moved_aside(self) -> Optional[Path]:
        """Where a corrupt queue file found at opening was moved (None: it was fine)."""
        return self._queue.moved_aside

    def enqueue(self, source: Union[str, Path], dest_name: str, priority: int = 0,
                tc: Optional[DownlinkTc] = None) -> int:
        """
        Persist a request to send ``source`` as ``dest_name``; return its id.

        Higher ``priority`` goes first (e.g. thumbnails above full images). ``tc``, the
        telecommand that asked for it, is persisted with it in one transaction: after a
        restart :meth:`pending_tcs` returns it until :meth:`mark_tcs_reported`.

        :raises InvalidDownlinkRequest: missing source or unsafe destination name.
        """
        return self._queue.enqueue(source, dest_name, priority, tc)

    def requests(self) -> List[DownlinkRecord]:
        """Every request ever queued, with its state."""
        return self._queue.records()

    def pending_tcs(self) -> List[Tuple[int, DownlinkTc]]:
        """
        Return (downlink id, telecommand) of every request whose end was not yet reported.

        The ends that happened before a restart are among the next :meth:`pop_results`.
        """
        return [(record.downlink_id, tc) for record, tc in self._queue.unreported_tcs()]

    def set_tc_step(self, downlink_id: int, step: int) -> None:
        """Persist the progress step last reported to a request's telecommand."""
        self._queue.set_tc_step(downlink_id, step)

    def mark_tcs_reported(self, downlink_ids: Sequence[int]) -> None:
        """Persist that the end of these requests reached their telecommands' reports."""
        self._queue.mark_tcs_reported(downlink_ids)

    def pop_resumptions(self) -> List[Resumption]:
        """Return and forget the interrupted transfers taken up since the last call."""
        resumptions, self._resumptions = self._resumptions, []
        return resumptions

    def cancel(self, downlink_id: int, now: float) -> bool:
        """
        Cancel a queued or active request; return False if it is neither.

        An active transfer is cancelled the CFDP way (EOF(cancel) to the receiver).
        """
        self._endpoint._now = now
        record = self._queue.get(downlink_id)
        if record is None or record.state not in (DownlinkState.QUEUED, DownlinkState.ACTIVE):
            return False
        if self._sending is not None and self._sending.record.downlink_id == downlink_id:
            transaction_id = self._handler.transaction_id
            with _engine_time(now):
                self._handler.cancel_request(transaction_id)
            self._after_step()
            return True
        self._queue.mark_done(downlink_id, DownlinkState.FAILED, 'cancelled by operator')
        return True

    @property
    def progress(self) -> Optional[TransferProgress]:
        """Progress of the transfer in work, or None."""
        if self._sending is None:
            return None
        size = self._handler.file_size
        return TransferProgress(
            transaction_seq=self._sending.seq, dest_name=self._sending.record.dest_name,
            transferred_bytes=self._handler.progress,
            confirmed_bytes=self._sending.confirmed.total, total_bytes=size)

    def pop_results(self) -> List[TransferResult]:
        """Return and forget the completion indications since the last call."""
        return self._endpoint.pop_results()

    def on_pdu(self, data: bytes, now: float) -> None:
        """Take one received PDU (Finished, NAK, ACK of EOF); never raises on bad input."""
        pdu = self._endpoint._decode(data, now)
        if pdu is None:
            return
        counters = self._endpoint._counters
        if _destination(pdu) is not PacketDestination.SOURCE_HANDLER:
            counters.misrouted += 1
            return
        seq = pdu.transaction_seq_num.value
        sending = self._sending
        if sending is None or seq != sending.seq:
            if isinstance(pdu, FinishedPdu) and seq in self._closed_transactions \
                    and self._workarounds.reack_duplicate_finished:
                self._endpoint._outbound.append(bytes(AckPdu(
                    pdu.pdu_header.pdu_conf, DirectiveType.FINISHED_PDU, pdu.condition_code,
                    TransactionStatus.TERMINATED).pack()))
                counters.finished_reacked += 1
            elif isinstance(pdu, FinishedPdu) and not self._workarounds.reack_duplicate_finished:
                # What cfdp-py 0.7.0 does with it (it raises): kept so a test notices when an
                # upstream release starts answering it itself.
                self._step(pdu)
            else:
                counters.stale += 1
            return
        sending.last_rx = now
        if isinstance(pdu, NakPdu):
            if not self._nak_is_sane(pdu):
                counters.out_of_state += 1
                return
            self._confirm_from_nak(pdu)
        elif isinstance(pdu, AckPdu) and sending.resumed \
                and pdu.directive_code_of_acked_pdu == DirectiveType.EOF_PDU \
                and pdu.transaction_status != TransactionStatus.ACTIVE:
            # The receiver had closed the transaction before we resumed it; its Finished PDU
            # says how. Held back, cfdp-py keeps repeating the EOF, and the receiver its
            # answer, until that Finished PDU is in.
            sending.closed_ack = pdu
            return
        elif isinstance(pdu, FinishedPdu) and sending.closed_ack is not None \
                and self._handler.step == SourceTransactionStep.WAITING_FOR_EOF_ACK:
            self._step(sending.closed_ack)
        self._step(pdu)

    def poll(self, now: float) -> None:
        """Run the timers, start the next queued transfer when idle, detect a silent peer."""
        self._endpoint._now = now
        if self._sending is not None:
            self._step(None)
        self._check_inactivity(now)
        if self._sending is None:
            self._start_next(now)

    def drain(self, max_bytes: Optional[int] = None) -> List[bytes]:
        """Return the PDUs to send now, at most ``max_bytes`` (see :meth:`_Endpoint.drain`)."""
        return self._endpoint.drain(max_bytes)

    def close(self) -> None:
        """Close the queue database (active transfers resume at the next start)."""
        self._queue.close()

    # Internals ----------------------------------------------------------------------------
    def _results_of_ended_unreported(self) -> None:
        """Queue the results of requests that ended before a restart but were not reported."""
        for record, _ in self._queue.unreported_tcs():
            if record.state not in (DownlinkState.DELIVERED, DownlinkState.FAILED):
                continue
            delivered = record.state is DownlinkState.DELIVERED
            condition = ConditionCode.__members__.get(
                record.condition or '', ConditionCode.NO_ERROR if delivered
                else ConditionCode.CANCEL_REQUEST_RECEIVED)
            self._endpoint._results.append(TransferResult(
                transaction_seq=-1 if record.transaction_seq is None else record.transaction_seq,
                dest_name=record.dest_name,
                outcome=TransferOutcome.DELIVERED if delivered else TransferOutcome.FAILED,
                condition=condition, file_complete=delivered, size=record.source_size,
                path=record.source,
                reason='' if delivered else f'{record.condition} (before a restart)',
                downlink_id=record.downlink_id))

    def _start_next(self, now: float) -> None:
        exclude = [i for i, t in self._not_before.items() if t > now]
        record = self._queue.next_queued(exclude)
        if record is None:
            return
        self._not_before.pop(record.downlink_id, None)
        try:
            size = record.source.stat().st_size
        except OSError as error:
            self._source_unreadable(record, error)
            return
        resume = record.interrupted and record.transaction_seq is not None \
            and record.source_size == size
        # Committed before the engine starts: a kill from here on resumes this transaction.
        seq = record.transaction_seq if resume else self._queue.next_transaction_seq()
        self._queue.mark_active(record.downlink_id, seq, size, new_attempt=not record.interrupted)
        request = PutRequest(
            destination_id=_entity(self._endpoint.remote_id), source_file=record.source,
            dest_file=Path(record.dest_name), trans_mode=TransmissionMode.ACKNOWLEDGED,
            closure_requested=True)
        self._seq.assign(seq)
        self._handler.resume = resume
        try:
            with _engine_time(now):
                self._handler.put_request(request)
                self._handler.state_machine()
        except (SourceFileDoesNotExist, OSError) as error:
            self._handler.reset()
            self._source_unreadable(record, error)
            return
        self._sending = _Sending(record=record, seq=seq, last_rx=now,
                                 size=self._handler.file_size,
                                 attempts=record.attempts + (0 if record.interrupted else 1),
                                 resumed=resume)
        if record.interrupted:
            self._note_resumption(record, seq, resume, size)
        self._after_step()

    def _note_resumption(self, record: DownlinkRecord, seq: int, resume: bool,
                         size: int) -> None:
        if resume:
            reason = f'transaction {seq} resumed; the receiver asks for what it lacks'
        elif record.transaction_seq is None:
            reason = record.condition or 'the previous transaction is closed'
        else:
            reason = f'source size changed from {record.source_size} B to {size} B'
        self._resumptions.append(Resumption(
            downlink_id=record.downlink_id, dest_name=record.dest_name, transaction_seq=seq,
            from_start=not resume, reason=reason))
        _LOGGER.info('downlink %d (%s) after a restart: %s', record.downlink_id,
                     record.dest_name, reason)

    def _source_unreadable(self, record: DownlinkRecord, error: OSError) -> None:
        self._queue.mark_done(record.downlink_id, DownlinkState.FAILED,
                              f'source unreadable: {error}')
        self._endpoint._finish(TransferResult(
            transaction_seq=-1, dest_name=record.dest_name, outcome=TransferOutcome.FAILED,
            condition=ConditionCode.FILESTORE_REJECTION, file_complete=False, size=None,
            path=record.source, reason=f'source unreadable: {error}',
            downlink_id=record.downlink_id))

    def _refill(self) -> None:
        if self._sending is not None and self._handler.step in (
                SourceTransactionStep.SENDING_METADATA, SourceTransactionStep.SENDING_FILE_DATA,
                SourceTransactionStep.SENDING_EOF, SourceTransactionStep.RETRANSMITTING):
            self._step(None)

    def _step(self, pdu: Optional[object]) -> None:
        counters = self._endpoint._counters
        try:
            with _engine_time(self._endpoint._now):
                self._handler.state_machine(pdu)
        except _FOREIGN:
            counters.misrouted += 1
        except _OUT_OF_STATE:
            counters.out_of_state += 1
        except (SourceFileDoesNotExist, OSError) as error:
            self._abandon(ConditionCode.FILESTORE_REJECTION, f'source unreadable: {error}')
        self._after_step()

    def _after_step(self) -> None:
        sending = self._sending
        seen = self._recorder.take()
        if sending is not None:
            sending.faults.extend(seen.faults)
            for finished in seen.finished:
                sending.finished = finished.finished_params
        before = len(self._endpoint._outbound)
        self._endpoint._queue_pdus(self._handler)
        if sending is not None and not sending.metadata_sent:
            self._repeat_metadata(before)
        if sending is not None and self._handler.state == CfdpState.IDLE:
            self._complete()

    def _repeat_metadata(self, first_new: int) -> None:
        outbound = self._endpoint._outbound
        for index in range(first_new, len(outbound)):
            if PduFactory.pdu_directive_type(outbound[index]) == DirectiveType.METADATA_PDU:
                for _ in range(self._config.metadata_copies - 1):
                    outbound.insert(index + 1, outbound[index])
                self._sending.metadata_sent = True
                return

    def _nak_is_sane(self, nak: NakPdu) -> bool:
        # cfdp-py 0.7.0 only checks that a request starts within the bytes sent: a request
        # ending far beyond the file would make it emit empty file-data PDUs up to that end.
        size = self._sending.size
        return all(low <= high <= size for low, high in nak.segment_requests)

    def _confirm_from_nak(self, nak: NakPdu) -> None:
        # A deferred NAK lists every gap inside its scope: the rest of the scope has arrived.
        start = nak.start_of_scope
        for low, high in sorted(r for r in nak.segment_requests if r != (0, 0)):
            self._sending.confirmed.add(start, low)
            start = max(start, high)
        self._sending.confirmed.add(start, nak.end_of_scope)

    def _check_inactivity(self, now: float) -> None:
        # cfdp-py has no timer while waiting for the Finished PDU (the receiver repeats it):
        # if nothing at all arrives for inactivity_s, the receiver is gone.
        if self._sending is not None \
                and self._handler.step == SourceTransactionStep.WAITING_FOR_FINISHED \
                and now - self._sending.last_rx > self._config.inactivity_s:
            self._abandon(ConditionCode.INACTIVITY_DETECTED,
                          f'no PDU from the receiver for {self._config.inactivity_s:g} s')

    def _abandon(self, condition: ConditionCode, reason: str) -> None:
        self._handler.reset()
        self._recorder.take()
        if self._sending is not None:
            self._sending.faults.append((condition, reason))
            self._complete(reason)

    def _complete(self, reason: str = '') -> None:
        # The queue is updated first: if that fails (database locked), the transaction stays
        # in work and the next poll completes it again.
        sending = self._sending
        finished = sending.finished
        file_complete = finished is not None \
            and finished.delivery_code == DeliveryCode.DATA_COMPLETE
        if sending.faults:
            condition, action = sending.faults[0]
            outcome = TransferOutcome.FAILED
            reason = reason or f'fault {condition.name} ({action})'
        elif finished is not None and finished.condition_code == ConditionCode.NO_ERROR \
                and file_complete:
            condition, outcome, reason = ConditionCode.NO_ERROR, TransferOutcome.DELIVERED, ''
            sending.confirmed.add(0, sending.size)
        elif finished is not None:
            condition, outcome = finished.condition_code, TransferOutcome.FAILED
            reason = f'receiver reported {condition.name}'
        else:
            condition, outcome = ConditionCode.CANCEL_REQUEST_RECEIVED, TransferOutcome.ABANDONED
            reason = reason or 'ended without a Finished PDU'
        record = sending.record
        will_retry = False
        if outcome is TransferOutcome.DELIVERED:
            self._queue.mark_done(record.downlink_id, DownlinkState.DELIVERED, condition.name)
        elif sending.closed_ack is not None:
            # Resumed too late: the receiver had given the transaction up. Not a failed
            # attempt, the restart lost it: start over at once.
            outcome = TransferOutcome.ABANDONED
            reason = f'the ground had closed transaction {sending.seq} ({reason})'
            self._queue.requeue_interrupted(record.downlink_id, reason)
            will_retry = True
        elif sending.attempts < self._max_attempts and condition not in (
                ConditionCode.FILESTORE_REJECTION, ConditionCode.CANCEL_REQUEST_RECEIVED):
            self._queue.mark_done(record.downlink_id, DownlinkState.QUEUED, condition.name)
            self._not_before[record.downlink_id] = self._endpoint._now + self._retry_delay_s
            will_retry = True
        else:
            self._queue.mark_done(record.downlink_id, DownlinkState.FAILED, condition.name)
        self._sending = None
        self._closed_transactions.append(sending.seq)
        self._endpoint._finish(TransferResult(
            transaction_seq=sending.seq, dest_name=record.dest_name, outcome=outcome,
            condition=condition, file_complete=file_complete, size=sending.size,
            path=record.source, reason=reason, downlink_id=record.downlink_id,
            will_retry=will_retry))


# --- The ground end -----------------------------------------------------------------------
_AFTER_EOF_STEPS = (
    DestTransactionStep.WAITING_FOR_MISSING_DATA, DestTransactionStep.TRANSFER_COMPLETION,
    DestTransactionStep.SENDING_FINISHED_PDU, DestTransactionStep.WAITING_FOR_FINISHED_ACK)
"""Steps in which cfdp-py 0.7.0 drops a duplicate EOF without ACKing it (defect 1)."""


@dataclass
class _Receiving:
    seq: int
    last_rx: float
    held: List[Union[FileDataPdu, EofPdu]] = field(default_factory=list)
    """File-data and EOF PDUs that arrived before the Metadata PDU (workaround 3)."""
    held_bytes: int = 0
    metadata_nak_due: float = -math.inf
    dest_name: Optional[str] = None
    size: Optional[int] = None
    received: _IntervalSet = field(default_factory=_IntervalSet)
    finished: Optional[FinishedParams] = None
    faults: List[Tuple[ConditionCode, str]] = field(default_factory=list)
    delivered_path: Optional[Path] = None
    eof_key: Optional[Tuple[int, bytes]] = None
    """File size and checksum of the EOF (no error) received, if any."""


@dataclass(frozen=True)
class _Ended:
    """What the receiver keeps of an ended transaction to answer a resumed source."""

    finished: FinishedParams
    """The Finished PDU's parameters to answer an EOF with."""
    eof_key: Optional[Tuple[int, bytes]]
    delivered: bool


class FileReceiver:
    """
    The ground's CFDP destination entity: writes downlinked files into one directory.

    A file is written as ``<name>.part`` and renamed to ``<name>`` once its checksum verified;
    a failed or abandoned transfer deletes its ``.part``. Not thread-safe: call it from one
    thread.
    """

    def __init__(self, downlink_dir: Union[str, Path], *, local_entity_id: int,
                 remote_entity_id: int, config: CfdpConfig = CfdpConfig(),
                 hold_limit_bytes: int = 16 << 20,
                 workarounds: Cfdp070Workarounds = Cfdp070Workarounds()) -> None:
        """
        Receive into ``downlink_dir`` (created if missing) from ``remote_entity_id``.

        :param hold_limit_bytes: file data kept in memory while the Metadata PDU is missing;
            beyond it, file data is dropped and re-requested later.
        :param workarounds: only tests proving one is still needed turn it off.
        """
        if hold_limit_bytes < 0:
            raise ValueError(f'hold_limit_bytes must be >= 0, got {hold_limit_bytes}')
        self._endpoint = _Endpoint(local_entity_id, remote_entity_id, config)
        self._config = config
        self._hold_limit_bytes = hold_limit_bytes
        self._workarounds = workarounds
        self.downlink_dir = Path(downlink_dir).resolve()
        self.downlink_dir.mkdir(parents=True, exist_ok=True)
        self._filestore = _DownlinkFilestore(self.downlink_dir)
        self._recorder = _Recorder(self._filestore)
        self._handler = _DestHandler(
            cfg=LocalEntityConfig(_entity(local_entity_id), IndicationConfig(),
                                  _FaultRecorder(self._recorder)),
            user=self._recorder,
            remote_cfg_table=RemoteEntityConfigTable([_remote_config(remote_entity_id,
                                                                     config)]),
            check_timer_provider=_CheckTimers(config.nak_timer_s), workarounds=workarounds)
        self._receiving: Optional[_Receiving] = None
        self._ended: Dict[int, _Ended] = {}
        self._ended_order: Deque[int] = deque()

    @property
    def counters(self) -> CfdpCounters:
        """Return a snapshot of the counters."""
        return self._endpoint.counters

    @property
    def busy(self) -> bool:
        """Whether a transaction is in work."""
        return self._receiving is not None

    @property
    def progress(self) -> Optional[TransferProgress]:
        """Progress of the transfer in work, or None."""
        receiving = self._receiving
        if receiving is None:
            return None
        total = receiving.size if receiving.size is not None else self._handler.file_size
        return TransferProgress(
            transaction_seq=receiving.seq, dest_name=receiving.dest_name,
            transferred_bytes=receiving.received.total, confirmed_bytes=receiving.received.total,
            total_bytes=total)

    def pop_results(self) -> List[TransferResult]:
        """Return and forget the completion indications since the last call."""
        return self._endpoint.pop_results()

    def drain(self, max_bytes: Optional[int] = None) -> List[bytes]:
        """Return the PDUs (ACK, NAK, Finished) to send now, at most ``max_bytes``."""
        return self._endpoint.drain(max_bytes)

    def on_pdu(self, data: bytes, now: float) -> None:
        """Take one received PDU; never raises on bad input."""
        pdu = self._endpoint._decode(data, now)
        if pdu is None:
            return
        counters = self._endpoint._counters
        if _destination(pdu) is not PacketDestination.DEST_HANDLER \
                or pdu.source_entity_id.value != self._endpoint.remote_id \
                or pdu.dest_entity_id.value != self._endpoint.local_id:
            counters.misrouted += 1
            return
        seq = pdu.transaction_seq_num.value
        if seq in self._ended:
            counters.stale += 1
            if isinstance(pdu, EofPdu):
                self._answer_ended_eof(pdu, self._ended[seq])
            return
        receiving = self._receiving
        if receiving is not None and seq != receiving.seq:
            # The source runs one transaction at a time, so it has closed this one: it got
            # our Finished PDU (only its ACK was lost), or it gave up (it restarted).
            if receiving.finished is not None:
                self._handler.reset()
                self._recorder.take()
                self._complete()
            else:
                self._abandon(TransferOutcome.ABANDONED, ConditionCode.CANCEL_REQUEST_RECEIVED,
                              f'superseded by transaction {seq} from the same source')
            receiving = None
        if receiving is None:
            if not isinstance(pdu, (MetadataPdu, FileDataPdu, EofPdu)):
                counters.out_of_state += 1
                return
            receiving = self._receiving = _Receiving(seq=seq, last_rx=now)
        receiving.last_rx = now
        if isinstance(pdu, EofPdu) and pdu.condition_code == ConditionCode.NO_ERROR:
            receiving.eof_key = (pdu.file_size, bytes(pdu.file_checksum))
        if not self._fits(receiving, pdu):
            return
        if self._handler.state == CfdpState.IDLE:
            self._before_metadata(receiving, pdu)
        elif isinstance(pdu, EofPdu) and self._workarounds.reack_duplicate_eof \
                and self._handler.step in _AFTER_EOF_STEPS:
            self._ack_eof(pdu, TransactionStatus.ACTIVE)
        else:
            self._step(pdu)

    def poll(self, now: float) -> None:
        """Run the timers (NAK, positive ACK) and detect a silent source."""
        self._endpoint._now = now
        receiving = self._receiving
        if receiving is None:
            return
        if self._handler.state == CfdpState.IDLE:
            self._request_metadata(receiving)
        else:
            self._step(None)
        receiving = self._receiving
        # Only where cfdp-py has no timer of its own: before the Metadata PDU and while file
        # data is expected (the NAK and positive-ACK timers govern the later steps).
        untimed = self._handler.state == CfdpState.IDLE \
            or self._handler.step == DestTransactionStep.RECEIVING_FILE_DATA
        if receiving is not None and untimed \
                and now - receiving.last_rx > self._config.inactivity_s:
            self._abandon(TransferOutcome.ABANDONED, ConditionCode.INACTIVITY_DETECTED,
                          f'no PDU from the source for {self._config.inactivity_s:g} s')

    # Internals ----------------------------------------------------------------------------
    def _before_metadata(self, receiving: _Receiving, pdu: object) -> None:
        if isinstance(pdu, MetadataPdu) or not self._workarounds.hold_until_metadata:
            self._step(pdu)
            if isinstance(pdu, MetadataPdu):
                held, receiving.held, receiving.held_bytes = receiving.held, [], 0
                for held_pdu in held:
                    if self._receiving is not receiving:
                        break
                    if self._fits(receiving, held_pdu):
                        self._step(held_pdu)
            return
        if isinstance(pdu, EofPdu) or \
                receiving.held_bytes + len(pdu.file_data) <= self._hold_limit_bytes:
            receiving.held.append(pdu)
            receiving.held_bytes += 0 if isinstance(pdu, EofPdu) else len(pdu.file_data)
        else:
            self._endpoint._counters.out_of_state += 1
        self._request_metadata(receiving, pdu)

    def _fits(self, receiving: _Receiving, pdu: object) -> bool:
        """Refuse (and count) file data beyond the announced size."""
        if isinstance(pdu, FileDataPdu) and receiving.size is not None \
                and pdu.offset + len(pdu.file_data) > receiving.size:
            # cfdp-py would write it first (a sparse file up to the bogus offset) and then
            # declare FILE_SIZE_ERROR on a transfer that is otherwise fine.
            self._endpoint._counters.out_of_state += 1
            return False
        return True

    def _request_metadata(self, receiving: _Receiving, pdu: Optional[object] = None) -> None:
        """NAK the Metadata PDU alone (segment request 0-0), at most once per NAK timer."""
        now = self._endpoint._now
        if now < receiving.metadata_nak_due or not (pdu or receiving.held):
            return
        conf = copy.copy((pdu or receiving.held[-1]).pdu_header.pdu_conf)
        conf.direction = Direction.TOWARDS_SENDER
        # Scope 0-0: this NAK confirms no file data, only asks for the Metadata PDU.
        self._endpoint._outbound.append(bytes(NakPdu(conf, 0, 0, [(0, 0)]).pack()))
        self._endpoint._counters.metadata_requests += 1
        receiving.metadata_nak_due = now + self._config.nak_timer_s

    def _ack_eof(self, eof: EofPdu, status: TransactionStatus) -> None:
        """Acknowledge an EOF cfdp-py would drop: ours (ACTIVE) or an ended one (4.7.2)."""
        self._endpoint._outbound.append(bytes(AckPdu(
            eof.pdu_header.pdu_conf, DirectiveType.EOF_PDU, eof.condition_code,
            status).pack()))
        if status == TransactionStatus.ACTIVE:
            self._endpoint._counters.eof_reacked += 1

    def _answer_ended_eof(self, eof: EofPdu, ended: _Ended) -> None:
        """
        ACK an EOF of an ended transaction (CFDP 4.7.2) and repeat how it ended.

        A source that resumed the transaction after a restart learns from the Finished PDU
        whether the file is here. Success is only repeated for the same size and checksum:
        a source reusing an old sequence number for another file hears a failure.
        """
        self._ack_eof(eof, TransactionStatus.TERMINATED)
        finished = ended.finished
        if ended.delivered and ended.eof_key != (eof.file_size, bytes(eof.file_checksum)):
            finished = FinishedParams(ConditionCode.CANCEL_REQUEST_RECEIVED,
                                      DeliveryCode.DATA_INCOMPLETE,
                                      FileStatus.DISCARDED_DELIBERATELY)
        self._endpoint._outbound.append(bytes(FinishedPdu(
            eof.pdu_header.pdu_conf, finished).pack()))

    def _step(self, pdu: Optional[object]) -> None:
        counters = self._endpoint._counters
        try:
            with _engine_time(self._endpoint._now):
                self._handler.state_machine(pdu)
        except _FOREIGN:
            counters.misrouted += 1
        except _OUT_OF_STATE:
            counters.out_of_state += 1
        except ValueError:
            if not isinstance(pdu, FileDataPdu):
                raise
            # The lost-segment tracker refuses a segment that straddles a recorded gap: only
            # a PDU with a corrupted offset (that passed the CRC) does that.
            counters.out_of_state += 1
        except OSError as error:
            # Disk full, or a .part file removed under our feet: cfdp-py only handles a
            # missing file or a refused permission when it writes.
            self._endpoint._queue_pdus(self._handler)
            self._abandon(TransferOutcome.FAILED, ConditionCode.FILESTORE_REJECTION,
                          f'downlink filestore error: {error}')
            return
        self._after_step()

    def _after_step(self) -> None:
        self._endpoint._queue_pdus(self._handler)
        receiving = self._receiving
        seen = self._recorder.take()
        if receiving is None:
            return
        for metadata in seen.metadata:
            receiving.dest_name = metadata.dest_file_name
            receiving.size = metadata.file_size
        for segment in seen.segments:
            receiving.received.add(segment.offset, segment.offset + segment.length)
        receiving.faults.extend(seen.faults)
        for finished in seen.finished:
            receiving.finished = finished.finished_params
            self._keep_if_verified(receiving)
        if any(condition == ConditionCode.POSITIVE_ACK_LIMIT_REACHED
               for condition, _ in seen.faults):
            # The Finished handshake failed; cfdp-py 0.7.0 would restart it forever.
            self._abandon(TransferOutcome.FAILED, ConditionCode.POSITIVE_ACK_LIMIT_REACHED,
                          'no ACK of the Finished PDU')
        elif self._handler.state == CfdpState.IDLE and receiving.dest_name is not None:
            self._complete()

    def _keep_if_verified(self, receiving: _Receiving) -> None:
        finished = receiving.finished
        if receiving.delivered_path is not None or receiving.dest_name is None \
                or finished.condition_code != ConditionCode.NO_ERROR \
                or finished.delivery_code != DeliveryCode.DATA_COMPLETE:
            return
        final = self._filestore.final_path(receiving.dest_name)
        os.replace(self._filestore.part_path(receiving.dest_name), final)
        receiving.delivered_path = final

    def _abandon(self, outcome: TransferOutcome, condition: ConditionCode, reason: str) -> None:
        self._handler.reset()
        self._recorder.take()
        self._complete((outcome, condition, reason))

    def _complete(self, forced: Optional[Tuple[TransferOutcome, ConditionCode, str]] = None
                  ) -> None:
        receiving, self._receiving = self._receiving, None
        finished = receiving.finished
        if forced is not None:
            outcome, condition, reason = forced
            if outcome is TransferOutcome.FAILED and receiving.faults:
                condition = receiving.faults[0][0]
                reason = f'fault {condition.name}, then {reason}'
        elif receiving.faults:
            condition, action = receiving.faults[0]
            outcome, reason = TransferOutcome.FAILED, f'fault {condition.name} ({action})'
        elif finished is not None and receiving.delivered_path is not None:
            outcome, condition, reason = TransferOutcome.DELIVERED, ConditionCode.NO_ERROR, ''
        else:
            condition = finished.condition_code if finished is not None \
                else ConditionCode.CANCEL_REQUEST_RECEIVED
            outcome, reason = TransferOutcome.FAILED, f'ended with {condition.name}'
        if receiving.delivered_path is None and receiving.dest_name is not None:
            with contextlib.suppress(FileNotFoundError, PermissionError):
                self._filestore.part_path(receiving.dest_name).unlink()
        delivered = receiving.delivered_path is not None
        self._remember_ended(receiving.seq, _Ended(
            finished=FinishedParams(ConditionCode.NO_ERROR, DeliveryCode.DATA_COMPLETE,
                                    FileStatus.FILE_RETAINED) if delivered
            else FinishedParams(
                ConditionCode.CANCEL_REQUEST_RECEIVED if condition == ConditionCode.NO_ERROR
                else condition, DeliveryCode.DATA_INCOMPLETE, FileStatus.DISCARDED_DELIBERATELY),
            eof_key=receiving.eof_key, delivered=delivered))
        self._endpoint._finish(TransferResult(
            transaction_seq=receiving.seq, dest_name=receiving.dest_name, outcome=outcome,
            condition=condition, file_complete=receiving.delivered_path is not None,
            size=receiving.size, path=receiving.delivered_path, reason=reason))

    def _remember_ended(self, seq: int, ended: _Ended) -> None:
        if seq not in self._ended:
            self._ended_order.append(seq)
        self._ended[seq] = ended
        if len(self._ended_order) > _HISTORY_LEN:
            del self._ended[self._ended_order.popleft()]
