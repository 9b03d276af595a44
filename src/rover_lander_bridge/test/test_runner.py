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
The bridge loop: batches what arrived, ticks, sends; no fault of the link stops safing.

A transport that raises (the documented LinkDown, or any other exception), a rover port that
raises while a telecommand is handled: each is contained and the loop goes on. When the loop
cannot go on, the runner stops the rover through the port and tells its owner. On the wall
clock with a slow tick, the loop thread wakes on the safing deadline, not at its next tick.
"""

from collections import deque
import os
import threading
import time

from conftest import FakePort
import pytest
from rover_ground.ground import EventReport, GroundStation, Verification
from rover_lander_bridge.bridge import SafingFailed
from rover_lander_bridge.params import TABLE
from rover_lander_bridge.runner import BridgeStack
from rover_link import commands as cmd
from rover_link.protocol import LinkState, VerificationSubtype as V
from rover_link.security import ArsnCounter, KeyFileError, load_key, MacEngine
from rover_link.telemetry import LoopStep
from rover_link.transports import free_udp_port, LinkDown, Transport, UdpTransport


class MemoryTransport(Transport):
    """
    Frames in a queue; ``broken`` makes every call fail like a vanished serial port.

    ``raising`` makes every call raise an exception no transport should raise (a bug).
    """

    def __init__(self) -> None:
        super().__init__(65000)
        self.inbox = deque()
        self.sent = []
        self.broken = False
        self.raising = False

    def drop_in_kernel(self, count: int) -> None:
        """Count frames as dropped by the kernel, as a full socket buffer would."""
        self._counters.frames_dropped_kernel += count

    def _send(self, frame: bytes) -> None:
        if self.raising:
            raise RuntimeError('send: driver bug')
        if self.broken:
            raise LinkDown('port gone')
        self.sent.append(frame)

    def _receive(self, timeout: float):
        if self.raising:
            raise RuntimeError('receive: driver bug')
        if self.broken:
            raise LinkDown('port gone')
        return self.inbox.popleft() if self.inbox else None

    def _close(self) -> None:
        pass


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def values(tmp_path, **extra):
    return TABLE.validated(dict({
        'key_file': str(tmp_path / 'uplink.key'), 'state_dir': str(tmp_path / 'state'),
        'product_dir': str(tmp_path / 'products'), 'create_key_if_missing': True,
        'link_timeout': 2.0, 'safing_timeout': 5.0}, **extra))


@pytest.fixture
def loop(tmp_path):
    clock, transport, port = Clock(), MemoryTransport(), FakePort()
    stack = BridgeStack(values(tmp_path), port, transport=transport, clock=clock)
    ground = GroundStation(mac=MacEngine({1: load_key(tmp_path / 'uplink.key')}), spi=1,
                           counter=ArsnCounter(tmp_path / 'ground.sqlite3', 1))
    yield stack, clock, transport, port, ground
    stack.close()


def test_a_missing_key_is_created_private_only_when_asked(tmp_path, loop):
    assert oct(os.stat(tmp_path / 'uplink.key').st_mode & 0o777) == '0o600'
    with pytest.raises(KeyFileError, match='keygen'):
        BridgeStack(values(tmp_path / 'other', create_key_if_missing=False), FakePort(),
                    transport=MemoryTransport())


def test_received_frames_are_handled_in_one_batch_and_reports_sent(loop):
    stack, clock, transport, port, ground = loop
    requests = []
    for distance in (0.5, 1.0, 1.5):
        frame, request_id = ground.command(cmd.Drive(distance, 0.05), 0.0)
        transport.inbox.append(frame)
        requests.append(request_id)
    stack.runner.step(0.0)
    assert [args for _, args in port.calls] == [(0.5, 0.05), (1.0, 0.05), (1.5, 0.05)]
    items = [i for frame in transport.sent for i in ground.handle_frame(frame, 0.0)]
    accepted = {i.request_id for i in items if isinstance(i, Verification)
                and i.subtype is V.ACCEPTANCE_SUCCESS}
    assert accepted == set(requests)


def test_a_dead_transport_does_not_stop_the_safing(loop):
    stack, clock, transport, port, ground = loop
    frame, _ = ground.command(cmd.Drive(1.0, 0.05), 0.0)
    transport.inbox.append(frame)
    stack.runner.step(0.0)
    transport.broken = True
    for _ in range(60):
        clock.now += 0.1
        stack.runner.step(0.0)
    assert stack.bridge.snapshot().state is LinkState.SAFED
    assert port.names()[0] == 'drive_distance'
    assert ('set_estop', (True, 'link-loss safing')) in port.calls
    assert stack.runner.transport_errors > 0 and 'port gone' in stack.runner.last_error


def events(transport, ground):
    items = [i for frame in transport.sent for i in ground.handle_frame(frame, 0.0)]
    transport.sent.clear()
    return [i.text for i in items if isinstance(i, EventReport)]


def test_a_transport_that_raises_anything_is_contained_and_safing_still_happens(loop):
    stack, clock, transport, port, ground = loop
    frame, _ = ground.command(cmd.Ping(), 0.0)
    transport.inbox.append(frame)
    stack.runner.step(0.0)
    transport.raising = True
    for _ in range(60):
        clock.now += 0.1
        stack.runner.step(0.0)
    assert stack.bridge.snapshot().state is LinkState.SAFED
    assert ('set_estop', (True, 'link-loss safing')) in port.calls
    assert stack.bridge.snapshot().last_fault_step in (LoopStep.RECEIVE, LoopStep.SEND)
    transport.raising = False
    frame, _ = ground.command(cmd.Ping(), 0.0)
    transport.inbox.append(frame)
    stack.runner.step(0.0)
    texts = events(transport, ground)
    assert 'BRIDGE_FAULT: receive RuntimeError: receive: driver bug' in texts


def test_a_port_that_raises_while_a_command_is_handled_is_contained(loop):
    stack, clock, transport, port, ground = loop

    def broken_drive(distance, speed, done):
        raise ConnectionError('drive action server gone')

    port.drive_distance = broken_drive
    frame, _ = ground.command(cmd.Drive(1.0, 0.05), 0.0)
    transport.inbox.append(frame)
    stack.runner.step(0.0)
    assert 'BRIDGE_FAULT: frames ConnectionError: drive action server gone' in \
        events(transport, ground)
    frame, request_id = ground.command(cmd.Ping(), 0.0)
    transport.inbox.append(frame)
    stack.runner.step(0.0)
    items = [i for f in transport.sent for i in ground.handle_frame(f, 0.0)]
    assert V.COMPLETION_SUCCESS in [i.subtype for i in items if isinstance(i, Verification)
                                    and i.request_id == request_id]


def test_kernel_drops_of_the_transport_reach_the_link_counters(loop):
    stack, clock, transport, port, ground = loop
    transport.drop_in_kernel(42)
    stack.runner.step(0.0)
    assert stack.bridge.snapshot().kernel_drops == 42


class TickingClock:
    """Simulated time that moves 10 ms at every reading, so the real thread runs fast."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.01
        return self.now


