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

"""Uplink frames are checked before anything reads them; downlink frames split cleanly."""

import pytest
from rover_lander_bridge.framing import (apid_of, cfdp_pdu_of, FrameError,
                                         MIN_UPLINK_FRAME, open_uplink, protect,
                                         split_downlink, wrap_cfdp)
from rover_lander_bridge.protocol import APID_CFDP, APID_ROVER, RejectReason
from rover_lander_bridge.security import MacEngine
from spacepackets.ccsds.spacepacket import PacketType
from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import PusTm

TC = bytes(PusTc(service=17, message_subtype=1, apid=APID_ROVER, seq_count=3).pack())


def test_protected_frame_opens_to_its_parts(mac):
    frame = protect(mac, 1, 42, TC)
    opened = open_uplink(mac, frame)
    assert (opened.spi, opened.arsn, opened.packet, opened.apid) == (1, 42, TC, APID_ROVER)


@pytest.mark.parametrize('cut', [1, 5, 16, 17, 30])
def test_truncated_frames_are_refused_as_truncated(mac, cut):
    frame = protect(mac, 1, 42, TC)
    with pytest.raises(FrameError) as info:
        open_uplink(mac, frame[:-cut])
    assert info.value.reason is RejectReason.TRUNCATED


def test_frames_below_the_minimum_are_truncated(mac):
    with pytest.raises(FrameError) as info:
        open_uplink(mac, bytes(MIN_UPLINK_FRAME - 1))
    assert info.value.reason is RejectReason.TRUNCATED


def test_trailing_bytes_are_a_length_mismatch(mac):
    with pytest.raises(FrameError) as info:
        open_uplink(mac, protect(mac, 1, 42, TC) + b'\x00')
    assert info.value.reason is RejectReason.LENGTH_MISMATCH


def test_telemetry_packet_on_the_uplink_is_a_bad_header(mac):
    tm = bytes(PusTm(service=17, message_subtype=2, apid=APID_ROVER,
                     timestamp=bytes(7)).pack())
    with pytest.raises(FrameError) as info:
        open_uplink(mac, protect(mac, 1, 1, tm))
    assert info.value.reason is RejectReason.BAD_HEADER


def test_unknown_spi_is_refused_even_with_a_valid_mac(mac, key):
    other = MacEngine({9: key})
    with pytest.raises(FrameError) as info:
        open_uplink(mac, protect(other, 9, 1, TC))
    assert info.value.reason is RejectReason.UNKNOWN_SPI


def test_any_flipped_bit_fails_the_mac(mac):
    frame = protect(mac, 1, 42, TC)
    for index in range(len(frame)):
        if 12 <= index < 16:
            continue  # the packet length field: flips there are length mismatches
        forged = bytearray(frame)
        forged[index] ^= 0x40
        with pytest.raises(FrameError) as info:
            open_uplink(mac, bytes(forged))
        assert info.value.reason in (RejectReason.BAD_MAC, RejectReason.UNKNOWN_SPI,
                                     RejectReason.BAD_HEADER)


def test_cfdp_pdu_travels_in_its_own_apid():
    pdu = bytes(range(50))
    packet = wrap_cfdp(pdu, packet_type=PacketType.TM, seq_count=70000)
    assert apid_of(packet) == APID_CFDP
    assert cfdp_pdu_of(packet) == pdu
    packets, garbage = split_downlink(packet)
    assert packets == [packet] and garbage == 0


def test_downlink_frames_split_back_into_packets_skipping_garbage():
    tm = [bytes(PusTm(service=3, message_subtype=25, apid=APID_ROVER, seq_count=i,
                      timestamp=bytes(7), source_data=bytes(i * 10)).pack()) for i in range(5)]
    cfdp = wrap_cfdp(b'\x01' * 200, packet_type=PacketType.TM, seq_count=1)
    packets, garbage = split_downlink(b''.join(tm + [cfdp]))
    assert packets == tm + [cfdp] and garbage == 0
    packets, garbage = split_downlink(b'\xff\xff\xff' + tm[1] + tm[2][:9])
    assert packets == [tm[1]] and garbage == 12
