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
SA management: the authenticated way out of a lost or wrong anti-replay state.

Why a channel of its own: when the rover's replay state is lost (the uplink is locked), or
the ground's ARSNs fell below the rover's floor (its clock ran into the future, then it lost
its counter), no telecommand passes the anti-replay window, so no telecommand can repair it.
SA-management frames are not subject to the window; they have their own protection:

* the reserved SPI :data:`~rover_link.protocol.SA_MANAGEMENT_SPI` (0xFFFF) in the
  uplink frame's security header (layout of :mod:`rover_link.framing`; the ARSN
  field is 0 and not used);
* a MAC under a key of its own, HKDF-SHA256 of the target SPI's key with the info
  :data:`SA_KEY_INFO` (:meth:`~rover_link.security.MacEngine.derive`): a
  telecommand's MAC never verifies as a management frame, nor the reverse; the comparison is
  constant-time;
* freshness from a challenge instead of an ARSN: 128 random bits the rover draws, keeps with
  the replay state (both copies) and replaces after every use. A RESET_WINDOW passes only
  with the challenge in force *and* the floor the rover announced with it, so a captured
  reset is dead once used, and one an attacker held back is dead once the floor moves.

Messages (packet data of a TC space packet on APID 0x064 without secondary header)::

    GET_CHALLENGE  u8 1, u16 target SPI
    RESET_WINDOW   u8 2, u16 target SPI, challenge (16), u8 floor known (0/1),
                   u64 floor as announced, u64 new floor

Answers, as ST[5] events of str8 fields: ``SA_CHALLENGE`` (unlocked) or ``UPLINK_LOCKED``
(locked) with ``spi=S``, ``floor=F`` (or ``none``), ``challenge=HEX`` and, when locked, the
reason. They leave outside the telemetry store (as the beacon): while the uplink is locked no
frame is fresh, so the link is down and the store does not flow. At most one per
:data:`REPLY_MIN_INTERVAL_S` answers GET_CHALLENGE, and while locked one is repeated every
``beacon_interval`` unasked. An applied reset gives ``REPLAY_WINDOW_RESET`` (``spi=S``,
``floor=N``, ``previous=F|none``, ``challenge=HEX`` consumed) through the store: a reset is
fresh, so it counts as contact and brings the link up. A GET_CHALLENGE is not fresh (it can
be replayed), so it never counts as contact: a replayed one cannot hold off link-loss safing.
Refused management frames are counted and aggregated like any refused frame
(TC_AUTH_FAILURE, TC_REPLAY for a stale challenge or floor, TC_MALFORMED), never answered.
"""

from dataclasses import dataclass
import logging
import math
import struct
from typing import Callable, Dict, List, Optional, Set, Tuple, Union

from cryptography.hazmat.primitives import constant_time
from rover_link.framing import (FrameError, open_uplink, PRIMARY_HEADER_LEN, protect,
                                SECURITY_HEADER_LEN)
from rover_link.protocol import (APID_ROVER, EventId, ProtocolError, RejectReason,
                                 SA_MANAGEMENT_SPI, SaProcedure, unpack_str8)
from rover_link.security import (ARSN_MAX, ArsnCounter, CHALLENGE_LEN, MAC_LEN, MacEngine,
                                 ReplayGuard, ReplayPersistError)
from rover_link.telemetry import Event, text_event
from spacepackets.ccsds.spacepacket import PacketType, SpacePacket, SpacePacketHeader

#: HKDF info of the SA-management key.
SA_KEY_INFO = b'rover sa-management'
#: Fewest seconds between two challenge announcements (a replayed GET_CHALLENGE costs this).
REPLY_MIN_INTERVAL_S = 1.0
#: Fewest seconds between two attempts to reopen an unavailable replay database.
REOPEN_INTERVAL_S = 1.0
_TARGET = struct.Struct('>BH')
_RESET = struct.Struct(f'>BH{CHALLENGE_LEN}sBQQ')
#: Shortest management frame: header, a packet with a GET_CHALLENGE, MAC.
_MIN_FRAME = SECURITY_HEADER_LEN + PRIMARY_HEADER_LEN + _TARGET.size + MAC_LEN
_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class GetChallenge:
    """Ask the rover for its challenge and floor of ``spi``."""

    spi: int


@dataclass(frozen=True)
class ResetWindow:
    """Set the floor of ``spi``; valid with the challenge and floor the rover announced."""

    spi: int
    challenge: bytes
    seen_floor: Optional[int]
    floor: int


SaMessage = Union[GetChallenge, ResetWindow]


def encode_message(message: SaMessage) -> bytes:
    """Return the packet data of a management message."""
    if isinstance(message, GetChallenge):
        return _TARGET.pack(SaProcedure.GET_CHALLENGE, message.spi)
    if len(message.challenge) != CHALLENGE_LEN or not 0 <= message.floor <= ARSN_MAX:
        raise ValueError(f'a reset needs a {CHALLENGE_LEN}-byte challenge and a 64-bit floor')
    seen = message.seen_floor
    return _RESET.pack(SaProcedure.RESET_WINDOW, message.spi, message.challenge,
                       int(seen is not None), seen or 0, message.floor)


def decode_message(data: bytes) -> SaMessage:
    """
    Return the management message of packet data.

    :raises ProtocolError: unknown procedure or wrong length.
    """
    if not data:
        raise ProtocolError('empty SA-management message')
    if data[0] == SaProcedure.GET_CHALLENGE:
        _, spi = _unpack(_TARGET, data)
        return GetChallenge(spi)
    if data[0] == SaProcedure.RESET_WINDOW:
        _, spi, challenge, known, seen, floor = _unpack(_RESET, data)
        if known not in (0, 1):
            raise ProtocolError(f'floor-known flag must be 0 or 1, got {known}')
        return ResetWindow(spi, challenge, seen if known else None, floor)
    raise ProtocolError(f'unknown SA-management procedure {data[0]}')


def _unpack(layout: struct.Struct, data: bytes) -> tuple:
    if len(data) != layout.size:
        raise ProtocolError(f'SA-management message of {len(data)} bytes, expected '
                            f'{layout.size}')
    return layout.unpack(data)


def management_mac(mac: MacEngine, spi: int) -> MacEngine:
    """Return the engine of the SA-management key of ``spi`` (under the reserved SPI)."""
    return mac.derive(spi, SA_KEY_INFO, as_spi=SA_MANAGEMENT_SPI)


def management_frame(engine: MacEngine, message: SaMessage) -> bytes:
    """Return the uplink frame of a message; ``engine`` from :func:`management_mac`."""
    data = encode_message(message)
    header = SpacePacketHeader(packet_type=PacketType.TC, apid=APID_ROVER, seq_count=0,
                               data_len=len(data) - 1, sec_header_flag=False)
    return protect(engine, SA_MANAGEMENT_SPI, 0, bytes(SpacePacket(header, None, data).pack()))


def is_management_frame(frame: bytes) -> bool:
    """Return True if the frame's security header names the SA-management SPI."""
    return len(frame) >= 2 and frame[0] == SA_MANAGEMENT_SPI >> 8 and \
        frame[1] == SA_MANAGEMENT_SPI & 0xFF


