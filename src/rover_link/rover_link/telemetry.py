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
Telemetry source data: housekeeping sets, events, command results, product lists, time.

Each layout is a small frozen dataclass with ``pack()`` and ``unpack()``, used by the rover
to build packets and by the ground to read them; ``docs/lander_link.md`` has the tables.
:class:`TmFactory` wraps source data into PUS-C TM packets (spacepackets ``PusTm`` and
``Service1Tm``) with a CDS short timestamp and a continuous 14-bit sequence count.

================  ==========================================================================
TM                source data (big-endian)
================  ==========================================================================
[1,1..8]          spacepackets layout: request id (4), step id u8 on [1,5]/[1,6],
                  error code u16 + reason (ASCII) on failures
[3,25]            SID u8 + the set's fields (:class:`MobilityHk`, :class:`ShovelHk`,
                  :class:`LinkHk`, :class:`SystemHk`, :class:`FaultHk`)
[5,1..4]          event id u16 + aux data (:func:`event_aux` layouts)
[8,129]           request id (4), function u8, result (:class:`MotionResult`,
                  :class:`SampleResult`, :class:`CaptureResult`, :class:`DownlinkResult`)
[8,130]           request id (4), total u16, part u8, parts u8, count u8, entries
                  (:class:`ProductEntry`)
