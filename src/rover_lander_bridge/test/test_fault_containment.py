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
Fault containment in the bridge core: a failing step is reported and the tick goes on.

Real faults: a rover port that raises, and the telemetry store's sqlite file locked by
another connection (the busy timeout is 100 ms). Time is simulated; the only wall-clock
cost is the busy timeouts themselves.
"""

import sqlite3

from conftest import FakePort, Rig
import pytest
from rover_ground.ground import EventReport, Housekeeping, PingReply
from rover_ground.ground_cli import describe_hk
from rover_lander_bridge.bridge import BridgeConfig, FAULT_RETRY_S, SAFING_ATTEMPTS, SafingFailed
from rover_link import commands as cmd
from rover_link.protocol import EventId, HkSet, LinkState
from rover_link.telemetry import FaultHk, LoopStep, pack_hk, StoreState, unpack_hk

CONFIG = BridgeConfig(link_timeout=1.0, safing_timeout=2.0, beacon_interval=0.0)
LINK_STAYS_UP = BridgeConfig(link_timeout=30.0, safing_timeout=60.0)


class FaultyPort(FakePort):
    """A rover port whose named methods raise, as a port with a bug or a dead link would."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = {}

    def _record(self, name, args, done):
        self.calls.append((name, args))
        self.completions.append(done)
        if self.failing.get(name):
            self.failing[name] -= 1
            raise RuntimeError(f'{name}: port gone')
        if name in self.auto_complete:
            done.succeed()

    def telemetry(self):
        if self.failing.get('telemetry'):
            raise RuntimeError('telemetry: port gone')
        return super().telemetry()


def faulty_rig(tmp_path, mac, config=CONFIG) -> Rig:
    rig = Rig(tmp_path, mac, config=config)
    rig.port = FaultyPort()
    rig.bridge.close()
    rig.bridge = rig._open_bridge()
    return rig


def fault_events(rig):
    return [i.text for i in rig.items if isinstance(i, EventReport)
            and i.event.event_id is EventId.BRIDGE_FAULT]


def fault_hk(rig) -> FaultHk:
    rig.send(cmd.HkOneShot((HkSet.FAULT,)))
    return [i.values for i in rig.items if isinstance(i, Housekeeping)
            and i.sid is HkSet.FAULT][-1]


def lock(path) -> sqlite3.Connection:
    """Hold the write lock of a WAL database from another connection (closing releases it)."""
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute('BEGIN IMMEDIATE')
    return other


def test_a_raising_step_is_reported_once_per_interval_and_the_tick_goes_on(tmp_path, mac):
    rig = faulty_rig(tmp_path, mac, config=LINK_STAYS_UP)
    rig.send(cmd.Ping())
    rig.port.failing['telemetry'] = 10 ** 6
    for _ in range(10):
        rig.tick(0.05)
    texts = fault_events(rig)
    assert texts == ['BRIDGE_FAULT: telemetry RuntimeError: telemetry: port gone'], \
        'one event per step per event_min_interval, naming the step and the exception'
    request_id = rig.send(cmd.Ping())
    assert rig.status(request_id).completed, 'commands still run while a step keeps failing'
    rig.tick(1.0)
    assert len(fault_events(rig)) == 2, 'the next interval reports again'
    hk = fault_hk(rig)
    assert hk.loop_faults >= 12 and hk.last_fault_step == LoopStep.TELEMETRY
    assert hk.fault_events_suppressed == hk.loop_faults - len(fault_events(rig))
    rig.port.failing['telemetry'] = 0
    rig.bridge.close()