# -- the rover's answers -----------------------------------------------------------------


@dataclass(frozen=True)
class SaStatus:
    """What the rover announces: the SPI's floor, the challenge, and whether it is locked."""

    spi: int
    floor: Optional[int]
    challenge: bytes
    locked: bool
    reason: str = ''


@dataclass(frozen=True)
class SaReset:
    """A confirmed window reset: new and previous floor, the challenge it consumed."""

    spi: int
    floor: int
    previous: Optional[int]
    challenge: bytes


def status_event(status: SaStatus) -> Event:
    """Return the SA_CHALLENGE or (locked) UPLINK_LOCKED event of a status."""
    fields = [f'spi={status.spi}', f'floor={_text(status.floor)}',
              f'challenge={status.challenge.hex()}']
    if status.locked:
        return text_event(EventId.UPLINK_LOCKED, *fields, status.reason or 'no floor')
    return text_event(EventId.SA_CHALLENGE, *fields)


def reset_event(reset: SaReset) -> Event:
    """Return the REPLAY_WINDOW_RESET event of an applied reset."""
    return text_event(EventId.REPLAY_WINDOW_RESET, f'spi={reset.spi}', f'floor={reset.floor}',
                      f'previous={_text(reset.previous)}',
                      f'challenge={reset.challenge.hex()}')


def parse_status(event: Event) -> Optional[SaStatus]:
    """Return the status an SA_CHALLENGE or UPLINK_LOCKED event carries (None: not one)."""
    if event.event_id not in (EventId.SA_CHALLENGE, EventId.UPLINK_LOCKED):
        return None
    fields = _fields(event)
    try:
        locked = event.event_id is EventId.UPLINK_LOCKED
        return SaStatus(int(fields['spi']), _number(fields['floor']),
                        _challenge(fields['challenge']), locked,
                        fields.get('', '') if locked else '')
    except (KeyError, ValueError):
        return None


