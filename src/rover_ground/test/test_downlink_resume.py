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
A file downlink survives the rover's sender being killed: it resumes, it does not start over.

On simulated time with the flight timers and the Earth-Moon delay (the Harness of
test_cfdp_link), a "kill" drops the FileSender without a word and opens a new one on the same
queue file, while the ground's FileReceiver and the frames in flight carry on. File-data
bytes are counted from the PDUs each sender put on the link. Then the same with a real sender
process SIGKILLed over UDP, and the queue file garbage, locked, or from the previous release.
"""

from dataclasses import replace
import os
from pathlib import Path
import random
import sqlite3
import subprocess
import sys
import time

import pytest
from rover_common.state_db import StateDbUnavailable
from rover_ground.link_emulator import LinkEmulator, LinkProfile
import rover_link
from rover_link.cfdp import DownlinkQueue, DownlinkState, FileReceiver, FileSender, TransferOutcome
from rover_link.transports import UdpTransport
from spacepackets.cfdp import ConditionCode, PduFactory
from spacepackets.cfdp.pdu import FileDataPdu
from test_cfdp_link import (  # noqa: F401 (the fixture cleans cfdp-py's shared tracker)
    _kind, clean_shared_lost_segment_tracker, DOWN, EARTH_MOON, FLIGHT, GROUND, Harness, OK,
    ROVER,
)

SIZE = 100_000
BUDGET = 2_500
"""Bytes per 0.1 s tick the sender may drain: 200 kbit/s, the bridge's budget for files."""


def _file_data(pdus):
    """Return the (start, end) byte ranges of the file-data PDUs among ``pdus``."""
    ranges = []
    for pdu in pdus:
        parsed = PduFactory.from_raw(pdu)
        if isinstance(parsed, FileDataPdu):
            ranges.append((parsed.offset, parsed.offset + len(parsed.file_data)))
    return ranges


def _covered(ranges):
    """Return the number of distinct bytes in ``ranges``."""
    covered, end = 0, 0
    for low, high in sorted(ranges):
        low = max(low, end)
        if high > low:
            covered += high - low
            end = high
    return covered


