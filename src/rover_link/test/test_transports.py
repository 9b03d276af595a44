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

"""Transports on real links: UDP on 127.0.0.1 sockets, serial on a pseudo-terminal pair."""

import os
import random
import socket
import sys
import time

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from rover_link.transports import (encode_serial_frame, FrameError, LinkDown, SerialFrameDecoder,
                                   SerialTransport, UdpTransport)

LOCALHOST = '127.0.0.1'


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


@pytest.fixture
def udp_pair():
    port_a, port_b = free_udp_port(), free_udp_port()
    a = UdpTransport((LOCALHOST, port_a), (LOCALHOST, port_b))
    b = UdpTransport((LOCALHOST, port_b), (LOCALHOST, port_a))
    yield a, b
    a.close()
    b.close()


# --- UDP ----------------------------------------------------------------------------------
def test_udp_frames_cross_both_ways_whole_and_in_order(udp_pair):
    a, b = udp_pair
    frames = [bytes([i]) * (1 + 37 * i) for i in range(40)]
    for frame in frames:
        a.send(frame)
    assert [b.receive(1.0) for _ in frames] == frames
    b.send(b'ack')
    assert a.receive(1.0) == b'ack'
    assert a.counters.frames_sent == 40
    assert a.counters.bytes_sent == sum(map(len, frames))
    assert b.counters.frames_received == 40
    assert a.counters.frames_received == 1


def test_udp_receive_times_out_with_none(udp_pair):
    _, b = udp_pair
    start = time.monotonic()
    assert b.receive(0.1) is None
    assert time.monotonic() - start >= 0.09
    assert b.receive(0.0) is None


def test_udp_refuses_empty_and_oversize_frames_and_counts_nothing():
    port = free_udp_port()
    with UdpTransport((LOCALHOST, 0), (LOCALHOST, port), max_frame=100) as transport:
        with pytest.raises(FrameError):
            transport.send(b'')
        with pytest.raises(FrameError, match='exceeds'):
            transport.send(b'x' * 101)
        transport.send(b'x' * 100)
        assert transport.counters.frames_sent == 1


def test_udp_drops_and_counts_datagrams_from_a_stranger(udp_pair):
    a, b = udp_pair
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.sendto(b'forged', b.local_address)
    a.send(b'genuine')
    assert b.receive(1.0) == b'genuine'
    assert b.counters.frames_dropped_foreign == 1
    assert b.counters.frames_received == 1


def test_udp_drops_oversize_datagrams_it_receives():
    with UdpTransport((LOCALHOST, 0), (LOCALHOST, free_udp_port()), max_frame=10,
                      accept_any_source=True) as small, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.sendto(b'y' * 11, small.local_address)
        peer.sendto(b'y' * 10, small.local_address)
        assert small.receive(1.0) == b'y' * 10
        assert small.counters.frames_dropped_corrupt == 1


def test_udp_peer_vanishing_is_a_lossy_link_not_an_error(udp_pair):
    a, b = udp_pair
    b.close()
    a.send(b'into the void')  # UDP: the frame is lost, the sender is not told
    assert a.receive(0.05) is None
    with pytest.raises(LinkDown):
        b.receive(0.1)
    with pytest.raises(LinkDown):
        b.send(b'x')


def test_udp_bind_conflict_raises_link_down(udp_pair):
    a, _ = udp_pair
    with pytest.raises(LinkDown, match='cannot bind'):
        UdpTransport(a.local_address, (LOCALHOST, 9))


def test_udp_context_manager_closes():
    with UdpTransport((LOCALHOST, 0), (LOCALHOST, free_udp_port())) as transport:
        assert not transport.closed
    assert transport.closed
    with pytest.raises(LinkDown):
        transport.send(b'x')


def test_udp_receive_buffer_is_sized_and_the_granted_size_read_back():
    default = UdpTransport((LOCALHOST, 0), (LOCALHOST, free_udp_port()))
    sized = UdpTransport((LOCALHOST, 0), (LOCALHOST, free_udp_port()),
                         receive_buffer_bytes=1 << 20)
    try:
        # Without privileges Linux grants up to twice net.core.rmem_max, which may be less.
        assert sized.receive_buffer_bytes > default.receive_buffer_bytes
    finally:
        default.close()
        sized.close()
    with pytest.raises(ValueError, match='receive_buffer_bytes'):
        UdpTransport((LOCALHOST, 0), (LOCALHOST, 9), receive_buffer_bytes=-1)


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='SO_RXQ_OVFL is Linux only')
def test_udp_datagrams_the_kernel_drops_for_a_full_buffer_are_counted():
    receiver = UdpTransport((LOCALHOST, 0), (LOCALHOST, 9), accept_any_source=True,
                            receive_buffer_bytes=4096)
    sender = UdpTransport((LOCALHOST, 0), receiver.local_address)
    try:
        assert receiver.counts_kernel_drops
        sent = 2000
        for _ in range(sent):
            sender.send(b'x' * 200)
        while receiver.receive(0.05) is not None:
            pass
        sender.send(b'last')  # drops are reported with the next datagram queued
        while receiver.receive(0.2) != b'last':
            pass
        counters = receiver.counters
        assert counters.frames_dropped_kernel > 0
        assert counters.frames_received + counters.frames_dropped_kernel == sent + 1
    finally:
        sender.close()
        receiver.close()


