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

"""Frames of both directions are checked before anything reads them; packets split cleanly."""

import pytest
from rover_link.downlink_auth import derive_downlink_mac
from rover_link.framing import (apid_of, cfdp_pdu_of, DOWNLINK_SECURITY_OVERHEAD, FrameError,
                                MIN_DOWNLINK_FRAME, MIN_UPLINK_FRAME, open_downlink, open_uplink,
                                protect, protect_downlink, split_downlink, wrap_cfdp)
from rover_link.protocol import APID_CFDP, APID_ROVER, RejectReason
from rover_link.security import MacEngine
from spacepackets.ccsds.spacepacket import PacketType
from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import PusTm

TC = bytes(PusTc(service=17, message_subtype=1, apid=APID_ROVER, seq_count=3).pack())
TM = [bytes(PusTm(service=3, message_subtype=25, apid=APID_ROVER, seq_count=i,
                  timestamp=bytes(7), source_data=bytes(i * 10)).pack()) for i in range(5)]


@pytest.fixture
def down(mac) -> MacEngine:
    """Return the downlink MAC engine of the test key."""
    return derive_downlink_mac(mac, 1)


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


def test_cfdp_pdu_travels_in_its_own_apid(down):
    pdu = bytes(range(50))
    packet = wrap_cfdp(pdu, packet_type=PacketType.TM, seq_count=70000)
    assert apid_of(packet) == APID_CFDP
    assert cfdp_pdu_of(packet) == pdu
    opened = open_downlink(down, protect_downlink(down, 1, 5, packet))
    assert opened.packets == (packet,) and opened.garbage == 0


def test_sealed_downlink_frame_opens_to_its_packets_in_order(down):
    cfdp = wrap_cfdp(b'\x01' * 200, packet_type=PacketType.TM, seq_count=1)
    frame = protect_downlink(down, 1, 2 ** 64 - 1, b''.join(TM + [cfdp]))
    assert len(frame) == sum(map(len, TM + [cfdp])) + DOWNLINK_SECURITY_OVERHEAD
    opened = open_downlink(down, frame)
    assert (opened.spi, opened.dsn, opened.packets, opened.garbage) == \
        (1, 2 ** 64 - 1, tuple(TM + [cfdp]), 0)


def test_split_downlink_reads_a_frame_without_its_mac_and_skips_garbage(down):
    frame = protect_downlink(down, 1, 7, b'\xff\xff\xff' + TM[1] + TM[2][:9])
    packets, garbage = split_downlink(frame)
    assert packets == [TM[1]] and garbage == 12
    assert split_downlink(frame[:DOWNLINK_SECURITY_OVERHEAD - 1]) == \
        ([], DOWNLINK_SECURITY_OVERHEAD - 1)


def test_any_flipped_bit_of_a_downlink_frame_is_refused(down):
    frame = protect_downlink(down, 1, 1 << 40, b''.join(TM[:2]))
    open_downlink(down, frame)
    for index in range(len(frame)):
        for bit in range(8):
            forged = bytearray(frame)
            forged[index] ^= 1 << bit
            with pytest.raises(FrameError) as info:
                open_downlink(down, bytes(forged))
            expected = RejectReason.UNKNOWN_SPI if index < 2 else RejectReason.BAD_MAC
            assert info.value.reason is expected, (index, bit)


@pytest.mark.parametrize('cut', [1, 15, 16, 17, 40])
def test_a_cut_downlink_frame_is_refused(down, cut):
    frame = protect_downlink(down, 1, 9, b''.join(TM[:3]))
    short = frame[:-cut]
    with pytest.raises(FrameError) as info:
        open_downlink(down, short)
    assert info.value.reason is (RejectReason.TRUNCATED if len(short) < MIN_DOWNLINK_FRAME
                                 else RejectReason.BAD_MAC)
    with pytest.raises(FrameError) as info:
        open_downlink(down, frame + b'\x00')
    assert info.value.reason is RejectReason.BAD_MAC


def test_frames_below_the_downlink_minimum_are_truncated(down):
    with pytest.raises(FrameError) as info:
        open_downlink(down, bytes(MIN_DOWNLINK_FRAME - 1))
    assert info.value.reason is RejectReason.TRUNCATED


def test_a_downlink_frame_sealed_with_the_uplink_key_fails(mac, down):
    frame = protect_downlink(mac, 1, 3, TM[0])
    with pytest.raises(FrameError) as info:
        open_downlink(down, frame)
    assert info.value.reason is RejectReason.BAD_MAC
    reflected = protect(mac, 1, 3, TC)
    with pytest.raises(FrameError) as info:
        open_downlink(down, reflected)
    assert info.value.reason is RejectReason.BAD_MAC
    with pytest.raises(FrameError) as info:
        open_uplink(mac, protect(down, 1, 3, TC))
    assert info.value.reason is RejectReason.BAD_MAC


def test_a_downlink_spi_without_a_key_is_refused_even_with_a_valid_mac(down, key):
    other = derive_downlink_mac(MacEngine({9: key}), 9)
    with pytest.raises(FrameError) as info:
        open_downlink(down, protect_downlink(other, 9, 1, TM[0]))
    assert info.value.reason is RejectReason.UNKNOWN_SPI
