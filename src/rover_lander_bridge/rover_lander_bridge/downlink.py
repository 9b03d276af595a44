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
Downlink scheduling under a bandwidth budget, strictly by priority.

A token bucket (``rate_bps``, ``burst_bytes``) meters the bytes the rover puts on the lander
link, counting each frame plus a per-frame overhead (UDP/IP headers, serial framing). Each
tick, frames are filled from the packet sources in priority order, and a source is only
drawn from when every source before it is empty: verification reports and events first,
then housekeeping and time reports, then CFDP file PDUs (whose queue already puts thumbnails
before full images). A packet that does not fit the current frame or the tokens waits for
the next frame; nothing lower in priority overtakes it.
"""

from collections import deque
from typing import Callable, Deque, List, Optional, Protocol, Sequence, Tuple

from rover_lander_bridge.tm_store import TmStore
from rover_link.framing import PRIMARY_HEADER_LEN, wrap_cfdp
from rover_link.protocol import Priority
from spacepackets.ccsds.spacepacket import PacketType


class PacketSource(Protocol):
    """A queue of ready space packets the scheduler draws from."""

    def peek(self) -> Optional[bytes]:
        """Return the next packet without taking it, or None if empty."""

    def pop(self) -> bytes:
        """Take the packet :meth:`peek` returned."""


class TokenBucket:
    """
    Bytes allowed on the link: ``rate_bps / 8`` per second, at most ``burst_bytes`` saved up.

    :param now: start time (s); the bucket starts full.
    """

    def __init__(self, rate_bps: float, burst_bytes: int, now: float) -> None:
        self._tokens = float(burst_bytes)
        self._stamp = now
        self.configure(rate_bps, burst_bytes)

    def configure(self, rate_bps: float, burst_bytes: int) -> None:
        """Change the rate and depth (tokens above the new depth are dropped)."""
        if not rate_bps > 0.0:
            raise ValueError(f'rate_bps must be > 0, got {rate_bps}')
        if burst_bytes < 1:
            raise ValueError(f'burst_bytes must be >= 1, got {burst_bytes}')
        self._rate = rate_bps / 8.0
        self._burst = float(burst_bytes)
        self._tokens = min(self._tokens, self._burst)

    def tokens(self, now: float) -> float:
        """Return the bytes available at ``now`` (negative after an oversize frame)."""
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
        return self._tokens

    @property
    def full(self) -> bool:
        """Return True when no more tokens can be saved up."""
        return self._tokens >= self._burst

    def consume(self, size: int) -> None:
        """Spend ``size`` bytes (may go negative: the debt is paid before the next frame)."""
        self._tokens -= size


class DownlinkScheduler:
    """
    Builds the downlink frames the budget allows, most urgent packets first.

    :param rate_bps: link budget (bit/s) given to this rover.
    :param burst_bytes: most bytes sent back to back (>= max_frame_bytes + overhead).
    :param max_frame_bytes: most bytes of space packets per frame (a single larger packet
        goes alone).
    :param frame_overhead_bytes: bytes the link adds per frame (54 by default: the 26-byte
        downlink security header and MAC, and 28 for UDP over IPv4).
    :param now: start time (s).
    """

    def __init__(self, *, rate_bps: float, burst_bytes: int, max_frame_bytes: int,
                 frame_overhead_bytes: int, now: float) -> None:
        self._bucket = TokenBucket(rate_bps, burst_bytes, now)
        self.configure(rate_bps=rate_bps, burst_bytes=burst_bytes,
                       max_frame_bytes=max_frame_bytes,
                       frame_overhead_bytes=frame_overhead_bytes, now=now)

    def configure(self, *, rate_bps: float, burst_bytes: int, max_frame_bytes: int,
                  frame_overhead_bytes: int, now: float) -> None:
        """Change the budget; ValueError names the rule a value breaks."""
        if max_frame_bytes < 64:
            raise ValueError(f'max_frame_bytes must be >= 64, got {max_frame_bytes}')
        if frame_overhead_bytes < 0:
            raise ValueError(f'frame_overhead_bytes must be >= 0, got {frame_overhead_bytes}')
        if burst_bytes < max_frame_bytes + frame_overhead_bytes:
            raise ValueError(f'burst_bytes ({burst_bytes}) must hold one full frame '
                             f'({max_frame_bytes + frame_overhead_bytes} B with overhead)')
        self._bucket.tokens(now)
        self._bucket.configure(rate_bps, burst_bytes)
        self._max_frame = max_frame_bytes
        self._overhead = frame_overhead_bytes

    @property
    def max_frame_bytes(self) -> int:
        """Return the frame size limit."""
        return self._max_frame

    def frames(self, now: float, sources: Sequence[PacketSource]) -> List[bytes]:
        """Return the frames to send at ``now``, drawn from ``sources`` in priority order."""
        frames = []
        while True:
            frame = self._fill(self._bucket.tokens(now), sources)
            if not frame:
                return frames
            self._bucket.consume(len(frame) + self._overhead)
            frames.append(frame)

    def _fill(self, tokens: float, sources: Sequence[PacketSource]) -> bytes:
        parts: List[bytes] = []
        size = 0
        for source in sources:
            while True:
                packet = source.peek()
                if packet is None:
                    break
                if not self._fits(size, len(packet), tokens):
                    return b''.join(parts)
                parts.append(source.pop())
                size += len(packet)
        return b''.join(parts)

    def _fits(self, size: int, packet_len: int, tokens: float) -> bool:
        total = size + packet_len
        if size == 0 and packet_len > self._max_frame:
            return self._bucket.full or packet_len + self._overhead <= tokens
        return total <= self._max_frame and total + self._overhead <= tokens


class StoreSource:
    """
    The unsent packets of one priority class of the TM store.

    Taken packets are marked sent in one transaction by :meth:`commit`.
    """

    def __init__(self, store: TmStore, priority: Priority, batch: int = 64) -> None:
        self._store = store
        self._priority = priority
        self._batch = batch
        self._cache: Deque[Tuple[int, bytes]] = deque()
        self._last_id = 0
        self._taken: List[int] = []
        self._exhausted = False

    def peek(self) -> Optional[bytes]:
        """Return the oldest unsent packet of the class, or None."""
        if not self._cache and not self._exhausted:
            rows = self._store.pending(self._priority, self._batch, after_id=self._last_id)
            self._cache.extend(rows)
            self._exhausted = len(rows) < self._batch
        return self._cache[0][1] if self._cache else None

    def pop(self) -> bytes:
        """Take the packet :meth:`peek` returned."""
        row_id, packet = self._cache.popleft()
        self._last_id = row_id
        self._taken.append(row_id)
        return packet

    def commit(self, now: float) -> int:
        """Mark the taken packets sent at ``now``; return how many."""
        taken, self._taken = self._taken, []
        self._store.mark_sent(taken, now)
        return len(taken)


class CfdpSource:
    """
    The CFDP PDUs the file sender has ready, each wrapped in a space packet.

    Keep one for the sender's life: a PDU drained but not taken (the budget ran out) stays
    here for the next :meth:`peek`; the sender will not make it again.

    :param drain: the sender's ``drain(max_bytes)``.
    :param max_pdu_len: largest PDU the sender makes (settable: the frame size may change).
    :param next_seq: returns the next CFDP-APID sequence count.
    """

    def __init__(self, drain: Callable[[Optional[int]], List[bytes]], max_pdu_len: int,
                 next_seq: Callable[[], int]) -> None:
        self._drain = drain
        self.max_pdu_len = max_pdu_len
        self._next_seq = next_seq
        self._ready: Deque[bytes] = deque()
        self.bytes_taken = 0

    def peek(self) -> Optional[bytes]:
        """Return the next wrapped PDU, or None if the sender has nothing to send."""
        if not self._ready:
            for pdu in self._drain(self.max_pdu_len):
                self._ready.append(wrap_cfdp(pdu, packet_type=PacketType.TM,
                                             seq_count=self._next_seq()))
        return self._ready[0] if self._ready else None

    def pop(self) -> bytes:
        """Take the packet :meth:`peek` returned."""
        packet = self._ready.popleft()
        self.bytes_taken += len(packet) - PRIMARY_HEADER_LEN
        return packet