# --- Serial frame format ------------------------------------------------------------------
def test_serial_encoding_has_no_zero_inside_and_is_delimited():
    encoded = encode_serial_frame(b'\x00\x00abc\x00')
    assert encoded[0] == 0 and encoded[-1] == 0
    assert 0 not in encoded[1:-1]


@settings(max_examples=60, deadline=None)
@given(payloads=st.lists(st.binary(min_size=1, max_size=300), max_size=8),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_serial_decoder_returns_exactly_the_frames_however_the_stream_is_cut(payloads, cuts):
    stream = b''.join(encode_serial_frame(p) for p in payloads)
    decoder = SerialFrameDecoder()
    out = []
    previous = 0
    for cut in sorted(c % (len(stream) + 1) for c in cuts) + [len(stream)]:
        out += decoder.feed(stream[previous:cut])
        previous = cut
    assert out == payloads
    assert decoder.frames_dropped == 0


@settings(max_examples=60, deadline=None)
@given(payloads=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=6),
       garbage=st.lists(st.binary(max_size=50), min_size=7, max_size=7))
def test_serial_decoder_resynchronises_after_garbage(payloads, garbage):
    stream = b''.join(g + encode_serial_frame(p) for g, p in zip(garbage, payloads))
    decoder = SerialFrameDecoder()
    assert decoder.feed(stream + garbage[-1]) == payloads


def test_serial_decoder_drops_and_counts_a_corrupted_frame():
    good = encode_serial_frame(b'first')
    bad = bytearray(encode_serial_frame(b'second frame'))
    bad[4] ^= 0x10  # one flipped bit inside the COBS body (never a zero: 0x10 != byte)
    if bad[4] == 0:
        bad[4] = 0x55
    decoder = SerialFrameDecoder()
    frames = decoder.feed(good + bytes(bad) + encode_serial_frame(b'third'))
    assert frames == [b'first', b'third']
    assert decoder.frames_dropped == 1


def test_serial_decoder_discards_an_endless_run_without_delimiter():
    decoder = SerialFrameDecoder(max_frame=64)
    assert decoder.feed(b'\x01' * 10_000) == []
    assert decoder.feed(encode_serial_frame(b'after the noise')) == [b'after the noise']
    assert decoder.frames_dropped == 1
    assert decoder.bytes_discarded >= 10_000


# --- Serial on a pseudo-terminal pair -------------------------------------------------------
@pytest.fixture
def pty_serial():
    master, slave = os.openpty()
    transport = SerialTransport(os.ttyname(slave), 115200, max_frame=2048)
    os.close(slave)
    yield master, transport
    transport.close()
    try:
        os.close(master)
    except OSError:
        pass  # the peer-vanishes test closed it already


def _read_master(master: int, count: int) -> list:
    decoder = SerialFrameDecoder(2048)
    frames = []
    deadline = time.monotonic() + 2.0
    while len(frames) < count and time.monotonic() < deadline:
        frames += decoder.feed(os.read(master, 65536))
    return frames


def test_serial_sends_frames_the_peer_decodes(pty_serial):
    master, transport = pty_serial
    frames = [b'\x00' * 5, b'space packet', bytes(range(256)) * 4]
    for frame in frames:
        transport.send(frame)
    assert _read_master(master, 3) == frames
    assert transport.counters.frames_sent == 3


def test_serial_receives_frames_through_garbage_and_counts_the_damage(pty_serial):
    master, transport = pty_serial
    rng = random.Random(7)
    corrupted = bytearray(encode_serial_frame(b'will be hit'))
    corrupted[3] = corrupted[3] ^ 0x01 or 0x01
    os.write(master, rng.randbytes(300) + encode_serial_frame(b'one')
             + b'noise without zero' + encode_serial_frame(b'two') + bytes(corrupted)
             + b'\x00\x00\x00' + encode_serial_frame(b'three'))
    received = [transport.receive(1.0) for _ in range(3)]
    assert received == [b'one', b'two', b'three']
    assert transport.counters.frames_dropped_corrupt >= 2
    assert transport.counters.frames_received == 3
    assert transport.receive(0.05) is None


def test_serial_reassembles_a_frame_written_byte_by_byte(pty_serial):
    master, transport = pty_serial
    for byte in encode_serial_frame(b'slow umbilical'):
        os.write(master, bytes([byte]))
    assert transport.receive(1.0) == b'slow umbilical'


def test_serial_refuses_oversize_frames(pty_serial):
    _, transport = pty_serial
    with pytest.raises(FrameError):
        transport.send(b'z' * 2049)
    with pytest.raises(FrameError):
        transport.send(b'')


def test_serial_peer_vanishing_raises_link_down(pty_serial):
    master, transport = pty_serial
    os.close(master)
    with pytest.raises(LinkDown):
        transport.receive(0.2)
    with pytest.raises(LinkDown):
        transport.send(b'anyone there?')


def test_serial_missing_port_raises_link_down():
    with pytest.raises(LinkDown, match='cannot open'):
        SerialTransport('/dev/does-not-exist-rover', 115200)
    with pytest.raises(ValueError):
        SerialTransport('/dev/null', 0)