[9,3]             rate exponent u8 + CDS short time (7)
[17,2]            (none)
================  ==========================================================================
"""

from dataclasses import astuple, dataclass, fields
import enum
import math
import struct
from typing import ClassVar, List, Optional, Sequence, Tuple, Union

from rover_link.protocol import (APID_ROVER, cds_timestamp, cds_to_utc, EventId, FunctionId, HkSet,
                                 MAX_REASON_BYTES, pack_str8, ProtocolError, RejectReason,
                                 SEQ_COUNT_MODULO, unpack_exact, unpack_str8, VerificationSubtype)
from spacepackets.ecss.fields import PacketFieldEnum
from spacepackets.ecss.pus_1_verification import (FailureNotice, Service1Tm,
                                                  VerificationParams)
from spacepackets.ecss.req_id import RequestId
from spacepackets.ecss.tm import PusTm

#: Value of an unknown enumerated housekeeping field.
UNKNOWN_U8 = 255


class _Layout:
    """A fixed struct layout over the dataclass fields, in declaration order."""

    FORMAT: ClassVar[struct.Struct]

    def pack(self) -> bytes:
        values = [int(v) if isinstance(v, bool) else v for v in astuple(self)]
        return self.FORMAT.pack(*values)

    @classmethod
    def unpack(cls, data: bytes):
        values = unpack_exact(cls.FORMAT, data, cls.__name__)
        kinds = [f.type for f in fields(cls)]
        return cls(*[bool(v) if k in (bool, 'bool') else v for v, k in zip(values, kinds)])


@dataclass(frozen=True)
class MobilityHk(_Layout):
    """HK set 1: odometry pose (m, rad), body twist (m/s, rad/s) and drive state."""

    FORMAT: ClassVar[struct.Struct] = struct.Struct('>fffffBBBB')
    x: float
    y: float
    yaw: float
    linear: float
    angular: float
    mode: int
    estop: bool
    fault: bool
    stopped: bool

    @classmethod
    def unknown(cls) -> 'MobilityHk':
        """Return the set as sent before the drive has reported anything."""
        nan = math.nan
        return cls(nan, nan, nan, nan, nan, UNKNOWN_U8, False, False, True)


@dataclass(frozen=True)
class ShovelHk(_Layout):
    """HK set 2: shovel angle (rad), motor current (A), target (rad), state codes."""

    FORMAT: ClassVar[struct.Struct] = struct.Struct('>fffBBBB')
    angle: float
    current: float
    target: float
    activity: int
    drive_permission: int
    fault: int
    pose: int

    @classmethod
    def unknown(cls) -> 'ShovelHk':
        """Return the set as sent before the shovel has reported anything."""
        nan = math.nan
        return cls(nan, nan, nan, UNKNOWN_U8, UNKNOWN_U8, 0, UNKNOWN_U8)


@dataclass(frozen=True)
class LinkHk(_Layout):
    """
    HK set 3: the link's state and counters (as rover_interfaces/LinkStatus).

    ``kernel_drops`` counts uplink datagrams the kernel dropped because the socket's receive
    buffer was full (a flood, or a stalled loop): frames the bridge never saw.
    ``refusals_suppressed`` counts acceptance-failure reports not sent because the refusal
    report budget was spent (each is still counted in ``tc_rejected``).
    """

    FORMAT: ClassVar[struct.Struct] = struct.Struct('>BfIIIIIIIIHQII')
    state: int
    seconds_since_contact: float
    tc_accepted: int
    tc_rejected: int
    tc_auth_failures: int
    tc_replays: int
    tc_malformed: int
    tm_backlog: int
    tm_sent: int
    tm_dropped: int
    files_pending: int
    bytes_downlinked: int
    kernel_drops: int
    refusals_suppressed: int


@dataclass(frozen=True)
class SystemHk(_Layout):
    """HK set 4: product store use and the worst /diagnostics level (0 OK .. 3 STALE)."""

    FORMAT: ClassVar[struct.Struct] = struct.Struct('>HHQQBB')
    products: int
    pending: int
    used_bytes: int
    budget_bytes: int
    diagnostics_level: int
    diagnostics_errors: int


class LoopStep(enum.IntEnum):
    """
    The steps of the bridge loop, as BRIDGE_FAULT events name them (lower-case).

    A step that raises is contained: the fault is counted and reported, and the loop goes
    on with the next step.
    """

    NONE = 0
    RECEIVE = 1
    FRAMES = 2
    RECONFIGURE = 3
    PORT_EVENTS = 4
    DEADLINES = 5
    LINK = 6
    TM_PURGE = 7
    TELEMETRY = 8
    HOUSEKEEPING = 9
    TIME_REPORTS = 10
    REJECTIONS = 11
    FILES = 12
    STORES = 13
    FLUSH = 14
    DOWNLINK = 15
    SEND = 16
    SNAPSHOT = 17
    BEACON = 18

    @property
    def label(self) -> str:
        """Return the name used in events and logs."""
        return self.name.lower()


class StoreState(enum.IntEnum):
    """State of the product store as the bridge sees it (FAULT housekeeping)."""

    OK = 0
    UNAVAILABLE = 1
    ABSENT = 2


@dataclass(frozen=True)
class FaultHk(_Layout):
    """
    HK set 5: contained faults of the bridge loop, store state and store recovery totals.

    ``last_fault_step`` is a :class:`LoopStep` (0: no fault yet); ``store_state`` a
    :class:`StoreState`; ``tm_store_volatile`` says the telemetry store runs in memory (its
    file could not be opened); ``uplink_locked`` that the anti-replay window refuses every
    telecommand until an SA-management TC reopens it. Totals count since the bridge started.
    """

    FORMAT: ClassVar[struct.Struct] = struct.Struct('>IBBBBIHIIIH')
    loop_faults: int
    last_fault_step: int
    store_state: int
    tm_store_volatile: bool
    uplink_locked: bool
    fault_events_suppressed: int
    state_dbs_moved_aside: int
    products_readopted: int
    products_quarantined: int
    products_vanished: int
    safing_failures: int


HK_LAYOUTS = {HkSet.MOBILITY: MobilityHk, HkSet.SHOVEL: ShovelHk, HkSet.LINK: LinkHk,
              HkSet.SYSTEM: SystemHk, HkSet.FAULT: FaultHk}
HkValues = Union[MobilityHk, ShovelHk, LinkHk, SystemHk, FaultHk]


def pack_hk(sid: HkSet, values: HkValues) -> bytes:
    """Return the [3,25] source data of one set."""
    if not isinstance(values, HK_LAYOUTS[sid]):
        raise TypeError(f'set {sid.name} needs {HK_LAYOUTS[sid].__name__}, got {values!r}')
    return bytes([int(sid)]) + values.pack()


def unpack_hk(data: bytes) -> Tuple[HkSet, HkValues]:
    """Return the set id and values of [3,25] source data."""
    if not data:
        raise ProtocolError('empty housekeeping report')
    try:
        sid = HkSet(data[0])
    except ValueError:
        raise ProtocolError(f'unknown housekeeping set {data[0]}') from None
    return sid, HK_LAYOUTS[sid].unpack(bytes(data[1:]))


# -- events ------------------------------------------------------------------------------

_REJECTION = struct.Struct('>IIH')
_SECONDS = struct.Struct('>f')
_COUNT = struct.Struct('>I')


@dataclass(frozen=True)
class Event:
    """One ST[5] event: its id and auxiliary data."""

    event_id: EventId
    aux: bytes = b''

    def pack(self) -> bytes:
        """Return the [5,x] source data."""
        return struct.pack('>H', int(self.event_id)) + self.aux

    @classmethod
    def unpack(cls, data: bytes) -> 'Event':
        """Read [5,x] source data."""
        if len(data) < 2:
            raise ProtocolError('event report shorter than its id')
        raw = struct.unpack_from('>H', data)[0]
        try:
            event_id = EventId(raw)
        except ValueError:
            raise ProtocolError(f'unknown event id {raw}') from None
        return cls(event_id, bytes(data[2:]))


def rejection_event(event_id: EventId, count: int, total: int, reason: RejectReason) -> Event:
    """Return a TC_AUTH_FAILURE/TC_REPLAY/TC_MALFORMED event (count since last, total)."""
    return Event(event_id, _REJECTION.pack(count, total, int(reason)))


def seconds_event(event_id: EventId, seconds: float) -> Event:
    """Return a LINK_* event carrying a duration (s)."""
    return Event(event_id, _SECONDS.pack(seconds))


#: Events whose aux data is one u32 count.
_COUNT_EVENTS = (EventId.TM_DROPPED, EventId.BRIDGE_STARTED, EventId.TC_REFUSALS_SUPPRESSED,
                 EventId.PRODUCTS_READOPTED)


def count_event(event_id: EventId, count: int) -> Event:
    """Return an event carrying one count (one of :data:`_COUNT_EVENTS`)."""
    return Event(event_id, _COUNT.pack(count))


def text_event(event_id: EventId, *texts: str) -> Event:
    """Return an event carrying str8 fields (product ids, fault reasons)."""
    return Event(event_id, b''.join(pack_str8(_ascii(t, 120)) for t in texts))


def describe_event(event: Event) -> str:
    """Return a one-line human description of an event, for the ground tool."""
    name, aux = event.event_id.name, event.aux
    try:
        if event.event_id in (EventId.TC_AUTH_FAILURE, EventId.TC_REPLAY,
                              EventId.TC_MALFORMED):
            count, total, reason = unpack_exact(_REJECTION, aux, name)
            return f'{name}: {count} frame(s) refused ({_reason_name(reason)}), {total} in all'
        if event.event_id in (EventId.LINK_LOST, EventId.LINK_SAFED, EventId.LINK_RESTORED):
            (seconds,) = unpack_exact(_SECONDS, aux, name)
            return f'{name}: {seconds:.1f} s'
        if event.event_id in _COUNT_EVENTS:
            (count,) = unpack_exact(_COUNT, aux, name)
            return f'{name}: {count}'
        texts, offset = [], 0
        while offset < len(aux):
            text, offset = unpack_str8(aux, offset)
            texts.append(text)
        return f'{name}: {" ".join(texts)}' if texts else name
    except ProtocolError as err:
        return f'{name}: undecodable aux data ({err})'


def _reason_name(value: int) -> str:
    try:
        return RejectReason(value).name
    except ValueError:
        return str(value)


def _ascii(text: str, limit: int) -> str:
    return text.encode('ascii', 'replace').decode('ascii')[:limit]


# -- command results ---------------------------------------------------------------------


@dataclass(frozen=True)
class MotionResult:
    """Result of DRIVE (m travelled), TURN (rad turned) or MOVE_SHOVEL (final angle, rad)."""

    value: float

    def pack(self) -> bytes:
        """Return the result body."""
        return struct.pack('>d', self.value)

    @classmethod
    def unpack(cls, data: bytes) -> 'MotionResult':
        """Read a result body."""
        return cls(*unpack_exact(struct.Struct('>d'), data, 'motion result'))


def _pack_ids(ids: Sequence[str]) -> bytes:
    return bytes([len(ids)]) + b''.join(pack_str8(i) for i in ids)


def _unpack_ids(data: bytes, offset: int) -> Tuple[Tuple[str, ...], int]:
    if offset >= len(data):
        raise ProtocolError('id list count is missing')
    count, offset = data[offset], offset + 1
    ids = []
    for _ in range(count):
        text, offset = unpack_str8(data, offset)
        ids.append(text)
    return tuple(ids), offset


@dataclass(frozen=True)
class SampleResult:
    """Result of COLLECT_SAMPLE: evidence product, its images, fill estimate (kg)."""

    evidence_id: str
    image_ids: Tuple[str, ...]
    fill_kg: float
    fill_sigma_kg: float

    def pack(self) -> bytes:
        """Return the result body."""
        return (pack_str8(self.evidence_id) + _pack_ids(self.image_ids)
                + struct.pack('>dd', self.fill_kg, self.fill_sigma_kg))

    @classmethod
    def unpack(cls, data: bytes) -> 'SampleResult':
        """Read a result body."""
        evidence, offset = unpack_str8(data, 0)
        images, offset = _unpack_ids(data, offset)
        fill, sigma = unpack_exact(struct.Struct('>dd'), data[offset:], 'sample result')
        return cls(evidence, images, fill, sigma)


@dataclass(frozen=True)
class CaptureResult:
    """Result of CAPTURE: the stored images and their thumbnails."""

    product_ids: Tuple[str, ...]
    thumbnail_ids: Tuple[str, ...]

    def pack(self) -> bytes:
        """Return the result body."""
        return _pack_ids(self.product_ids) + _pack_ids(self.thumbnail_ids)

    @classmethod
    def unpack(cls, data: bytes) -> 'CaptureResult':
        """Read a result body."""
        products, offset = _unpack_ids(data, 0)
        thumbs, offset = _unpack_ids(data, offset)
        if offset != len(data):
            raise ProtocolError('bytes after the capture result')
        return cls(products, thumbs)


@dataclass(frozen=True)
class DownlinkResult:
    """Result of DOWNLINK_PRODUCT: the file sent, its size and sha256, its ground name."""

    product_id: str
    size_bytes: int
    sha256: bytes
    file_name: str

    def pack(self) -> bytes:
        """Return the result body."""
        return (pack_str8(self.product_id) + struct.pack('>Q', self.size_bytes) + self.sha256
                + pack_str8(self.file_name))

    @classmethod
    def unpack(cls, data: bytes) -> 'DownlinkResult':
        """Read a result body."""
        product, offset = unpack_str8(data, 0)
        if offset + 40 > len(data):
            raise ProtocolError('downlink result too short')
        (size,) = struct.unpack_from('>Q', data, offset)
        digest = bytes(data[offset + 8:offset + 40])
        name, end = unpack_str8(data, offset + 40)
        if end != len(data):
            raise ProtocolError('bytes after the downlink result')
        return cls(product, size, digest, name)


CommandResult = Union[MotionResult, SampleResult, CaptureResult, DownlinkResult]
_RESULT_KINDS = {FunctionId.DRIVE: MotionResult, FunctionId.TURN: MotionResult,
                 FunctionId.MOVE_SHOVEL: MotionResult, FunctionId.COLLECT_SAMPLE: SampleResult,
                 FunctionId.CAPTURE: CaptureResult, FunctionId.DOWNLINK_PRODUCT: DownlinkResult}


def pack_result(request_id: RequestId, function: FunctionId, result: CommandResult) -> bytes:
    """Return [8,129] source data."""
    expected = _RESULT_KINDS.get(function)
    if expected is None or not isinstance(result, expected):
        raise TypeError(f'{function.name} does not report {type(result).__name__}')
    return request_id.pack() + bytes([int(function)]) + result.pack()


def unpack_result(data: bytes) -> Tuple[RequestId, FunctionId, CommandResult]:
    """Read [8,129] source data."""
    if len(data) < 5:
        raise ProtocolError('result report too short')
    try:
        function = FunctionId(data[4])
        kind = _RESULT_KINDS[function]
    except (ValueError, KeyError):
        raise ProtocolError(f'function {data[4]} has no result layout') from None
    return RequestId.unpack(bytes(data[:4])), function, kind.unpack(bytes(data[5:]))


# -- product list ------------------------------------------------------------------------

_ENTRY_FIXED = struct.Struct('>BdQB')
_LIST_HEADER = struct.Struct('>HBBB')
#: Entries per [8,130] packet, so one report fits a 1 kB frame.
ENTRIES_PER_REPORT = 6


@dataclass(frozen=True)
class ProductEntry:
    """One catalog entry as the ground sees it."""

    product_id: str
    kind: int
    camera: str
    stamp: float
    size_bytes: int
    downlink_state: int
    related_id: str

    def pack(self) -> bytes:
        """Return the entry's bytes."""
        return (pack_str8(self.product_id) + pack_str8(self.camera)
                + _ENTRY_FIXED.pack(self.kind, self.stamp, self.size_bytes,
                                    self.downlink_state)
                + pack_str8(self.related_id))

    @classmethod
    def unpack_from(cls, data: bytes, offset: int) -> Tuple['ProductEntry', int]:
        """Read an entry at ``offset``; return it and the offset after it."""
        product_id, offset = unpack_str8(data, offset)
        camera, offset = unpack_str8(data, offset)
        if offset + _ENTRY_FIXED.size > len(data):
            raise ProtocolError('product entry too short')
        kind, stamp, size, state = _ENTRY_FIXED.unpack_from(data, offset)
        related, offset = unpack_str8(data, offset + _ENTRY_FIXED.size)
        return cls(product_id, kind, camera, stamp, size, state, related), offset


