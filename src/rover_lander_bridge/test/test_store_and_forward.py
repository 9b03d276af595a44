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

"""Telemetry made during an outage is kept (bounded, in sqlite) and sent in order after it."""

from conftest import Rig
from rover_ground.ground import EventReport, Housekeeping
from rover_lander_bridge.bridge import BridgeConfig
from rover_lander_bridge.tm_store import TmStore
from rover_link import commands as cmd
from rover_link.framing import split_downlink
from rover_link.protocol import AckFlag, EventId, HkSet, Priority
from spacepackets.ccsds.spacepacket import SpacePacketHeader

CONFIG = BridgeConfig(link_timeout=5.0, safing_timeout=1000.0,
                      hk_intervals=dict.fromkeys(HkSet, 1.0))


def seq_counts(frames):
    return [SpacePacketHeader.unpack(p).seq_count for f in frames for p in split_downlink(f)[0]]


def test_store_keeps_order_per_class_and_survives_reopening(tmp_path):
    store = TmStore(tmp_path / 'tm.sqlite3')
    store.put([(Priority.ROUTINE, b'h1'), (Priority.URGENT, b'e1'), (Priority.ROUTINE, b'h2'),
               (Priority.URGENT, b'e2')], {'tm_seq_count': 4})
    store.close()
    store = TmStore(tmp_path / 'tm.sqlite3')
    assert store.backlog == 4 and store.counter('tm_seq_count') == 4
    assert [p for _, p in store.pending(Priority.URGENT, 10)] == [b'e1', b'e2']
    assert [p for _, p in store.pending(Priority.ROUTINE, 10)] == [b'h1', b'h2']
    store.close()


def test_store_requeues_what_went_into_a_dying_link_and_purges_what_is_safe(tmp_path):
    store = TmStore(tmp_path / 'tm.sqlite3')
    store.put([(Priority.URGENT, bytes([i])) for i in range(6)])
    rows = store.pending(Priority.URGENT, 10)
    store.mark_sent([r for r, _ in rows[:3]], now=10.0)
    store.mark_sent([r for r, _ in rows[3:]], now=20.0)
    assert store.backlog == 0
    assert store.requeue_sent_since(15.0) == 3
    assert [p for _, p in store.pending(Priority.URGENT, 10)] == [b'\x03', b'\x04', b'\x05']
    assert store.purge_sent_before(15.0) == 3
    assert store.size[0] == 3
    store.close()


def test_full_store_drops_housekeeping_before_urgent_packets(tmp_path):
    store = TmStore(tmp_path / 'tm.sqlite3', max_packets=5)
    store.put([(Priority.URGENT, b'e0'), (Priority.ROUTINE, b'h0'), (Priority.ROUTINE, b'h1')])
    dropped = store.put([(Priority.URGENT, b'e1'), (Priority.URGENT, b'e2'),
                         (Priority.URGENT, b'e3')])
    assert dropped == 1
    assert [p for _, p in store.pending(Priority.ROUTINE, 10)] == [b'h1']
    dropped = store.put([(Priority.URGENT, b'e4'), (Priority.URGENT, b'e5')])
    assert dropped == 2
    assert [p for _, p in store.pending(Priority.URGENT, 10)] == [b'e1', b'e2', b'e3', b'e4',
                                                                  b'e5']
    assert store.size[0] == 5
    store.close()


def test_store_byte_bound_is_enforced(tmp_path):
    store = TmStore(tmp_path / 'tm.sqlite3', max_bytes=1000)
    for _ in range(30):
        store.put([(Priority.ROUTINE, bytes(100))])
    assert store.size == (10, 1000)
    store.close()


