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
Lander-link emulator: delay, loss, duplication, reordering, line rate and outages.

The rover reaches Earth through its lander: seconds of delay, a narrow and lossy relay, and
outages. This module reproduces that between the bridge and the ground tool:

* :class:`SimulatedLink` is the impairment model on a caller-supplied clock. Tests and
  benchmarks drive it in simulated time, so a 2.6 s round trip costs no wall time.
* :class:`LinkEmulator` runs the same model as a UDP proxy in a thread: one socket faces the
  rover (bridge), one faces the ground tool, and every datagram crossing it is impaired.
* ``rover-link-emulator`` (:func:`main`) is the same proxy as a console program for demos.

Per direction a :class:`LinkProfile` sets the one-way delay (plus uniform jitter), the loss
and duplication probabilities, the probability that a frame is held back so later frames
overtake it, and the line rate: frames queue behind each other and leave at ``rate_bps``,
and a full queue drops (tail drop). Outages, scheduled or switched at run time, drop every
frame offered while they last; frames already on the line still arrive. Every random choice
comes from a per-direction generator seeded from one ``seed``, with the same number of draws
per frame whatever the profile, so a run is reproducible.
"""

import argparse
from dataclasses import dataclass, replace
import enum
import heapq
import itertools
import math
import random
import selectors
import socket
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

Address = Tuple[str, int]

_MAX_DATAGRAM = 65535
_RECEIVE_BUFFER = 4 << 20
_IDLE_WAKE_S = 0.05
"""The proxy thread wakes at least this often to notice stop requests and outage changes."""


class Direction(enum.Enum):
    """The two directions of the lander link."""

    DOWNLINK = 'downlink'
    """Rover (bridge) to ground."""
    UPLINK = 'uplink'
    """Ground to rover (bridge)."""


@dataclass(frozen=True)
class LinkProfile:
    """Impairments of one direction; the defaults are a perfect link."""

    delay_s: float = 0.0
    """One-way propagation delay, s (Earth-Moon light time is about 1.28 s)."""
    jitter_s: float = 0.0
    """Extra delay drawn uniformly in [0, jitter_s), s. Non-zero jitter also reorders."""
    loss: float = 0.0
    """Probability that a frame is lost, [0, 1]."""
    duplicate: float = 0.0
    """Probability that a frame is delivered twice, [0, 1]."""
    reorder: float = 0.0
    """Probability that a frame is held back by ``reorder_delay_s`` so later ones overtake it."""
    reorder_delay_s: float = 0.02
    """How long a reordered frame is held back, s."""
    rate_bps: Optional[float] = None
    """Line rate, bit/s; None is unlimited. Frames queue and leave at this rate."""
    queue_limit_bytes: int = 1 << 20
    """Bytes that may wait for the line; a frame that does not fit is dropped."""

    def __post_init__(self) -> None:
        """Refuse impossible values, naming the valid range."""
        for name in ('delay_s', 'jitter_s', 'reorder_delay_s'):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0.0:
                raise ValueError(f'{name} must be a finite number >= 0 s, got {value}')
        for name in ('loss', 'duplicate', 'reorder'):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be a probability in [0, 1], got {value}')
        if self.rate_bps is not None and not (math.isfinite(self.rate_bps)
                                              and self.rate_bps > 0.0):
            raise ValueError(f'rate_bps must be > 0 bit/s or None, got {self.rate_bps}')
        if self.queue_limit_bytes < 1:
            raise ValueError(f'queue_limit_bytes must be >= 1, got {self.queue_limit_bytes}')


@dataclass
class LinkCounters:
    """What happened to the frames of one direction."""

    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    dropped_loss: int = 0
    dropped_outage: int = 0
    dropped_queue: int = 0
    dropped_no_peer: int = 0
    """LinkEmulator: frames out of the link (counted in ``frames_out``) for a side whose
    address is not known yet."""
    duplicated: int = 0
    reordered: int = 0
    """Frames delivered after a frame that entered the link later than them."""


@dataclass(frozen=True)
class Outage:
    """A scheduled outage: ``start_s`` after the link's start, lasting ``duration_s``."""

    start_s: float
    duration_s: float

    def __post_init__(self) -> None:
        """Refuse negative times."""
        if self.start_s < 0.0 or self.duration_s <= 0.0:
            raise ValueError(
                f'outage needs start_s >= 0 and duration_s > 0, got {self.start_s}, '
                f'{self.duration_s}')

    def covers(self, elapsed_s: float) -> bool:
        """Whether the outage is on ``elapsed_s`` after the link's start."""
        return self.start_s <= elapsed_s < self.start_s + self.duration_s


