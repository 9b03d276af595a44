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
The authenticated downlink: forged, replayed and reflected telemetry never reaches the ground.

Each forgery is also sent sealed with the right key (or replayed into a ground that may
accept it), so every test shows the same bytes would have been read had the check failed.
The downlink key and the ground's window alone are tested in rover_link
(test_downlink_key_and_window.py).
"""

import hashlib
import os
import signal
import subprocess
import sys

from conftest import Rig, SPI, UTC0
import pytest
from rover_common.product_store import ProductStore
from rover_ground.ground import FileDone, GroundStation, RefusedFrame, Verification
from rover_lander_bridge.bridge import BridgeConfig
from rover_lander_bridge.tm_store import TmStore
from rover_link import commands as cmd
from rover_link.cfdp import CfdpConfig, FileReceiver, FileSender
from rover_link.downlink_auth import derive_downlink_mac, DownlinkSequence, DownlinkWindow
from rover_link.framing import (apid_of, open_downlink, protect_downlink, SECURITY_HEADER,
                                SECURITY_HEADER_LEN, split_downlink)
from rover_link.protocol import (APID_CFDP, APID_ROVER, CFDP_GROUND_ENTITY_ID,
                                 CFDP_ROVER_ENTITY_ID, HkSet, LinkState, RejectReason, Variant,
                                 VerificationSubtype as V)
from rover_link.security import ArsnCounter, MAC_LEN, MacEngine
from rover_link.telemetry import TmFactory

FILES_CONFIG = BridgeConfig(downlink_rate_bps=400_000.0, link_timeout=30.0,
                            safing_timeout=120.0)
CFDP = CfdpConfig(ack_timer_s=3.0, nak_timer_s=3.0, inactivity_s=60.0, max_pdu_len=1018)
HELPER = os.path.join(os.path.dirname(__file__), 'downlink_sequence_process.py')


def attacker_keys(mac):
    """Return the keys a forger might seal with: a guessed key and the uplink key."""
    return {'random key': derive_downlink_mac(MacEngine({SPI: os.urandom(32)}), SPI),
            'uplink key': mac}


def dsn_of(frame: bytes) -> int:
    return SECURITY_HEADER.unpack_from(frame, 0)[1]


def payload_of(frame: bytes) -> bytes:
    return frame[SECURITY_HEADER_LEN:-MAC_LEN]


def reports(rig, request_id):
    return [r.subtype for r in rig.status(request_id).reports]


# -- the ground refuses what it cannot authenticate ----------------------------------------


@pytest.mark.parametrize('forger', ['random key', 'uplink key'])
def test_a_forged_verification_report_is_refused_counted_and_never_reported(rig, mac, forger):
    _, request_id = rig.ground.command(cmd.Drive(1.0, 0.05), rig.now)
    factory = TmFactory(APID_ROVER, 1000)
    packets = (factory.verification(V.ACCEPTANCE_SUCCESS, request_id, UTC0)
               + factory.verification(V.COMPLETION_SUCCESS, request_id, UTC0))
    before = rig.ground.counters
    items = rig.ground.handle_frame(
        protect_downlink(attacker_keys(mac)[forger], SPI, 1 << 62, packets), rig.now)
    assert [(type(i), i.reason) for i in items] == [(RefusedFrame, RejectReason.BAD_MAC)]
    after = rig.ground.counters
    assert after.forged_frames == before.forged_frames + 1 == items[0].counters.forged_frames
    assert after.frames_accepted == before.frames_accepted
    assert reports(rig, request_id) == []
    genuine = rig.ground.handle_frame(
        protect_downlink(derive_downlink_mac(mac, SPI), SPI, 1 << 62, packets), rig.now)
    assert [type(i) for i in genuine] == [Verification, Verification]
    assert reports(rig, request_id) == [V.ACCEPTANCE_SUCCESS, V.COMPLETION_SUCCESS]


def test_a_replayed_genuine_frame_is_refused_and_reports_nothing_twice(rig):
    rig.downlinked.clear()
    request_id = rig.send(cmd.Ping())
    assert reports(rig, request_id) == [V.ACCEPTANCE_SUCCESS, V.START_SUCCESS,
                                        V.COMPLETION_SUCCESS]
    assert rig.downlinked
    for frame in rig.downlinked:
        items = rig.ground.handle_frame(frame, rig.now)
        assert [(type(i), i.reason) for i in items] == [(RefusedFrame, RejectReason.REPLAY)]
    assert rig.ground.counters.replayed_frames == len(rig.downlinked)
    assert reports(rig, request_id) == [V.ACCEPTANCE_SUCCESS, V.START_SUCCESS,
                                        V.COMPLETION_SUCCESS]


def test_a_reflected_uplink_frame_is_refused_as_forged(rig):
    frame, request_id = rig.ground.command(cmd.Ping(), rig.now)
    items = rig.ground.handle_frame(frame, rig.now)
    assert [(type(i), i.reason) for i in items] == [(RefusedFrame, RejectReason.BAD_MAC)]
    assert rig.ground.counters.forged_frames == 1


def test_a_truncated_frame_is_counted_as_malformed(rig):
    items = rig.ground.handle_frame(b'\x00\x01' + bytes(20), rig.now)
    assert items[0].reason is RejectReason.TRUNCATED
    assert rig.ground.counters.malformed_frames == 1 and rig.ground.counters.refused == 1


@pytest.fixture
def files_rig(tmp_path, mac):
    store = ProductStore(tmp_path / 'products', budget_bytes=50 << 20)
    sender = FileSender(tmp_path / 'downlink.sqlite3', local_entity_id=CFDP_ROVER_ENTITY_ID,
                        remote_entity_id=CFDP_GROUND_ENTITY_ID, config=CFDP)
    receiver = FileReceiver(tmp_path / 'ground-files', local_entity_id=CFDP_GROUND_ENTITY_ID,
                            remote_entity_id=CFDP_ROVER_ENTITY_ID, config=CFDP)
    rig = Rig(tmp_path, mac, config=FILES_CONFIG, products=store, files=sender,
              receiver=receiver)
    rig.send(cmd.Ping())
    yield rig
    rig.bridge.close()
    sender.close()
    store.close()


def pump_resealed(rig, seal, seconds: float, step: float = 0.05) -> list:
    """Run both ends, but deliver each downlink frame re-sealed by ``seal``."""
    items = []
    end = rig.now + seconds
    while rig.now < end:
        frames, file_items = rig.ground.tick(rig.now)
        items += file_items
        if frames:
            rig.bridge.handle_frames(frames, rig.now)
        rig.now += step
        for frame in rig.bridge.tick(rig.now):
            items += rig.ground.handle_frame(seal(frame), rig.now)
    return items


@pytest.mark.parametrize('forger', ['random key', 'uplink key'])
def test_a_forged_cfdp_file_is_never_delivered_and_its_pdus_are_counted(files_rig, mac,
                                                                        tmp_path, forger):
    image, _ = files_rig.products.put_with_thumbnail(
        os.urandom(20_000), os.urandom(1000), suffix='.jpg', stamp=1.8e9, camera='left')
    frame, request_id = files_rig.ground.command(cmd.DownlinkProduct(image.id, Variant.FULL),
                                                 files_rig.now)
    files_rig.bridge.handle_frames([frame], files_rig.now)
    forged_key = attacker_keys(mac)[forger]
    file_pdus = []

    def forge(frame: bytes) -> bytes:
        packets = split_downlink(frame)[0]
        file_pdus.extend(p for p in packets if apid_of(p) == APID_CFDP)
        return protect_downlink(forged_key, SPI, dsn_of(frame), payload_of(frame))

    items = pump_resealed(files_rig, forge, 4.0)
    assert len(file_pdus) >= 5, 'the rover did send file PDUs'
    assert items and all(isinstance(i, RefusedFrame) for i in items)
    assert not [i for i in items if isinstance(i, FileDone)]
    assert files_rig.ground.counters.forged_file_pdus == len(file_pdus)
    assert not any((tmp_path / 'ground-files').iterdir()), 'not even a partial file'
    assert reports(files_rig, request_id) == []
    files_rig.pump(30.0)
    done = [i for i in files_rig.items if isinstance(i, FileDone)]
    assert [d.delivered for d in done] == [True]
    received = (tmp_path / 'ground-files' / (image.id + '.jpg')).read_bytes()
    assert hashlib.sha256(received).hexdigest() == image.sha256


def test_every_frame_the_bridge_sends_is_sealed_with_increasing_numbers(rig, mac):
    rig.send(cmd.HkOneShot((HkSet.MOBILITY, HkSet.LINK)))
    rig.tick(rig.config.link_timeout + 1.0, deliver=False)
    assert rig.bridge.snapshot().state is not LinkState.UP
    beacons_from = len(rig.downlinked)
    for _ in range(3):
        rig.tick(rig.config.beacon_interval, deliver=False)
    assert len(rig.downlinked) > beacons_from, 'beacons were sent while the link was down'
    down = derive_downlink_mac(mac, SPI)
    dsns = [open_downlink(down, frame).dsn for frame in rig.downlinked]
    assert dsns == sorted(set(dsns))


def test_numbers_keep_increasing_across_a_bridge_restart_whose_clock_went_back(rig):
    last = max(map(dsn_of, rig.downlinked))
    rig.now = 0.0  # the rover rebooted: its monotonic clock restarts, its UTC is behind
    rig.restart_bridge()
    rig.downlinked.clear()
    request_id = rig.send(cmd.Ping())
    assert min(map(dsn_of, rig.downlinked)) > last
    assert reports(rig, request_id)[-1] is V.COMPLETION_SUCCESS
    assert rig.ground.counters.refused == 0


# -- the rover's sequence numbers ----------------------------------------------------------


def test_a_sigkilled_rover_never_reuses_a_sequence_number_even_with_a_wrong_clock(tmp_path):
    store = tmp_path / 'telemetry.sqlite3'
    process = subprocess.Popen([sys.executable, HELPER, str(store), '0'],
                               stdout=subprocess.PIPE, text=True)
    try:
        taken = [int(process.stdout.readline()) for _ in range(2500)]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    taken += [int(line) for line in process.stdout.read().splitlines(keepends=True)
              if line.endswith('\n')]
    process.stdout.close()
    assert taken == list(range(taken[0], taken[0] + len(taken)))
    restarted = DownlinkSequence(TmStore(store), utc=0.0)
    assert restarted.take() > taken[-1]


def test_a_lost_store_still_starts_above_the_old_numbers_by_the_clock(tmp_path):
    first = DownlinkSequence(TmStore(tmp_path / 'a.sqlite3'), utc=UTC0)
    old = [first.take() for _ in range(3000)]
    replaced = DownlinkSequence(TmStore(tmp_path / 'b.sqlite3'), utc=UTC0 + 0.01)
    assert replaced.take() > old[-1]


# -- the ground's window -------------------------------------------------------------------


def test_a_persisted_window_refuses_the_frames_of_an_earlier_ground_session(rig, mac, tmp_path):
    path = tmp_path / 'ground-state.sqlite3'
    recorded = list(rig.downlinked)

    def new_ground(window):
        return GroundStation(mac=mac, spi=SPI, window=window,
                             counter=ArsnCounter(tmp_path / 'g2.sqlite3', SPI))

    first = DownlinkWindow(path=path)
    session = new_ground(first)
    assert not [i for f in recorded for i in session.handle_frame(f, 0.0)
                if isinstance(i, RefusedFrame)]
    first.close()
    restarted = new_ground(DownlinkWindow(path=path))
    refusals = [i for f in recorded for i in restarted.handle_frame(f, 0.0)]
    assert [(type(i), i.reason) for i in refusals] == \
        [(RefusedFrame, RejectReason.REPLAY)] * len(recorded)
    assert 'before this ground started' in refusals[0].detail
    forgetful = new_ground(None)
    assert not [i for f in recorded for i in forgetful.handle_frame(f, 0.0)
                if isinstance(i, RefusedFrame)], 'a window in memory only would accept them'
    request_id = rig.send(cmd.Ping())
    assert reports(rig, request_id)[-1] is V.COMPLETION_SUCCESS
    assert not [i for f in rig.downlinked[len(recorded):]
                for i in restarted.handle_frame(f, 0.0) if isinstance(i, RefusedFrame)]
