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

"""The link emulator: the impairment model in simulated time, then the UDP proxy on loopback."""

import math
import os
from pathlib import Path
import statistics
import struct
import subprocess
import sys
import time

import pytest

import rover_ground
from rover_ground.link_emulator import (build_parser, Direction, LinkEmulator, LinkProfile, Outage,
                                        profiles_from_args, SimulatedLink)
from rover_link.transports import UdpTransport

LOCALHOST = '127.0.0.1'
DOWN, UP = Direction.DOWNLINK, Direction.UPLINK


def _numbered(i: int, size: int = 16) -> bytes:
    return struct.pack('!I', i) + bytes(size - 4)


def _number(frame: bytes) -> int:
    return struct.unpack('!I', frame[:4])[0]


def _run_simulated(link: SimulatedLink, count: int, direction=DOWN, interval=0.001,
                   size=16):
    """Offer ``count`` numbered frames, one per ``interval``; return (arrival, number) list."""
    arrivals = []
    for i in range(count):
        now = i * interval
        arrivals += [(now, _number(f)) for _, f in link.pop_due(now)]
        link.send(direction, _numbered(i, size), now)
    while link.next_due() is not None:
        now = link.next_due()
        arrivals += [(now, _number(f)) for _, f in link.pop_due(now)]
    return arrivals


# --- The model, in simulated time ---------------------------------------------------------
def test_perfect_link_delivers_everything_in_order_after_the_delay():
    link = SimulatedLink(downlink=LinkProfile(delay_s=1.3))
    arrivals = _run_simulated(link, 100)
    assert [n for _, n in arrivals] == list(range(100))
    assert all(math.isclose(t, n * 0.001 + 1.3) for t, n in arrivals)


def test_loss_rate_is_within_tolerance_and_counted():
    n = 20_000
    link = SimulatedLink(downlink=LinkProfile(loss=0.2), seed=3)
    delivered = len(_run_simulated(link, n))
    # 0.2 +- 4 sigma of a binomial over 20 000 frames (sigma = 0.0028).
    assert abs((n - delivered) / n - 0.2) < 0.012
    counters = link.counters(DOWN)
    assert counters.dropped_loss == n - delivered
    assert counters.frames_in == n and counters.frames_out == delivered


def test_duplication_delivers_copies_and_counts_them():
    link = SimulatedLink(downlink=LinkProfile(duplicate=0.3), seed=5)
    numbers = [n for _, n in _run_simulated(link, 5000)]
    copies = len(numbers) - len(set(numbers))
    assert set(numbers) == set(range(5000))
    assert abs(copies / 5000 - 0.3) < 0.03
    assert link.counters(DOWN).duplicated == copies


def test_reordering_lets_later_frames_overtake():
    link = SimulatedLink(downlink=LinkProfile(delay_s=0.5, reorder=0.2, reorder_delay_s=0.01),
                         seed=11)
    numbers = [n for _, n in _run_simulated(link, 2000)]
    assert sorted(numbers) == list(range(2000))
    overtaken = sum(1 for a, b in zip(numbers, numbers[1:]) if b < a)
    assert overtaken > 100
    assert link.counters(DOWN).reordered > 100


def test_rate_limit_queues_frames_at_the_line_rate_and_drops_when_full():
    # 100 frames of 1250 B at 1 Mbit/s: 10 ms each on the line.
    link = SimulatedLink(downlink=LinkProfile(delay_s=1.3, rate_bps=1e6))
    for i in range(100):
        link.send(DOWN, _numbered(i, 1250), 0.0)
    arrivals = []
    while link.next_due() is not None:
        now = link.next_due()
        arrivals += [now for _ in link.pop_due(now)]
    assert arrivals[0] == pytest.approx(1.31)
    assert arrivals[-1] == pytest.approx(1.3 + 1.0)
    full = SimulatedLink(downlink=LinkProfile(rate_bps=1e6, queue_limit_bytes=5000))
    for i in range(10):
        full.send(DOWN, _numbered(i, 1250), 0.0)
    assert full.counters(DOWN).dropped_queue == 6
    assert full.in_flight() == 4


def test_scheduled_and_runtime_outages_drop_everything_offered_during_them():
    link = SimulatedLink(outages=[Outage(start_s=1.0, duration_s=1.0)])
    for t in (0.5, 1.0, 1.5, 1.99, 2.0):
        link.send(DOWN, b'x', t)
    assert link.counters(DOWN).dropped_outage == 3
    link.set_outage(True, UP)
    link.send(UP, b'cut', 3.0)
    link.send(DOWN, b'fine', 3.0)
    link.set_outage(False)
    link.send(UP, b'back', 4.0)
    assert link.counters(UP).dropped_outage == 1
    assert [f for _, f in link.pop_due(10.0)] == [b'x', b'x', b'fine', b'back']


