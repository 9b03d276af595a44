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
Link frames: how telecommands, telemetry and CFDP PDUs share the one lander link.

Everything on the link is a CCSDS Space Packet (133.0-B); two APIDs multiplex it:

* APID ``0x064`` (:data:`~rover_link.protocol.APID_ROVER`): PUS-C packets, with
  the secondary-header flag set: telecommands up; verification, housekeeping, events,
  results, time and ping replies down.
* APID ``0x065`` (:data:`~rover_link.protocol.APID_CFDP`): one CFDP PDU per space
  packet, secondary-header flag clear, the PDU as the packet data field. Down: TM packets
  (Metadata, File Data, EOF, ACK(Finished) from the rover's file sender). Up: TC packets
  (ACK(EOF), NAK, Finished from the ground's receiver). The CFDP code stays byte-oriented:
  it hands PDU bytes to :func:`wrap_cfdp` and gets PDU bytes from :func:`cfdp_pdu_of`.

**Uplink frame** (ground to rover; one per UDP datagram or serial frame), SDLS-like::

    offset  size  field
    0       2     SPI, security parameter index (selects the key)
    2       8     ARSN, anti-replay sequence number
    10      N     one space packet (a PUS TC or a CFDP PDU packet), N = length field + 7
    10+N    16    MAC: HMAC-SHA256 of bytes [0, 10+N), first 16 bytes

So every uplink CFDP PDU is authenticated and replay-checked exactly like a telecommand; a
frame is refused before its packet is looked at if its length is inconsistent, its SPI has
no key, its MAC is wrong, or its ARSN was seen (:mod:`rover_link.security`).

**Downlink frame** (rover to ground; one per UDP datagram or serial frame), the same shape::

    offset  size  field
    0       2     SPI, security parameter index (selects the downlink key)
    2       8     DSN, downlink sequence number: 64 bits, increasing, never repeated
    10      N     complete space packets back to back (N <= ``max_frame_bytes`` unless a
                  single packet is longer)
    10+N    16    MAC: HMAC-SHA256 of bytes [0, 10+N) under the downlink key, first 16 bytes

Every downlink frame is sealed this way: verification reports, events, housekeeping, time
reports, CFDP PDUs and the beacons sent while the link is down. The downlink key is not the
uplink key (:mod:`rover_link.downlink_auth` derives one from the other), so a frame
of one direction can never pass for a frame of the other. The ground opens a frame with
:func:`open_downlink` and only then reads its packets; the DSN still has to pass the ground's
anti-replay window. A frame adds :data:`DOWNLINK_SECURITY_OVERHEAD` (26) bytes to its packets.
"""

from dataclasses import dataclass
import struct
from typing import List, Tuple

from rover_link.protocol import APID_CFDP, APID_ROVER, RejectReason, SEQ_COUNT_MODULO
from rover_link.security import MAC_LEN, MacEngine
from spacepackets.ccsds.spacepacket import (PacketId, PacketType, parse_space_packets,
                                            SpacePacket, SpacePacketHeader)

SECURITY_HEADER = struct.Struct('>HQ')
SECURITY_HEADER_LEN = SECURITY_HEADER.size
PRIMARY_HEADER_LEN = 6
#: Smallest possible uplink frame: header, a 7-byte space packet, MAC.
MIN_UPLINK_FRAME = SECURITY_HEADER_LEN + PRIMARY_HEADER_LEN + 1 + MAC_LEN
#: Bytes a downlink frame adds to its space packets: security header and MAC.
DOWNLINK_SECURITY_OVERHEAD = SECURITY_HEADER_LEN + MAC_LEN
#: Smallest possible downlink frame: header, a 7-byte space packet, MAC.
MIN_DOWNLINK_FRAME = DOWNLINK_SECURITY_OVERHEAD + PRIMARY_HEADER_LEN + 1
#: Downlink packet ids the ground accepts.
DOWNLINK_PACKET_IDS = (PacketId(PacketType.TM, True, APID_ROVER),
                       PacketId(PacketType.TM, False, APID_CFDP))


class FrameError(Exception):
    """A frame that must be dropped; ``reason`` says why (event aux data, ground counters)."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = RejectReason(reason)
        self.detail = detail


@dataclass(frozen=True)
class UplinkFrame:
    """An authenticated uplink frame; the ARSN still has to pass the replay check."""

    spi: int
    arsn: int
    packet: bytes

    @property
    def apid(self) -> int:
        """Return the APID of the packet."""
        return ((self.packet[0] & 0x07) << 8) | self.packet[1]


@dataclass(frozen=True)
class DownlinkFrame:
    """An authenticated downlink frame; the DSN still has to pass the anti-replay window."""

    spi: int
    dsn: int
    packets: Tuple[bytes, ...]
    garbage: int
    """Bytes between the header and the MAC that were not space packets (a rover fault)."""


def protect(mac: MacEngine, spi: int, arsn: int, packet: bytes) -> bytes:
    """Return the uplink frame of ``packet`` with its security header and MAC."""
    body = SECURITY_HEADER.pack(spi, arsn) + bytes(packet)
    return body + mac.tag(spi, body)


def open_uplink(mac: MacEngine, frame: bytes) -> UplinkFrame:
    """
    Check an uplink frame's structure and MAC; return its parts.

    Cheap structural checks come first so a flood of junk costs no HMAC.

    :raises FrameError: TRUNCATED, LENGTH_MISMATCH, BAD_HEADER, UNKNOWN_SPI or BAD_MAC.
    """
    size = len(frame)
    if size < MIN_UPLINK_FRAME:
        raise FrameError(RejectReason.TRUNCATED,
                         f'frame of {size} bytes is shorter than the minimum {MIN_UPLINK_FRAME}')
    spi, arsn = SECURITY_HEADER.unpack_from(frame, 0)
    packet_len = struct.unpack_from('>H', frame, SECURITY_HEADER_LEN + 4)[0] + 7
    expected = SECURITY_HEADER_LEN + packet_len + MAC_LEN
    if size != expected:
        reason = RejectReason.TRUNCATED if size < expected else RejectReason.LENGTH_MISMATCH
        raise FrameError(reason, f'frame of {size} bytes, but its packet length field '
                                 f'implies {expected}')
    first = frame[SECURITY_HEADER_LEN]
    if first >> 5 != 0 or not (first >> 4) & 1:
        raise FrameError(RejectReason.BAD_HEADER,
                         'packet is not a CCSDS version-1 telecommand packet')
    if not mac.knows(spi):
        raise FrameError(RejectReason.UNKNOWN_SPI, f'SPI {spi} has no key')
    body_end = size - MAC_LEN
    frame = bytes(frame)
    if not mac.verify(spi, frame[:body_end], frame[body_end:]):
        raise FrameError(RejectReason.BAD_MAC, f'MAC check failed (SPI {spi}, ARSN {arsn})')
    return UplinkFrame(spi, arsn, frame[SECURITY_HEADER_LEN:body_end])


def wrap_cfdp(pdu: bytes, *, packet_type: PacketType, seq_count: int) -> bytes:
    """Return ``pdu`` as the data field of a space packet on the CFDP APID."""
    if not pdu:
        raise ValueError('an empty CFDP PDU cannot be sent')
    header = SpacePacketHeader(packet_type=packet_type, apid=APID_CFDP,
                               seq_count=seq_count % SEQ_COUNT_MODULO, data_len=len(pdu) - 1,
                               sec_header_flag=False)
    return bytes(SpacePacket(header, None, bytes(pdu)).pack())


def cfdp_pdu_of(packet: bytes) -> bytes:
    """Return the CFDP PDU carried by a space packet on the CFDP APID."""
    return bytes(packet[PRIMARY_HEADER_LEN:])


def apid_of(packet: bytes) -> int:
    """Return the APID of a space packet."""
    return ((packet[0] & 0x07) << 8) | packet[1]


def protect_downlink(mac: MacEngine, spi: int, dsn: int, packets: bytes) -> bytes:
    """Return the downlink frame of ``packets`` (space packets back to back), sealed."""
    body = SECURITY_HEADER.pack(spi, dsn) + bytes(packets)
    return body + mac.tag(spi, body)


def open_downlink(mac: MacEngine, frame: bytes) -> DownlinkFrame:
    """
    Check a downlink frame's size, SPI and MAC; only then split it into its packets.

    :raises FrameError: TRUNCATED, UNKNOWN_SPI or BAD_MAC (a frame damaged on the link fails
        the MAC like a forged one: they cannot be told apart, and neither may be read).
    """
    size = len(frame)
    if size < MIN_DOWNLINK_FRAME:
        raise FrameError(RejectReason.TRUNCATED, f'downlink frame of {size} bytes is shorter '
                                                 f'than the minimum {MIN_DOWNLINK_FRAME}')
    spi, dsn = SECURITY_HEADER.unpack_from(frame, 0)
    if not mac.knows(spi):
        raise FrameError(RejectReason.UNKNOWN_SPI, f'downlink SPI {spi} has no key')
    frame = bytes(frame)
    body_end = size - MAC_LEN
    if not mac.verify(spi, frame[:body_end], frame[body_end:]):
        raise FrameError(RejectReason.BAD_MAC,
                         f'downlink MAC check failed (SPI {spi}, DSN {dsn})')
    packets, garbage = _split_packets(frame[SECURITY_HEADER_LEN:body_end])
    return DownlinkFrame(spi, dsn, tuple(packets), garbage)


def split_downlink(frame: bytes) -> Tuple[List[bytes], int]:
    """
    Return the space packets a downlink frame claims to carry, without checking its MAC.

    For counting what a refused frame held and for inspecting recorded frames; the ground
    reads telemetry only from :func:`open_downlink`. The second value is how many bytes were
    not packets (header and MAC excluded).
    """
    if len(frame) < DOWNLINK_SECURITY_OVERHEAD:
        return [], len(frame)
    return _split_packets(bytes(frame[SECURITY_HEADER_LEN:len(frame) - MAC_LEN]))


def _split_packets(data: bytes) -> Tuple[List[bytes], int]:
    """
    Return the space packets in ``data`` and how many bytes were not packets.

    Bytes that do not start a known packet are skipped, as is an incomplete packet at the end.
    """
    result = parse_space_packets(data, DOWNLINK_PACKET_IDS)
    packets = [bytes(p) for p in result.tm_list]
    return packets, len(data) - sum(len(p) for p in packets)
