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
The replay floor at the bridge: a lost state locks the uplink, only SA management reopens it.

Real sqlite and floor files throughout; the ground clock fault runs end to end over real
UDP between a bridge thread and the ``rover-ground`` tool.
"""

import os
import sqlite3
import time

from conftest import FakePort, SPI
import pytest
from rover_ground.ground import EventReport, GroundStation
from rover_ground.ground_cli import main
from rover_lander_bridge.params import TABLE
from rover_lander_bridge.runner import BridgeStack
from rover_link import commands as cmd
from rover_link.protocol import ErrorCode, EventId, LinkState, SA_MANAGEMENT_SPI
from rover_link.sa_management import (GetChallenge, management_frame, management_mac, parse_status,
                                      reset_event, ResetWindow, SaReset, SaStatus, status_event)
from rover_link.security import ArsnCounter, MacEngine
from rover_link.transports import free_udp_port

REPLAY_FILES = ('replay.sqlite3', 'replay.sqlite3-wal', 'replay.sqlite3-shm',
                'replay.sqlite3.floor')


def _events(rig, event_id):
    return [i.event for i in rig.items if isinstance(i, EventReport)
            and i.event.event_id is event_id]


def _statuses(rig):
    return [s for s in (parse_status(i.event) for i in rig.items
                        if isinstance(i, EventReport)) if s is not None]


def _announced(rig):
    """Ask the rover for its challenge (GET_CHALLENGE) and return what it announces."""
    before = len(_statuses(rig))
    rig.uplink([management_frame(management_mac(rig.mac, SPI), GetChallenge(SPI))])
    for _ in range(30):
        rig.tick(0.1)
        if len(_statuses(rig)) > before:
            return _statuses(rig)[-1]
    raise AssertionError('the rover never announced its challenge')


def _run_exchange(rig, exchange):
    """Play the ground's side of an SA reset over the rig; return the reset frames sent."""
    sent, seen = [], len(rig.items)
    rig.uplink([exchange.request()])
    for _ in range(40):
        rig.tick(0.25)
        while seen < len(rig.items):
            item = rig.items[seen]
            seen += 1
            frame = exchange.on_event(item.event) if isinstance(item, EventReport) else None
            if frame is not None:
                sent.append(frame)
                rig.uplink([frame])
        if exchange.done:
            return sent
    raise AssertionError('the reset was never confirmed')


def _lose_replay_state(rig):
    """Stop the bridge, lose both copies of its replay state, start it again."""
    rig.bridge.close()
    for name in REPLAY_FILES:
        (rig.tmp_path / name).unlink(missing_ok=True)
    rig.bridge = rig._open_bridge()


@pytest.fixture
def locked(rig):
    """Return a rig whose bridge lost its replay state after use: the uplink is locked."""
    _lose_replay_state(rig)
    return rig


def test_lost_replay_state_locks_the_uplink_and_safing_still_happens(locked):
    rig = locked
    rig.tick(0.1)
    status = _statuses(rig)[-1]
    assert status.locked and status.floor is None and 'replay state missing' in status.reason
    start = rig.now
    while rig.now - start < 70.0:
        rig.send(cmd.Drive(1.0, 0.05))
        for _ in range(10):
            rig.tick(0.5)
    snap = rig.bridge.status(rig.now)
    assert 'drive_distance' not in rig.port.names()
    assert snap.tc_accepted == 0 and snap.tc_replays == snap.tc_rejected >= 14
    assert snap.state is LinkState.SAFED and {'stop', 'hold_shovel'} <= set(rig.port.names())
    locked_announcements = [s for s in _statuses(rig) if s.locked]
    assert 7 <= len(locked_announcements) <= 9, 'one per beacon interval (10 s), no more'


def test_an_sa_reset_with_the_current_challenge_unlocks_the_uplink(locked):
    rig = locked
    exchange = rig.ground.sa_exchange()
    _run_exchange(rig, exchange)
    assert exchange.confirmed.previous is None and exchange.confirmed.floor == exchange.floor
    rig.send(cmd.Drive(1.0, 0.05))
    assert rig.port.names()[-1] == 'drive_distance'
    status = _announced(rig)
    assert not status.locked and status.floor > exchange.floor


def test_the_same_reset_frame_replayed_is_refused(locked):
    rig = locked
    reset = _run_exchange(rig, rig.ground.sa_exchange())[-1]
    frame, _ = rig.ground.command(cmd.Ping(), rig.now)
    rig.uplink([frame])
    floor = _announced(rig).floor
    replays = rig.bridge.status(rig.now).tc_replays
    resets = len(_events(rig, EventId.REPLAY_WINDOW_RESET))
    rig.uplink([reset, frame])
    rig.tick(1.0)
    assert rig.bridge.status(rig.now).tc_replays == replays + 2
    assert len(_events(rig, EventId.REPLAY_WINDOW_RESET)) == resets
    assert _announced(rig).floor == floor


