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

"""Link-loss safing on simulated time: stop and hold on silence, resume only on RELEASE."""

from conftest import Rig
import pytest
from rover_lander_bridge import commands as cmd
from rover_lander_bridge.bridge import BridgeConfig
from rover_lander_bridge.ground import EventReport
from rover_lander_bridge.link_monitor import LinkMonitor, LinkTransition
from rover_lander_bridge.protocol import (AckFlag, ErrorCode, EventId, LinkState,
                                          VerificationSubtype as V)
from rover_lander_bridge.telemetry import MotionResult

CONFIG = BridgeConfig(link_timeout=4.0, safing_timeout=20.0)


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
    assert monitor.update(19.9) == []
    assert monitor.update(20.0) == [LinkTransition.SAFED]


def test_silence_stops_the_rover_and_holds_the_shovel_at_the_timeout(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Drive(3.0, 0.05))
    rig.items.clear()
    contact = rig.now
    drive = rig.port.last('drive_distance')
    while rig.now < contact + 19.9:
        rig.tick(0.1, deliver=False)
    assert rig.port.names() == ['drive_distance']
    rig.tick(0.1, deliver=False)
    rig.tick(0.0, deliver=False)
    assert rig.port.names() == ['drive_distance', 'stop', 'hold_shovel']
    assert rig.bridge.snapshot().state is LinkState.SAFED
    drive.fail(ErrorCode.CANCELED, 'stopped by the lander bridge')
    rig.send(cmd.Ping(), ack=AckFlag.NONE)
    ids = [i.event.event_id for i in rig.items if isinstance(i, EventReport)]
    assert ids.index(EventId.LINK_LOST) < ids.index(EventId.LINK_SAFED) \
        < ids.index(EventId.LINK_RESTORED)
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
    assert rig.bridge.snapshot().state is LinkState.UP
    events = [i.event.event_id for i in rig.items if isinstance(i, EventReport)]
    assert EventId.SAFING_RELEASED in events
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
    assert 'stop' not in rig.port.names()
    rig.tick(0.2, deliver=False)
    assert rig.port.names()[:2] == ['stop', 'hold_shovel']
    rig.bridge.close()
