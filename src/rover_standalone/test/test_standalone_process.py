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
The standalone rover (``rover-standalone``) as a real process, on real UDP.

It exits with its documented code when its bridge loop fails, starts and answers without its
product store, and, SIGKILLed during a file downlink, answers the original telecommand after
its restart and re-sends almost nothing the ground already had.
"""

import hashlib
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest
from rover_common.product_store import ProductKind, ProductStore
from rover_ground.ground import EventReport, GroundStation, Verification
from rover_ground.ground_cli import GroundSession
from rover_ground.link_emulator import LinkEmulator, LinkProfile
from rover_link import commands as cmd
from rover_link.cfdp import CfdpConfig, DownlinkQueue, FileReceiver
from rover_link.protocol import (CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID, EventId, Variant,
                                 VerificationSubtype as V)
from rover_link.security import ArsnCounter, generate_key_file, load_key, MacEngine
from rover_link.telemetry import DownlinkResult
from rover_link.transports import free_udp_port, UdpTransport
import rover_standalone
from rover_standalone.standalone_rover import EXIT_LOOP_FAILED
from spacepackets.cfdp import PduFactory
from spacepackets.cfdp.pdu import FileDataPdu


FAILING_ESTOP_ROVER = """
import sys
from rover_standalone import standalone_rover


def estop_gone(self, engage, reason, done):
    raise RuntimeError('estop: drive controller gone')


standalone_rover.StandaloneRover.set_estop = estop_gone
sys.exit(standalone_rover.main(sys.argv[1:]))
"""


def test_the_standalone_rover_exits_with_its_documented_code_when_the_loop_fails(tmp_path):
    result = subprocess.run(
        [sys.executable, '-c', FAILING_ESTOP_ROVER, '--key', str(tmp_path / 'uplink.key'),
         '--state-dir', str(tmp_path / 'state'), '--product-dir', str(tmp_path / 'products'),
         '--local', f'127.0.0.1:{free_udp_port()}', '--remote', f'127.0.0.1:{free_udp_port()}',
         '--param', 'create_key_if_missing=true', '--param', 'link_timeout=1.0',
         '--param', 'safing_timeout=1.0'],
        capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == EXIT_LOOP_FAILED, result.stderr
    assert 'the bridge loop failed (SafingFailed' in result.stderr


def test_the_standalone_rover_starts_without_its_product_store_and_answers(tmp_path):
    key = tmp_path / 'uplink.key'
    generate_key_file(key)
    (tmp_path / 'products').write_bytes(b'a file where the store should be')
    rover_port, ground_port = free_udp_port(), free_udp_port()
    process = subprocess.Popen(
        [sys.executable, '-m', 'rover_standalone.standalone_rover', '--key', str(key),
         '--state-dir', str(tmp_path / 'state'), '--product-dir', str(tmp_path / 'products'),
         '--local', f'127.0.0.1:{rover_port}', '--remote', f'127.0.0.1:{ground_port}'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    link = UdpTransport(('127.0.0.1', ground_port), ('127.0.0.1', rover_port))
    ground = GroundStation(mac=MacEngine({1: load_key(key)}), spi=1,
                           counter=ArsnCounter(tmp_path / 'ground.sqlite3', 1))
    try:
        texts, answered, deadline = [], False, time.monotonic() + 20.0
        while not (answered and texts) and time.monotonic() < deadline:
            frame, request_id = ground.command(cmd.Ping(), 0.0)
            link.send(frame)
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                received = link.receive(0.05)
                for item in ground.handle_frame(received, 0.0) if received else []:
                    answered |= isinstance(item, Verification) and \
                        item.subtype is V.COMPLETION_SUCCESS
                    if isinstance(item, EventReport) and \
                            item.event.event_id is EventId.STORE_UNAVAILABLE:
                        texts.append(item.text)
        assert answered and texts[0].startswith('STORE_UNAVAILABLE: products ')
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert 'UNAVAILABLE' in out
    finally:
        link.close()
        if process.poll() is None:
            process.kill()
            process.communicate()


# --- SIGKILLed during a file downlink, over real UDP ----------------------------------------
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
        package_root = Path(rover_standalone.__file__).resolve().parents[1]
        env = dict(os.environ,
                   PYTHONPATH=f'{package_root}:{os.environ.get("PYTHONPATH", "")}')
        remote = self.emulator.rover_address
        params = {'downlink_rate': 4e6, 'burst_bytes': 65536, 'cfdp_ack_timer': TIMER_S,
                  'cfdp_nak_timer': TIMER_S, 'cfdp_inactivity': 20.0, 'link_timeout': 2.0,
                  'safing_timeout': 30.0}
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'rover_standalone.standalone_rover',
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
