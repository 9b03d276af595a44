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


"""The product store never loses science: re-adopt, quarantine, report, never unlink."""

from dataclasses import replace
import json
import os
from pathlib import Path
import random
import shutil
import sqlite3

import pytest
from rover_common.product_store import (CatalogCorrupt, CorruptProduct, DownlinkState,
                                        ProductKind, ProductStore, RecoveryReport, StoreFull,
                                        StoreUnavailable, UnknownRecoveryReport)

T0 = 1795521600.0  # 2026-11-24T12:00:00Z


def _open(root: Path, budget: int = 10_000_000) -> ProductStore:
    return ProductStore(root, budget_bytes=budget)


def _fill(root: Path, count: int = 3) -> list:
    """Store image/thumbnail pairs with metadata; mark the first image downlinked."""
    with _open(root) as store:
        made = []
        for i in range(count):
            made.extend(store.put_with_thumbnail(
                os.urandom(2000 + i), os.urandom(200), suffix='.jpg', stamp=T0 + i + 0.125,
                camera='left', metadata={'command_id': f'tc-{i}', 'pose': {'x': i / 3},
                                         'pad': 'p' * 300}))
        made[0] = store.set_downlink_state(made[0].id, DownlinkState.DONE)
        return made


def _not_downlinked(products) -> dict:
    return {p.id: replace(p, downlink_state=DownlinkState.NONE) for p in products}


def _drop_rows(root: Path, *ids: str) -> None:
    """Lose catalog rows the way a recreated catalog does, files untouched."""
    db = sqlite3.connect(root / 'catalog.sqlite3')
    with db:
        db.executemany('DELETE FROM products WHERE id = ?', [(i,) for i in ids])
    db.close()


