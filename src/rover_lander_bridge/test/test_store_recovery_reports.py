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
Store recovery goes to the ground: every recovery report once, as events and HK totals.

A real product store is damaged the ways the rover meets: a garbage catalog (moved aside,
rows re-adopted from the files), a stray file (quarantined), a product file that vanished.
The bridge tells each pending report exactly once, also across a bridge restart, and only
marks it told once its events are in the telemetry store.
"""

import sqlite3
import struct
import time

from conftest import Rig
import pytest
from rover_common.product_store import CATALOG_NAME, ProductKind, ProductStore
from rover_ground.ground import EventReport, Housekeeping
from rover_lander_bridge.bridge import FAULT_RETRY_S
from rover_link import commands as cmd
from rover_link.protocol import EventId, HkSet

EVENTS = (EventId.PRODUCTS_READOPTED, EventId.PRODUCTS_QUARANTINED, EventId.PRODUCTS_VANISHED,
          EventId.STATE_DB_MOVED_ASIDE)


@pytest.fixture
def damaged_store(tmp_path):
    """Return a store opened after two recoveries, and the ids involved."""
    root = tmp_path / 'products'
    store = ProductStore(root, budget_bytes=10 ** 7)
    kept = [store.put(bytes([i]) * 500, kind=ProductKind.IMAGE, suffix='.jpg',
                      stamp=time.time(), camera='left').id for i in range(3)]
    store.close()
    for path in root.glob(CATALOG_NAME + '*'):
        path.write_bytes(b'garbage' * 200)
    (root / 'products' / 'stray.jpg').write_bytes(b'no sidecar')
    ProductStore(root, budget_bytes=10 ** 7).close()
    vanished = kept[0]
    (root / 'products' / f'{vanished}.jpg').unlink()
    store = ProductStore(root, budget_bytes=10 ** 7)
    assert len(store.pending_recovery_reports()) == 2
    yield store, kept, vanished
    store.close()


def told(rig):
    return [i for i in rig.items if isinstance(i, EventReport) and i.event.event_id in EVENTS]


def test_every_recovery_report_is_told_once_with_totals_in_housekeeping(
        tmp_path, mac, damaged_store):
    store, kept, vanished = damaged_store
    rig = Rig(tmp_path, mac, products=store)
    rig.send(cmd.Ping())
    events = told(rig)
    readopted = [struct.unpack('>I', e.event.aux)[0] for e in events
                 if e.event.event_id is EventId.PRODUCTS_READOPTED]
    assert readopted == [3]
    texts = [e.text for e in events if e.event.event_id is not EventId.PRODUCTS_READOPTED]
    assert 'PRODUCTS_QUARANTINED: stray.jpg' in texts
    assert f'PRODUCTS_VANISHED: {vanished}' in texts
    assert any(t.startswith('STATE_DB_MOVED_ASIDE: catalog.sqlite3 catalog.sqlite3.corrupt-')
               for t in texts)
    assert store.pending_recovery_reports() == [], 'marked told'
    rig.send(cmd.HkOneShot((HkSet.FAULT,)))
    hk = [i.values for i in rig.items if isinstance(i, Housekeeping)][-1]
    assert (hk.products_readopted, hk.products_quarantined, hk.products_vanished,
            hk.state_dbs_moved_aside) == (3, 1, 1, 1)
    rig.items.clear()
    rig.restart_bridge()
    rig.send(cmd.Ping())
    rig.tick(20.0)
    assert told(rig) == [], 'told exactly once, also across a restart'
    rig.bridge.close()


def test_a_report_is_marked_told_only_once_its_events_are_stored(tmp_path, mac, damaged_store):
    store, _, _ = damaged_store
    rig = Rig(tmp_path, mac, products=store)
    other = sqlite3.connect(str(tmp_path / 'tm.sqlite3'), isolation_level=None)
    other.execute('BEGIN IMMEDIATE')
    rig.tick(0.05)
    assert len(store.pending_recovery_reports()) == 2, 'events not stored: not marked'
    other.close()
    rig.send(cmd.Ping())
    rig.tick(FAULT_RETRY_S)
    rig.tick(0.05)
    assert store.pending_recovery_reports() == []
    kinds = [e.event.event_id for e in told(rig)]
    assert kinds.count(EventId.PRODUCTS_READOPTED) == 1 and \
        kinds.count(EventId.PRODUCTS_VANISHED) == 1, 'no report told twice'
    rig.bridge.close()
