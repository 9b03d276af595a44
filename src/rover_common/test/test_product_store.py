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

"""Tests of the product store: catalog, atomicity under SIGKILL, budget policy, recovery."""

import hashlib
import os
from pathlib import Path
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from rover_common.product_store import (CorruptProduct, DownlinkState, InvalidProduct,
                                        make_product_id, ProductKind, ProductNotDownlinked,
                                        ProductStore, StoreFull, StoreUnavailable,
                                        UnknownProduct)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PRODUCT_MSG = PACKAGE_DIR.parent / 'rover_interfaces' / 'msg' / 'Product.msg'
ID_RE = re.compile(r'^(img|thm|evd)-\d{8}T\d{9}Z(-[a-z0-9_]+)?-[0-9a-f]{4}$')
T0 = 1795521600.0  # 2026-11-24T12:00:00Z


def _store(tmp_path: Path, budget: int = 10_000_000, **kwargs) -> ProductStore:
    return ProductStore(tmp_path / 'store', budget_bytes=budget, **kwargs)


def _files(store_root: Path, directory: str = 'products') -> set:
    path = store_root / directory
    return {p.name for p in path.iterdir()} if path.is_dir() else set()


def _assert_consistent(store: ProductStore) -> None:
    """Every row has its intact file, and every file has its row."""
    products = store.list()
    for p in products:
        assert hashlib.sha256(store.read(p.id)).hexdigest() == p.sha256
    assert _files(store.root) == {p.path.name for p in products}


@pytest.fixture
def store(tmp_path):
    with _store(tmp_path) as s:
        yield s


def test_enum_values_match_product_msg():
    constants = dict(re.findall(r'^uint8 (\w+)=(\d+)$', PRODUCT_MSG.read_text(), re.M))
    for kind in ProductKind:
        assert int(constants[f'KIND_{kind.name}']) == kind.value
    for state in DownlinkState:
        assert int(constants[f'DOWNLINK_{state.name}']) == state.value


def test_put_get_read_round_trip(store):
    data = os.urandom(5000)
    meta = {'pose': {'x': 1.5, 'y': -2.0, 'yaw': 0.3}, 'command_id': 'tc-42', 'exposure': 0.01}
    p = store.put(data, kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0 + 0.123,
                  camera='left', metadata=meta)
    assert ID_RE.match(p.id) and p.id.startswith('img-20261124T120000123Z-left-')
    assert p.path.is_file() and p.path.suffix == '.jpg' and p.path.is_absolute()
    assert p.size_bytes == 5000 and p.sha256 == hashlib.sha256(data).hexdigest()
    assert p.kind is ProductKind.IMAGE and p.downlink_state is DownlinkState.NONE
    assert p.metadata == meta and p.camera == 'left' and p.stamp == pytest.approx(T0 + 0.123)
    assert store.get(p.id) == p
    assert store.read(p.id) == data
    assert store.path(p.id) == p.path


def test_ids_unique_for_same_stamp(store):
    ids = {store.put(b'a', kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0, camera='left').id
           for _ in range(50)}
    assert len(ids) == 50


def test_make_product_id_format():
    assert make_product_id(ProductKind.EVIDENCE, T0 + 1.5, '', token='00ff') == \
        'evd-20261124T120001500Z-00ff'
    assert make_product_id(ProductKind.THUMBNAIL, T0, 'right', token='abcd') == \
        'thm-20261124T120000000Z-right-abcd'


def test_put_with_thumbnail_links_both(store):
    image, thumb = store.put_with_thumbnail(b'I' * 900, b't' * 90, suffix='.jpg', stamp=T0,
                                            camera='right', metadata={'command_id': 'c1'})
    assert image.related_id == thumb.id and thumb.related_id == image.id
    assert thumb.kind is ProductKind.THUMBNAIL and image.kind is ProductKind.IMAGE
    assert thumb.metadata == {'command_id': 'c1'}
    assert store.read(thumb.id) == b't' * 90