def _kill_at_half(h, source, cut_link=False):
    """Run until the sender has sent half the file, then replace it (a SIGKILL and restart)."""
    h.sender.enqueue(source, source.name)
    h.run(lambda: h.sender.progress is not None
          and h.sender.progress.transferred_bytes >= SIZE // 2)
    seq = h.sender.progress.transaction_seq
    sent_before = len(h.sent[DOWN])
    if cut_link:
        h.link.set_outage(True)
    h.new_sender()
    return seq, sent_before


def test_a_restart_at_half_resumes_the_transaction_and_resends_no_byte_already_sent(tmp_path):
    h = Harness(tmp_path, drain_budget=BUDGET)
    source = h.file('img.jpg', SIZE)
    seq, mark = _kill_at_half(h, source)
    interrupted, = h.sender.recovered
    assert (interrupted.state, interrupted.transaction_seq) == (DownlinkState.ACTIVE, seq)
    h.run_transfers()
    assert h.outcomes() == ([OK], [OK]), 'one transaction: resumed, not superseded'
    assert [r.transaction_seq for r in h.sender_results + h.receiver_results] == [seq, seq]
    assert h.received('img.jpg').read_bytes() == source.read_bytes()
    before, after = _file_data(h.sent[DOWN][:mark]), _file_data(h.sent[DOWN][mark:])
    resent = _covered(before) + _covered(after) - _covered(before + after)
    assert resent == 0, f'{resent} B sent again of the {_covered(before)} B sent before'
    assert _covered(after) == SIZE - _covered(before) == sum(b - a for a, b in after)
    record, = h.sender.requests()
    assert (record.state, record.attempts, record.interrupted) == (DownlinkState.DELIVERED, 1,
                                                                   False)
    resumption, = h.sender.pop_resumptions()
    assert (resumption.transaction_seq, resumption.from_start) == (seq, False)


@pytest.mark.parametrize('seed', [1, 2])
def test_a_resumed_transfer_completes_over_two_way_loss(tmp_path, seed):
    lossy = replace(EARTH_MOON, loss=0.2)
    h = Harness(tmp_path, downlink=lossy, uplink=lossy, seed=seed, drain_budget=BUDGET)
    source = h.file('img.jpg', SIZE, seed)
    seq, mark = _kill_at_half(h, source)
    h.run_transfers()
    assert h.outcomes() == ([OK], [OK])
    assert h.received('img.jpg').read_bytes() == source.read_bytes()
    after = _file_data(h.sent[DOWN][mark:])
    assert sum(b - a for a, b in after) < SIZE
    assert h.sender.requests()[0].attempts == 1


def test_a_restart_while_the_link_is_down_resumes_when_it_returns(tmp_path):
    h = Harness(tmp_path, drain_budget=BUDGET)
    source = h.file('img.jpg', SIZE)
    seq, _ = _kill_at_half(h, source, cut_link=True)
    outage_end = h.now + 60.0  # within the receiver's inactivity limit (120 s)
    h.run(lambda: h.now >= outage_end)
    assert h.sender_results == [] and h.receiver.busy
    assert h.sender.counters.pdus_sent > 3, 'the resumed sender repeats its EOF meanwhile'
    h.link.set_outage(False)
    h.run_transfers()
    assert h.outcomes() == ([OK], [OK])
    assert h.sender_results[0].transaction_seq == seq
    assert h.received('img.jpg').read_bytes() == source.read_bytes()
    assert h.sender.requests()[0].attempts == 1


def test_a_transaction_the_ground_abandoned_meanwhile_starts_over_without_an_attempt(tmp_path):
    h = Harness(tmp_path, drain_budget=BUDGET, max_attempts=1)
    source = h.file('img.jpg', SIZE)
    seq, mark = _kill_at_half(h, source, cut_link=True)
    outage_end = h.now + FLIGHT.inactivity_s + 10.0
    h.run(lambda: h.now >= outage_end)
    abandoned, = h.receiver_results
    assert (abandoned.outcome, abandoned.condition) == (TransferOutcome.ABANDONED,
                                                        ConditionCode.INACTIVITY_DETECTED)
    h.link.set_outage(False)
    h.run_transfers(2)
    closed, delivered = h.sender_results
    assert closed.transaction_seq == seq and closed.will_retry
    assert 'ground had closed' in closed.reason
    assert (delivered.outcome, delivered.condition) == OK and delivered.transaction_seq > seq
    assert not delivered.will_retry
    assert h.received('img.jpg').read_bytes() == source.read_bytes()
    assert sum(b - a for a, b in _file_data(h.sent[DOWN][mark:])) == SIZE
    record, = h.sender.requests()
    assert (record.state, record.attempts) == (DownlinkState.DELIVERED, 1)
    resumed, restarted = h.sender.pop_resumptions()
    assert (resumed.from_start, restarted.from_start) == (False, True)


@pytest.mark.parametrize('ground_gave_up', [False, True])
def test_a_restart_after_the_ground_has_the_file_reports_delivery_and_sends_no_data(
        tmp_path, ground_gave_up):
    # The rover dies after the ground verified the file, before the Finished PDU reached it.
    # The ground then still repeats its Finished PDU, or (ACK limit reached) has closed.
    config = replace(FLIGHT, ack_limit=3)
    h = Harness(tmp_path, config=config, drain_budget=BUDGET,
                tap=lambda direction, pdu: direction is DOWN or _kind(pdu) != 'Finished')
    source = h.file('img.jpg', 20_000)
    h.sender.enqueue(source, 'img.jpg')
    h.run(lambda: h.received('img.jpg').exists())
    if ground_gave_up:
        h.run(lambda: bool(h.receiver_results), sender_alive=False)
    seq = h.sender.progress.transaction_seq
    mark = len(h.sent[DOWN])
    h.new_sender()
    h.tap = None
    h.run(lambda: h.sender_results and not h.receiver.busy)
    delivered, = h.sender_results
    assert ((delivered.outcome, delivered.condition), delivered.transaction_seq) == (OK, seq)
    assert _file_data(h.sent[DOWN][mark:]) == []
    assert sorted(p.name for p in h.receiver.downlink_dir.iterdir()) == ['img.jpg']
    assert h.received('img.jpg').read_bytes() == source.read_bytes()
    expected = [(TransferOutcome.FAILED, ConditionCode.POSITIVE_ACK_LIMIT_REACHED)] \
        if ground_gave_up else [OK]
    assert [(r.outcome, r.condition) for r in h.receiver_results] == expected
    assert h.sender.requests()[0].attempts == 1


def test_a_changed_source_is_sent_again_from_the_start(tmp_path):
    h = Harness(tmp_path, drain_budget=BUDGET)
    source = h.file('img.jpg', SIZE)
    seq, _ = _kill_at_half(h, source)
    source.write_bytes(source.read_bytes()[:SIZE - 1])
    h.run(lambda: h.sender_results and len(h.receiver_results) == 2 and not h.receiver.busy)
    superseded, delivered = h.receiver_results
    assert superseded.transaction_seq == seq and superseded.outcome is TransferOutcome.ABANDONED
    assert (delivered.outcome, delivered.condition) == OK and delivered.transaction_seq > seq
    assert h.received('img.jpg').read_bytes() == source.read_bytes()
    resumption, = h.sender.pop_resumptions()
    assert resumption.from_start and 'size changed' in resumption.reason
    assert h.sender.requests()[0].attempts == 1


# --- A real process, SIGKILLed, over real UDP -------------------------------------------------
FAST = FLIGHT.scaled(0.1)
"""0.5 s ACK and NAK timers for loopback runs with tens of milliseconds of delay."""


def _start_sender_process(tmp_path, local_port, remote_port, *extra):
    package_root = Path(rover_link.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=f'{package_root}:{os.environ.get("PYTHONPATH", "")}')
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name('cfdp_sender_process.py')),
         str(tmp_path / 'queue.sqlite'), str(local_port), str(remote_port), '1600000', *extra],
        stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == 'ready'
    return process