def _tree(root: Path) -> dict:
    """Return every file under ``root`` but the catalog and lock, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file() and p.parent != root}


def _sidecar(product) -> Path:
    return product.path.parent.parent / 'meta' / (product.path.name + '.meta.json')


def test_sidecar_holds_every_catalog_column(tmp_path):
    image, thumb = _fill(tmp_path, 1)
    document = json.loads(_sidecar(thumb).read_text())
    assert document['format'] == 1
    assert (document['id'], document['kind'], document['camera'], document['stamp']) == \
        (thumb.id, int(ProductKind.THUMBNAIL), 'left', thumb.stamp)
    assert (document['relpath'], document['size_bytes'], document['sha256']) == \
        (f'products/{thumb.path.name}', thumb.size_bytes, thumb.sha256)
    assert document['related_id'] == image.id and document['metadata'] == thumb.metadata
    assert document['metadata']['command_id'] == 'tc-0' and document['stored_at'] > 0


def test_files_without_rows_are_readopted_not_yet_downlinked(tmp_path):
    made = _fill(tmp_path)
    _drop_rows(tmp_path, *(p.id for p in made))
    with _open(tmp_path) as store:
        report = store.recovery
        assert sorted(report.readopted) == sorted(p.id for p in made)
        assert report.quarantined == () and report.vanished == ()
        assert {p.id: p for p in store.list()} == _not_downlinked(made)
        assert all(store.read(p.id) for p in made)
        assert store.pending_recovery_reports()[0][1] == report
    with _open(tmp_path) as store:
        assert store.recovery.clean


def _no_sidecar(product, others):
    _sidecar(product).unlink()


def _garbage_sidecar(product, others):
    _sidecar(product).write_bytes(b'{"format": 1, "id": trunc')


def _flipped_byte(product, others):
    data = bytearray(product.path.read_bytes())
    data[7] ^= 0x40
    product.path.write_bytes(bytes(data))


def _appended_byte(product, others):
    product.path.write_bytes(product.path.read_bytes() + b'!')


def _other_products_sidecar(product, others):
    shutil.copy(_sidecar(others[0]), _sidecar(product))


def _future_format(product, others):
    document = json.loads(_sidecar(product).read_text())
    document['format'] = 2
    _sidecar(product).write_text(json.dumps(document))


@pytest.mark.parametrize('damage', [_no_sidecar, _garbage_sidecar, _flipped_byte,
                                    _appended_byte, _other_products_sidecar, _future_format])
def test_file_without_usable_sidecar_is_quarantined_byte_for_byte(tmp_path, damage):
    made = _fill(tmp_path, 2)
    victim, others = made[2], [p for p in made if p is not made[2]]
    damage(victim, others)
    data = victim.path.read_bytes()
    sidecar = _sidecar(victim).read_bytes() if _sidecar(victim).exists() else None
    _drop_rows(tmp_path, *(p.id for p in made))
    with _open(tmp_path) as store:
        report = store.recovery
        assert report.quarantined == (f'quarantine/{victim.path.name}',)
        assert sorted(report.readopted) == sorted(p.id for p in others)
        assert {p.id for p in store.list()} == {p.id for p in others}
    quarantine = tmp_path / 'quarantine'
    assert (quarantine / victim.path.name).read_bytes() == data
    if sidecar is not None:
        assert (quarantine / (victim.path.name + '.meta.json')).read_bytes() == sidecar
    assert not victim.path.exists() and not _sidecar(victim).exists()


def test_quarantine_never_overwrites(tmp_path):
    (image, _thumb) = _fill(tmp_path, 1)
    quarantine = tmp_path / 'quarantine'
    quarantine.mkdir()
    (quarantine / image.path.name).write_bytes(b'an earlier one')
    data = image.path.read_bytes()
    _sidecar(image).unlink()
    _drop_rows(tmp_path, image.id)
    with _open(tmp_path) as store:
        assert store.recovery.quarantined == (f'quarantine/{image.path.name}~2',)
    assert (quarantine / image.path.name).read_bytes() == b'an earlier one'
    assert (quarantine / f'{image.path.name}~2').read_bytes() == data


def test_vanished_file_is_recorded_lost_and_reported(tmp_path):
    made = _fill(tmp_path, 2)
    gone = made[1]
    sidecar = _sidecar(gone).read_bytes()
    gone.path.unlink()
    with _open(tmp_path) as store:
        report = store.recovery
        assert report.vanished == (gone.id,) and report.readopted == ()
        assert report.quarantined == ()  # its sidecar is kept, but it is no product
        assert {p.id for p in store.list()} == {p.id for p in made} - {gone.id}
        assert [r for _, r in store.pending_recovery_reports()] == [report]
    assert (tmp_path / 'quarantine' / (gone.path.name + '.meta.json')).read_bytes() == sidecar
    db = sqlite3.connect(tmp_path / 'catalog.sqlite3')
    assert db.execute('SELECT id, sha256, reason FROM lost').fetchall() == \
        [(gone.id, gone.sha256, 'file missing on open')]
    db.close()
    with _open(tmp_path) as store:
        assert store.recovery.clean


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(3).randbytes(path.stat().st_size))


def _damage_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096:8192] = b'\xff' * 4096
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('damage, moved', [
    (_truncate, True), (_garbage, True), (_damage_page, True),
    (Path.unlink, False), (lambda p: p.write_bytes(b''), False)])
def test_bad_catalog_is_moved_aside_and_rebuilt_from_the_files(tmp_path, damage, moved):
    made = _fill(tmp_path, 12)
    catalog = tmp_path / 'catalog.sqlite3'
    assert catalog.stat().st_size > 8192, 'the catalog must span several pages'
    damage(catalog)
    bad = catalog.read_bytes() if catalog.exists() else None
    with _open(tmp_path) as store:
        report = store.recovery
        assert sorted(report.readopted) == sorted(p.id for p in made)
        assert {p.id: p for p in store.list()} == _not_downlinked(made)
        assert store.usage().pending_count == len(made)
        assert [r for _, r in store.pending_recovery_reports()] == [report]
    if moved:
        assert report.catalog_moved_aside.startswith('catalog.sqlite3.corrupt-')
        assert (tmp_path / report.catalog_moved_aside).read_bytes() == bad
        assert report.summary().startswith(f'catalog moved aside to {report.catalog_moved_aside}')
    else:
        assert report.catalog_moved_aside is None


def test_corruption_at_run_time_is_a_store_error_and_reopen_rebuilds(tmp_path):
    made = _fill(tmp_path, 12)
    catalog = tmp_path / 'catalog.sqlite3'
    store = _open(tmp_path)
    try:
        data = bytearray(catalog.read_bytes())
        data[4096:] = b'\xa5' * (len(data) - 4096)
        catalog.write_bytes(bytes(data))
        other = sqlite3.connect(catalog, isolation_level=None)
        other.execute('PRAGMA user_version = 1')  # a write elsewhere: caches are dropped
        other.close()
        for call in (store.list, store.usage, store.pending_recovery_reports):
            with pytest.raises(CatalogCorrupt, match='^catalog.sqlite3: .*malformed'):
                call()
    finally:
        store.close()
    with _open(tmp_path) as store:
        assert store.recovery.catalog_moved_aside is not None
        assert {p.id for p in store.list()} == {p.id for p in made}


def _locker(root: Path, mode: str = 'BEGIN EXCLUSIVE') -> sqlite3.Connection:
    locker = sqlite3.connect(root / 'catalog.sqlite3', isolation_level=None)
    if mode == 'locking_mode':
        locker.execute('PRAGMA locking_mode = EXCLUSIVE')
    locker.execute('BEGIN EXCLUSIVE')
    locker.execute('INSERT INTO lost VALUES (?, ?, ?, ?, ?, ?)', ('x', 'x', 'x', 0, 0.0, 'x'))
    return locker


def test_locked_catalog_with_work_to_do_refuses_to_open_and_touches_nothing(tmp_path):
    made = _fill(tmp_path, 1)
    _drop_rows(tmp_path, made[1].id)
    before = _tree(tmp_path)
    locker = _locker(tmp_path)
    try:
        with pytest.raises(StoreUnavailable) as failure:
            _open(tmp_path)
        assert str(failure.value).startswith('catalog.sqlite3: database is locked')
        assert str(tmp_path) not in str(failure.value)
        assert failure.value.path == tmp_path.resolve() / 'catalog.sqlite3'
        assert _tree(tmp_path) == before
    finally:
        locker.execute('ROLLBACK')
        locker.close()
    with _open(tmp_path) as store:
        assert store.recovery.readopted == (made[1].id,)


def test_exclusively_locked_catalog_that_cannot_be_read_is_unavailable(tmp_path):
    _fill(tmp_path, 1)
    before = _tree(tmp_path)
    locker = _locker(tmp_path, 'locking_mode')
    try:
        with pytest.raises(StoreUnavailable, match='^catalog.sqlite3: .*locked'):
            _open(tmp_path)
    finally:
        locker.close()
    assert _tree(tmp_path) == before and not list(tmp_path.glob('*.corrupt-*'))


def test_catalog_locked_at_run_time_refuses_writes_and_keeps_reads(tmp_path):
    made = _fill(tmp_path, 1)
    with _open(tmp_path) as store:
        before = _tree(tmp_path)
        locker = _locker(tmp_path)
        try:
            with pytest.raises(StoreUnavailable, match='^catalog.sqlite3: database is locked'):
                store.put(b'new', kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
            with pytest.raises(StoreUnavailable, match='locked'):
                store.set_downlink_state(made[1].id, DownlinkState.DONE)
            with pytest.raises(StoreUnavailable, match='locked'):
                store.delete(made[0].id)
            assert _tree(tmp_path) == before   # the refused put left no temp, no sidecar
            assert {p.id for p in store.list()} == {p.id for p in made}
        finally:
            locker.execute('ROLLBACK')
            locker.close()
        store.put(b'new', kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
        assert store.usage().count == 3


def _products_is_a_file(root: Path) -> str:
    (root / 'products').write_bytes(b'not a directory')
    return 'products'


def _meta_is_a_file(root: Path) -> str:
    (root / 'meta').write_bytes(b'not a directory')
    return 'meta'


def _catalog_is_a_directory(root: Path) -> str:
    (root / 'catalog.sqlite3').mkdir()
    return 'catalog.sqlite3'


@pytest.mark.parametrize('fault', [_products_is_a_file, _meta_is_a_file,
                                   _catalog_is_a_directory])
def test_unusable_store_layout_is_unavailable_naming_the_file(tmp_path, fault):
    tmp_path.mkdir(exist_ok=True)
    name = fault(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(StoreUnavailable) as failure:
        _open(tmp_path)
    assert str(failure.value).startswith(f'{name}: ')
    assert str(tmp_path) not in str(failure.value)
    assert not isinstance(failure.value, CatalogCorrupt)
    assert set(before) <= {p.name for p in tmp_path.iterdir()}
    assert not list(tmp_path.glob('*.corrupt-*'))


def test_report_is_persisted_and_reported_once_across_instances(tmp_path):
    made = _fill(tmp_path, 1)
    _drop_rows(tmp_path, made[0].id)
    camera = _open(tmp_path)             # the cameras node opens first and recovers
    try:
        assert camera.recovery.readopted == (made[0].id,)
        with _open(tmp_path) as bridge:  # the lander bridge opens later: nothing left to do
            assert bridge.recovery.clean
            pending = bridge.pending_recovery_reports()
            assert [r for _, r in pending] == [camera.recovery]
            report_id = pending[0][0]
            bridge.mark_recovery_reported(report_id)
            bridge.mark_recovery_reported(report_id)   # idempotent
            assert bridge.pending_recovery_reports() == []
            with pytest.raises(UnknownRecoveryReport):
                bridge.mark_recovery_reported(report_id + 1)
        assert camera.pending_recovery_reports() == []
    finally:
        camera.close()
    with _open(tmp_path) as store:
        assert store.recovery.clean and store.pending_recovery_reports() == []


def test_summary_and_clean():
    assert RecoveryReport().clean and RecoveryReport().summary() == 'clean'
    report = RecoveryReport(readopted=('a', 'b'), quarantined=('quarantine/x',),
                            vanished=('c',))
    assert not report.clean
    assert report.summary() == '2 re-adopted, 1 quarantined, 1 vanished'
    assert not RecoveryReport(catalog_moved_aside='catalog.sqlite3.corrupt-x').clean


def test_catalogued_product_without_sidecar_gets_one_for_a_future_rebuild(tmp_path):
    made = _fill(tmp_path, 1)
    original = _sidecar(made[0]).read_bytes()
    _sidecar(made[0]).unlink()
    with _open(tmp_path) as store:
        assert store.recovery.clean
    assert json.loads(_sidecar(made[0]).read_bytes()) == json.loads(original)
    (tmp_path / 'catalog.sqlite3').unlink()
    with _open(tmp_path) as store:
        assert sorted(store.recovery.readopted) == sorted(p.id for p in made)


def test_messages_name_files_relative_to_the_store_root(tmp_path):
    made = _fill(tmp_path, 1)
    with _open(tmp_path, budget=5000) as store:
        store.set_downlink_state(made[0].id, DownlinkState.NONE)
        made[1].path.write_bytes(b'x' * made[1].size_bytes)
        with pytest.raises(CorruptProduct) as corrupt:
            store.read(made[1].id)
        made[1].path.unlink()
        with pytest.raises(CorruptProduct) as missing:
            store.read(made[1].id)
        with pytest.raises(StoreFull) as full:
            store.put(b'f' * 4000, kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0)
    assert str(missing.value) == f'products/{made[1].path.name} is missing'
    assert str(corrupt.value).startswith(f'products/{made[1].path.name}: sha256 ')
    assert 'downlink or force-delete' in str(full.value)
    for err in (corrupt.value, missing.value, full.value):
        assert str(tmp_path) not in str(err) and len(str(err).encode()) <= 96


def test_readopted_products_over_budget_are_kept_and_new_ones_refused(tmp_path):
    with _open(tmp_path, budget=1000) as store:
        kept = [store.put(bytes([i]) * 400, kind=ProductKind.IMAGE, suffix='.jpg',
                          stamp=T0 + i) for i in range(2)]
    (tmp_path / 'catalog.sqlite3').unlink()
    with _open(tmp_path, budget=500) as store:
        assert sorted(store.recovery.readopted) == sorted(p.id for p in kept)
        assert store.usage().used_bytes == 800
        with pytest.raises(StoreFull, match='downlink or force-delete'):
            store.put(b'n', kind=ProductKind.IMAGE, suffix='.jpg', stamp=T0 + 9)
        assert {p.id for p in store.list()} == {p.id for p in kept}


def test_eviction_never_deletes_an_undownlinked_product(tmp_path):
    rng = random.Random(11)
    with _open(tmp_path, budget=20_000) as store:
        pending = {}
        for step in range(120):
            try:
                p = store.put(os.urandom(rng.randint(100, 3000)), kind=ProductKind.IMAGE,
                              suffix='.jpg', stamp=T0 + step)
                pending[p.id] = p
            except StoreFull as err:
                assert 'downlink or force-delete' in str(err) or 'whole budget' in str(err)
            for product_id in rng.sample(sorted(pending), k=min(len(pending), 2)):
                state = rng.choice(list(DownlinkState))
                store.set_downlink_state(product_id, state)
                if state is DownlinkState.DONE:
                    del pending[product_id]
            stored = {p.id for p in store.list()}
            assert set(pending) <= stored
            assert all(store.read(product_id) for product_id in pending)
            assert store.usage().used_bytes <= 20_000
