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
The operators' end of the link, ROS-free and I/O-free: build TCs, read TM, track commands.

:class:`GroundStation` turns commands into authenticated uplink frames and downlink frames
into typed items (verification reports, housekeeping, events, results, product lists, time,
ping replies, file progress and completions). :class:`CommandTracker` follows every sent
command through its verification reports. The ``rover-ground`` console tool
(:mod:`rover_ground.ground_cli`) and the end-to-end tests drive it over a transport.

Every downlink frame is authenticated before anything in it is read: its MAC under the
downlink key (:mod:`rover_link.downlink_auth`, compared in constant time) and its
sequence number against the anti-replay window. A frame that fails (forged, damaged on the
link, truncated, replayed, older than the window) becomes one :class:`RefusedFrame` item and
a count in :class:`DownlinkCounters`; its packets never reach the TM decoder or the CFDP
receiver, so a forged verification report or file PDU can produce neither a report nor a
file. Inside authenticated frames, exact duplicate packets (the rover re-sends what it sent
into a dying link) are dropped by content; CFDP PDUs are handed to the file receiver, whose
own PDUs (ACK, NAK, Finished) go up authenticated like telecommands.
"""

from collections import deque
from dataclasses import dataclass, field, replace
import hashlib
from typing import Deque, Dict, List, Optional, Set, Tuple, Union

from rover_link import commands as cmd
from rover_link.cfdp import TransferOutcome
from rover_link.downlink_auth import derive_downlink_mac, DownlinkWindow
from rover_link.framing import (apid_of, cfdp_pdu_of, FrameError, open_downlink, protect,
                                split_downlink, wrap_cfdp)
from rover_link.protocol import (AckFlag, APID_CFDP, APID_ROVER, cds_to_utc, ErrorCode,
                                 EventSubtype, FunctionSubtype, GROUND_SOURCE_ID, HkSet, HkSubtype,
                                 ProtocolError, RejectReason, Service, TestSubtype, TIMESTAMP_LEN,
                                 TimeSubtype, VerificationSubtype)
from rover_link.sa_management import SaExchange
from rover_link.security import ArsnCounter, MacEngine, ReplayError
from rover_link.telemetry import (CommandResult, describe_event, Event, HkValues, ProductListPart,
                                  TimeReport, unpack_hk, unpack_result)
from spacepackets.ccsds.spacepacket import PacketType
from spacepackets.ecss.pus_1_verification import ManagedParamsVerification, Service1Tm
from spacepackets.ecss.req_id import RequestId
from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import ManagedParams, PusTm

_MANAGED = ManagedParams(timestamp_len=TIMESTAMP_LEN)
_VERIFICATION = ManagedParamsVerification(bytes_step_id=1, bytes_err_code=2)
_DUPLICATE_MEMORY = 4096


@dataclass(frozen=True)
class Verification:
    """An ST[1] report."""

    request_id: RequestId
    subtype: VerificationSubtype
    utc: float
    step: Optional[int] = None
    code: Optional[ErrorCode] = None
    reason: str = ''

    @property
    def failed(self) -> bool:
        """Return True for a failure report."""
        return self.subtype % 2 == 0


@dataclass(frozen=True)
class Housekeeping:
    """An ST[3,25] report."""

    sid: HkSet
    values: HkValues
    utc: float


@dataclass(frozen=True)
class EventReport:
    """An ST[5] event."""

    event: Event
    severity: EventSubtype
    utc: float

    @property
    def text(self) -> str:
        """Return the event as one line."""
        return describe_event(self.event)


@dataclass(frozen=True)
class Result:
    """A TM[8,129] command result."""

    request_id: RequestId
    result: CommandResult
    utc: float


@dataclass(frozen=True)
class ProductList:
    """A TM[8,130] part of a product listing."""

    part: ProductListPart
    utc: float


@dataclass(frozen=True)
class TimeItem:
    """A TM[9,3] time report."""

    report: TimeReport
    utc: float


@dataclass(frozen=True)
class PingReply:
    """A TM[17,2] are-you-alive answer."""

    utc: float


@dataclass(frozen=True)
class FileProgress:
    """Progress of the file being received (bytes)."""

    name: Optional[str]
    received: int
    total: Optional[int]


@dataclass(frozen=True)
class FileDone:
    """A finished CFDP transaction at the ground (``path`` is None unless delivered)."""

    name: Optional[str]
    delivered: bool
    path: Optional[str]
    size: Optional[int]
    reason: str


@dataclass(frozen=True)
class Undecodable:
    """A packet the ground could not read (it is counted, shown, and otherwise ignored)."""

    reason: str


@dataclass
class DownlinkCounters:
    """What the ground did with the downlink frames it received."""

    frames_accepted: int = 0
    forged_frames: int = 0
    """MAC wrong or SPI unknown: forged, or damaged on the link (the two look the same)."""
    forged_file_pdus: int = 0
    """CFDP packets the forged frames claimed to carry (none reached the file receiver)."""
    replayed_frames: int = 0
    """Sequence number accepted before or older than the window (a replay, or a frame the
    link duplicated or held back too long)."""
    malformed_frames: int = 0
    """Shorter than the smallest possible frame."""
    duplicate_packets: int = 0
    """Packets of authenticated frames dropped as exact copies of earlier ones."""
    garbage_bytes: int = 0
    """Bytes of authenticated frames that were not packets (a rover fault)."""

    @property
    def refused(self) -> int:
        """Return the number of frames refused for any reason."""
        return self.forged_frames + self.replayed_frames + self.malformed_frames


@dataclass(frozen=True)
class RefusedFrame:
    """A downlink frame refused before anything in it was read."""

    reason: RejectReason
    detail: str
    counters: DownlinkCounters
    """The counters just after this refusal (a copy)."""


GroundItem = Union[Verification, Housekeeping, EventReport, Result, ProductList, TimeItem,
                   PingReply, FileProgress, FileDone, Undecodable, RefusedFrame]


@dataclass
class CommandStatus:
    """Everything the ground has heard about one telecommand."""

    command: cmd.Command
    ack: AckFlag
    sent_at: float
    reports: List[Verification] = field(default_factory=list)
    result: Optional[CommandResult] = None
    products: Dict[int, ProductListPart] = field(default_factory=dict)

    @property
    def failure(self) -> Optional[Verification]:
        """Return the failure report, if any."""
        return next((r for r in self.reports if r.failed), None)

    @property
    def completed(self) -> bool:
        """Return True once the command succeeded."""
        return any(r.subtype is VerificationSubtype.COMPLETION_SUCCESS for r in self.reports)

    @property
    def finished(self) -> bool:
        """
        Return True when no more reports are expected.

        That is a failure, a completion, or the last success report the TC's acknowledgement
        flags asked for.
        """
        if self.failure is not None or self.completed:
            return True
        subtypes = {r.subtype for r in self.reports}
        if self.ack & AckFlag.COMPLETION:
            return False
        if self.ack & AckFlag.START:
            return VerificationSubtype.START_SUCCESS in subtypes
        if self.ack & AckFlag.ACCEPTANCE:
            return VerificationSubtype.ACCEPTANCE_SUCCESS in subtypes
        return False

    @property
    def product_entries(self) -> list:
        """Return the listed products received so far, in order."""
        return [e for part in sorted(self.products) for e in self.products[part].entries]


class CommandTracker:
    """Follows sent telecommands by request id (the TC's packet id and sequence count)."""

    def __init__(self) -> None:
        self._status: Dict[RequestId, CommandStatus] = {}
        self._order: Deque[RequestId] = deque()

    def add(self, request_id: RequestId, status: CommandStatus) -> None:
        """Track a newly sent TC (the oldest are forgotten after 1000)."""
        self._status[request_id] = status
        self._order.append(request_id)
        while len(self._order) > 1000:
            self._status.pop(self._order.popleft(), None)

    def get(self, request_id: RequestId) -> Optional[CommandStatus]:
        """Return what is known about a TC."""
        return self._status.get(request_id)

    def record(self, item: GroundItem) -> None:
        """File a downlinked item with its TC, if it belongs to one."""
        if isinstance(item, Verification):
            status = self._status.get(item.request_id)
            if status is not None:
                status.reports.append(item)
        elif isinstance(item, Result):
            status = self._status.get(item.request_id)
            if status is not None:
                status.result = item.result
        elif isinstance(item, ProductList):
            status = self._status.get(item.part.request_id)
            if status is not None:
                status.products[item.part.part] = item.part


class GroundStation:
    """
    Builds uplink frames and reads downlink frames.

    :param mac: the uplink key(s); ``spi`` must have one. Downlink frames are accepted on
        ``spi`` only, under the downlink key derived from its uplink key.
    :param spi: the security association used for sending and receiving.
    :param counter: the persisted ARSN and TC sequence counter.
    :param receiver: the CFDP file receiver (None: CFDP PDUs are counted and dropped).
    :param window: the downlink anti-replay window (None: a new one in memory only, so this
        ground accepts again frames that a ground before its start accepted).
    """

    def __init__(self, *, mac: MacEngine, spi: int, counter: ArsnCounter,
                 receiver=None, window: Optional[DownlinkWindow] = None) -> None:
        if not mac.knows(spi):
            raise ValueError(f'no key for SPI {spi}')
        self._mac = mac
        self._downlink_mac = derive_downlink_mac(mac, spi)
        self._window = window if window is not None else DownlinkWindow()
        self._spi = spi
        self._counter = counter
        self._receiver = receiver
        self._cfdp_seq = 0
        self.tracker = CommandTracker()
        self._seen: Set[bytes] = set()
        self._seen_order: Deque[bytes] = deque()
        self._counters = DownlinkCounters()
        self._last_progress: Optional[Tuple[Optional[str], int]] = None

    @property
    def counters(self) -> DownlinkCounters:
        """Return a copy of the downlink counters."""
        return replace(self._counters)

    def command(self, command: cmd.Command, now: float, *,
                ack: AckFlag = AckFlag.ALL) -> Tuple[bytes, RequestId]:
        """Return the uplink frame of a command and its request id (tracked from now on)."""
        service, subtype, data = cmd.encode(command)
        arsn, seq = self._counter.take()
        tc = PusTc(service=service, message_subtype=subtype, app_data=data, apid=APID_ROVER,
                   seq_count=seq, source_id=GROUND_SOURCE_ID, ack_flags=int(ack))
        request_id = RequestId.from_pus_tc(tc)
        self.tracker.add(request_id, CommandStatus(command, ack, now))
        return protect(self._mac, self._spi, arsn, bytes(tc.pack())), request_id

    def protect_packet(self, packet: bytes) -> bytes:
        """Return an uplink frame for any space packet (a fresh ARSN is used)."""
        arsn, _ = self._counter.take()
        return protect(self._mac, self._spi, arsn, packet)

    def sa_exchange(self, floor: Optional[int] = None) -> SaExchange:
        """
        Return a window reset of this station's SPI, to run over the link (``sa-reset``).

        :param floor: the new floor; None keeps the rover's floor or raises it to this
            station's ARSN counter (see :class:`~rover_link.sa_management.SaExchange`).
        """
        return SaExchange(self._mac, self._spi, self._counter, floor=floor)

    def handle_frame(self, frame: bytes, now: float) -> List[GroundItem]:
        """
        Return the items of a downlink frame (CFDP PDUs go to the receiver).

        A frame that fails authentication or the anti-replay window gives only a
        :class:`RefusedFrame`.

        :raises rover_common.state_db.StateDbUnavailable: a persisted window could not save
            the frame's sequence number (the frame is not read).
        """
        try:
            opened = open_downlink(self._downlink_mac, frame)
            self._window.accept(opened.spi, opened.dsn)
        except FrameError as err:
            return [self._refuse(frame, err.reason, err.detail)]
        except ReplayError as err:
            return [self._refuse(frame, RejectReason.REPLAY, str(err))]
        self._counters.frames_accepted += 1
        self._counters.garbage_bytes += opened.garbage
        items: List[GroundItem] = []
        for packet in opened.packets:
            digest = hashlib.blake2b(packet, digest_size=16).digest()
            if digest in self._seen:
                self._counters.duplicate_packets += 1
                continue
            self._remember(digest)
            if apid_of(packet) == APID_CFDP:
                if self._receiver is not None:
                    self._receiver.on_pdu(cfdp_pdu_of(packet), now)
                continue
            item = self._decode(packet)
            self.tracker.record(item)
            items.append(item)
        items.extend(self._file_items())
        return items

    def tick(self, now: float) -> Tuple[List[bytes], List[GroundItem]]:
        """Run the receiver's timers; return uplink frames to send and file items."""
        if self._receiver is None:
            return [], []
        self._receiver.poll(now)
        frames = [self.protect_packet(wrap_cfdp(pdu, packet_type=PacketType.TC,
                                                seq_count=self._next_cfdp_seq()))
                  for pdu in self._receiver.drain()]
        return frames, self._file_items()

    def _refuse(self, frame: bytes, reason: RejectReason, detail: str) -> RefusedFrame:
        counters = self._counters
        if reason is RejectReason.REPLAY:
            counters.replayed_frames += 1
        elif reason is RejectReason.TRUNCATED:
            counters.malformed_frames += 1
        else:
            counters.forged_frames += 1
            counters.forged_file_pdus += sum(1 for packet in split_downlink(frame)[0]
                                             if apid_of(packet) == APID_CFDP)
        return RefusedFrame(reason, detail, replace(counters))

    def _next_cfdp_seq(self) -> int:
        seq = self._cfdp_seq
        self._cfdp_seq = (seq + 1) % (1 << 14)
        return seq

    def _remember(self, digest: bytes) -> None:
        self._seen.add(digest)
        self._seen_order.append(digest)
        if len(self._seen_order) > _DUPLICATE_MEMORY:
            self._seen.discard(self._seen_order.popleft())

    def _file_items(self) -> List[GroundItem]:
        if self._receiver is None:
            return []
        items: List[GroundItem] = []
        progress = self._receiver.progress
        if progress is not None:
            key = (progress.dest_name, progress.transferred_bytes)
            if key != self._last_progress:
                self._last_progress = key
                items.append(FileProgress(progress.dest_name, progress.transferred_bytes,
                                          progress.total_bytes))
        for result in self._receiver.pop_results():
            delivered = result.outcome is TransferOutcome.DELIVERED
            items.append(FileDone(result.dest_name, delivered,
                                  str(result.path) if result.path is not None else None,
                                  result.size, result.reason))
        return items

    def _decode(self, packet: bytes) -> GroundItem:
        try:
            tm = PusTm.unpack(packet, timestamp_len=TIMESTAMP_LEN)
        except (ValueError, IndexError) as err:
            return Undecodable(f'TM packet: {err}')
        try:
            return _decode_tm(tm, packet)
        except (ProtocolError, ValueError, IndexError) as err:
            return Undecodable(f'TM[{tm.service},{tm.message_subtype}]: {err}')


def _decode_tm(tm: PusTm, packet: bytes) -> GroundItem:
    utc = cds_to_utc(bytes(tm.timestamp))
    service, subtype, data = tm.service, tm.message_subtype, bytes(tm.source_data)
    if service == Service.VERIFICATION:
        report = Service1Tm.unpack(packet, _MANAGED, _VERIFICATION)
        code = reason = None
        if report.failure_notice is not None:
            code = _error_code(report.failure_notice.code.val)
            reason = report.failure_notice.data.decode('ascii', 'replace')
        step = report.step_id.val if report.step_id is not None else None
        return Verification(report.tc_req_id, VerificationSubtype(subtype), utc, step, code,
                            reason or '')
    if service == Service.HOUSEKEEPING and subtype == HkSubtype.TM_REPORT:
        sid, values = unpack_hk(data)
        return Housekeeping(sid, values, utc)
    if service == Service.EVENT:
        return EventReport(Event.unpack(data), EventSubtype(subtype), utc)
    if service == Service.FUNCTION and subtype == FunctionSubtype.TM_RESULT:
        request_id, _, result = unpack_result(data)
        return Result(request_id, result, utc)
    if service == Service.FUNCTION and subtype == FunctionSubtype.TM_PRODUCT_LIST:
        return ProductList(ProductListPart.unpack(data), utc)
    if service == Service.TIME and subtype == TimeSubtype.TM_CDS_REPORT:
        return TimeItem(TimeReport.unpack(data), utc)
    if service == Service.TEST and subtype == TestSubtype.TM_REPLY:
        return PingReply(utc)
    return Undecodable(f'TM[{service},{subtype}] is not part of this protocol')


def _error_code(value: int) -> Union[ErrorCode, int]:
    try:
        return ErrorCode(value)
    except ValueError:
        return value