@dataclass(frozen=True)
class ProductListPart:
    """One [8,130] report: part ``part`` of ``parts`` of the answer to a LIST_PRODUCTS."""

    request_id: RequestId
    total: int
    part: int
    parts: int
    entries: Tuple[ProductEntry, ...]

    def pack(self) -> bytes:
        """Return [8,130] source data."""
        return (self.request_id.pack()
                + _LIST_HEADER.pack(self.total, self.part, self.parts, len(self.entries))
                + b''.join(e.pack() for e in self.entries))

    @classmethod
    def unpack(cls, data: bytes) -> 'ProductListPart':
        """Read [8,130] source data."""
        if len(data) < 4 + _LIST_HEADER.size:
            raise ProtocolError('product list report too short')
        total, part, parts, count = _LIST_HEADER.unpack_from(data, 4)
        offset, entries = 4 + _LIST_HEADER.size, []
        for _ in range(count):
            entry, offset = ProductEntry.unpack_from(data, offset)
            entries.append(entry)
        if offset != len(data):
            raise ProtocolError('bytes after the product list')
        return cls(RequestId.unpack(bytes(data[:4])), total, part, parts, tuple(entries))


def split_product_list(request_id: RequestId, total: int,
                       entries: Sequence[ProductEntry]) -> List[ProductListPart]:
    """Return the [8,130] reports of a listing (at least one, even when it is empty)."""
    chunks = [tuple(entries[i:i + ENTRIES_PER_REPORT])
              for i in range(0, len(entries), ENTRIES_PER_REPORT)] or [()]
    return [ProductListPart(request_id, total, i + 1, len(chunks), chunk)
            for i, chunk in enumerate(chunks)]


