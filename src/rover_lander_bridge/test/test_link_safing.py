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

"""Link hold and link-loss safing on simulated time: hold on silence, safe later, RELEASE."""

import math

from conftest import Rig
import pytest
from rover_ground.ground import EventReport
from rover_lander_bridge.bridge import BridgeConfig
from rover_lander_bridge.link_monitor import LinkMonitor, LinkTransition
from rover_link import commands as cmd
from rover_link.protocol import AckFlag, ErrorCode, EventId, LinkState, VerificationSubtype as V
from rover_link.telemetry import MotionResult

CONFIG = BridgeConfig(link_timeout=4.0, safing_timeout=20.0)
SAFING = ['set_estop', 'stop', 'hold_shovel']
HOLD = ['stop', 'hold_shovel']


def events(rig):
    return [i.event.event_id for i in rig.items if isinstance(i, EventReport)]


def test_monitor_declares_loss_then_safing_at_the_configured_times():
    monitor = LinkMonitor(link_timeout=4.0, safing_timeout=20.0, now=100.0)
    assert monitor.contact(101.0) == [LinkTransition.RESTORED]
    assert monitor.update(104.999) == []
    assert monitor.update(105.5) == [LinkTransition.LOST]
    assert monitor.silence_at_transition == 4.5
    assert monitor.update(120.999) == []
    assert monitor.update(121.0) == [LinkTransition.SAFED]
    assert monitor.state is LinkState.SAFED
    assert monitor.contact(130.0) == [LinkTransition.RESTORED]
    assert monitor.state is LinkState.SAFED, 'contact alone does not unsafe the rover'
    assert monitor.release() is True
    assert monitor.state is LinkState.UP


def test_monitor_refuses_inconsistent_timeouts():
    with pytest.raises(ValueError, match='safing_timeout'):
        LinkMonitor(link_timeout=10.0, safing_timeout=5.0, now=0.0)
    with pytest.raises(ValueError, match='link_timeout'):
        LinkMonitor(link_timeout=0.0, safing_timeout=5.0, now=0.0)


def test_a_booted_rover_that_never_hears_from_earth_safes_itself():
    monitor = LinkMonitor(link_timeout=4.0, safing_timeout=20.0, now=0.0)
    assert not monitor.held, 'nothing moves at boot: no hold'
    assert monitor.update(19.9) == []
    assert monitor.update(20.0) == [LinkTransition.SAFED]


def test_monitor_deadlines_are_due_exactly_when_they_say():
    # 255.069 + 60 - 255.069 is 59.99999999999997 in floats: the deadline must still be due
    monitor = LinkMonitor(link_timeout=4.0, safing_timeout=60.0, now=250.0)
    monitor.contact(255.069)
    assert monitor.next_deadline() == 255.069 + 4.0
    assert monitor.update(monitor.next_deadline()) == [LinkTransition.LOST]
    assert monitor.next_deadline() == 255.069 + 60.0
    assert monitor.update(math.nextafter(monitor.next_deadline(), 0.0)) == []
    assert monitor.update(monitor.next_deadline()) == [LinkTransition.SAFED]
    assert monitor.next_deadline() == math.inf, 'safed with the link down: nothing pending'


def test_monitor_holds_from_the_loss_until_the_update_after_contact():
    monitor = LinkMonitor(link_timeout=4.0, safing_timeout=20.0, now=100.0)
    monitor.contact(101.0)
    assert not monitor.held
    assert monitor.update(105.0) == [LinkTransition.LOST]
    assert monitor.held
    assert monitor.contact(106.0) == [LinkTransition.RESTORED]
    assert monitor.held, 'the uplink batch that brought the link back is still held'
    assert monitor.update(106.0) == []
    assert not monitor.held
    assert monitor.next_deadline() == 110.0


def test_silence_holds_the_rover_then_safes_it_with_the_estop(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Drive(3.0, 0.05))
    rig.items.clear()
    contact = rig.bridge.link.last_contact
    drive = rig.port.last('drive_distance')
    assert rig.bridge.next_timer(rig.now) == contact + 4.0
    rig.tick(contact + 4.0 - rig.now, deliver=False)
    assert rig.port.names() == ['drive_distance'] + HOLD, 'held at link_timeout exactly'
    assert rig.bridge.next_timer(rig.now) == contact + 20.0
    drive.fail(ErrorCode.CANCELED, 'canceled')
    while rig.now < contact + 19.9:
        rig.tick(0.1, deliver=False)
    assert rig.port.names() == ['drive_distance'] + HOLD
    rig.tick(contact + 20.0 - rig.now, deliver=False)
    assert rig.port.names() == ['drive_distance'] + HOLD + SAFING
    assert rig.port.calls[3] == ('set_estop', (True, 'link-loss safing'))
    assert rig.bridge.snapshot().state is LinkState.SAFED
    assert rig.bridge.next_timer(rig.now) == math.inf
    rig.send(cmd.Ping(), ack=AckFlag.NONE)
    ids = events(rig)
    assert ids.index(EventId.LINK_LOST) < ids.index(EventId.LINK_HOLD) \
        < ids.index(EventId.LINK_SAFED) < ids.index(EventId.LINK_RESTORED)
    rig.bridge.close()


