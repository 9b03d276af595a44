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
A DOWNLINK_PRODUCT telecommand is answered even when the rover is killed during its transfer.

Bridge and ground on simulated time (the Rig of conftest). A "kill" drops the bridge and its
file sender without closing anything, as SIGKILL would, and opens new ones on the same state
files; the ground and its CFDP receiver carry on. The ground's next heartbeat (a PING) brings
the link back up for the restarted bridge, which downlinks nothing before contact.
"""

import hashlib
import os

from conftest import Rig
import pytest
from rover_common.product_store import DownlinkState, ProductKind, ProductStore
from rover_ground.ground import EventReport, FileDone
from rover_lander_bridge.bridge import BridgeConfig
from rover_link import commands as cmd
from rover_link.cfdp import CfdpConfig, DownlinkQueue, DownlinkTc, FileReceiver, FileSender
from rover_link.protocol import (CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID, EventId, Variant,
                                 VerificationSubtype as V)
from rover_link.telemetry import DownlinkResult
from spacepackets.cfdp import PduFactory
from spacepackets.cfdp.pdu import FinishedPdu

CONFIG = BridgeConfig(downlink_rate_bps=400_000.0, link_timeout=30.0, safing_timeout=120.0)
CFDP = CfdpConfig(ack_timer_s=3.0, nak_timer_s=3.0, inactivity_s=60.0, max_pdu_len=1018)
SIZE = 200_000


def _sender(tmp_path) -> FileSender:
    return FileSender(tmp_path / 'downlink.sqlite3', local_entity_id=CFDP_ROVER_ENTITY_ID,
                      remote_entity_id=CFDP_GROUND_ENTITY_ID, config=CFDP, max_attempts=1)


@pytest.fixture
def store(tmp_path):
    with ProductStore(tmp_path / 'products', budget_bytes=50 << 20) as products:
        yield products


@pytest.fixture
def receiver(tmp_path):
    return FileReceiver(tmp_path / 'ground-files', local_entity_id=CFDP_GROUND_ENTITY_ID,
                        remote_entity_id=CFDP_ROVER_ENTITY_ID, config=CFDP)


@pytest.fixture
def rig(tmp_path, mac, store, receiver):
    rig = Rig(tmp_path, mac, config=CONFIG, products=store, files=_sender(tmp_path),
              receiver=receiver)
    rig.send(cmd.Ping())
    yield rig
    rig.bridge.close()
    rig.files.close()


def kill_and_restart(rig: Rig) -> None:
    """Drop bridge and sender without a word (a SIGKILL), start new ones on the same files."""
    rig.files = _sender(rig.tmp_path)
    rig.bridge = rig._open_bridge()


def pump_until(rig: Rig, until, limit_s: float = 120.0) -> None:
    """Run both ends until ``until()``."""
    end = rig.now + limit_s
    while not until():
        assert rig.now < end, 'did not happen in simulated time'
        rig.pump(0.05)


def downlink_image(rig: Rig, store):
    image = store.put(os.urandom(SIZE), kind=ProductKind.IMAGE, suffix='.jpg', stamp=1.8e9,
                      camera='left')
    return image, rig.send(cmd.DownlinkProduct(image.id, Variant.FULL))


def received(receiver):
    def check():
        progress = receiver.progress
        return progress.transferred_bytes if progress is not None else 0
    return check


def events(rig: Rig, event_id: EventId):
    return [i for i in rig.items if isinstance(i, EventReport) and i.event.event_id is event_id]


def test_the_tc_is_completed_after_two_kills_and_no_progress_step_is_repeated(
        rig, store, receiver, tmp_path):
    image, request_id = downlink_image(rig, store)
    pump_until(rig, lambda: received(receiver)() >= SIZE // 2)
    kill_and_restart(rig)
    rig.send(cmd.Ping())
    # Resumed: the NAK confirms half the file (progress step 2), the rest is under way.
    pump_until(rig, lambda: received(receiver)() >= SIZE * 3 // 4)
    steps_before = [r.step for r in rig.status(request_id).reports
                    if r.subtype is V.PROGRESS_SUCCESS]
    assert steps_before == [2]
    kill_and_restart(rig)
    rig.send(cmd.Ping())
    pump_until(rig, lambda: rig.status(request_id).finished)
    status = rig.status(request_id)
    assert status.completed, status.failure
    assert status.result == DownlinkResult(image.id, SIZE, bytes.fromhex(image.sha256),
                                           image.id + '.jpg')
    steps = [r.step for r in status.reports if r.subtype is V.PROGRESS_SUCCESS]
    assert steps[0] == 2 and steps == sorted(set(steps)), 'no step is reported twice'
    delivered, = [i for i in rig.items if isinstance(i, FileDone)]
    assert delivered.delivered
    data = (tmp_path / 'ground-files' / (image.id + '.jpg')).read_bytes()
    assert hashlib.sha256(data).hexdigest() == image.sha256
    assert len(events(rig, EventId.FILE_DOWNLINK_RESUMED)) == 2
    assert store.get(image.id).downlink_state is DownlinkState.DONE
    record, = rig.files.requests()
    assert record.attempts == 1
    rig.tick()
    assert rig.files.pending_tcs() == [], 'the report is recorded as made'


@pytest.mark.parametrize('ground_gave_up', [False, True])
def test_a_kill_after_the_ground_has_the_file_still_completes_the_tc(
        rig, store, receiver, tmp_path, ground_gave_up):
    image, request_id = downlink_image(rig, store)
    ground_file = tmp_path / 'ground-files' / (image.id + '.jpg')
    # The ground's Finished PDUs are lost, and the rover dies after the file is verified.
    drain = receiver.drain
    receiver.drain = lambda max_bytes=None: [p for p in drain(max_bytes)
                                             if not isinstance(PduFactory.from_raw(p),
                                                               FinishedPdu)]
    pump_until(rig, ground_file.exists)
    if ground_gave_up:
        while receiver.busy:  # the ground alone, repeating its Finished PDU until its limit
            rig.now += 0.5
            rig.ground.tick(rig.now)
    bytes_before = receiver.counters.bytes_received
    receiver.drain = drain
    kill_and_restart(rig)
    rig.send(cmd.Ping())
    pump_until(rig, lambda: rig.status(request_id).finished and not receiver.busy)
    assert rig.status(request_id).completed
    assert sorted(p.name for p in ground_file.parent.iterdir()) == [ground_file.name]
    assert hashlib.sha256(ground_file.read_bytes()).hexdigest() == image.sha256
    assert receiver.counters.bytes_received - bytes_before < 1000, 'no file data again'


def test_a_kill_while_the_link_is_down_resumes_at_the_next_contact(rig, store, receiver):
    image, request_id = downlink_image(rig, store)
    pump_until(rig, lambda: received(receiver)() >= SIZE // 2)
    kill_and_restart(rig)
    silent_until = rig.now + 40.0
    while rig.now < silent_until:  # both ends run, nothing crosses
        rig.ground.tick(rig.now)
        rig.tick(0.5, deliver=False)
    assert receiver.busy and not rig.status(request_id).finished
    rig.send(cmd.Ping())
    pump_until(rig, lambda: rig.status(request_id).finished)
    assert rig.status(request_id).completed
    assert rig.files.requests()[0].attempts == 1


def test_an_end_the_killed_process_did_not_report_is_reported_by_the_next(
        tmp_path, mac, store, receiver):
    # The transfer ended (the queue says delivered), the process died before the reports.
    image = store.put(b'{"evidence": 1}', kind=ProductKind.EVIDENCE, suffix='.json',
                      stamp=1.8e9)
    rig = Rig(tmp_path, mac, config=CONFIG, products=store, files=None, receiver=receiver)
    _, request_id = rig.ground.command(cmd.DownlinkProduct(image.id), rig.now)
    sender = _sender(tmp_path)
    sender.enqueue(image.path, image.id + '.json', tc=DownlinkTc(
        request_id.pack(), 0x0F, image.id, image.id + '.json', image.size_bytes, image.sha256))
    now = 0.0
    while not sender.requests()[0].state.value == 'delivered':
        now += 0.05
        sender.poll(now)
        for pdu in sender.drain():
            receiver.on_pdu(pdu, now)
        receiver.poll(now)
        for pdu in receiver.drain():
            sender.on_pdu(pdu, now)
    rig.bridge.close()
    rig.files = _sender(tmp_path)
    rig.bridge = rig._open_bridge()
    rig.send(cmd.Ping())
    rig.pump(1.0)
    status = rig.status(request_id)
    assert status.completed and status.result.sha256 == bytes.fromhex(image.sha256)
    rig.pump(1.0)
    assert rig.files.pending_tcs() == []
    rig.bridge.close()
    rig.files.close()
    assert DownlinkQueue(tmp_path / 'downlink.sqlite3').unreported_tcs() == []
