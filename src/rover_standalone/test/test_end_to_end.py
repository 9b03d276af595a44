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
End to end without ROS: ground tool -> link emulator -> lander bridge -> standalone rover.

Real UDP sockets on loopback, the real link emulator, the fake drive, shovel and cameras.
The rover runs 10x faster than the wall clock and the link is short and fast, so each test
takes seconds; the demo (``rover-demo``) runs the same with the Earth-Moon delay.
"""

import math
import os
import socket
import subprocess
import sys
import time

import pytest
from rover_ground.ground import EventReport, FileDone, RefusedFrame
from rover_ground.link_emulator import Direction
from rover_link import commands as cmd
from rover_link.cfdp import CfdpConfig, FileSender
from rover_link.downlink_auth import derive_downlink_mac
from rover_link.framing import protect_downlink, wrap_cfdp
from rover_link.protocol import (APID_ROVER, CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID,
                                 ErrorCode, EventId, LinkState, Variant, VerificationSubtype as V)
from rover_link.security import load_key, MacEngine
from rover_link.telemetry import SampleResult, TmFactory
from rover_standalone.demo import LinkSettings, LoopbackSystem
from spacepackets.ccsds.spacepacket import PacketType

LINK = LinkSettings(delay_s=0.02, rate_bps=4e6, cfdp_timer_s=0.6, link_timeout_s=1.0,
                    safing_timeout_s=2.5, heartbeat_s=0.3)


@pytest.fixture
def system(tmp_path):
    loopback = LoopbackSystem(tmp_path, link=LINK, time_scale=10.0, image_size=(640, 360),
                              bridge_params={'command_timeout_margin': 5.0})
    yield loopback
    loopback.close()


def wait_for(predicate, timeout: float, pump=None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if pump is not None:
            pump(0.05)
        else:
            time.sleep(0.05)
    return predicate()


def test_ground_tool_drives_1_m_and_the_completion_report_arrives(system, tmp_path):
    system.run(cmd.Ping(), 5.0)
    system.session.transport.close()  # the console tool takes over the ground port
    address = system.emulator.ground_address
    result = subprocess.run(
        [sys.executable, '-m', 'rover_ground.ground_cli', '--key', str(system.key_file),
         '--state', str(tmp_path / 'cli-ground.sqlite3'),
         '--local', f'127.0.0.1:{system.ground_port}', '--remote', f'{address[0]}:{address[1]}',
         '--downlink-dir', str(tmp_path / 'cli-files'), '--timeout', '30', '--quiet-hk',
         '--heartbeat', str(LINK.heartbeat_s), 'send', 'drive', '1.0', '0.1'],
        capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    verbs = [line.split(': ', 1)[1] for line in lines if line.split(' ', 1)[1].startswith(
        'drive 1 m at 0.1 m/s: ')]
    assert verbs[:2] == ['sent', 'accepted']
    assert 'started' in verbs and verbs[-1] == 'completed'
    assert any(v.startswith('progress') for v in verbs)
    assert any(v.startswith('result: 1.0') or v.startswith('result: 0.99') for v in verbs)
    mobility = system.rover.telemetry().mobility
    assert mobility.x == pytest.approx(1.0, abs=0.02) and abs(mobility.y) < 0.02


def test_link_cut_stops_the_rover_and_it_resumes_only_on_release(system):
    session, rover = system.session, system.rover
    drive = session.send(cmd.Drive(5.0, 0.1))
    assert wait_for(lambda: rover.telemetry().mobility.x > 0.3, 10.0, session.pump)
    system.emulator.set_outage(True)
    cut = time.monotonic()
    assert wait_for(lambda: system.stack.bridge.snapshot().state is LinkState.SAFED, 6.0)
    safed_after = time.monotonic() - cut
    assert LINK.safing_timeout_s - 0.3 <= safed_after <= LINK.safing_timeout_s + 1.5
    assert wait_for(lambda: rover.telemetry().mobility.stopped, 3.0)
    stopped_at = rover.telemetry().mobility.x
    time.sleep(0.5)
    assert rover.telemetry().mobility.x == pytest.approx(stopped_at, abs=1e-3)
    assert stopped_at < 4.0
    system.emulator.set_outage(False)
    status = session.wait(drive, 10.0)
    assert status.failure is not None and status.failure.subtype is V.COMPLETION_FAILURE
    events = [i.event.event_id for i in session.items if isinstance(i, EventReport)]
    assert EventId.LINK_LOST in events and EventId.LINK_SAFED in events
    refused = system.run(cmd.Drive(0.2, 0.1), 5.0)
    assert refused.failure.code is ErrorCode.ROVER_SAFED
    assert rover.telemetry().mobility.x == pytest.approx(stopped_at, abs=1e-3)
    assert system.run(cmd.Release(), 5.0).completed
    assert system.run(cmd.Drive(0.2, 0.1), 10.0).completed
    assert rover.telemetry().mobility.x == pytest.approx(stopped_at + 0.2, abs=0.02)


def test_collect_a_sample_and_receive_its_evidence_images_over_cfdp(system):
    status = system.run(cmd.CollectSample(), 30.0)
    assert status.completed, status.failure
    sample = status.result
    assert isinstance(sample, SampleResult) and len(sample.image_ids) == 2
    phases = [r.step for r in status.reports if r.subtype is V.PROGRESS_SUCCESS]
    assert phases == sorted(phases) and len(phases) >= 4
    wanted, requests = {}, []
    for image_id in sample.image_ids:
        for variant in (Variant.THUMBNAIL, Variant.FULL):
            product = system.products.get(image_id)
            if variant is Variant.THUMBNAIL:
                product = system.products.get(product.related_id)
            wanted[product.id + '.jpg'] = system.products.read(product.id)
            requests.append(system.session.send(cmd.DownlinkProduct(image_id, variant)))
    evidence = system.products.get(sample.evidence_id)
    wanted[evidence.id + evidence.path.suffix] = system.products.read(evidence.id)
    requests.append(system.session.send(cmd.DownlinkProduct(evidence.id, Variant.FULL)))
    tracker = system.session.station.tracker
    assert wait_for(lambda: all(V.START_SUCCESS in {r.subtype for r in tracker.get(i).reports}
                                for i in requests), 5.0, system.session.pump)
    system.set_loss(0.2)  # telecommands are in; now lose frames both ways during the files
    assert wait_for(lambda: len(system.session.files) >= len(wanted), 60.0,
                    system.session.pump)
    system.set_loss(0.0)
    received = {f.name: f for f in system.session.files}
    for name, data in wanted.items():
        assert received[name].delivered, received[name].reason
        assert (system.downlink_dir / name).read_bytes() == data
    order = [f.name[:3] for f in system.session.files]
    assert order[:2] == ['thm', 'thm'], f'thumbnails before full images: {order}'
    lost = sum(system.emulator.counters(d).dropped_loss for d in Direction)
    assert lost > 0
    assert system.session.station.counters.refused == 0, 'loss is not forgery'
    assert all(isinstance(f, FileDone) for f in system.session.files)


def test_heartbeats_keep_a_quiet_rover_unsafed(system):
    system.run(cmd.Ping(), 5.0)
    system.session.pump(2.0 * LINK.safing_timeout_s)
    assert system.stack.bridge.snapshot().state is LinkState.UP
    assert system.run(cmd.Turn(math.pi / 2, 0.5), 10.0).completed
    failures = [i for i in system.session.items if getattr(i, 'failed', False)]
    assert failures == [], 'heartbeats (pings asking for no reports) produce no failures'


def forged_file_pdus(tmp_path) -> list:
    """Return the CFDP PDUs of a whole file, made by an attacker posing as the rover."""
    evil = tmp_path / 'evil.jpg'
    evil.write_bytes(os.urandom(3000))
    sender = FileSender(tmp_path / 'attacker-queue.sqlite3', local_entity_id=CFDP_ROVER_ENTITY_ID,
                        remote_entity_id=CFDP_GROUND_ENTITY_ID,
                        config=CfdpConfig(max_pdu_len=1000))
    try:
        sender.enqueue(evil, 'evil.jpg')
        pdus = []
        for step in range(3):
            sender.poll(float(step))
            pdus += sender.drain()
        return pdus
    finally:
        sender.close()


def test_forged_telemetry_and_a_forged_file_injected_on_the_relay_never_reach_the_operator(
        system, tmp_path):
    """A real UDP run: the genuine file arrives byte-identical, every forgery is counted."""
    system.run(cmd.Ping(), 5.0)
    image, _ = system.products.put_with_thumbnail(
        os.urandom(60_000), os.urandom(3000), suffix='.jpg', stamp=time.time(), camera='left')
    request_id = system.session.send(cmd.DownlinkProduct(image.id, Variant.FULL))
    uplink = MacEngine({1: load_key(system.key_file)})
    keys = [uplink, derive_downlink_mac(MacEngine({1: os.urandom(32)}), 1)]
    failure = TmFactory(APID_ROVER, 9000).verification(
        V.COMPLETION_FAILURE, request_id, time.time(), code=ErrorCode.FILE_TRANSFER_FAILED,
        reason='forged')
    pdus = forged_file_pdus(tmp_path)
    assert len(pdus) >= 3
    forged = [protect_downlink(keys[i % 2], 1, (1 << 62) + i, packet) for i, packet in
              enumerate([failure] + [wrap_cfdp(p, packet_type=PacketType.TM, seq_count=i)
                                     for i, p in enumerate(pdus)])]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        for frame in forged:
            attacker.sendto(frame, system.emulator.rover_address)
    assert wait_for(lambda: system.session.files, 30.0, system.session.pump)
    status = system.session.wait(request_id, 10.0)
    assert status.completed and status.failure is None
    done = system.session.files
    assert [(d.name, d.delivered) for d in done] == [(image.id + '.jpg', True)]
    assert (system.downlink_dir / (image.id + '.jpg')).read_bytes() == \
        system.products.read(image.id)
    assert not list(system.downlink_dir.glob('evil*'))
    counters = system.session.station.counters
    assert counters.forged_frames == len(forged)
    assert counters.forged_file_pdus == len(pdus)
    assert counters.replayed_frames == counters.malformed_frames == 0
    assert counters.frames_accepted > 0
    refused = [i for i in system.session.items if isinstance(i, RefusedFrame)]
    assert len(refused) == len(forged)