def parse_reset(event: Event) -> Optional[SaReset]:
    """Return the reset a REPLAY_WINDOW_RESET event confirms (None: not one)."""
    if event.event_id is not EventId.REPLAY_WINDOW_RESET:
        return None
    fields = _fields(event)
    try:
        floor = _number(fields['floor'])
        if floor is None:
            return None
        return SaReset(int(fields['spi']), floor, _number(fields['previous']),
                       _challenge(fields['challenge']))
    except (KeyError, ValueError):
        return None


def _fields(event: Event) -> Dict[str, str]:
    """Return the ``key=value`` str8 fields of an event; a field without '=' has key ''."""
    fields, offset = {}, 0
    try:
        while offset < len(event.aux):
            text, offset = unpack_str8(event.aux, offset)
            key, sep, value = text.partition('=')
            fields[key if sep else ''] = value if sep else text
    except ProtocolError:
        return {}
    return fields


def _text(value: Optional[int]) -> str:
    return 'none' if value is None else str(value)


def _number(text: str) -> Optional[int]:
    return None if text == 'none' else int(text)


def _challenge(text: str) -> bytes:
    challenge = bytes.fromhex(text)
    if len(challenge) != CHALLENGE_LEN:
        raise ValueError('challenge of the wrong length')
    return challenge


# -- the rover's side --------------------------------------------------------------------


@dataclass(frozen=True)
class SaOutcome:
    """What the bridge does with a management frame: count a refusal, emit, see contact."""

    refusal: Optional[RejectReason] = None
    events: Tuple[Event, ...] = ()
    contact: bool = False


class SaManager:
    """
    The rover's SA-management endpoint, ROS-free and I/O-free.

    :param mac: the telecommand keys; each SPI gets its management key derived.
    :param replay: the anti-replay state it manages.
    :param packet: builds the (sealed) downlink frame of an event at a monotonic time.
    :param announce_interval: returns how often (s) the challenge is repeated unasked while
        locked (0: only when asked); read at every announcement, so it follows the
        bridge's ``beacon_interval``.
    :param now: start, monotonic s (the first unasked announcement is due then).
    :raises ValueError: a telecommand key uses the reserved SPI.
    """

    def __init__(self, mac: MacEngine, replay: ReplayGuard, *,
                 packet: Callable[[Event, float], bytes],
                 announce_interval: Callable[[], float], now: float) -> None:
        if mac.knows(SA_MANAGEMENT_SPI):
            raise ValueError(f'SPI {SA_MANAGEMENT_SPI} is reserved for SA management; give '
                             'the telecommand key another SPI')
        self._engines = {spi: management_mac(mac, spi) for spi in mac.spis}
        self._replay = replay
        self._packet = packet
        self._interval = announce_interval
        self._asked: Set[int] = set()
        self._last_reply = -math.inf
        self._next_announce = now
        self._next_reopen = now

    def status(self, spi: int) -> SaStatus:
        """Return what the rover announces for ``spi`` now."""
        replay = self._replay
        return SaStatus(spi, replay.floor(spi), replay.challenge, replay.is_locked(spi),
                        replay.lock_reason)

    def boot_events(self) -> List[Event]:
        """Return the UPLINK_LOCKED events of the SPIs locked at start (for the store)."""
        return [status_event(self.status(spi)) for spi in self._engines
                if self._replay.is_locked(spi)]

    def handle(self, frame: bytes, now: float) -> SaOutcome:
        """Check and apply one management frame (:func:`is_management_frame` said so)."""
        if len(frame) < _MIN_FRAME:
            return SaOutcome(RejectReason.TRUNCATED)
        _, spi = _TARGET.unpack_from(frame, SECURITY_HEADER_LEN + PRIMARY_HEADER_LEN)
        engine = self._engines.get(spi)
        if engine is None:
            return SaOutcome(RejectReason.UNKNOWN_SPI)
        try:
            uplink = open_uplink(engine, frame)
        except FrameError as err:
            return SaOutcome(err.reason)
        packet = uplink.packet
        if uplink.apid != APID_ROVER or packet[0] & 0x08:
            return SaOutcome(RejectReason.BAD_HEADER)
        try:
            message = decode_message(packet[PRIMARY_HEADER_LEN:])
        except ProtocolError:
            return SaOutcome(RejectReason.BAD_HEADER)
        if isinstance(message, GetChallenge):
            self._asked.add(spi)
            return SaOutcome()
        return self._reset(message)

    def outbound(self, now: float) -> List[bytes]:
        """
        Return the announcements due now, to be sent at once, outside the store.

        Also retries, at most every :data:`REOPEN_INTERVAL_S`, a replay database that could
        not be opened.
        """
        replay = self._replay
        if not replay.available and now >= self._next_reopen:
            self._next_reopen = now + REOPEN_INTERVAL_S
            replay.reopen()
        locked = [spi for spi in self._engines if replay.is_locked(spi)]
        interval = self._interval()
        if locked and interval > 0.0 and now >= self._next_announce:
            self._asked.update(locked)
            self._next_announce = now + interval
        if not self._asked or now - self._last_reply < REPLY_MIN_INTERVAL_S:
            return []
        frames = [self._packet(status_event(self.status(spi)), now)
                  for spi in sorted(self._asked)]
        self._asked.clear()
        self._last_reply = now
        return frames

    def _reset(self, message: ResetWindow) -> SaOutcome:
        replay, spi = self._replay, message.spi
        challenge = replay.challenge
        if not constant_time.bytes_eq(message.challenge, challenge):
            return SaOutcome(RejectReason.REPLAY)
        self._asked.add(spi)
        if message.seen_floor != replay.floor(spi):
            try:
                replay.consume_challenge()
            except ReplayPersistError as err:
                _LOGGER.warning('new SA challenge not yet persisted: %s', err)
            return SaOutcome(RejectReason.REPLAY)
        try:
            previous = replay.reset_window(spi, message.floor)
        except ReplayPersistError as err:
            _LOGGER.warning('SA-management window reset of SPI %d not applied: %s', spi, err)
            return SaOutcome()
        self._asked.discard(spi)
        return SaOutcome(events=(reset_event(SaReset(spi, message.floor, previous,
                                                     challenge)),), contact=True)


