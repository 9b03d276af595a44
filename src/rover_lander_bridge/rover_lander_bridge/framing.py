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

* APID ``0x064`` (:data:`~rover_lander_bridge.protocol.APID_ROVER`): PUS-C packets, with
  the secondary-header flag set: telecommands up; verification, housekeeping, events,
  results, time and ping replies down.
* APID ``0x065`` (:data:`~rover_lander_bridge.protocol.APID_CFDP`): one CFDP PDU per space
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
no key, its MAC is wrong, or its ARSN was seen (:mod:`rover_lander_bridge.security`).

**Downlink frame** (rover to ground): complete space packets back to back, at most
``max_frame_bytes`` long unless a single packet is longer. Not authenticated (the uplink is
what moves the rover). The ground splits frames with spacepackets' ``parse_space_packets``.
"""

from dataclasses import dataclass
import struct
from typing import List, Tuple

from rover_lander_bridge.protocol import APID_CFDP, APID_ROVER, RejectReason, SEQ_COUNT_MODULO
from rover_lander_bridge.security import MAC_LEN, MacEngine
from spacepackets.ccsds.spacepacket import (PacketId, PacketType, parse_space_packets,
                                            SpacePacket, SpacePacketHeader)

SECURITY_HEADER = struct.Struct('>HQ')
SECURITY_HEADER_LEN = SECURITY_HEADER.size
PRIMARY_HEADER_LEN = 6
#: Smallest possible uplink frame: header, a 7-byte space packet, MAC.
MIN_UPLINK_FRAME = SECURITY_HEADER_LEN + PRIMARY_HEADER_LEN + 1 + MAC_LEN
#: Downlink packet ids the ground accepts.
DOWNLINK_PACKET_IDS = (PacketId(PacketType.TM, True, APID_ROVER),
                       PacketId(PacketType.TM, False, APID_CFDP))


class FrameError(Exception):
    """An uplink frame that must be dropped; ``reason`` says why (event aux data)."""

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


def split_downlink(frame: bytes) -> Tuple[List[bytes], int]:
    """
    Return the space packets of a downlink frame and how many bytes were not packets.

    Bytes that do not start a known packet (corruption on the link) are skipped, as is an
    incomplete packet at the end.
    """
    result = parse_space_packets(bytes(frame), DOWNLINK_PACKET_IDS)
    packets = [bytes(p) for p in result.tm_list]
    return packets, len(frame) - sum(len(p) for p in packets)