# -- time --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeReport:
    """[9,3]: the rover's UTC (s) and its time-report rate exponent."""

    exponent: int
    utc: float

    def pack(self) -> bytes:
        """Return [9,3] source data."""
        return bytes([self.exponent]) + cds_timestamp(self.utc)

    @classmethod
    def unpack(cls, data: bytes) -> 'TimeReport':
        """Read [9,3] source data."""
        if len(data) != 8:
            raise ProtocolError(f'time report needs 8 bytes, got {len(data)}')
        return cls(data[0], cds_to_utc(bytes(data[1:])))


# -- packets -----------------------------------------------------------------------------


class TmFactory:
    """
    Builds the rover's PUS-C TM packets with a continuous sequence count.

    :param apid: APID of the packets.
    :param seq_count: first sequence count (restored from the TM store after a restart).
    """

    def __init__(self, apid: int = APID_ROVER, seq_count: int = 0) -> None:
        self._apid = apid
        self._seq = seq_count % SEQ_COUNT_MODULO

    @property
    def seq_count(self) -> int:
        """Return the sequence count the next packet will carry."""
        return self._seq

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = (seq + 1) % SEQ_COUNT_MODULO
        return seq

    def packet(self, service: int, subtype: int, data: bytes, utc: float) -> bytes:
        """Return a TM packet with ``data`` as its source data."""
        return bytes(PusTm(service=service, message_subtype=subtype, source_data=data,
                           timestamp=cds_timestamp(utc), apid=self._apid,
                           seq_count=self._next_seq()).pack())

    def verification(self, subtype: VerificationSubtype, request_id: RequestId, utc: float, *,
                     step: Optional[int] = None, code: Optional[int] = None,
                     reason: str = '') -> bytes:
        """Return an ST[1] report; failures carry ``code`` (u16) and ``reason``."""
        step_id = PacketFieldEnum.with_byte_size(1, step) if step is not None else None
        notice = None
        if code is not None:
            text = reason.encode('ascii', 'replace')[:MAX_REASON_BYTES]
            notice = FailureNotice(PacketFieldEnum.with_byte_size(2, int(code)), text)
        params = VerificationParams(request_id, step_id=step_id, failure_notice=notice)
        return bytes(Service1Tm(apid=self._apid, message_subtype=int(subtype),
                                timestamp=cds_timestamp(utc), verif_params=params,
                                seq_count=self._next_seq()).pack())