def test_the_hold_refuses_motion_sent_while_down_and_contact_restores_it(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Ping())
    rig.tick(5.0, deliver=False)
    assert rig.port.names() == HOLD
    blind = rig.send(cmd.Drive(1.0, 0.05))
    status = rig.status(blind)
    assert [r.subtype for r in status.reports] == [V.ACCEPTANCE_SUCCESS, V.START_FAILURE]
    assert status.failure.code is ErrorCode.UNAVAILABLE
    assert 'link hold' in status.failure.reason
    assert rig.port.names() == HOLD, 'nothing resumes when contact returns'
    assert EventId.LINK_HOLD in events(rig) and EventId.LINK_RESTORED in events(rig)
    fresh = rig.send(cmd.Drive(1.0, 0.05))
    assert V.START_SUCCESS in [r.subtype for r in rig.status(fresh).reports]
    assert rig.port.names() == HOLD + ['drive_distance']
    rig.bridge.close()


def test_the_hold_lets_non_motion_commands_through(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Ping())
    rig.tick(5.0, deliver=False)
    assert rig.status(rig.send(cmd.Ping())).completed
    rig.bridge.close()


def test_equal_timeouts_safe_at_once_without_a_separate_hold(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=BridgeConfig(link_timeout=4.0, safing_timeout=4.0))
    rig.send(cmd.Drive(3.0, 0.05))
    rig.tick(rig.bridge.next_timer(rig.now) - rig.now, deliver=False)
    assert rig.port.names() == ['drive_distance'] + SAFING
    rig.send(cmd.Ping(), ack=AckFlag.NONE)
    assert EventId.LINK_SAFED in events(rig) and EventId.LINK_HOLD not in events(rig)
    rig.bridge.close()


def test_heartbeats_keep_the_rover_going(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Drive(3.0, 0.05))
    for _ in range(30):
        rig.tick(2.0)
        rig.send(cmd.Ping(), ack=AckFlag.NONE)
    assert rig.port.names() == ['drive_distance']
    assert rig.bridge.snapshot().state is LinkState.UP
    rig.bridge.close()


def test_safed_rover_refuses_motion_until_released(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Ping())
    rig.tick(25.0)
    assert rig.bridge.snapshot().state is LinkState.SAFED
    assert rig.port.names() == SAFING, 'a loop that wakes late safes at once, no hold first'
    refused = rig.send(cmd.Drive(1.0, 0.05))
    status = rig.status(refused)
    assert [r.subtype for r in status.reports] == [V.ACCEPTANCE_SUCCESS, V.START_FAILURE]
    assert status.failure.code is ErrorCode.ROVER_SAFED
    for motion in (cmd.Turn(1.0, 0.1), cmd.CollectSample(), cmd.StowShovel()):
        assert rig.status(rig.send(motion)).failure.code is ErrorCode.ROVER_SAFED
    assert 'drive_distance' not in rig.port.names()
    stop = rig.send(cmd.Stop())
    assert rig.status(stop).failure is None
    release = rig.send(cmd.Release())
    rig.tick()
    assert rig.status(release).completed
    assert rig.port.calls[-1] == ('set_estop', (False, 'ground release'))
    assert rig.bridge.snapshot().state is LinkState.UP
    assert EventId.SAFING_RELEASED in events(rig)
    resumed = rig.send(cmd.Drive(1.0, 0.05))
    rig.port.last('drive_distance').succeed(MotionResult(1.0))
    rig.tick()
    assert rig.status(resumed).completed
    rig.bridge.close()


def test_safing_timeout_is_configurable_at_run_time(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Ping())
    rig.bridge.reconfigure(BridgeConfig(link_timeout=2.0, safing_timeout=5.0), rig.now)
    rig.tick(4.9, deliver=False)
    assert rig.port.names() == HOLD
    rig.tick(0.2, deliver=False)
    assert rig.port.names() == HOLD + SAFING
    rig.bridge.close()