def test_directions_are_independent():
    link = SimulatedLink(downlink=LinkProfile(loss=1.0), uplink=LinkProfile(delay_s=0.1))
    link.send(DOWN, b'lost', 0.0)
    link.send(UP, b'kept', 0.0)
    assert link.pop_due(1.0) == [(UP, b'kept')]


def test_same_seed_same_run_other_seed_other_run():
    profile = LinkProfile(delay_s=0.2, jitter_s=0.05, loss=0.3, duplicate=0.2, reorder=0.2)

    def run(seed):
        return _run_simulated(SimulatedLink(downlink=profile, seed=seed), 500)

    assert run(1) == run(1)
    assert run(1) != run(2)


@pytest.mark.parametrize('field, value', [
    ('loss', 1.5), ('duplicate', -0.1), ('delay_s', -1.0), ('jitter_s', math.nan),
    ('rate_bps', 0.0), ('queue_limit_bytes', 0)])
def test_impossible_profiles_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        LinkProfile(**{field: value})


def test_impossible_outages_are_refused():
    with pytest.raises(ValueError):
        Outage(start_s=-1.0, duration_s=1.0)
    with pytest.raises(ValueError):
        Outage(start_s=0.0, duration_s=0.0)


# --- The UDP proxy on loopback ----------------------------------------------------------------
@pytest.fixture
def proxy_factory():
    made = []

    def make(**kwargs):
        emulator = LinkEmulator(**kwargs)
        rover = UdpTransport((LOCALHOST, 0), emulator.rover_address)
        ground = UdpTransport((LOCALHOST, 0), emulator.ground_address)
        emulator.set_peers(rover.local_address, ground.local_address)
        emulator.start()
        made.extend([rover, ground, emulator])
        return emulator, rover, ground

    yield make
    for thing in made:
        thing.close()


def _collect(transport, until_count, timeout=3.0):
    frames = []
    deadline = time.monotonic() + timeout
    while len(frames) < until_count and time.monotonic() < deadline:
        frame = transport.receive(0.05)
        if frame is not None:
            frames.append((time.monotonic(), frame))
    return frames


def test_proxy_delays_each_direction_by_its_one_way_delay(proxy_factory):
    emulator, rover, ground = proxy_factory(downlink=LinkProfile(delay_s=0.2),
                                            uplink=LinkProfile(delay_s=0.1))
    delays = []
    for i in range(5):
        sent = time.monotonic()
        rover.send(_numbered(i))
        (arrived, frame), = _collect(ground, 1)
        assert _number(frame) == i
        delays.append(arrived - sent)
    sent = time.monotonic()
    ground.send(b'uplink')
    (arrived, frame), = _collect(rover, 1)
    assert frame == b'uplink'
    assert 0.1 <= arrived - sent < 0.2
    assert 0.2 <= statistics.median(delays) < 0.3
    assert emulator.counters(DOWN).frames_out == 5


def test_proxy_loss_rate_over_many_frames(proxy_factory):
    emulator, rover, ground = proxy_factory(downlink=LinkProfile(loss=0.3), seed=9)
    received = []
    for batch in range(10):
        for i in range(100):
            rover.send(_numbered(batch * 100 + i))
        received += _collect(ground, 1000, timeout=0.15)
    counters = emulator.counters(DOWN)
    assert counters.frames_in == 1000
    assert len(received) == counters.frames_out == 1000 - counters.dropped_loss
    assert 0.25 < counters.dropped_loss / 1000 < 0.35  # 0.3 +- 3.5 sigma


def test_proxy_duplicates_and_reorders(proxy_factory):
    emulator, rover, ground = proxy_factory(
        downlink=LinkProfile(duplicate=0.5, reorder=0.3, reorder_delay_s=0.02), seed=4)
    numbers = []
    for batch in range(5):
        for i in range(40):
            rover.send(_numbered(batch * 40 + i))
            time.sleep(0.0005)
        # Read between batches: loopback drops datagrams once a socket buffer is full.
        numbers += [_number(f) for _, f in _collect(ground, 10_000, timeout=0.1)]
    counters = emulator.counters(DOWN)
    assert sorted(set(numbers)) == list(range(200))
    assert len(numbers) == 200 + counters.duplicated
    assert counters.duplicated > 60
    assert counters.reordered > 10
    assert any(b < a for a, b in zip(numbers, numbers[1:]))


