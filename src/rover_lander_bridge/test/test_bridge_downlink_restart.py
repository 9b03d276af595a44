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
from pathlib import Path
import subprocess
import sys
import time

from conftest import Rig
import pytest
from rover_common.product_store import DownlinkState, ProductKind, ProductStore
import rover_lander_bridge
from rover_lander_bridge import commands as cmd
from rover_lander_bridge.bridge import BridgeConfig
from rover_lander_bridge.cfdp_link import CfdpConfig, FileReceiver, FileSender
from rover_lander_bridge.cfdp_queue import DownlinkQueue, DownlinkTc
from rover_lander_bridge.demo import free_udp_port
from rover_lander_bridge.ground import EventReport, FileDone, GroundStation
from rover_lander_bridge.ground_cli import GroundSession
from rover_lander_bridge.link_emulator import LinkEmulator, LinkProfile
from rover_lander_bridge.protocol import (CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID,
                                          EventId, Variant, VerificationSubtype as V)
from rover_lander_bridge.security import ArsnCounter, generate_key_file, load_key, MacEngine
from rover_lander_bridge.telemetry import DownlinkResult
from rover_lander_bridge.transports import UdpTransport
from spacepackets.cfdp import PduFactory
from spacepackets.cfdp.pdu import FileDataPdu, FinishedPdu

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


# --- The real standalone rover, SIGKILLed, over real UDP ------------------------------------
TIMER_S = 0.5
IMAGE_BYTES = 200_000


class StandaloneRig:
    """rover-standalone in its own process, the link emulator and a ground session."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.key_file = tmp_path / 'uplink.key'
        generate_key_file(self.key_file)
        with ProductStore(tmp_path / 'products', budget_bytes=50 << 20) as store:
            self.image = store.put(os.urandom(IMAGE_BYTES), kind=ProductKind.IMAGE,
                                   suffix='.jpg', stamp=1.8e9, camera='left')
        self.rover_port, ground_port = free_udp_port(), free_udp_port()
        profile = LinkProfile(delay_s=0.01)
        self.emulator = LinkEmulator(('127.0.0.1', 0), ('127.0.0.1', 0), downlink=profile,
                                     uplink=profile, rover_peer=('127.0.0.1', self.rover_port),
                                     ground_peer=('127.0.0.1', ground_port)).start()
        config = CfdpConfig(ack_timer_s=TIMER_S, nak_timer_s=TIMER_S, inactivity_s=20.0)
        self.receiver = FileReceiver(tmp_path / 'ground-files', config=config,
                                     local_entity_id=CFDP_GROUND_ENTITY_ID,
                                     remote_entity_id=CFDP_ROVER_ENTITY_ID)
        self.file_data = []
        on_pdu = self.receiver.on_pdu

        def tap(data, now):
            pdu = PduFactory.from_raw(data)
            if isinstance(pdu, FileDataPdu):
                self.file_data.append((pdu.offset, pdu.offset + len(pdu.file_data)))
            on_pdu(data, now)
        self.receiver.on_pdu = tap
        station = GroundStation(mac=MacEngine({1: load_key(self.key_file)}), spi=1,
                                counter=ArsnCounter(tmp_path / 'ground.sqlite3', 1),
                                receiver=self.receiver)
        self.transport = UdpTransport(('127.0.0.1', ground_port), self.emulator.ground_address)
        self.session = GroundSession(station, self.transport, heartbeat=0.3)
        self.process = None

    def start(self) -> None:
        package_root = Path(rover_lander_bridge.__file__).resolve().parents[1]
        env = dict(os.environ,
                   PYTHONPATH=f'{package_root}:{os.environ.get("PYTHONPATH", "")}')
        remote = self.emulator.rover_address
        params = {'downlink_rate': 4e6, 'burst_bytes': 65536, 'cfdp_ack_timer': TIMER_S,
                  'cfdp_nak_timer': TIMER_S, 'cfdp_inactivity': 20.0, 'link_timeout': 2.0,
                  'safing_timeout': 30.0}
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'rover_lander_bridge.standalone_rover',
             '--key', str(self.key_file), '--state-dir', str(self.tmp_path / 'rover-state'),
             '--product-dir', str(self.tmp_path / 'products'),
             '--local', f'127.0.0.1:{self.rover_port}', '--remote', f'{remote[0]}:{remote[1]}',
             *[arg for name, value in params.items() for arg in ('--param', f'{name}={value}')]],
            stdout=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout.readline().startswith('rover-standalone: bridge on')

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no clean-up, no goodbye
        self.process.wait(5)

    def pump_until(self, until, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < end, 'did not happen in time'
            self.session.pump(0.02)

    def received(self) -> int:
        progress = self.receiver.progress
        return progress.transferred_bytes if progress is not None else 0

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.transport.close()
        self.emulator.close()


@pytest.fixture
def standalone(tmp_path):
    system = StandaloneRig(tmp_path)
    yield system
    system.close()


def _resent(file_data, mark) -> int:
    """Bytes of file data that arrived after ``mark`` although they had arrived before it."""
    before, after = file_data[:mark], file_data[mark:]
    return _covered(before) + _covered(after) - _covered(before + after)


def _covered(ranges) -> int:
    covered, end = 0, 0
    for low, high in sorted(ranges):
        low = max(low, end)
        if high > low:
            covered += high - low
            end = high
    return covered


@pytest.mark.parametrize('link_down_at_restart', [False, True])
def test_sigkilled_standalone_rover_answers_the_original_tc_and_resends_nothing_it_had(
        standalone, link_down_at_restart):
    image = standalone.image
    standalone.start()
    session = standalone.session
    request_id = session.send(cmd.DownlinkProduct(image.id, Variant.FULL))
    standalone.pump_until(lambda: standalone.received() >= IMAGE_BYTES // 2, 20.0)
    standalone.kill()
    had = len(standalone.file_data)
    if link_down_at_restart:
        standalone.emulator.set_outage(True)
    standalone.start()
    if link_down_at_restart:
        session.pump(1.0)
        assert not session.station.tracker.get(request_id).finished
        standalone.emulator.set_outage(False)
    status = session.wait(request_id, 30.0)
    assert status.completed, status.failure
    assert status.result == DownlinkResult(image.id, IMAGE_BYTES, bytes.fromhex(image.sha256),
                                           image.id + '.jpg')
    delivered, = session.files
    assert delivered.delivered
    data = (standalone.tmp_path / 'ground-files' / (image.id + '.jpg')).read_bytes()
    assert hashlib.sha256(data).hexdigest() == image.sha256
    resent = _resent(standalone.file_data, had)
    print(f'SIGKILL at {_covered(standalone.file_data[:had])} of {IMAGE_BYTES} B: {resent} B '
          f'the ground had arrived again')
    assert resent < IMAGE_BYTES // 10
    assert [i for i in session.items if isinstance(i, EventReport)
            and i.event.event_id is EventId.FILE_DOWNLINK_RESUMED]
    record, = DownlinkQueue(standalone.tmp_path / 'rover-state' / 'file_downlink.sqlite3'
                            ).records()
    assert record.attempts == 1