class _Channel:
    """The impairment model of one direction."""

    def __init__(self, profile: LinkProfile, rng: random.Random) -> None:
        self.profile = profile
        self.counters = LinkCounters()
        self._rng = rng
        self._line_free_at = -math.inf
        self._ingress_index = itertools.count()
        self._max_delivered_index = -1

    def offer(self, size: int, now: float, outage: bool) -> Tuple[int, List[float]]:
        """Return the frame's ingress index and its delivery times (none if dropped)."""
        # Always five draws per frame, so one profile change does not reshuffle the others.
        u_loss, u_jitter, u_reorder, u_dup, u_dup_jitter = (
            self._rng.random() for _ in range(5))
        profile = self.profile
        index = next(self._ingress_index)
        self.counters.frames_in += 1
        self.counters.bytes_in += size
        if outage:
            self.counters.dropped_outage += 1
            return index, []
        if u_loss < profile.loss:
            self.counters.dropped_loss += 1
            return index, []
        on_line_at = now
        if profile.rate_bps is not None:
            start = max(now, self._line_free_at)
            queued_bytes = (start - now) * profile.rate_bps / 8.0
            if queued_bytes + size > profile.queue_limit_bytes:
                self.counters.dropped_queue += 1
                return index, []
            self._line_free_at = start + size * 8.0 / profile.rate_bps
            on_line_at = self._line_free_at
        arrival = on_line_at + profile.delay_s + u_jitter * profile.jitter_s
        if u_reorder < profile.reorder:
            arrival += profile.reorder_delay_s
        times = [arrival]
        if u_dup < profile.duplicate:
            self.counters.duplicated += 1
            times.append(arrival + u_dup_jitter * max(profile.jitter_s, 1e-3))
        return index, times

    def delivered(self, index: int, size: int) -> None:
        """Count one delivery, noting whether a later frame got there first."""
        self.counters.frames_out += 1
        self.counters.bytes_out += size
        if index < self._max_delivered_index:
            self.counters.reordered += 1
        self._max_delivered_index = max(self._max_delivered_index, index)