def test_proxy_limits_the_rate(proxy_factory):
    # 20 frames of 1000 B at 160 kbit/s: 50 ms each on the line, 1 s in all.
    emulator, rover, ground = proxy_factory(downlink=LinkProfile(rate_bps=160e3))
    start = time.monotonic()
    for i in range(20):
        rover.send(_numbered(i, 1000))
    arrivals = _collect(ground, 20, timeout=3.0)
    assert [_number(f) for _, f in arrivals] == list(range(20))
    assert arrivals[0][0] - start < 0.25
    assert 0.9 < arrivals[-1][0] - start < 1.5


def test_proxy_outage_drops_all_then_the_link_returns(proxy_factory):
    emulator, rover, ground = proxy_factory()
    emulator.set_outage(True)
    assert emulator.outage_active(DOWN) and emulator.outage_active(UP)
    for i in range(30):
        rover.send(_numbered(i))
        ground.send(_numbered(i))
    assert _collect(ground, 1, timeout=0.3) == [] and _collect(rover, 1, timeout=0.05) == []
    assert emulator.counters(DOWN).dropped_outage == 30
    assert emulator.counters(UP).dropped_outage == 30
    emulator.set_outage(False)
    rover.send(b'back')
    assert [f for _, f in _collect(ground, 1)] == [b'back']


def test_proxy_scheduled_outage(proxy_factory):
    emulator, rover, ground = proxy_factory(outages=[Outage(0.0, 0.3)])
    rover.send(b'during')
    time.sleep(0.4)
    rover.send(b'after')
    assert [f for _, f in _collect(ground, 2, timeout=0.5)] == [b'after']
    assert emulator.counters(DOWN).dropped_outage == 1


def test_proxy_learns_peers_and_counts_frames_for_an_unknown_side():
    with LinkEmulator() as emulator, \
            UdpTransport((LOCALHOST, 0), emulator.rover_address) as rover, \
            UdpTransport((LOCALHOST, 0), emulator.ground_address) as ground:
        rover.send(b'nobody listening yet')
        time.sleep(0.1)
        assert emulator.counters(DOWN).dropped_no_peer == 1
        ground.send(b'hello rover')
        assert [f for _, f in _collect(rover, 1)] == [b'hello rover']
        rover.send(b'hello ground')
        assert [f for _, f in _collect(ground, 1)] == [b'hello ground']


def test_cli_options_build_per_direction_profiles():
    args = build_parser().parse_args(
        ['--delay', '1.3', '--loss', '0.2,0.05', '--rate', '1e6,0', '--outage', '5:2',
         '--rover-bind', '127.0.0.1:0'])
    down, up = profiles_from_args(args)
    assert (down.delay_s, up.delay_s) == (1.3, 1.3)
    assert (down.loss, up.loss) == (0.2, 0.05)
    assert (down.rate_bps, up.rate_bps) == (1e6, None)
    assert args.outage == [Outage(5.0, 2.0)]
    with pytest.raises(SystemExit):
        build_parser().parse_args(['--loss', '0.1,0.2,0.3'])


def test_console_program_relays_and_obeys_stdin_commands():
    package_root = Path(rover_ground.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=f'{package_root}:{os.environ.get("PYTHONPATH", "")}')
    process = subprocess.Popen(
        [sys.executable, '-m', 'rover_ground.link_emulator', '--rover-bind',
         '127.0.0.1:0', '--ground-bind', '127.0.0.1:0', '--delay', '0.05', '--rate', '0',
         '--stats-interval', '0'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        banner = process.stdout.readline().split()
        rover_port = int(banner[2].rstrip(',').rsplit(':', 1)[1])
        ground_port = int(banner[5].rsplit(':', 1)[1])
        with UdpTransport((LOCALHOST, 0), (LOCALHOST, rover_port)) as rover, \
                UdpTransport((LOCALHOST, 0), (LOCALHOST, ground_port)) as ground:
            rover.send(b'register')  # teaches the emulator where each side is
            time.sleep(0.1)
            ground.send(b'hello')
            assert [f for _, f in _collect(rover, 1)] == [b'hello']
            process.stdin.write('outage on\n')
            process.stdin.flush()
            assert process.stdout.readline().strip() == 'outage on'
            rover.send(b'cut')
            assert _collect(ground, 1, timeout=0.3) == []
            process.stdin.write('outage off\nquit\n')
            process.stdin.flush()
            output = process.communicate(timeout=5)[0]
        assert process.returncode == 0
        assert 'downlink: in 2 out 1 lost 0 outage 1 queue 0 no-peer 1' in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