def test_a_replayed_reset_that_would_keep_the_floor_is_refused_by_its_spent_challenge(rig):
    exchange = rig.ground.sa_exchange()
    reset = _run_exchange(rig, exchange)[-1]
    assert exchange.floor == exchange.announced.floor, 'the floor stayed: only the challenge binds'
    replays = rig.bridge.status(rig.now).tc_replays
    rig.uplink([reset])
    rig.tick(1.0)
    assert rig.bridge.status(rig.now).tc_replays == replays + 1
    assert len(_events(rig, EventId.REPLAY_WINDOW_RESET)) == 1


@pytest.mark.parametrize('forgery', ['other key', 'key file key, not derived', 'bit flipped',
                                     'unknown SPI'])
def test_forged_management_frames_are_refused(locked, key, forgery):
    rig = locked
    status = _announced(rig)
    engine = management_mac(rig.mac, SPI)
    target = SPI
    if forgery == 'other key':
        engine = management_mac(MacEngine({SPI: os.urandom(32)}), SPI)
    elif forgery == 'key file key, not derived':
        engine = MacEngine({SA_MANAGEMENT_SPI: key})
    elif forgery == 'unknown SPI':
        target = SPI + 1
        engine = management_mac(MacEngine({target: key}), target)
    frame = bytearray(management_frame(engine, ResetWindow(target, status.challenge,
                                                           status.floor, 1)))
    if forgery == 'bit flipped':
        frame[-20] ^= 0x01
    failures = rig.bridge.status(rig.now).tc_auth_failures
    rig.uplink([bytes(frame)])
    rig.tick(1.0)
    assert rig.bridge.status(rig.now).tc_auth_failures == failures + 1
    assert not _events(rig, EventId.REPLAY_WINDOW_RESET)
    after = _announced(rig)
    assert after.locked and after.challenge == status.challenge


def test_the_challenge_survives_a_restart_and_rotates_after_every_use(locked):
    rig = locked
    first = _announced(rig).challenge
    rig.restart_bridge()
    assert _announced(rig).challenge == first and _statuses(rig)[-1].locked
    _run_exchange(rig, rig.ground.sa_exchange())
    second = _announced(rig).challenge
    assert second != first
    _run_exchange(rig, rig.ground.sa_exchange())
    assert _announced(rig).challenge not in (first, second)


def test_a_reset_held_back_until_the_floor_moved_is_refused_and_consumes_the_challenge(rig):
    status = _announced(rig)
    assert not status.locked
    held = management_frame(management_mac(rig.mac, SPI),
                            ResetWindow(SPI, status.challenge, status.floor, 0))
    rig.send(cmd.Ping())
    replays = rig.bridge.status(rig.now).tc_replays
    rig.uplink([held])
    assert rig.bridge.status(rig.now).tc_replays == replays + 1
    after = _announced(rig)
    assert after.challenge != status.challenge and after.floor > status.floor
    assert not _events(rig, EventId.REPLAY_WINDOW_RESET)


def test_replayed_challenge_requests_neither_hold_off_safing_nor_flood(rig):
    request = management_frame(management_mac(rig.mac, SPI), GetChallenge(SPI))
    start = rig.now
    while rig.now - start < 65.0:
        rig.uplink([request, request], advance=0.25)
    assert rig.bridge.status(rig.now).state is LinkState.SAFED
    answers = _statuses(rig)
    assert 30 <= len(answers) <= 66, 'at most one announcement a second'


@pytest.mark.parametrize('fault', ['window file locked', 'floor file not replaceable'])
def test_tcs_whose_arsns_cannot_be_persisted_are_refused_and_never_run(rig, fault):
    floor = rig.tmp_path / 'replay.sqlite3.floor'
    if fault == 'window file locked':
        blocker = sqlite3.connect(str(rig.tmp_path / 'replay.sqlite3'), isolation_level=None)
        blocker.execute('BEGIN IMMEDIATE')
    else:
        floor.unlink()
        floor.mkdir()
    refused = rig.send(cmd.Drive(1.0, 0.05))
    rig.pump(1.0)
    assert 'drive_distance' not in rig.port.names()
    failure = rig.status(refused).failure
    assert failure.code is ErrorCode.STORE_ERROR
    assert 'anti-replay state not saved' in failure.reason
    assert str(rig.tmp_path) not in failure.reason
    if fault == 'window file locked':
        blocker.execute('ROLLBACK')
        blocker.close()
    else:
        floor.rmdir()
    done = rig.send(cmd.Drive(1.0, 0.05))
    assert rig.port.names()[-1] == 'drive_distance' and rig.status(done).failure is None