class SimulatedLink:
    """
    The lander-link model on the caller's clock: offer frames, collect them when due.

    Not thread-safe by itself; :class:`LinkEmulator` serialises access.
    """

    def __init__(self, *, downlink: LinkProfile = LinkProfile(),
                 uplink: LinkProfile = LinkProfile(), outages: Sequence[Outage] = (),
                 seed: int = 0, start_time: float = 0.0) -> None:
        """Build both directions; ``start_time`` is the clock value outages count from."""
        self._channels: Dict[Direction, _Channel] = {
            Direction.DOWNLINK: _Channel(downlink, random.Random(f'{seed}:downlink')),
            Direction.UPLINK: _Channel(uplink, random.Random(f'{seed}:uplink')),
        }
        self._outages = tuple(outages)
        self._forced_outage = {Direction.DOWNLINK: False, Direction.UPLINK: False}
        self._start_time = start_time
        self._in_flight: List[Tuple[float, int, Direction, int, bytes]] = []
        self._tiebreak = itertools.count()

    def set_start_time(self, start_time: float) -> None:
        """Make scheduled outages count from ``start_time``."""
        self._start_time = start_time

    def profile(self, direction: Direction) -> LinkProfile:
        """Return the impairments of ``direction``."""
        return self._channels[direction].profile

    def set_profile(self, direction: Direction, profile: LinkProfile) -> None:
        """Change the impairments of ``direction`` for frames offered from now on."""
        self._channels[direction].profile = profile

    def set_outage(self, active: bool, direction: Optional[Direction] = None) -> None:
        """Switch a run-time outage on or off, for one direction or (None) both."""
        for each in ([direction] if direction is not None else list(Direction)):
            self._forced_outage[each] = active

    def outage_active(self, direction: Direction, now: float) -> bool:
        """Whether frames offered in ``direction`` at ``now`` are dropped by an outage."""
        elapsed = now - self._start_time
        return self._forced_outage[direction] or any(o.covers(elapsed) for o in self._outages)

    def counters(self, direction: Direction) -> LinkCounters:
        """Return a snapshot of the counters of ``direction``."""
        return replace(self._channels[direction].counters)

    def count_no_peer(self, direction: Direction) -> None:
        """Record a frame that could not be delivered because the far end is unknown."""
        self._channels[direction].counters.dropped_no_peer += 1

    def send(self, direction: Direction, frame: bytes, now: float) -> None:
        """Offer ``frame`` to the link in ``direction`` at time ``now``."""
        channel = self._channels[direction]
        index, times = channel.offer(len(frame), now, self.outage_active(direction, now))
        for arrival in times:
            heapq.heappush(self._in_flight,
                           (arrival, next(self._tiebreak), direction, index, bytes(frame)))

    def next_due(self) -> Optional[float]:
        """Time of the next delivery, or None when nothing is in flight."""
        return self._in_flight[0][0] if self._in_flight else None

    def in_flight(self) -> int:
        """Count the frames (copies included) still travelling."""
        return len(self._in_flight)

    def pop_due(self, now: float) -> List[Tuple[Direction, bytes]]:
        """Remove and return, in arrival order, every frame due at or before ``now``."""
        due = []
        while self._in_flight and self._in_flight[0][0] <= now:
            _, _, direction, index, frame = heapq.heappop(self._in_flight)
            self._channels[direction].delivered(index, len(frame))
            due.append((direction, frame))
        return due


