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
Frame transports to the lander: UDP for the radio relay, serial for the umbilical.

Both carry opaque frames (one space packet, or one CFDP PDU wrapped in one) behind the same
:class:`Transport` interface, so the bridge does not care which link it is on.

* :class:`UdpTransport`: one datagram is one frame. Datagrams from any address other than the
  configured peer are dropped and counted, so a stray sender on the lander network cannot
  inject frames (authentication is the TC layer's job; this only keeps the counters honest).
  The socket's receive buffer can be sized (``SO_RCVBUF``; the size the kernel granted is
  read back), so a burst of uplink frames waits in the kernel instead of being dropped there;
  on Linux the datagrams the kernel still dropped for a full buffer are counted
  (``SO_RXQ_OVFL``, delivered with each received datagram), so they show in the link
  counters instead of vanishing.
* :class:`SerialTransport`: a byte stream needs delimiting. Each frame is sent as
  ``0x00 | COBS(payload | CRC-32) | 0x00`` (COBS from the maintained ``cobs`` package). COBS
  guarantees the payload never contains ``0x00``, so the receiver resynchronises at the next
  delimiter after any garbage; the CRC-32 catches corrupted or merged bytes, and such frames are
  dropped and counted, never delivered. The leading delimiter flushes line noise that arrived
  before the frame, so noise costs nothing but itself.

