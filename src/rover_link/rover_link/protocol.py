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
The numbers of the lander link: APIDs, PUS services and subtypes, function ids, error codes.

These are the identifiers both ends must agree on; ``docs/lander_link.md`` is the one table
that lists them with every argument and report layout. The codecs live beside: TC arguments
in :mod:`rover_link.commands`, TM source data in :mod:`rover_link.telemetry`,
the link frames in :mod:`rover_link.framing`.

Conventions: every multi-byte field is big-endian (network order, as CCSDS and PUS);
``str8`` is one length byte followed by that many ASCII bytes; reals are IEEE-754 ``f64`` in
telecommands (the ground's value arrives exactly, so a limit check never trips on rounding)
and ``f32`` in housekeeping (bandwidth).
"""

import datetime
import enum
import functools
import struct
from typing import Tuple

from spacepackets.ccsds.time import CdsShortTimestamp

#: APID of the rover's PUS application (telecommands, verification, HK, events, time, test).
APID_ROVER = 0x064
#: APID of the space packets that carry CFDP PDUs (both directions).
APID_CFDP = 0x065
#: CFDP entity id of the rover (the file sender).
CFDP_ROVER_ENTITY_ID = 1
#: CFDP entity id of the ground (the file receiver).
CFDP_GROUND_ENTITY_ID = 2
#: PUS source id the ground tool puts in its telecommands.
GROUND_SOURCE_ID = 1
#: Length of the CDS short timestamp (with its P-field) in every TM secondary header.
TIMESTAMP_LEN = 7
#: Most bytes of a reason text in a verification failure report.
MAX_REASON_BYTES = 96
#: Space-packet sequence counts are 14 bits.
SEQ_COUNT_MODULO = 1 << 14
#: SPI reserved for SA-management frames (never a telecommand key's SPI).
SA_MANAGEMENT_SPI = 0xFFFF


class Service(enum.IntEnum):
    """PUS-C service types in use (ECSS-E-ST-70-41C)."""

    VERIFICATION = 1
    HOUSEKEEPING = 3
    EVENT = 5
    FUNCTION = 8
    TIME = 9
    TEST = 17


class VerificationSubtype(enum.IntEnum):
    """ST[1] reports (the same numbers as spacepackets' ``pus_1_verification``)."""

    ACCEPTANCE_SUCCESS = 1
    ACCEPTANCE_FAILURE = 2
    START_SUCCESS = 3
    START_FAILURE = 4
    PROGRESS_SUCCESS = 5
    PROGRESS_FAILURE = 6
    COMPLETION_SUCCESS = 7
    COMPLETION_FAILURE = 8


class HkSubtype(enum.IntEnum):
    """ST[3] messages used here."""

    TC_ENABLE_PERIODIC = 5
    TC_DISABLE_PERIODIC = 6
    TM_REPORT = 25
    TC_ONE_SHOT = 27
    TC_MODIFY_INTERVAL = 31


class EventSubtype(enum.IntEnum):
    """ST[5] event reports, one subtype per severity."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4


class FunctionSubtype(enum.IntEnum):
    """ST[8] messages: the standard perform-function TC and two mission-specific reports."""

    TC_PERFORM = 1
    TM_RESULT = 129
    TM_PRODUCT_LIST = 130


class TimeSubtype(enum.IntEnum):
    """ST[9] messages used here."""

    TC_SET_RATE = 1
    TM_CDS_REPORT = 3
    TC_REPORT_NOW = 128


class TestSubtype(enum.IntEnum):
    """ST[17] are-you-alive."""

    TC_PING = 1
    TM_REPLY = 2


class FunctionId(enum.IntEnum):
    """Rover functions of TC[8,1]; arguments in ``docs/lander_link.md``."""

    DRIVE = 1
    TURN = 2
    STOP = 3
    ESTOP = 4
    RELEASE = 5
    MOVE_SHOVEL = 6
    STOW_SHOVEL = 7
    COLLECT_SAMPLE = 8
    CAPTURE = 9
    LIST_PRODUCTS = 10
    DOWNLINK_PRODUCT = 11
    CLEAR_FAULT = 12


class ErrorCode(enum.IntEnum):
    """Failure codes of ST[1] failure reports (2 bytes), each with a reason text."""

    ILLEGAL_SERVICE = 1
    ILLEGAL_SUBTYPE = 2
    ILLEGAL_FUNCTION = 3
    BAD_ARGUMENT_LENGTH = 4
    ARGUMENT_OUT_OF_RANGE = 5
    BAD_CRC = 6
    BAD_PACKET = 7
    ROVER_SAFED = 8
    ESTOP_LATCHED = 9
    UNKNOWN_PRODUCT = 10
    NO_THUMBNAIL = 11
    EXECUTION_FAILED = 12
    TIMEOUT = 13
    PREEMPTED = 14
    CANCELED = 15
    UNAVAILABLE = 16
    FAULT = 17
    INTERLOCK = 18
    FILE_TRANSFER_FAILED = 19
    STORE_ERROR = 20


class EventId(enum.IntEnum):
    """ST[5] event identifiers (2 bytes); their auxiliary data is in ``telemetry``."""

    TC_AUTH_FAILURE = 1
    TC_REPLAY = 2
    TC_MALFORMED = 3
    TC_REFUSALS_SUPPRESSED = 4
    LINK_LOST = 10
    LINK_SAFED = 11
    LINK_RESTORED = 12
    SAFING_RELEASED = 13
    LINK_HOLD = 14
    ESTOP_ENGAGED = 20
    ESTOP_RELEASED = 21
    ROVER_FAULT = 22
    ROVER_FAULT_CLEARED = 23
    TM_DROPPED = 30
    FILE_DOWNLINK_DONE = 40
    FILE_DOWNLINK_FAILED = 41
    FILE_DOWNLINK_RESUMED = 42
    BRIDGE_STARTED = 50
    BRIDGE_FAULT = 51
    STATE_DB_MOVED_ASIDE = 52
    STORE_UNAVAILABLE = 60
    STORE_AVAILABLE = 61
    PRODUCTS_READOPTED = 62
    PRODUCTS_QUARANTINED = 63
    PRODUCTS_VANISHED = 64
    UPLINK_LOCKED = 70
    REPLAY_WINDOW_RESET = 71
    SA_CHALLENGE = 72


#: Severity (ST[5] subtype) of each event.
EVENT_SEVERITY = {
    EventId.TC_AUTH_FAILURE: EventSubtype.LOW,
    EventId.TC_REPLAY: EventSubtype.LOW,
    EventId.TC_MALFORMED: EventSubtype.LOW,
    EventId.TC_REFUSALS_SUPPRESSED: EventSubtype.LOW,
    EventId.LINK_LOST: EventSubtype.MEDIUM,
    EventId.LINK_SAFED: EventSubtype.HIGH,
    EventId.LINK_RESTORED: EventSubtype.INFO,
    EventId.SAFING_RELEASED: EventSubtype.INFO,
    EventId.LINK_HOLD: EventSubtype.MEDIUM,
    EventId.ESTOP_ENGAGED: EventSubtype.HIGH,
    EventId.ESTOP_RELEASED: EventSubtype.INFO,
    EventId.ROVER_FAULT: EventSubtype.HIGH,
    EventId.ROVER_FAULT_CLEARED: EventSubtype.INFO,
    EventId.TM_DROPPED: EventSubtype.MEDIUM,
    EventId.FILE_DOWNLINK_DONE: EventSubtype.INFO,
    EventId.FILE_DOWNLINK_FAILED: EventSubtype.MEDIUM,
    EventId.FILE_DOWNLINK_RESUMED: EventSubtype.INFO,
    EventId.BRIDGE_STARTED: EventSubtype.INFO,
    EventId.BRIDGE_FAULT: EventSubtype.HIGH,
    EventId.STATE_DB_MOVED_ASIDE: EventSubtype.HIGH,
    EventId.STORE_UNAVAILABLE: EventSubtype.HIGH,
    EventId.STORE_AVAILABLE: EventSubtype.INFO,
    EventId.PRODUCTS_READOPTED: EventSubtype.MEDIUM,
    EventId.PRODUCTS_QUARANTINED: EventSubtype.HIGH,
    EventId.PRODUCTS_VANISHED: EventSubtype.HIGH,
    EventId.UPLINK_LOCKED: EventSubtype.HIGH,
    EventId.REPLAY_WINDOW_RESET: EventSubtype.MEDIUM,
    EventId.SA_CHALLENGE: EventSubtype.INFO,
}


class SaProcedure(enum.IntEnum):
    """SA-management messages (first byte of the packet data of an SA-management frame)."""

    GET_CHALLENGE = 1
    RESET_WINDOW = 2


class RejectReason(enum.IntEnum):
    """Why an uplink frame was dropped before it became a telecommand (event aux data)."""

    TRUNCATED = 1
    LENGTH_MISMATCH = 2
    UNKNOWN_SPI = 3
    BAD_MAC = 4
    REPLAY = 5
    BAD_CRC = 6
    BAD_HEADER = 7
    UNKNOWN_APID = 8


class HkSet(enum.IntEnum):
    """Housekeeping structure ids (SID) of ST[3,25] reports."""

    MOBILITY = 1
    SHOVEL = 2
    LINK = 3
    SYSTEM = 4
    FAULT = 5


class ShovelPose(enum.IntEnum):
    """Named shovel poses of TC MOVE_SHOVEL; ANGLE means "use the angle argument"."""

    ANGLE = 0
    STOWED = 1
    TRAVEL = 2
    READY = 3
    DIG = 4
    HOLD = 5
    DUMP = 6

    @property
    def ros_name(self) -> str:
        """Return the MoveShovel.named_pose string ('' for ANGLE)."""
        return '' if self is ShovelPose.ANGLE else self.name.lower()


class Camera(enum.IntEnum):
    """Camera selection, the values of rover_interfaces/CaptureImage."""

    LEFT = 0
    RIGHT = 1
    BOTH = 2


class Variant(enum.IntEnum):
    """Which file of an image product to downlink."""

    THUMBNAIL = 0
    FULL = 1


class FaultTarget(enum.IntEnum):
    """Which subsystem's latched fault CLEAR_FAULT clears."""

    DRIVE = 0
    SHOVEL = 1
    ALL = 2


class AckFlag(enum.IntFlag):
    """PUS-C TC acknowledgement flags: which *success* reports the sender asks for."""

    NONE = 0
    ACCEPTANCE = 0b0001
    START = 0b0010
    PROGRESS = 0b0100
    COMPLETION = 0b1000
    ALL = 0b1111


class Priority(enum.IntEnum):
    """Downlink classes, most urgent first (files are served after both)."""

    URGENT = 0
    ROUTINE = 1


class LinkState(enum.IntEnum):
    """State of the link, the values of rover_interfaces/LinkStatus."""

    DOWN = 0
    UP = 1
    SAFED = 2


class ProtocolError(ValueError):
    """Bytes that do not follow the layouts of this protocol."""


def pack_str8(text: str) -> bytes:
    """Return ``text`` as a length byte and ASCII bytes; raise ProtocolError if too long."""
    raw = text.encode('ascii')
    if len(raw) > 255:
        raise ProtocolError(f'string of {len(raw)} bytes does not fit a str8 field')
    return bytes([len(raw)]) + raw


def unpack_str8(data: bytes, offset: int) -> Tuple[str, int]:
    """
    Read a str8 at ``offset``; return the text and the offset after it.

    :raises ProtocolError: the field runs past the data or is not ASCII.
    """
    if offset >= len(data):
        raise ProtocolError(f'str8 at offset {offset} is missing')
    end = offset + 1 + data[offset]
    if end > len(data):
        raise ProtocolError(f'str8 at offset {offset} runs past the end of the data')
    try:
        return bytes(data[offset + 1:end]).decode('ascii'), end
    except UnicodeDecodeError:
        raise ProtocolError(f'str8 at offset {offset} is not ASCII') from None


def unpack_exact(fmt: struct.Struct, data: bytes, what: str) -> tuple:
    """Unpack ``data`` that must be exactly ``fmt.size`` bytes; raise ProtocolError if not."""
    if len(data) != fmt.size:
        raise ProtocolError(f'{what} needs {fmt.size} bytes, got {len(data)}')
    return fmt.unpack(data)


@functools.lru_cache(maxsize=16)
def cds_timestamp(utc: float) -> bytes:
    """
    Return the 7-byte CDS short timestamp (with P-field) of UTC epoch seconds.

    Cached: the reports of one batch of telecommands share one time.
    """
    when = datetime.datetime.fromtimestamp(max(utc, 0.0), tz=datetime.timezone.utc)
    return CdsShortTimestamp.from_datetime(when).pack()


def cds_to_utc(stamp: bytes) -> float:
    """Return UTC epoch seconds of a 7-byte CDS short timestamp."""
    return CdsShortTimestamp.unpack(stamp).as_unix_seconds()