class LinkEmulator:
    """
    UDP proxy between the bridge and the ground tool that impairs every datagram.

    The bridge sends to :attr:`rover_address` and the ground tool to :attr:`ground_address`.
    Each side's address is taken from its latest datagram unless given as ``rover_peer`` /
    ``ground_peer``; frames towards a side not yet heard from are dropped and counted.
    """

    def __init__(self, rover_bind: Address = ('127.0.0.1', 0),
                 ground_bind: Address = ('127.0.0.1', 0), *,
                 downlink: LinkProfile = LinkProfile(), uplink: LinkProfile = LinkProfile(),
                 outages: Sequence[Outage] = (), seed: int = 0,
                 rover_peer: Optional[Address] = None,
                 ground_peer: Optional[Address] = None) -> None:
        """Bind both sockets (port 0 picks a free port); call :meth:`start` to run."""
        self._lock = threading.Lock()
        self._link = SimulatedLink(downlink=downlink, uplink=uplink, outages=outages,
                                   seed=seed, start_time=time.monotonic())
        self._sockets: Dict[Direction, socket.socket] = {}
        self._peers: Dict[Direction, Optional[Address]] = {
            Direction.DOWNLINK: rover_peer, Direction.UPLINK: ground_peer}
        self._fixed_peers = {Direction.DOWNLINK: rover_peer is not None,
                             Direction.UPLINK: ground_peer is not None}
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        # The rover-facing socket receives downlink frames; the ground-facing one uplink.
        for direction, bind in ((Direction.DOWNLINK, rover_bind),
                                (Direction.UPLINK, ground_bind)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind(bind)
            except OSError:
                sock.close()
                self.close()
                raise
            sock.setblocking(False)
            # A burst from the bridge must not overflow the kernel buffer before the thread
            # reads it: that would be loss the emulator neither chose nor counted.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            self._sockets[direction] = sock

    @property
    def rover_address(self) -> Address:
        """Where the bridge sends its downlink, and where uplink frames come from."""
        return self._sockets[Direction.DOWNLINK].getsockname()[:2]

    @property
    def ground_address(self) -> Address:
        """Where the ground tool sends its uplink, and where downlink frames come from."""
        return self._sockets[Direction.UPLINK].getsockname()[:2]

    def counters(self, direction: Direction) -> LinkCounters:
        """Return a snapshot of the counters of ``direction``."""
        with self._lock:
            return self._link.counters(direction)

    def set_peers(self, rover: Optional[Address], ground: Optional[Address]) -> None:
        """Fix the bridge's and the ground tool's addresses (None: learn from datagrams)."""
        with self._lock:
            for direction, peer in ((Direction.DOWNLINK, rover), (Direction.UPLINK, ground)):
                self._peers[direction] = peer
                self._fixed_peers[direction] = peer is not None

    def set_outage(self, active: bool, direction: Optional[Direction] = None) -> None:
        """Cut (True) or restore (False) the link, one direction or (None) both."""
        with self._lock:
            self._link.set_outage(active, direction)

    def set_profile(self, direction: Direction, profile: LinkProfile) -> None:
        """Change the impairments of ``direction`` while running."""
        with self._lock:
            self._link.set_profile(direction, profile)

    def outage_active(self, direction: Direction) -> bool:
        """Whether ``direction`` is in an outage now."""
        with self._lock:
            return self._link.outage_active(direction, time.monotonic())

    def start(self) -> 'LinkEmulator':
        """Start the proxy thread; returns self."""
        if self._thread is not None:
            raise RuntimeError('link emulator already started')
        with self._lock:
            self._link.set_start_time(time.monotonic())
        self._thread = threading.Thread(target=self._run, name='link-emulator', daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread and close the sockets; frames in flight are discarded."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for sock in self._sockets.values():
            sock.close()

    def __enter__(self) -> 'LinkEmulator':
        """Start if not started and return self."""
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop and close."""
        self.close()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        for direction, sock in self._sockets.items():
            selector.register(sock, selectors.EVENT_READ, direction)
        try:
            while not self._stop.is_set():
                self._deliver_due()
                with self._lock:
                    next_due = self._link.next_due()
                wait = _IDLE_WAKE_S if next_due is None else next_due - time.monotonic()
                for key, _ in selector.select(min(max(wait, 0.0), _IDLE_WAKE_S)):
                    self._ingest(key.fileobj, key.data)
        finally:
            selector.close()

    def _ingest(self, sock: socket.socket, direction: Direction) -> None:
        while True:
            try:
                frame, source = sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, ConnectionRefusedError):
                return
            except OSError:
                if self._stop.is_set():
                    return
                raise
            with self._lock:
                if not self._fixed_peers[direction]:
                    self._peers[direction] = source[:2]
                self._link.send(direction, frame, time.monotonic())

    def _deliver_due(self) -> None:
        with self._lock:
            due = self._link.pop_due(time.monotonic())
        for direction, frame in due:
            # A downlink frame leaves through the ground-facing socket to the ground peer.
            far_side = Direction.UPLINK if direction is Direction.DOWNLINK else Direction.DOWNLINK
            peer = self._peers[far_side]
            if peer is None:
                with self._lock:
                    self._link.count_no_peer(direction)
                continue
            try:
                self._sockets[far_side].sendto(frame, peer)
            except (BlockingIOError, ConnectionRefusedError):
                with self._lock:
                    self._link.count_no_peer(direction)


def _pair(text: str, parse=float) -> Tuple:
    """Parse ``X`` (both directions) or ``DOWN,UP``."""
    parts = text.split(',')
    if len(parts) == 1:
        return parse(parts[0]), parse(parts[0])
    if len(parts) == 2:
        return parse(parts[0]), parse(parts[1])
    raise argparse.ArgumentTypeError(f'expected VALUE or DOWN,UP, got {text!r}')


def _address(text: str) -> Address:
    host, _, port = text.rpartition(':')
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f'expected HOST:PORT, got {text!r}')
    return host, int(port)


def _outage(text: str) -> Outage:
    start, _, duration = text.partition(':')
    try:
        return Outage(float(start), float(duration))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f'expected START_S:DURATION_S, got {text!r}: {error}')


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of ``rover-link-emulator``."""
    parser = argparse.ArgumentParser(
        prog='rover-link-emulator',
        description='UDP proxy that emulates the rover-lander-Earth link. Values given as '
                    'DOWN,UP set the downlink (rover to ground) and uplink separately. '
                    'Type "outage on", "outage off", "stats" or "quit" on stdin.')
    parser.add_argument('--rover-bind', type=_address, default=('127.0.0.1', 10010),
                        help='HOST:PORT the bridge sends to (default 127.0.0.1:10010)')
    parser.add_argument('--ground-bind', type=_address, default=('127.0.0.1', 10020),
                        help='HOST:PORT the ground tool sends to (default 127.0.0.1:10020)')
    parser.add_argument('--rover-peer', type=_address, default=None,
                        help='HOST:PORT of the bridge (default: learnt from its datagrams)')
    parser.add_argument('--ground-peer', type=_address, default=None,
                        help='HOST:PORT of the ground tool (default: learnt)')
    parser.add_argument('--delay', type=_pair, default=(1.3, 1.3),
                        help='one-way delay, s (default 1.3: Earth-Moon plus relay)')
    parser.add_argument('--jitter', type=_pair, default=(0.0, 0.0), help='jitter, s')
    parser.add_argument('--loss', type=_pair, default=(0.0, 0.0), help='loss probability')
    parser.add_argument('--duplicate', type=_pair, default=(0.0, 0.0),
                        help='duplication probability')
    parser.add_argument('--reorder', type=_pair, default=(0.0, 0.0),
                        help='probability a frame is held back and overtaken')
    parser.add_argument('--rate', type=_pair, default=(1e6, 1e6),
                        help='line rate, bit/s (default 1e6); 0 = unlimited')
    parser.add_argument('--outage', type=_outage, action='append', default=[],
                        help='scheduled outage START_S:DURATION_S after start; repeatable')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--stats-interval', type=float, default=10.0,
                        help='print counters every N s; 0 disables (default 10)')
    return parser


def profiles_from_args(args: argparse.Namespace) -> Tuple[LinkProfile, LinkProfile]:
    """Return the (downlink, uplink) profiles the parsed arguments describe."""
    profiles = []
    for i in range(2):
        rate = args.rate[i]
        profiles.append(LinkProfile(
            delay_s=args.delay[i], jitter_s=args.jitter[i], loss=args.loss[i],
            duplicate=args.duplicate[i], reorder=args.reorder[i],
            rate_bps=None if rate == 0 else rate))
    return profiles[0], profiles[1]


def _format_counters(emulator: LinkEmulator) -> str:
    lines = []
    for direction in Direction:
        c = emulator.counters(direction)
        lines.append(
            f'{direction.value}: in {c.frames_in} out {c.frames_out} lost {c.dropped_loss} '
            f'outage {c.dropped_outage} queue {c.dropped_queue} no-peer {c.dropped_no_peer} '
            f'dup {c.duplicated} reordered {c.reordered}')
    return '\n'.join(lines)


def _read_commands(emulator: LinkEmulator, done: threading.Event) -> None:
    for line in sys.stdin:
        command = line.strip().lower()
        if command in ('outage on', 'outage off'):
            emulator.set_outage(command.endswith('on'))
            print(f'outage {"on" if command.endswith("on") else "off"}', flush=True)
        elif command == 'stats':
            print(_format_counters(emulator), flush=True)
        elif command == 'quit':
            break
        elif command:
            print('commands: outage on | outage off | stats | quit', flush=True)
    done.set()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the emulator until Ctrl-C or ``quit``; return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        downlink, uplink = profiles_from_args(args)
    except ValueError as error:
        print(f'rover-link-emulator: {error}', file=sys.stderr)
        return 2
    emulator = LinkEmulator(args.rover_bind, args.ground_bind, downlink=downlink,
                            uplink=uplink, outages=args.outage, seed=args.seed,
                            rover_peer=args.rover_peer, ground_peer=args.ground_peer)
    done = threading.Event()
    with emulator:
        print(f'rover side {emulator.rover_address[0]}:{emulator.rover_address[1]}, '
              f'ground side {emulator.ground_address[0]}:{emulator.ground_address[1]}',
              flush=True)
        threading.Thread(target=_read_commands, args=(emulator, done), daemon=True).start()
        try:
            interval = args.stats_interval if args.stats_interval > 0 else None
            while not done.wait(interval):
                print(_format_counters(emulator), flush=True)
        except KeyboardInterrupt:
            pass
        print(_format_counters(emulator), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