# -- the ground's side -------------------------------------------------------------------


class SaExchange:
    """
    The ground's half of a window reset: ask for the challenge, answer it, await the reset.

    Feed it every event from the rover (:meth:`on_event`); send what it returns. Once the
    rover confirmed, the ground's ARSN counter is set to the new floor, so the next
    telecommand carries floor + 1 (or the clock in ms, if higher).

    :param mac: the ground's telecommand keys; ``spi`` must have one.
    :param spi: the SA whose window is reset.
    :param counter: the ground's ARSN counter of ``spi``.
    :param floor: the new floor; None keeps the rover's floor or raises it to the ground
        counter's last value, never lowers it (no ARSN the ground ever sent can pass again).
    :raises ValueError: no key for ``spi``, or ``floor`` leaves no ARSN above it.
    """

    def __init__(self, mac: MacEngine, spi: int, counter: ArsnCounter, *,
                 floor: Optional[int] = None) -> None:
        if not mac.knows(spi):
            raise ValueError(f'no key for SPI {spi}')
        if floor is not None and not 0 <= floor < ARSN_MAX:
            raise ValueError(f'floor must be in [0, {ARSN_MAX - 1}], got {floor}')
        self._engine = management_mac(mac, spi)
        self._spi = spi
        self._counter = counter
        self._wanted = floor
        self._answered: Set[bytes] = set()
        self.announced: Optional[SaStatus] = None
        self.floor: Optional[int] = None
        self.confirmed: Optional[SaReset] = None

    @property
    def done(self) -> bool:
        """Return True once the rover confirmed the reset."""
        return self.confirmed is not None

    def request(self) -> bytes:
        """Return a GET_CHALLENGE frame (resend it until a challenge comes)."""
        return management_frame(self._engine, GetChallenge(self._spi))

    def on_event(self, event: Event) -> Optional[bytes]:
        """Return the RESET_WINDOW frame answering an announcement, None for other events."""
        if self.done:
            return None
        status = parse_status(event)
        if status is not None and status.spi == self._spi:
            self.announced = status
            if self.floor is None:
                self.floor = self._wanted if self._wanted is not None else \
                    max(status.floor or 0, self._counter.last())
            self._answered.add(status.challenge)
            return management_frame(self._engine, ResetWindow(
                self._spi, status.challenge, status.floor, self.floor))
        reset = parse_reset(event)
        if reset is not None and reset.spi == self._spi and reset.floor == self.floor and \
                reset.challenge in self._answered:
            self._counter.reset_to(reset.floor)
            self.confirmed = reset
        return None