Errors are specific: :class:`LinkDown` when the link is unusable (port gone, transport
closed), :class:`FrameError` when a frame cannot be sent (empty or over the size limit).
A receive timeout is not an error: :meth:`Transport.receive` returns None.
"""

import abc
from dataclasses import dataclass, replace
import logging
import socket
import sys
import time
from typing import Optional, Tuple
import zlib

from cobs import cobs
import serial

Address = Tuple[str, int]

MAX_UDP_PAYLOAD = 65507
"""Largest UDP payload over IPv4."""

DEFAULT_SERIAL_MAX_FRAME = 4096
"""Default largest serial frame payload; a space packet with a 4 kB CFDP PDU fits."""

_DELIMITER = b'\x00'
_CRC_LEN = 4
_LOGGER = logging.getLogger(__name__)
#: Linux socket options Python's socket module does not name (asm-generic/socket.h).
_SO_RCVBUFFORCE = 33
_SO_RXQ_OVFL = 40


class TransportError(Exception):
    """Base class of the transport faults."""


class LinkDown(TransportError):
    """The link cannot carry frames: the port vanished, the peer hung up, or it was closed."""


class FrameError(TransportError):
    """A frame was refused for sending (empty, or over the transport's size limit)."""


@dataclass
class TransportCounters:
    """What a transport has seen since it opened; read them with :attr:`Transport.counters`."""

    frames_sent: int = 0
    bytes_sent: int = 0
    frames_received: int = 0
    bytes_received: int = 0
    frames_dropped_corrupt: int = 0
    """Serial: bad COBS or CRC, or over-long garbage; UDP: datagrams over the size limit."""
    frames_dropped_foreign: int = 0
    """UDP only: datagrams from an address other than the configured peer."""
    frames_dropped_kernel: int = 0
    """UDP on Linux only: datagrams the kernel dropped because the receive buffer was full."""


class Transport(abc.ABC):
    """One link that sends and receives whole frames; usable as a context manager."""

    def __init__(self, max_frame: int) -> None:
        """Set the largest frame payload this transport accepts, in bytes."""
        if max_frame < 1:
            raise ValueError(f'max_frame must be >= 1 byte, got {max_frame}')
        self._max_frame = max_frame
        self._counters = TransportCounters()
        self._closed = False

    @property
    def max_frame(self) -> int:
        """Largest frame payload, in bytes."""
        return self._max_frame

    @property
    def counters(self) -> TransportCounters:
        """Return a snapshot of the counters."""
        return replace(self._counters)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def send(self, frame: bytes) -> None:
        """
        Send one frame.

        :raises FrameError: the frame is empty or longer than :attr:`max_frame`.
        :raises LinkDown: the link is closed or gone.
        """
        self._check_open()
        if not frame:
            raise FrameError('refusing to send an empty frame')
        if len(frame) > self._max_frame:
            raise FrameError(f'frame of {len(frame)} B exceeds the {self._max_frame} B limit')
        self._send(bytes(frame))
        self._counters.frames_sent += 1
        self._counters.bytes_sent += len(frame)

    def receive(self, timeout: float) -> Optional[bytes]:
        """
        Return the next valid frame, or None if none arrived within ``timeout`` seconds.

        :raises LinkDown: the link is closed or gone.
        """
        if timeout < 0.0:
            raise ValueError(f'timeout must be >= 0 s, got {timeout}')
        self._check_open()
        frame = self._receive(timeout)
        if frame is not None:
            self._counters.frames_received += 1
            self._counters.bytes_received += len(frame)
        return frame

    def close(self) -> None:
        """Release the port or socket; idempotent."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> 'Transport':
        """Return self; the transport is open from construction."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close on leaving the block."""
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise LinkDown(f'{type(self).__name__} is closed')

    @abc.abstractmethod
    def _send(self, frame: bytes) -> None:
        """Put one validated frame on the link."""

    @abc.abstractmethod
    def _receive(self, timeout: float) -> Optional[bytes]:
        """Return one valid frame or None at the timeout."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the OS resources."""


class UdpTransport(Transport):
    """One UDP datagram per frame, bound to ``local``, talking to ``remote``."""

    def __init__(self, local: Address, remote: Address, *,
                 max_frame: int = MAX_UDP_PAYLOAD, accept_any_source: bool = False,
                 receive_buffer_bytes: int = 0) -> None:
        """
        Bind ``local`` (port 0 picks a free port) and send to ``remote``.

        :param accept_any_source: deliver datagrams from any address (not only ``remote``).
        :param receive_buffer_bytes: ``SO_RCVBUF`` to ask for (0: the kernel default). The
            kernel may grant less (Linux caps it at ``net.core.rmem_max`` unless the process
            may force it); :attr:`receive_buffer_bytes` is what it granted.
        :raises LinkDown: the local address cannot be bound.
        """
        if not 1 <= max_frame <= MAX_UDP_PAYLOAD:
            raise ValueError(f'max_frame must be in [1, {MAX_UDP_PAYLOAD}] B, got {max_frame}')
        if receive_buffer_bytes < 0:
            raise ValueError(f'receive_buffer_bytes must be >= 0, got {receive_buffer_bytes}')
        super().__init__(max_frame)
        self._remote = (socket.gethostbyname(remote[0]), int(remote[1]))
        self._accept_any_source = accept_any_source
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind(local)
        except OSError as error:
            self._sock.close()
            raise LinkDown(f'cannot bind UDP {local[0]}:{local[1]}: {error}') from error
        if receive_buffer_bytes:
            self._size_receive_buffer(receive_buffer_bytes)
        self._counts_kernel_drops = self._enable_drop_counter()

    @property
    def receive_buffer_bytes(self) -> int:
        """Return the receive buffer the kernel granted (Linux reports twice the payload)."""
        return self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    @property
    def counts_kernel_drops(self) -> bool:
        """Return True when kernel drops are counted (Linux ``SO_RXQ_OVFL``)."""
        return self._counts_kernel_drops

    def _size_receive_buffer(self, size: int) -> None:
        """Ask for ``size`` bytes, forcing past ``rmem_max`` where the process may."""
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        if self.receive_buffer_bytes < size and sys.platform.startswith('linux'):
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
            except OSError:
                pass  # not privileged: keep what SO_RCVBUF granted, warned below
        if self.receive_buffer_bytes < size:
            _LOGGER.warning('UDP receive buffer: asked for %d B, the kernel granted %d B '
                            '(raise net.core.rmem_max)', size, self.receive_buffer_bytes)

    def _enable_drop_counter(self) -> bool:
        if not sys.platform.startswith('linux'):
            return False
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, _SO_RXQ_OVFL, 1)
        except OSError:
            return False
        return True

    @property
    def local_address(self) -> Address:
        """Return the bound (host, port), with the real port when 0 was asked for."""
        host, port = self._sock.getsockname()[:2]
        return host, port

    @property
    def remote_address(self) -> Address:
        """Where frames are sent."""
        return self._remote

    def _send(self, frame: bytes) -> None:
        try:
            self._sock.sendto(frame, self._remote)
        except OSError as error:
            raise LinkDown(f'UDP send to {self._remote} failed: {error}') from error

    def _receive(self, timeout: float) -> Optional[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            self._sock.settimeout(max(0.0, deadline - time.monotonic()))
            try:
                data, source = self._receive_datagram()
            except (socket.timeout, BlockingIOError):
                return None
            except ConnectionRefusedError:
                # An ICMP port-unreachable from a vanished peer: the link is lossy, not down.
                continue
            except OSError as error:
                raise LinkDown(f'UDP receive failed: {error}') from error
            if not self._accept_any_source and source[:2] != self._remote:
                self._counters.frames_dropped_foreign += 1
            elif not data or len(data) > self._max_frame:
                self._counters.frames_dropped_corrupt += 1
            else:
                return data
            if time.monotonic() >= deadline:
                return None

    def _receive_datagram(self) -> Tuple[bytes, Address]:
        if not self._counts_kernel_drops:
            return self._sock.recvfrom(MAX_UDP_PAYLOAD + 1)
        data, ancillary, _, source = self._sock.recvmsg(MAX_UDP_PAYLOAD + 1,
                                                        socket.CMSG_SPACE(4))
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_RXQ_OVFL and len(value) >= 4:
                # The socket's drop count so far, as the kernel queued this datagram.
                self._counters.frames_dropped_kernel = int.from_bytes(value[:4], sys.byteorder)
        return data, source

    def _close(self) -> None:
        self._sock.close()


def free_udp_port() -> int:
    """Return a UDP port that was free a moment ago on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def encode_serial_frame(payload: bytes) -> bytes:
    """Return the on-wire serial form of ``payload``: ``0x00 | COBS(payload | CRC32) | 0x00``."""
    crc = zlib.crc32(payload).to_bytes(_CRC_LEN, 'big')
    return _DELIMITER + cobs.encode(payload + crc) + _DELIMITER


class SerialFrameDecoder:
    """
    Incremental decoder of the serial frame format: feed bytes, collect whole frames.

    Kept separate from the port so it can be tested on any byte pattern.
    """

    def __init__(self, max_frame: int = DEFAULT_SERIAL_MAX_FRAME) -> None:
        """Accept payloads up to ``max_frame`` bytes; longer runs are garbage."""
        self._max_frame = max_frame
        # COBS adds one byte per 254 plus one; anything longer is not one of our frames.
        self._max_encoded = max_frame + _CRC_LEN + (max_frame + _CRC_LEN) // 254 + 2
        self._buffer = bytearray()
        self._overflowing = False
        self.frames_dropped = 0
        self.bytes_discarded = 0

    def feed(self, data: bytes) -> list:
        """Consume ``data`` and return the list of valid payloads it completed, in order."""
        frames = []
        for chunk_index, chunk in enumerate(bytes(data).split(_DELIMITER)):
            if chunk_index > 0:
                frame = self._end_of_frame()
                if frame is not None:
                    frames.append(frame)
            self._append(chunk)
        return frames

    def _append(self, chunk: bytes) -> None:
        if self._overflowing:
            self.bytes_discarded += len(chunk)
            return
        self._buffer += chunk
        if len(self._buffer) > self._max_encoded:
            self.bytes_discarded += len(self._buffer)
            self._buffer.clear()
            self._overflowing = True

    def _end_of_frame(self) -> Optional[bytes]:
        if self._overflowing:
            self._overflowing = False
            self.frames_dropped += 1
            return None
        encoded = bytes(self._buffer)
        self._buffer.clear()
        if not encoded:
            return None
        try:
            decoded = cobs.decode(encoded)
        except cobs.DecodeError:
            self._drop(encoded)
            return None
        payload, crc = decoded[:-_CRC_LEN], decoded[-_CRC_LEN:]
        if len(decoded) <= _CRC_LEN or zlib.crc32(payload).to_bytes(_CRC_LEN, 'big') != crc:
            self._drop(encoded)
            return None
        return payload

    def _drop(self, encoded: bytes) -> None:
        self.frames_dropped += 1
        self.bytes_discarded += len(encoded)


class SerialTransport(Transport):
    """COBS + CRC-32 framed frames over a serial port (the pre-deployment umbilical)."""

    def __init__(self, port: str, baudrate: int, *,
                 max_frame: int = DEFAULT_SERIAL_MAX_FRAME) -> None:
        """
        Open ``port`` at ``baudrate`` (8N1, no flow control).

        :raises LinkDown: the port cannot be opened.
        """
        if baudrate <= 0:
            raise ValueError(f'baudrate must be > 0 bit/s, got {baudrate}')
        super().__init__(max_frame)
        self._decoder = SerialFrameDecoder(max_frame)
        self._pending: list = []
        try:
            self._port = serial.Serial(port=port, baudrate=baudrate, timeout=0.0,
                                       write_timeout=None)
        except (serial.SerialException, OSError) as error:
            raise LinkDown(f'cannot open serial port {port}: {error}') from error

    @property
    def bytes_discarded(self) -> int:
        """Line-noise and corrupt-frame bytes thrown away by the decoder."""
        return self._decoder.bytes_discarded

    def _send(self, frame: bytes) -> None:
        try:
            self._port.write(encode_serial_frame(frame))
            self._port.flush()
        except (serial.SerialException, OSError) as error:
            raise LinkDown(f'serial write failed: {error}') from error

    def _receive(self, timeout: float) -> Optional[bytes]:
        deadline = time.monotonic() + timeout
        while not self._pending:
            remaining = deadline - time.monotonic()
            try:
                self._port.timeout = max(0.0, remaining)
                data = self._port.read(max(1, self._port.in_waiting))
            except (serial.SerialException, OSError) as error:
                raise LinkDown(f'serial read failed: {error}') from error
            dropped_before = self._decoder.frames_dropped
            self._pending.extend(self._decoder.feed(data))
            self._counters.frames_dropped_corrupt += self._decoder.frames_dropped - dropped_before
            if not self._pending and time.monotonic() >= deadline:
                return None
        return self._pending.pop(0)

    def _close(self) -> None:
        self._port.close()
