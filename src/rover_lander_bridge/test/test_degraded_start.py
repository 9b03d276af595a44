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
Degraded start: a bad product store or state file never stops the bridge.

Real files: a catalog locked by another connection, a product directory that is a file, a
telemetry store that is garbage, truncated, a directory or locked, a file queue that is a
directory. Each time the bridge
starts, answers a ping, says what is wrong in an event naming the file, and keeps every
byte of the bad file. The last test runs the standalone rover as a real process.
"""

from pathlib import Path
import sqlite3
import time

from conftest import FakePort
import pytest
from rover_common.product_store import CATALOG_NAME, ProductStore
from rover_ground.ground import EventReport, GroundStation, Housekeeping, Verification
from rover_lander_bridge.runner import BridgeStack
from rover_lander_bridge.tm_store import TmStore
from rover_link import commands as cmd
from rover_link.protocol import ErrorCode, EventId, HkSet, Variant, VerificationSubtype as V
from rover_link.security import ArsnCounter, load_key, MacEngine
from rover_link.telemetry import StoreState
from test_runner import Clock, MemoryTransport, values


class Bench:
    """A bridge stack on a memory link with a ground station, stepped by the test."""

    def __init__(self, tmp_path: Path, **params) -> None:
        self.clock, self.transport = Clock(), MemoryTransport()
        self.stack = BridgeStack(values(tmp_path, store_retry_interval=1.0, **params),
                                 FakePort(), transport=self.transport, clock=self.clock)
        self.ground = GroundStation(mac=MacEngine({1: load_key(tmp_path / 'uplink.key')}),
                                    spi=1, counter=ArsnCounter(tmp_path / 'ground.sqlite3', 1))
        self.items = []

    def send(self, command) -> list:
        """Uplink one command, step the loop, return what came down."""
        frame, request_id = self.ground.command(command, 0.0)
        self.transport.inbox.append(frame)
        self.clock.now += 0.05
        self.stack.runner.step(0.0)
        items = [i for f in self.transport.sent for i in self.ground.handle_frame(f, 0.0)]
        self.transport.sent.clear()
        self.items.extend(items)
        return [i for i in items if getattr(i, 'request_id', None) in (None, request_id)]

    def events(self, event_id: EventId) -> list:
        return [i.text for i in self.items
                if isinstance(i, EventReport) and i.event.event_id is event_id]

    def fault_hk(self):
        items = self.send(cmd.HkOneShot((HkSet.FAULT,)))
        return [i.values for i in items if isinstance(i, Housekeeping)][-1]

    def close(self) -> None:
        self.stack.close()


def completion(items):
    return [i for i in items if isinstance(i, Verification) and i.subtype in
            (V.COMPLETION_SUCCESS, V.COMPLETION_FAILURE, V.START_FAILURE)][-1]


def exclusive_lock(path: Path) -> sqlite3.Connection:
    """Hold an exclusive lock on a sqlite file: no other connection can even read it."""
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute('PRAGMA locking_mode = EXCLUSIVE')
    other.execute('BEGIN EXCLUSIVE')
    other.execute('SELECT COUNT(*) FROM sqlite_master').fetchone()
    return other


def test_a_locked_product_store_starts_degraded_and_is_used_once_it_opens(tmp_path):
    ProductStore(tmp_path / 'products', budget_bytes=10 ** 6).close()
    other = exclusive_lock(tmp_path / 'products' / CATALOG_NAME)
    bench = Bench(tmp_path)
    try:
        assert bench.stack.products is None
        listing = completion(bench.send(cmd.ListProducts()))
        assert (listing.subtype, listing.code) == (V.COMPLETION_FAILURE, ErrorCode.UNAVAILABLE)
        assert bench.events(EventId.STORE_UNAVAILABLE) == [
            'STORE_UNAVAILABLE: products StoreUnavailable: catalog.sqlite3: database is locked']
        assert bench.fault_hk().store_state == StoreState.UNAVAILABLE
        other.close()
        deadline = time.monotonic() + 5.0
        while bench.stack.products is None and time.monotonic() < deadline:
            time.sleep(0.05)
        bench.send(cmd.Ping())
        assert bench.events(EventId.STORE_AVAILABLE) == ['STORE_AVAILABLE: products']
        assert completion(bench.send(cmd.ListProducts())).subtype is V.COMPLETION_SUCCESS
        assert bench.fault_hk().store_state == StoreState.OK
    finally:
        other.close()
        bench.close()


def test_a_product_directory_that_is_a_file_does_not_stop_the_bridge(tmp_path):
    (tmp_path / 'products').write_bytes(b'not a directory')
    bench = Bench(tmp_path)
    try:
        assert completion(bench.send(cmd.Ping())).subtype is V.COMPLETION_SUCCESS
        assert len(bench.events(EventId.STORE_UNAVAILABLE)) == 1
        assert bench.fault_hk().store_state == StoreState.UNAVAILABLE
    finally:
        bench.close()
    assert (tmp_path / 'products').read_bytes() == b'not a directory'


def garbage(path: Path) -> None:
    path.write_bytes(b'this is not a database\n' * 100)


def truncated(path: Path) -> None:
    store = TmStore(path)
    store.put([(0, bytes(200))] * 500)
    store.close()
    size = path.stat().st_size
    with open(path, 'r+b') as file:
        file.truncate(size // 2)


@pytest.mark.parametrize('damage', [garbage, truncated])
def test_a_corrupt_telemetry_store_is_moved_aside_never_deleted_and_reported(tmp_path, damage):
    state = tmp_path / 'state'
    state.mkdir()
    damage(state / 'telemetry.sqlite3')
    original = (state / 'telemetry.sqlite3').read_bytes()
    bench = Bench(tmp_path)
    try:
        assert completion(bench.send(cmd.Ping())).subtype is V.COMPLETION_SUCCESS
        moved = [p for p in state.iterdir() if p.name.startswith('telemetry.sqlite3.corrupt-')]
        assert [p.read_bytes() for p in moved] == [original]
        assert bench.events(EventId.STATE_DB_MOVED_ASIDE) == [
            f'STATE_DB_MOVED_ASIDE: telemetry.sqlite3 {moved[0].name}']
        hk = bench.fault_hk()
        assert hk.state_dbs_moved_aside == 1 and not hk.tm_store_volatile
    finally:
        bench.close()


def test_a_corrupt_file_downlink_queue_is_moved_aside_and_reported(tmp_path):
    state = tmp_path / 'state'
    state.mkdir()
    garbage(state / 'file_downlink.sqlite3')
    original = (state / 'file_downlink.sqlite3').read_bytes()
    bench = Bench(tmp_path)
    try:
        assert completion(bench.send(cmd.Ping())).subtype is V.COMPLETION_SUCCESS
        moved = [p for p in state.iterdir()
                 if p.name.startswith('file_downlink.sqlite3.corrupt-')]
        assert [p.read_bytes() for p in moved] == [original]
        assert bench.events(EventId.STATE_DB_MOVED_ASIDE) == [
            f'STATE_DB_MOVED_ASIDE: file_downlink.sqlite3 {moved[0].name}']
        assert bench.fault_hk().state_dbs_moved_aside == 1
    finally:
        bench.close()


def as_directory(path: Path) -> None:
    path.mkdir()


@pytest.mark.parametrize('block', [as_directory, 'locked'])
def test_an_unusable_telemetry_store_is_replaced_by_one_in_memory(tmp_path, block):
    state = tmp_path / 'state'
    state.mkdir()
    other = None
    if block == 'locked':
        TmStore(state / 'telemetry.sqlite3').close()
        other = exclusive_lock(state / 'telemetry.sqlite3')
    else:
        block(state / 'telemetry.sqlite3')
    bench = Bench(tmp_path)
    try:
        assert completion(bench.send(cmd.Ping())).subtype is V.COMPLETION_SUCCESS
        (text,) = bench.events(EventId.STORE_UNAVAILABLE)
        assert text.startswith('STORE_UNAVAILABLE: telemetry.sqlite3 ')
        assert text.endswith('; telemetry kept in memory until restart')
        assert bench.fault_hk().tm_store_volatile
    finally:
        bench.close()
        if other is not None:
            other.close()


def test_a_file_queue_that_cannot_be_opened_leaves_only_downlink_unavailable(tmp_path):
    (tmp_path / 'state' / 'file_downlink.sqlite3').mkdir(parents=True)
    bench = Bench(tmp_path)
    try:
        assert completion(bench.send(cmd.Ping())).subtype is V.COMPLETION_SUCCESS
        assert bench.events(EventId.STORE_UNAVAILABLE) == [
            'STORE_UNAVAILABLE: file_downlink.sqlite3 unable to open database file']
        refused = completion(bench.send(cmd.DownlinkProduct('img-x', Variant.FULL)))
        assert (refused.subtype, refused.code) == (V.START_FAILURE, ErrorCode.UNAVAILABLE)
    finally:
        bench.close()