def test_safing_is_commanded_at_its_deadline_while_a_store_is_locked_and_the_port_raises(
        tmp_path, mac):
    rig = faulty_rig(tmp_path, mac)
    rig.send(cmd.Drive(1.0, 0.05))
    contact = rig.bridge.link.last_contact
    rig.port.failing['telemetry'] = 10 ** 6
    other = lock(tmp_path / 'tm.sqlite3')
    try:
        safed_at = None
        while rig.now < contact + CONFIG.safing_timeout + 0.5:
            rig.tick(0.05, deliver=False)
            if safed_at is None and ('set_estop', (True, 'link-loss safing')) in rig.port.calls:
                safed_at = rig.now
        assert safed_at is not None and safed_at - (contact + CONFIG.safing_timeout) < 0.051, \
            'the e-stop is latched at the first tick on the deadline'
        assert rig.bridge.snapshot().state is LinkState.SAFED
        assert rig.bridge.snapshot().last_fault_step in (LoopStep.TELEMETRY, LoopStep.FLUSH)
    finally:
        other.close()
    rig.tick(FAULT_RETRY_S)
    assert rig.bridge.status(rig.now).tm_backlog > 0, 'the held telemetry reached the store'
    rig.port.failing['telemetry'] = 0
    rig.bridge.close()


def test_telemetry_waits_in_memory_while_the_store_is_locked_and_nothing_is_lost(tmp_path, mac):
    rig = faulty_rig(tmp_path, mac, config=LINK_STAYS_UP)
    rig.send(cmd.Ping())
    rig.items.clear()
    other = lock(tmp_path / 'tm.sqlite3')
    request_id = rig.send(cmd.Ping())
    for _ in range(5):
        rig.tick(0.05)
    assert not any(isinstance(i, PingReply) for i in rig.items), 'nothing reached the store'
    assert rig.bridge.snapshot().loop_faults >= 1
    other.close()
    rig.tick(FAULT_RETRY_S)
    assert rig.status(request_id).completed
    assert any(isinstance(i, PingReply) for i in rig.items)
    assert any('BRIDGE_FAULT: flush OperationalError' in t for t in fault_events(rig)), \
        'the fault itself is told once the store takes writes again'
    rig.bridge.close()


def test_a_safing_stop_that_raised_once_is_commanded_again_the_next_tick(tmp_path, mac):
    rig = faulty_rig(tmp_path, mac)
    rig.send(cmd.Ping())
    rig.port.failing['set_estop'] = 1
    while rig.bridge.snapshot().state is not LinkState.SAFED:
        rig.tick(0.05, deliver=False)
    assert rig.port.names().count('set_estop') == 1
    rig.tick(0.05, deliver=False)
    assert rig.port.names().count('set_estop') == 2, 'commanded again, and it went through'
    rig.tick(0.05, deliver=False)
    assert rig.port.names().count('set_estop') == 2, 'once through, not again'
    assert fault_hk(rig).safing_failures == 1
    rig.bridge.close()


def test_a_safing_stop_that_keeps_failing_ends_the_loop(tmp_path, mac):
    rig = faulty_rig(tmp_path, mac)
    rig.send(cmd.Ping())
    rig.port.failing['set_estop'] = 10 ** 6
    with pytest.raises(SafingFailed, match='port gone'):
        for _ in range(200):
            rig.tick(0.05, deliver=False)
    assert rig.port.names().count('set_estop') == SAFING_ATTEMPTS
    rig.port.failing['set_estop'] = 0
    rig.bridge.close()


def test_fault_housekeeping_round_trips_and_the_ground_tool_prints_it():
    values = FaultHk(7, int(LoopStep.FLUSH), int(StoreState.UNAVAILABLE), True, True, 5, 2,
                     3, 1, 4, 1)
    sid, decoded = unpack_hk(pack_hk(HkSet.FAULT, values))
    assert (sid, decoded) == (HkSet.FAULT, values)
    line = describe_hk(Housekeeping(HkSet.FAULT, decoded, 0.0))
    for fragment in ('loop faults 7', 'last step flush', 'product store unavailable',
                     'TM-STORE-IN-MEMORY', 'UPLINK-LOCKED', 'moved aside 2', 're-adopted 3',
                     'quarantined 1', 'vanished 4', 'safing failures 1'):
        assert fragment in line, line