class _Ground:
    """The ground's receiver on a UDP port, recording the file-data ranges that arrive."""

    def __init__(self, receiver, transport):
        self.receiver = receiver
        self.transport = transport
        self.ranges = []
        self.results = []

    def pump(self, deadline_s, until):
        deadline = time.monotonic() + deadline_s
        while not until():
            assert time.monotonic() < deadline, 'real-time transfer did not finish'
            frame = self.transport.receive(0.002)
            while frame is not None:
                self.ranges += _file_data([frame])
                self.receiver.on_pdu(frame, time.monotonic())
                frame = self.transport.receive(0.0)
            self.receiver.poll(time.monotonic())
            for pdu in self.receiver.drain():
                self.transport.send(pdu)
            self.results += self.receiver.pop_results()


def test_a_sigkilled_sender_process_resumes_over_udp_and_resends_almost_nothing(tmp_path):
    size = 120_000
    source = tmp_path / 'img.jpg'
    source.write_bytes(random.Random(2).randbytes(size))
    profile = LinkProfile(delay_s=0.02)
    with LinkEmulator(downlink=profile, uplink=profile) as emulator, \
            UdpTransport(('127.0.0.1', 0), emulator.ground_address) as ground_link:
        rover_port = UdpTransport(('127.0.0.1', 0), ('127.0.0.1', 9))
        rover_address = rover_port.local_address
        rover_port.close()
        emulator.set_peers(rover_address, ground_link.local_address)
        ground = _Ground(FileReceiver(tmp_path / 'down', local_entity_id=GROUND,
                                      remote_entity_id=ROVER, config=FAST), ground_link)
        first = _start_sender_process(tmp_path, rover_address[1], emulator.rover_address[1],
                                      str(source), 'img.jpg')
        try:
            ground.pump(20.0, lambda: ground.receiver.progress is not None
                        and ground.receiver.progress.transferred_bytes >= size // 2)
            first.kill()  # SIGKILL: no clean-up, no goodbye
            first.wait(5)
        finally:
            if first.poll() is None:
                first.kill()
        had = list(ground.ranges)
        seq = ground.receiver.progress.transaction_seq
        interrupted, = DownlinkQueue(tmp_path / 'queue.sqlite').records()
        assert (interrupted.state, interrupted.attempts) == (DownlinkState.ACTIVE, 1)
        assert _covered(had) < size

        second = _start_sender_process(tmp_path, rover_address[1], emulator.rover_address[1])
        try:
            ground.pump(30.0, lambda: ground.results and not ground.receiver.busy)
            output = second.communicate(timeout=20)[0]
        finally:
            if second.poll() is None:
                second.kill()
    delivered, = ground.results
    assert ((delivered.outcome, delivered.condition), delivered.transaction_seq) == (OK, seq)
    assert (tmp_path / 'down' / 'img.jpg').read_bytes() == source.read_bytes()
    assert output.splitlines() == [f'resumed {seq} False', f'result delivered NO_ERROR {seq}']
    after = ground.ranges[len(had):]
    resent = _covered(had) + _covered(after) - _covered(had + after)
    print(f'restart at {_covered(had)} of {size} B: {resent} B the ground had were sent again, '
          f'{sum(b - a for a, b in after)} B of file data arrived after the restart')
    assert resent < size
    record, = DownlinkQueue(tmp_path / 'queue.sqlite').records()
    assert (record.state, record.attempts) == (DownlinkState.DELIVERED, 1)


# --- The queue file: corrupt, locked, from an older release -----------------------------------
def _open_sender(path) -> FileSender:
    return FileSender(path, local_entity_id=ROVER, remote_entity_id=GROUND, config=FLIGHT)


def test_a_garbage_queue_file_is_moved_aside_and_the_sender_starts_empty(tmp_path):
    path = tmp_path / 'queue.sqlite'
    path.write_bytes(b'not a database, ' * 512)
    sender = _open_sender(path)
    assert sender.moved_aside is not None and sender.moved_aside != path
    assert sender.moved_aside.read_bytes() == b'not a database, ' * 512, 'kept, not deleted'
    assert sender.requests() == [] and sender.pending_tcs() == []
    source = tmp_path / 'a.bin'
    source.write_bytes(b'x')
    assert sender.enqueue(source, 'a.bin') == 1


def test_a_locked_queue_file_is_unavailable_and_left_as_it_was(tmp_path):
    path = tmp_path / 'queue.sqlite'
    source = tmp_path / 'a.bin'
    source.write_bytes(b'x')
    first = _open_sender(path)
    first.enqueue(source, 'a.bin')
    first.close()
    locker = sqlite3.connect(path)
    locker.execute('BEGIN EXCLUSIVE')
    with pytest.raises(StateDbUnavailable, match='locked'):
        _open_sender(path)
    locker.rollback()
    locker.close()
    record, = _open_sender(path).requests()
    assert record.dest_name == 'a.bin' and list(tmp_path.glob('queue.sqlite.corrupt*')) == []


def test_a_queue_locked_at_the_end_of_a_transfer_completes_it_once_unlocked(tmp_path):
    h = Harness(tmp_path)
    h.sender.enqueue(h.file('img.jpg', 20_000), 'img.jpg')
    h.run(lambda: h.received('img.jpg').exists())  # the Finished PDU is on its way up
    locker = sqlite3.connect(tmp_path / 'queue.sqlite')
    locker.execute('BEGIN EXCLUSIVE')
    refused = 0
    while refused == 0:
        try:
            h.run(lambda: False, max_time=h.now + 5.0)
        except sqlite3.OperationalError:
            refused += 1
    assert h.sender.busy, 'the transaction stays in work while its end cannot be saved'
    locker.rollback()
    locker.close()
    h.run_transfers()
    assert h.outcomes() == ([OK], [OK])
    assert h.sender.requests()[0].state is DownlinkState.DELIVERED


def test_a_queue_file_of_the_previous_release_is_upgraded_and_its_transfer_not_charged(
        tmp_path):
    path = tmp_path / 'queue.sqlite'
    source = tmp_path / 'img.jpg'
    source.write_bytes(random.Random(4).randbytes(5_000))
    old = sqlite3.connect(path)
    old.executescript(
        'CREATE TABLE downlink (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,'
        ' dest_name TEXT NOT NULL, priority INTEGER NOT NULL, state TEXT NOT NULL,'
        ' attempts INTEGER NOT NULL DEFAULT 0, transaction_seq INTEGER, condition TEXT);'
        'CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER);'
        "INSERT INTO counter VALUES ('transaction_seq', 7);")
    old.execute('INSERT INTO downlink (source, dest_name, priority, state, attempts,'
                ' transaction_seq) VALUES (?, ?, 0, ?, 1, 6)', (str(source), 'img.jpg', 'active'))
    old.commit()
    old.close()
    h = Harness(tmp_path)
    interrupted, = h.sender.recovered
    assert interrupted.source_size is None
    h.run_transfers()
    assert h.outcomes() == ([OK], [OK])
    assert h.sender_results[0].transaction_seq == 7, 'no size recorded: a new transaction'
    record, = h.sender.requests()
    assert (record.state, record.attempts) == (DownlinkState.DELIVERED, 1)