def test_related_id_must_exist(store):
    with pytest.raises(InvalidProduct, match='related_id'):
        store.put(b'x', kind=ProductKind.THUMBNAIL, suffix='.jpg', stamp=T0,
                  related_id='img-20261124T120000000Z-left-0000')
    image = store.put(b'x', kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
    thumb = store.put(b'y', kind=ProductKind.THUMBNAIL, suffix='.jpg', stamp=T0,
                      related_id=image.id)
    assert thumb.related_id == image.id


def test_list_newest_first_and_filters(store):
    made = [store.put(bytes([i]), kind=ProductKind.IMAGE if i % 2 else ProductKind.EVIDENCE,
                      suffix='.bin', stamp=T0 + i) for i in range(6)]
    assert [p.id for p in store.list()] == [p.id for p in reversed(made)]
    store.set_downlink_state(made[5].id, DownlinkState.DONE)
    store.set_downlink_state(made[3].id, DownlinkState.IN_PROGRESS)
    assert [p.id for p in store.list(only_pending=True)] == [made[i].id for i in (4, 3, 2, 1, 0)]
    assert [p.id for p in store.list(kind=ProductKind.IMAGE)] == [made[i].id for i in (5, 3, 1)]
    assert [p.id for p in store.list(only_pending=True, kind=ProductKind.IMAGE, limit=1)] == \
        [made[3].id]
    assert store.list(limit=0) == []


@pytest.mark.parametrize('kwargs, match', [
    ({'suffix': 'jpg'}, 'suffix'),
    ({'suffix': '.j/pg'}, 'suffix'),
    ({'camera': '../x'}, 'camera'),
    ({'camera': 'Left'}, 'camera'),
    ({'metadata': {'pose': object()}}, 'JSON'),
    ({'metadata': {'x': float('nan')}}, 'JSON'),
    ({'metadata': [1, 2]}, 'mapping'),
    ({'stamp': float('inf')}, 'stamp'),
    ({'stamp': -1.0}, 'stamp'),
    ({'kind': 7}, 'kind'),
    ({'data': 'text'}, 'bytes'),
])
def test_bad_put_is_refused_and_writes_nothing(store, kwargs, match):
    args = {'data': b'abc', 'kind': ProductKind.IMAGE, 'suffix': '.jpg', 'stamp': T0,
            'camera': 'left', 'metadata': {}}
    args.update(kwargs)
    data = args.pop('data')
    with pytest.raises(InvalidProduct, match=match):
        store.put(data, **args)
    assert store.usage().count == 0 and _files(store.root) == set()
    assert _files(store.root, 'meta') == set()


def test_unknown_ids(store):
    for call in (store.get, store.read, store.path, store.delete):
        with pytest.raises(UnknownProduct):
            call('img-20261124T120000000Z-left-0000')
    with pytest.raises(UnknownProduct):
        store.set_downlink_state('nope', DownlinkState.DONE)


def test_read_detects_corruption_and_missing_file(store):
    p = store.put(b'hello world', kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
    p.path.write_bytes(b'hello w0rld')
    with pytest.raises(CorruptProduct, match='sha256'):
        store.read(p.id)
    p.path.unlink()
    with pytest.raises(CorruptProduct, match='missing'):
        store.read(p.id)


def test_downlink_state_and_usage(store):
    a = store.put(b'a' * 100, kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
    store.put(b'b' * 50, kind=ProductKind.THUMBNAIL, suffix='.jpg', stamp=T0 + 1)
    usage = store.usage()
    assert (usage.used_bytes, usage.count, usage.pending_count) == (150, 2, 2)
    assert usage.budget_bytes == 10_000_000 and usage.fraction == pytest.approx(150e-7)
    updated = store.set_downlink_state(a.id, DownlinkState.DONE)
    assert updated.downlink_state is DownlinkState.DONE
    assert store.usage().pending_count == 1


def test_delete_needs_force_for_undownlinked(store):
    p = store.put(b'x' * 10, kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
    with pytest.raises(ProductNotDownlinked, match='force'):
        store.delete(p.id)
    assert store.read(p.id) == b'x' * 10
    store.delete(p.id, force=True)
    assert not p.path.exists() and store.usage().count == 0
    q = store.put(b'y', kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
    store.set_downlink_state(q.id, DownlinkState.DONE)
    store.delete(q.id)
    assert not q.path.exists()


def test_budget_evicts_oldest_downlinked_first(tmp_path):
    with _store(tmp_path, budget=1000) as store:
        made = [store.put(bytes([i]) * 250, kind=ProductKind.IMAGE, suffix='.jpg',
                          stamp=T0 + i) for i in range(4)]
        for i in (3, 1, 2):  # all downlinked but the oldest; eviction goes by age
            store.set_downlink_state(made[i].id, DownlinkState.DONE)
        new = store.put(b'n' * 300, kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0 + 9)
        remaining = {p.id for p in store.list()}
        assert remaining == {made[0].id, made[3].id, new.id}
        assert not made[1].path.exists() and not made[2].path.exists()
        assert store.usage().used_bytes == 800
        _assert_consistent(store)


def test_budget_never_evicts_undownlinked(tmp_path):
    with _store(tmp_path, budget=1000) as store:
        made = [store.put(bytes([i]) * 250, kind=ProductKind.IMAGE, suffix='.jpg',
                          stamp=T0 + i) for i in range(4)]
        store.set_downlink_state(made[2].id, DownlinkState.DONE)
        with pytest.raises(StoreFull, match='downlink or force-delete'):
            store.put(b'n' * 251 * 2, kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0 + 9)
        assert [p.id for p in reversed(store.list())] == [p.id for p in made]
        with pytest.raises(StoreFull, match='whole budget'):
            store.put(b'n' * 1001, kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0 + 9)
        with pytest.raises(StoreFull):
            store.put_with_thumbnail(b'i' * 200, b't' * 100, suffix='.jpg', stamp=T0 + 9)
        assert store.usage().count == 4
        _assert_consistent(store)
        store.delete(made[0].id, force=True)
        image, thumb = store.put_with_thumbnail(b'i' * 400, b't' * 100, suffix='.jpg',
                                                stamp=T0 + 9)
        assert {p.id for p in store.list()} == {made[1].id, made[3].id, image.id, thumb.id}


def test_reopen_keeps_everything(tmp_path):
    with _store(tmp_path) as store:
        image, thumb = store.put_with_thumbnail(b'full', b'th', suffix='.jpg', stamp=T0,
                                                camera='left', metadata={'a': [1, 2]})
        store.set_downlink_state(thumb.id, DownlinkState.DONE)
        before = store.list()
    with _store(tmp_path) as store:
        assert store.list() == before
        assert store.recovery.clean and store.pending_recovery_reports() == []
        assert store.read(image.id) == b'full'


def test_catalog_is_wal_and_versioned(store):
    db = sqlite3.connect(store.root / 'catalog.sqlite3')
    try:
        assert db.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'
        assert db.execute('PRAGMA user_version').fetchone()[0] == 1
    finally:
        db.close()


def test_refuses_newer_schema(tmp_path):
    _store(tmp_path).close()
    db = sqlite3.connect(tmp_path / 'store' / 'catalog.sqlite3')
    db.execute('PRAGMA user_version = 99')
    db.close()
    with pytest.raises(StoreUnavailable, match='newer'):
        _store(tmp_path)


def test_failure_after_rename_keeps_the_file_for_readoption(tmp_path):
    with _store(tmp_path) as store:
        def crash(stage):
            if stage == 'renamed':
                raise OSError('simulated I/O error')
        store._crash_point = crash
        with pytest.raises(StoreUnavailable, match='simulated'):
            store.put(b'x', kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
        assert store.usage().count == 0
    with _store(tmp_path) as store:
        assert len(store.recovery.readopted) == 1 and store.usage().count == 1
        assert store.read(store.recovery.readopted[0]) == b'x'
        _assert_consistent(store)


def test_failure_before_rename_leaves_nothing(tmp_path):
    with _store(tmp_path) as store:
        def crash(stage):
            if stage == 'sidecar_written':
                raise OSError('simulated I/O error')
        store._crash_point = crash
        with pytest.raises(StoreUnavailable, match='simulated'):
            store.put(b'x', kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
        assert _files(store.root) == set() and _files(store.root, 'meta') == set()
    with _store(tmp_path) as store:
        assert store.recovery.clean and store.usage().count == 0


# -- real crashes: a child process is SIGKILLed in the middle of a put ---------------------

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from rover_common.product_store import ProductKind, ProductStore
    root, stage, mode = sys.argv[1], sys.argv[2], sys.argv[3]

    def crash_point(name):
        if name == stage:
            print('at', name, flush=True)
            time.sleep(60)

    store = ProductStore(Path(root), budget_bytes=10**9, crash_point=crash_point)
    i = 0
    while True:
        data = bytes([i % 251]) * 300_000
        if mode == 'pair':
            a, b = store.put_with_thumbnail(data, data[:5000], suffix='.jpg',
                                            stamp=1795521600.0 + i, camera='left')
            print('stored', a.id, b.id, flush=True)
        else:
            a = store.put(data, kind=ProductKind.IMAGE, suffix='.jpg',
                          stamp=1795521600.0 + i, camera='right')
            print('stored', a.id, flush=True)
        i += 1
        if mode != 'loop':
            break
    print('done', flush=True)
    time.sleep(60)
""")


def _spawn(root: Path, stage: str, mode: str) -> subprocess.Popen:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(PACKAGE_DIR)] + sys.path)
    return subprocess.Popen([sys.executable, '-c', CHILD, str(root), stage, mode],
                            stdout=subprocess.PIPE, text=True, env=env)


def _kill(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()


@pytest.mark.parametrize('mode', ['single', 'pair'])
@pytest.mark.parametrize('stage, outcome', [
    ('temp_written', 'quarantined'), ('sidecar_written', 'readopted'),
    ('renamed', 'readopted'), ('row_inserted', 'readopted'), ('committed', 'stored')])
def test_sigkill_at_each_write_stage_loses_nothing(tmp_path, stage, outcome, mode):
    """Killed before its sidecar, a write is quarantined; after it, it is re-adopted."""
    root = tmp_path / 'store'
    child = _spawn(root, stage, mode)
    try:
        line = child.stdout.readline()
        assert line.strip() == f'at {stage}', line
        leftovers = {name: (root / 'products' / name).read_bytes() for name in _files(root)}
        assert len(leftovers) == (2 if mode == 'pair' else 1)
    finally:
        _kill(child)
    with ProductStore(root, budget_bytes=10**9) as store:
        report = store.recovery
        _assert_consistent(store)
        if outcome == 'stored':
            assert report.clean and store.usage().count == len(leftovers)
        elif outcome == 'readopted':
            assert len(report.readopted) == len(leftovers) and not report.quarantined
            stored = {p.path.name: store.read(p.id) for p in store.list()}
            assert stored == {name.removeprefix('.tmp-'): data
                              for name, data in leftovers.items()}
            if mode == 'pair':
                image, thumb = sorted(store.list(), key=lambda p: p.kind)
                assert image.related_id == thumb.id and thumb.related_id == image.id
        else:
            assert store.usage().count == 0 and not report.readopted
            assert report.quarantined == tuple(sorted(f'quarantine/{n}' for n in leftovers))
            for name, data in leftovers.items():
                assert (root / 'quarantine' / name).read_bytes() == data
        assert [r for _, r in store.pending_recovery_reports()] == \
            ([] if report.clean else [report])


def test_sigkill_at_random_times_loses_nothing_committed(tmp_path):
    root = tmp_path / 'store'
    rng = random.Random(5)
    committed = []
    for _ in range(4):
        child = _spawn(root, 'never', 'loop')
        try:
            for _ in range(rng.randint(1, 4)):
                line = child.stdout.readline().split()
                assert line[0] == 'stored'
                committed.append(line[1])
            os.sched_yield()
        finally:
            _kill(child)
        with ProductStore(root, budget_bytes=10**9) as store:
            ids = {p.id for p in store.list()}
            assert set(committed) <= ids
            _assert_consistent(store)


def test_open_does_not_sweep_another_process_write(tmp_path):
    root = tmp_path / 'store'
    child = _spawn(root, 'temp_written', 'single')
    try:
        assert child.stdout.readline().strip() == 'at temp_written'
        in_flight = _files(root)
        assert len(in_flight) == 1
        with ProductStore(root, budget_bytes=10**9, busy_timeout_s=0.2) as store:
            assert store.recovery.sweep_skipped
            assert _files(root) == in_flight
    finally:
        _kill(child)
    with ProductStore(root, budget_bytes=10**9) as store:
        assert store.recovery.quarantined == tuple(f'quarantine/{n}' for n in in_flight)
        assert _files(root) == set() and _files(root, 'quarantine') == in_flight


def test_two_processes_share_the_store(tmp_path):
    root = tmp_path / 'store'
    children = [_spawn(root, 'never', 'loop') for _ in range(2)]
    seen = []
    try:
        for child in children:
            for _ in range(5):
                seen.append(child.stdout.readline().split()[1])
    finally:
        for child in children:
            _kill(child)
    with ProductStore(root, budget_bytes=10**9) as store:
        assert set(seen) <= {p.id for p in store.list()}
        _assert_consistent(store)