def test_outage_telemetry_is_downlinked_in_order_when_the_link_returns(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Ping())
    rig.tick(1.0)
    sent_at_loss = None
    for _ in range(60):  # one minute of silence: link lost at 5 s, HK every second
        rig.tick(1.0, deliver=False)
        if sent_at_loss is None and rig.bridge.snapshot().state.name == 'DOWN':
            sent_at_loss = len(rig.downlinked)
    assert rig.bridge.snapshot().state.name == 'DOWN'
    beacons = [split_downlink(f)[0] for f in rig.downlinked[sent_at_loss:]]
    assert 5 <= len(beacons) <= 6, 'one beacon every 10 s while down, nothing else'
    assert all(len(packets) == 1 and len(packets[0]) < 80 for packets in beacons)
    backlog = rig.bridge.snapshot().tm_backlog
    assert backlog >= 4 * 55
    rig.items.clear()
    rig.send(cmd.Ping(), ack=AckFlag.NONE)
    for _ in range(40):
        rig.tick(0.05)
    hk = [i for i in rig.items if isinstance(i, Housekeeping)]
    stamps = [i.utc for i in hk if i.sid is HkSet.MOBILITY]
    assert len(stamps) >= 55 and stamps == sorted(stamps)
    events = [i.event.event_id for i in rig.items if isinstance(i, EventReport)]
    assert events.index(EventId.LINK_LOST) < events.index(EventId.LINK_RESTORED)
    assert rig.bridge.snapshot().tm_backlog < 10
    rig.bridge.close()


def test_events_overtake_housekeeping_after_an_outage(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Ping())
    for _ in range(30):
        rig.tick(1.0, deliver=False)
    rig.items.clear()
    rig.send(cmd.Ping(), ack=AckFlag.NONE)
    order = [type(i).__name__ for i in rig.items]
    first_hk = order.index('Housekeeping')
    assert order[:first_hk].count('EventReport') >= 2  # LINK_LOST, LINK_RESTORED
    assert 'EventReport' not in order[first_hk:]
    rig.bridge.close()


def test_backlog_survives_a_bridge_restart_during_the_outage(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Ping())
    for _ in range(20):
        rig.tick(1.0, deliver=False)
    backlog = rig.bridge.snapshot().tm_backlog
    rig.restart_bridge()
    rig.tick(0.0, deliver=False)
    assert rig.bridge.snapshot().tm_backlog >= backlog
    rig.items.clear()
    rig.send(cmd.Ping(), ack=AckFlag.NONE)
    for _ in range(20):
        rig.tick(0.05)
    stamps = [i.utc for i in rig.items if isinstance(i, Housekeeping)
              and i.sid is HkSet.MOBILITY]
    assert len(stamps) >= 15 and stamps == sorted(stamps)
    events = [i.event.event_id for i in rig.items if isinstance(i, EventReport)]
    assert EventId.BRIDGE_STARTED in events
    rig.bridge.close()


def test_sequence_counts_continue_across_a_restart(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Ping())
    before = seq_counts(rig.downlinked)
    rig.restart_bridge()
    rig.downlinked.clear()
    rig.send(cmd.Ping())
    after = seq_counts(rig.downlinked)
    assert min(after) > max(before)
    rig.bridge.close()


def test_packets_sent_into_a_dying_link_are_sent_again(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=CONFIG)
    rig.send(cmd.Ping())
    rig.tick(0.5)
    rig.items.clear()
    frame, lost = rig.ground.command(cmd.Ping(), rig.now)
    rig.bridge.handle_frames([frame], rig.now)
    for _ in range(3):
        rig.tick(1.0, deliver=False)  # sent, but the link has died: nothing arrives
    assert rig.status(lost).reports == []
    for _ in range(4):
        rig.tick(1.0, deliver=False)  # declared down after 5 s: requeued
    rig.send(cmd.Ping(), ack=AckFlag.NONE)
    assert [r.subtype.name for r in rig.status(lost).reports] == [
        'ACCEPTANCE_SUCCESS', 'START_SUCCESS', 'COMPLETION_SUCCESS']
    rig.bridge.close()