def test_a_default_reset_lifts_the_ground_counter_to_the_rover_floor_never_lowers_it(rig):
    future = GroundStation(mac=rig.mac, spi=SPI, counter=ArsnCounter(
        rig.tmp_path / 'ground-fast-clock.sqlite3', SPI, clock=lambda: 4.0e9))
    frame, _ = future.command(cmd.Ping(), rig.now)
    rig.uplink([frame])
    rig.bridge.close()
    (rig.tmp_path / 'replay.sqlite3').unlink()
    rig.bridge = rig._open_bridge()
    rig.send(cmd.Ping())
    assert rig.bridge.status(rig.now).tc_accepted == 0, 'below the floor kept in the file'
    exchange = rig.ground.sa_exchange()
    _run_exchange(rig, exchange)
    assert exchange.floor == exchange.announced.floor == 4_000_000_000_000
    done = rig.send(cmd.Ping())
    assert rig.status(done).completed
    rig.uplink([frame])
    assert rig.bridge.status(rig.now).tc_replays >= 2, 'the fast-clock frame stays refused'


def _stack_values(tmp_path, bridge_port, ground_port):
    return TABLE.validated({
        'key_file': str(tmp_path / 'uplink.key'), 'state_dir': str(tmp_path / 'state'),
        'product_dir': str(tmp_path / 'products'), 'create_key_if_missing': True,
        'udp_local_host': '127.0.0.1', 'udp_local_port': bridge_port,
        'udp_remote_port': ground_port,
        # A window of one: after one accepted TC the window is full, as after a long pass.
        'replay_window': 1})


def test_a_ground_clock_fault_is_recovered_by_sa_reset_with_a_lower_floor(tmp_path, capsys):
    bridge_port, ground_port = free_udp_port(), free_udp_port()
    stack = BridgeStack(_stack_values(tmp_path, bridge_port, ground_port), FakePort()).start()
    state = tmp_path / 'ground' / 'state.sqlite3'
    link = ['--key', str(tmp_path / 'uplink.key'), '--state', str(state),
            '--local', f'127.0.0.1:{ground_port}', '--remote', f'127.0.0.1:{bridge_port}',
            '--heartbeat', '0', '--quiet-hk']
    try:
        ten_years = 10 * 365 * 86400.0
        fast = ArsnCounter(state, 1, clock=lambda: time.time() + ten_years)
        fast.take()
        fast.close()
        assert main([*link, '--timeout', '2', 'send', 'ping']) == 0
        for path in state.parent.iterdir():
            path.unlink()
        assert main([*link, '--timeout', '0.5', 'send', 'ping']) == 2, 'refused as a replay'
        floor = int(time.time() * 1000)
        capsys.readouterr()
        assert main([*link, '--timeout', '5', 'sa-reset', '--floor', str(floor)]) == 0
        out = capsys.readouterr().out
        assert 'WARNING: lowering the floor' in out and 'REPLAY_WINDOW_RESET confirmed' in out
        assert main([*link, '--timeout', '2', 'send', 'ping']) == 0
    finally:
        stack.close()
    assert (tmp_path / 'uplink.key.replay-floor').exists(), 'the second copy is by the key'


def test_sa_reset_with_a_floor_out_of_range_is_a_usage_error(tmp_path, capsys):
    key = tmp_path / 'uplink.key'
    assert main(['keygen', str(key)]) == 0
    link = ['--key', str(key), '--state', str(tmp_path / 'state.sqlite3'),
            '--local', f'127.0.0.1:{free_udp_port()}', '--remote',
            f'127.0.0.1:{free_udp_port()}', '--timeout', '0.5']
    assert main([*link, 'sa-reset', '--floor', str(2 ** 64)]) == 3
    assert 'floor must be in' in capsys.readouterr().out


def test_the_ground_moves_its_counter_only_on_its_own_confirmed_reset(tmp_path, mac):
    counter = ArsnCounter(tmp_path / 'ground.sqlite3', SPI, clock=lambda: 0.0)
    station = GroundStation(mac=mac, spi=SPI, counter=counter)
    exchange = station.sa_exchange(floor=7)
    ours, other = os.urandom(16), os.urandom(16)
    assert exchange.on_event(status_event(SaStatus(SPI, 900, ours, False))) is not None
    assert exchange.on_event(reset_event(SaReset(SPI, 7, 900, other))) is None
    assert exchange.on_event(reset_event(SaReset(SPI, 8, 900, ours))) is None
    assert not exchange.done and counter.last() == 0
    exchange.on_event(reset_event(SaReset(SPI, 7, 900, ours)))
    assert exchange.done and counter.take()[0] == 8
    counter.close()