def test_a_loop_that_cannot_go_on_stops_the_rover_and_tells_its_owner(tmp_path):
    port = FakePort()

    def failing_estop(engage, reason, done):
        port.calls.append(('set_estop', (engage, reason)))
        raise RuntimeError('estop service gone')

    port.set_estop = failing_estop
    ended = threading.Event()
    failures = []

    def on_fatal(error):
        failures.append(error)
        ended.set()

    stack = BridgeStack(values(tmp_path), port, transport=MemoryTransport(),
                        clock=TickingClock(), on_fatal=on_fatal).start()
    try:
        assert ended.wait(10.0), 'the loop gave up on the safing and said so'
        assert isinstance(failures[0], SafingFailed)
        assert stack.runner.fatal is failures[0] and not stack.runner.running
        assert port.calls[-3:] == [('set_estop', (True, 'lander bridge loop failed')),
                                   ('stop', ()), ('hold_shovel', ())], \
            'the dying loop commands the stop through the port, the shovel hold too'
    finally:
        stack.close()


def test_the_loop_thread_serves_a_real_udp_link(tmp_path):
    bridge_port, ground_port = free_udp_port(), free_udp_port()
    port = FakePort()
    stack = BridgeStack(values(tmp_path, udp_local_host='127.0.0.1',
                               udp_local_port=bridge_port, udp_remote_port=ground_port),
                        port).start()
    ground = GroundStation(mac=MacEngine({1: load_key(tmp_path / 'uplink.key')}), spi=1,
                           counter=ArsnCounter(tmp_path / 'ground.sqlite3', 1))
    link = UdpTransport(('127.0.0.1', ground_port), ('127.0.0.1', bridge_port))
    try:
        frame, request_id = ground.command(cmd.Ping(), 0.0)
        link.send(frame)
        subtypes = []
        for _ in range(40):
            received = link.receive(0.05)
            if received is not None:
                subtypes += [i.subtype for i in ground.handle_frame(received, 0.0)
                             if isinstance(i, Verification) and i.request_id == request_id]
            if V.COMPLETION_SUCCESS in subtypes:
                break
        assert subtypes == [V.ACCEPTANCE_SUCCESS, V.START_SUCCESS, V.COMPLETION_SUCCESS]
        assert stack.runner.running
    finally:
        link.close()
        stack.close()
    assert not stack.runner.running


class TimedPort(FakePort):
    """A recording port that notes the wall time of each first call."""

    def __init__(self) -> None:
        super().__init__()
        self.first_call = {}
        self.safed = threading.Event()

    def _record(self, name, args, done):
        self.first_call.setdefault(name, time.monotonic())
        super()._record(name, args, done)
        if name == 'set_estop':
            self.safed.set()


def test_the_real_runner_thread_safes_on_the_deadline_not_at_its_next_tick(tmp_path):
    # ticks at 1 Hz: a loop that waited for its tick would safe up to 0.7 s late
    port = TimedPort()
    stack = BridgeStack(values(tmp_path, beacon_interval=0.0, tick_rate=1.0, link_timeout=1.0,
                               safing_timeout=1.3, udp_local_host='127.0.0.1',
                               udp_local_port=free_udp_port(), udp_remote_port=free_udp_port()),
                        port)
    try:
        stack.start()
        assert port.safed.wait(5.0), 'never safed'
    finally:
        stack.close()
    start = stack.bridge.link.last_contact
    hold_late = port.first_call['stop'] - (start + 1.0)
    safing_late = port.first_call['set_estop'] - (start + 1.3)
    assert -0.001 <= hold_late < 0.5, hold_late
    assert -0.001 <= safing_late < 0.5, safing_late
