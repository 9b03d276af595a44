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
The on-board product store: captures, thumbnails and sample evidence, kept until downlinked.

A product is one file under ``root/products/`` plus one row in the sqlite catalog
``root/catalog.sqlite3``. The cameras node, the shovel node and the lander bridge open the
same store from different processes, so the catalog runs in WAL mode with a busy timeout,
and every write is crash-safe: a kill at any instant leaves either the complete product
(file and row) or nothing of it. No ROS here; ``docs/interfaces.md`` ("Product store")
describes the schema, the directory layout and the disk-budget policy.

API::

    store = ProductStore(Path('/var/lib/rover/products'), budget_bytes=2 * 1024**3)
    p = store.put(jpeg, kind=ProductKind.IMAGE, suffix='.jpg', stamp=time.time(),
                  camera='left', metadata={'pose': {...}, 'command_id': 'tc-42'})
    image, thumb = store.put_with_thumbnail(jpeg, small_jpeg, suffix='.jpg', stamp=t,
                                            camera='left', metadata={...})
    store.get(p.id)           # Product, or raises UnknownProduct
    store.read(p.id)          # bytes, sha256-verified, or raises CorruptProduct
    store.path(p.id)          # absolute Path of the file
    store.list(only_pending=True, kind=ProductKind.THUMBNAIL, limit=10)   # newest first
    store.set_downlink_state(p.id, DownlinkState.DONE)
    store.usage()             # StoreUsage(used_bytes, budget_bytes, count, pending_count)
    store.delete(p.id)        # only a downlinked product; force=True for any
    store.recovery            # RecoveryReport of what opening the store cleaned up

Write protocol of ``put``: the data goes to a temp file in the product directory and is
fsynced; then, inside one ``BEGIN IMMEDIATE`` transaction (which also serialises budget
accounting across processes), downlinked products are evicted if the budget needs it, the
temp file is renamed to its final name, the directory is fsynced and the row is inserted and
committed; the evicted files are unlinked after the commit. Opening the store recovers from a
crash at any of those points: temp files and files without a row are removed, and rows whose
file has vanished are removed and recorded in the ``lost`` table (they can only come from
outside interference, never from a crash). Writers hold a shared ``flock`` on
``root/.lock`` while they write, and recovery takes it exclusively, so one process opening
the store never removes a file that another process is about to commit.
"""

from dataclasses import dataclass, field, replace
import datetime
import enum
import errno
import fcntl
import hashlib
import json
import math
import os
from pathlib import Path
import re
import secrets
import sqlite3
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

#: Catalog schema version, kept in ``PRAGMA user_version``.
SCHEMA_VERSION = 1

CATALOG_NAME = 'catalog.sqlite3'
PRODUCT_DIR = 'products'
LOCK_NAME = '.lock'
TEMP_PREFIX = '.tmp-'

_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id TEXT PRIMARY KEY,
    kind INTEGER NOT NULL,
    camera TEXT NOT NULL DEFAULT '',
    stamp REAL NOT NULL,
    relpath TEXT NOT NULL UNIQUE,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    downlink_state INTEGER NOT NULL DEFAULT 0,
    related_id TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    stored_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS products_by_stamp ON products (stamp, id);
CREATE INDEX IF NOT EXISTS products_by_state ON products (downlink_state, stamp);
CREATE TABLE IF NOT EXISTS lost (
    id TEXT NOT NULL,
    relpath TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    downlink_state INTEGER NOT NULL,
    detected_at REAL NOT NULL,
    reason TEXT NOT NULL
);
"""

_CAMERA_RE = re.compile(r'^[a-z0-9_]{0,16}$')
_SUFFIX_RE = re.compile(r'^(\.[A-Za-z0-9]{1,10}){1,2}$')
_COLUMNS = ('id, kind, camera, stamp, relpath, size_bytes, sha256, downlink_state, '
            'related_id, metadata')


class ProductKind(enum.IntEnum):
    """What a product is; values match the KIND_* constants of rover_interfaces/Product."""

    IMAGE = 0
    THUMBNAIL = 1
    EVIDENCE = 2


class DownlinkState(enum.IntEnum):
    """Where a product is on its way to Earth; values match Product.msg DOWNLINK_*."""

    NONE = 0
    QUEUED = 1
    IN_PROGRESS = 2
    DONE = 3


_ID_PREFIX = {ProductKind.IMAGE: 'img', ProductKind.THUMBNAIL: 'thm',
              ProductKind.EVIDENCE: 'evd'}


class StoreError(Exception):
    """Base class of every product-store failure."""


class InvalidProduct(StoreError, ValueError):
    """A put or query argument is malformed; nothing was written."""


class UnknownProduct(StoreError):
    """No product with this id is in the catalog."""


class CorruptProduct(StoreError):
    """A product's file is missing or no longer matches its recorded sha256."""


class StoreFull(StoreError):
    """The product cannot be stored without deleting an undownlinked one; it was refused."""


class ProductNotDownlinked(StoreError):
    """Deleting an undownlinked product needs ``force=True``."""


@dataclass(frozen=True)
class Product:
    """
    One catalog entry, as stored.

    :param stamp: capture time, UTC seconds since the epoch.
    :param path: absolute path of the product file.
    :param related_id: the thumbnail of an image, or the image of a thumbnail, or ''.
    :param metadata: JSON object given at put time (pose, command_id, exposure, ...).
    """

    id: str  # noqa: A003 (the contract's field name, as in Product.msg)
    kind: ProductKind
    camera: str
    stamp: float
    path: Path
    size_bytes: int
    sha256: str
    downlink_state: DownlinkState
    related_id: str = ''
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreUsage:
    """Disk use of the store; ``pending_count`` counts products not yet downlinked."""

    used_bytes: int
    budget_bytes: int
    count: int
    pending_count: int

    @property
    def fraction(self) -> float:
        """Return the used share of the budget, 0..1 (may exceed 1 if the budget shrank)."""
        return self.used_bytes / self.budget_bytes


@dataclass(frozen=True)
class RecoveryReport:
    """
    What opening the store had to clean up after a crash.

    :param removed_temp: temp files of writes that never committed.
    :param removed_orphans: product files with no catalog row (killed before the commit).
    :param lost_ids: rows whose file had vanished (recorded in the ``lost`` table).
    :param sweep_skipped: True when another process kept writing for the whole busy timeout,
        so the file sweep was left to the next open (rows were still checked).
    """

    removed_temp: Tuple[str, ...] = ()
    removed_orphans: Tuple[str, ...] = ()
    lost_ids: Tuple[str, ...] = ()
    sweep_skipped: bool = False


@dataclass(frozen=True)
class _Request:
    """One product a put was asked to store (metadata becomes JSON text once validated)."""

    data: bytes
    kind: ProductKind
    suffix: str
    camera: str
    metadata: Any
    related_id: str = ''


@dataclass(frozen=True)
class _NewProduct:
    """A product whose file is written to a temp name, waiting for its commit."""

    id: str  # noqa: A003 (mirrors Product.id)
    kind: ProductKind
    camera: str
    stamp: float
    relpath: str
    temp: Path
    size_bytes: int
    sha256: str
    related_id: str
    metadata_json: str


def make_product_id(kind: ProductKind, stamp: float, camera: str = '',
                    token: Optional[str] = None) -> str:
    """
    Return a product id: kind prefix, UTC capture time to the millisecond, camera, random tag.

    E.g. ``img-20261124T120000123Z-left-3f2a``. Ids are filename-safe, sort by time within
    a kind, and never change once stored.
    """
    millis = int(round(stamp * 1000))
    when = datetime.datetime.fromtimestamp(millis // 1000, tz=datetime.timezone.utc)
    text = when.strftime('%Y%m%dT%H%M%S') + f'{millis % 1000:03d}Z'
    tag = token if token is not None else secrets.token_hex(2)
    parts = [_ID_PREFIX[ProductKind(kind)], text] + ([camera] if camera else []) + [tag]
    return '-'.join(parts)


class ProductStore:
    """
    Crash-safe, budgeted product files with a sqlite catalog shared between processes.

    :param root: store directory (created if missing).
    :param budget_bytes: most bytes of product files kept; see the eviction policy.
    :param busy_timeout_s: how long to wait for another process holding the catalog.
    :param crash_point: test hook called with the name of each write stage
        (``temp_written``, ``renamed``, ``row_inserted``, ``committed``); a crash test kills
        the process inside it. None in production.
    """

    def __init__(self, root: Path, *, budget_bytes: int, busy_timeout_s: float = 10.0,
                 crash_point: Optional[Callable[[str], None]] = None) -> None:
        if not isinstance(budget_bytes, int) or isinstance(budget_bytes, bool) \
                or budget_bytes <= 0:
            raise InvalidProduct(f'budget_bytes must be a positive int, got {budget_bytes!r}')
        if not busy_timeout_s > 0:
            raise InvalidProduct(f'busy_timeout_s must be > 0, got {busy_timeout_s!r}')
        self._root = Path(root).resolve()
        self._dir = self._root / PRODUCT_DIR
        self._dir.mkdir(parents=True, exist_ok=True)
        self._budget = budget_bytes
        self._busy_timeout_s = float(busy_timeout_s)
        self._crash_point = crash_point
        self._lock = threading.RLock()
        self._lock_fd = os.open(self._root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        self._db = sqlite3.connect(str(self._root / CATALOG_NAME), timeout=busy_timeout_s,
                                   isolation_level=None, check_same_thread=False)
        try:
            self._db.execute(f'PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}')
            self._enable_wal()
            self._db.execute('PRAGMA synchronous = FULL')
            self._create_schema()
            self._recovery = self._recover()
        except BaseException:
            self.close()
            raise

    # -- properties --------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """Return the store directory."""
        return self._root

    @property
    def budget_bytes(self) -> int:
        """Return the disk budget in bytes."""
        return self._budget

    @property
    def recovery(self) -> RecoveryReport:
        """Return what opening the store cleaned up."""
        return self._recovery

    # -- writing -----------------------------------------------------------------------

    def put(self, data: bytes, *, kind: ProductKind, suffix: str, stamp: float,
            camera: str = '', metadata: Optional[Mapping[str, Any]] = None,
            related_id: str = '') -> Product:
        """
        Store one product atomically and return its catalog entry.

        :param data: the file content.
        :param kind: image, thumbnail or evidence package.
        :param suffix: file name suffix, e.g. ``.jpg`` or ``.tar``.
        :param stamp: capture time, UTC seconds since the epoch.
        :param camera: ``left``, ``right`` or '' (lower-case, ``[a-z0-9_]``, ≤ 16 chars).
        :param metadata: JSON-serialisable object (pose, command_id, exposure ...).
        :param related_id: id of an existing related product, or ''.
        :raises InvalidProduct: a malformed argument or unknown ``related_id``.
        :raises StoreFull: the budget cannot be met without deleting an undownlinked
            product; nothing was written and nothing existing was lost.
        """
        return self._put_group([_Request(data, kind, suffix, camera, metadata, related_id)],
                               stamp, link=False)[0]

    def put_with_thumbnail(self, data: bytes, thumbnail: bytes, *, suffix: str, stamp: float,
                           kind: ProductKind = ProductKind.IMAGE, thumbnail_suffix: str = '.jpg',
                           camera: str = '',
                           metadata: Optional[Mapping[str, Any]] = None,
                           thumbnail_metadata: Optional[Mapping[str, Any]] = None
                           ) -> Tuple[Product, Product]:
        """
        Store a product and its thumbnail in one transaction, each naming the other.

        Either both are stored or neither. Arguments as :meth:`put`;
        ``thumbnail_metadata`` defaults to ``metadata``.

        :return: (product, thumbnail).
        """
        thumb_meta = metadata if thumbnail_metadata is None else thumbnail_metadata
        image, thumb = self._put_group(
            [_Request(data, kind, suffix, camera, metadata),
             _Request(thumbnail, ProductKind.THUMBNAIL, thumbnail_suffix, camera, thumb_meta)],
            stamp, link=True)
        return image, thumb

    def set_downlink_state(self, product_id: str, state: DownlinkState) -> Product:
        """Record how far the downlink of a product has got; return the updated entry."""
        state = DownlinkState(state)
        with self._lock, self._transaction():
            cursor = self._db.execute('UPDATE products SET downlink_state = ? WHERE id = ?',
                                      (int(state), product_id))
            if cursor.rowcount != 1:
                raise UnknownProduct(f'no product {product_id!r}')
        return self.get(product_id)

    def delete(self, product_id: str, *, force: bool = False) -> None:
        """
        Delete a product (row first, then file, so a crash leaves at most an orphan file).

        :raises UnknownProduct: no such id.
        :raises ProductNotDownlinked: it is not downlinked yet and ``force`` is False.
        """
        with self._lock:
            with self._transaction():
                row = self._db.execute('SELECT relpath, downlink_state FROM products '
                                       'WHERE id = ?', (product_id,)).fetchone()
                if row is None:
                    raise UnknownProduct(f'no product {product_id!r}')
                if row[1] != DownlinkState.DONE and not force:
                    raise ProductNotDownlinked(
                        f'{product_id} is {DownlinkState(row[1]).name}, not downlinked; '
                        'delete it with force=True')
                self._db.execute('DELETE FROM products WHERE id = ?', (product_id,))
            _unlink_quietly(self._root / row[0])

    # -- reading -----------------------------------------------------------------------

    def get(self, product_id: str) -> Product:
        """Return the catalog entry of ``product_id``; raise UnknownProduct if absent."""
        with self._lock:
            row = self._db.execute(f'SELECT {_COLUMNS} FROM products WHERE id = ?',
                                   (product_id,)).fetchone()
        if row is None:
            raise UnknownProduct(f'no product {product_id!r}')
        return self._product(row)

    def path(self, product_id: str) -> Path:
        """Return the absolute path of the product's file."""
        return self.get(product_id).path

    def read(self, product_id: str) -> bytes:
        """
        Return the product's bytes after checking them against the recorded sha256.

        :raises CorruptProduct: the file is gone or its content changed.
        """
        product = self.get(product_id)
        try:
            data = product.path.read_bytes()
        except FileNotFoundError:
            raise CorruptProduct(f'{product_id}: file {product.path} is missing') from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != product.sha256:
            raise CorruptProduct(f'{product_id}: sha256 {digest} does not match the '
                                 f'catalog ({product.sha256})')
        return data

    def list(self, *, only_pending: bool = False,  # noqa: A003 (public verb of the store)
             kind: Optional[ProductKind] = None, limit: Optional[int] = None
             ) -> List[Product]:
        """
        Return catalog entries, newest capture first.

        :param only_pending: only products whose downlink is not DONE.
        :param kind: only this kind.
        :param limit: at most this many (None for all).
        """
        clauses, args = [], []
        if only_pending:
            clauses.append('downlink_state != ?')
            args.append(int(DownlinkState.DONE))
        if kind is not None:
            clauses.append('kind = ?')
            args.append(int(ProductKind(kind)))
        sql = f'SELECT {_COLUMNS} FROM products'
        if clauses:
            sql += ' WHERE ' + ' AND '.join(clauses)
        sql += ' ORDER BY stamp DESC, id DESC'
        if limit is not None:
            if limit < 0:
                raise InvalidProduct(f'limit must be >= 0, got {limit}')
            sql += ' LIMIT ?'
            args.append(int(limit))
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [self._product(row) for row in rows]

    def usage(self) -> StoreUsage:
        """Return bytes used against the budget, product count and undownlinked count."""
        with self._lock:
            used, count, pending = self._db.execute(
                'SELECT COALESCE(SUM(size_bytes), 0), COUNT(*), '
                'COALESCE(SUM(downlink_state != ?), 0) FROM products',
                (int(DownlinkState.DONE),)).fetchone()
        return StoreUsage(used_bytes=int(used), budget_bytes=self._budget, count=int(count),
                          pending_count=int(pending))

    def close(self) -> None:
        """Close the catalog and the lock file; the store is unusable afterwards."""
        with self._lock:
            db = getattr(self, '_db', None)
            if db is not None:
                db.close()
                self._db = None
            fd = getattr(self, '_lock_fd', None)
            if fd is not None:
                os.close(fd)
                self._lock_fd = None

    def __enter__(self) -> 'ProductStore':
        """Return the store itself."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Close the store."""
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _put_group(self, requests: Sequence['_Request'], stamp: float, *,
                   link: bool) -> List[Product]:
        """Validate, write temp files, then commit all rows in one transaction."""
        if not isinstance(stamp, (int, float)) or isinstance(stamp, bool) \
                or not math.isfinite(stamp) or stamp < 0:
            raise InvalidProduct(f'stamp must be finite UTC epoch seconds >= 0, got {stamp!r}')
        checked = [self._validate(request) for request in requests]
        ids = self._allocate_ids(checked, stamp)
        if link:
            checked = [replace(checked[0], related_id=ids[1]),
                       replace(checked[1], related_id=ids[0])]
        with self._lock, self._shared_flock():
            new: List[_NewProduct] = []
            try:
                for product_id, request in zip(ids, checked):
                    new.append(self._write_temp(product_id, request, stamp))
                self._stage('temp_written')
                evicted = self._commit(new)
            except BaseException:
                for item in new:
                    _unlink_quietly(item.temp)
                raise
        for relpath in evicted:
            _unlink_quietly(self._root / relpath)
        return [self.get(item.id) for item in new]

    def _validate(self, request: '_Request') -> '_Request':
        """Return the request normalised (bytes, enum, JSON text) or raise InvalidProduct."""
        if not isinstance(request.data, (bytes, bytearray, memoryview)):
            raise InvalidProduct(f'data must be bytes, got {type(request.data).__name__}')
        try:
            kind = ProductKind(request.kind)
        except ValueError:
            raise InvalidProduct(f'kind must be one of {[k.name for k in ProductKind]}, '
                                 f'got {request.kind!r}') from None
        if not isinstance(request.suffix, str) or not _SUFFIX_RE.match(request.suffix):
            raise InvalidProduct(
                f'suffix must look like .jpg or .tar.gz, got {request.suffix!r}')
        if not isinstance(request.camera, str) or not _CAMERA_RE.match(request.camera):
            raise InvalidProduct('camera must be [a-z0-9_]{0,16} (left, right or empty), '
                                 f'got {request.camera!r}')
        metadata = {} if request.metadata is None else request.metadata
        if not isinstance(metadata, Mapping):
            raise InvalidProduct(f'metadata must be a mapping, got {type(metadata).__name__}')
        try:
            meta_json = json.dumps(dict(metadata), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise InvalidProduct(f'metadata is not JSON-serialisable: {err}') from None
        if request.related_id:
            with self._lock:
                known = self._db.execute('SELECT 1 FROM products WHERE id = ?',
                                         (request.related_id,)).fetchone()
            if known is None:
                raise InvalidProduct(
                    f'related_id {request.related_id!r} is not in the catalog')
        return _Request(data=bytes(request.data), kind=kind, suffix=request.suffix.lower(),
                        camera=request.camera, metadata=meta_json,
                        related_id=request.related_id)

    def _allocate_ids(self, requests: Sequence['_Request'], stamp: float) -> List[str]:
        ids: List[str] = []
        for request in requests:
            for _ in range(64):
                candidate = make_product_id(request.kind, stamp, request.camera)
                with self._lock:
                    taken = self._db.execute('SELECT 1 FROM products WHERE id = ?',
                                             (candidate,)).fetchone()
                if taken is None and candidate not in ids:
                    ids.append(candidate)
                    break
            else:
                raise StoreError('could not allocate a unique product id')
        return ids

    def _write_temp(self, product_id: str, request: '_Request', stamp: float) -> _NewProduct:
        temp = self._dir / f'{TEMP_PREFIX}{product_id}{request.suffix}'
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(request.data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            _unlink_quietly(temp)
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(f'file system full writing {product_id}: {err}') from err
            raise
        return _NewProduct(id=product_id, kind=request.kind, camera=request.camera,
                           stamp=float(stamp),
                           relpath=f'{PRODUCT_DIR}/{product_id}{request.suffix}', temp=temp,
                           size_bytes=len(request.data),
                           sha256=hashlib.sha256(request.data).hexdigest(),
                           related_id=request.related_id, metadata_json=request.metadata)

    def _commit(self, new: Sequence[_NewProduct]) -> List[str]:
        """Evict for the budget, rename into place and insert rows; return evicted paths."""
        with self._transaction():
            evicted = self._evict_for(sum(item.size_bytes for item in new))
            for item in new:
                os.replace(item.temp, self._root / item.relpath)
            _fsync_dir(self._dir)
            self._stage('renamed')
            now = time.time()
            for item in new:
                self._db.execute(
                    f'INSERT INTO products ({_COLUMNS}, stored_at) '
                    'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                    (item.id, int(item.kind), item.camera, item.stamp, item.relpath,
                     item.size_bytes, item.sha256, int(DownlinkState.NONE), item.related_id,
                     item.metadata_json, now))
            self._stage('row_inserted')
        self._stage('committed')
        return evicted

    def _evict_for(self, incoming: int) -> List[str]:
        """
        Delete the rows of the oldest downlinked products until ``incoming`` bytes fit.

        Runs inside the put transaction; raises StoreFull (and so rolls back) when even
        evicting every downlinked product would not make room.
        """
        used = self._db.execute(
            'SELECT COALESCE(SUM(size_bytes), 0) FROM products').fetchone()[0]
        excess = used + incoming - self._budget
        if excess <= 0:
            return []
        if incoming > self._budget:
            raise StoreFull(f'{incoming} B is larger than the whole budget '
                            f'({self._budget} B)')
        victims, freed = [], 0
        rows = self._db.execute(
            'SELECT id, relpath, size_bytes FROM products WHERE downlink_state = ? '
            'ORDER BY stamp ASC, id ASC', (int(DownlinkState.DONE),))
        for product_id, relpath, size in rows:
            if freed >= excess:
                break
            victims.append((product_id, relpath))
            freed += size
        if freed < excess:
            raise StoreFull(
                f'store full: {used} B of {self._budget} B used, {incoming} B more needed and '
                f'only {freed} B is downlinked and deletable; downlink or force-delete '
                'products')
        for product_id, _ in victims:
            self._db.execute('DELETE FROM products WHERE id = ?', (product_id,))
        return [relpath for _, relpath in victims]

    def _create_schema(self) -> None:
        """Create or check the catalog; only a fresh catalog takes the write lock."""
        version = self._db.execute('PRAGMA user_version').fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        with self._transaction():
            version = self._db.execute('PRAGMA user_version').fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f'catalog schema {version} is newer than this software '
                                 f'({SCHEMA_VERSION}); refusing to open {self._root}')
            for statement in _SCHEMA.split(';'):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f'PRAGMA user_version = {SCHEMA_VERSION}')

    def _recover(self) -> RecoveryReport:
        """Remove what a crash left behind; see the module docstring."""
        lost = self._drop_rows_without_file()
        if not self._try_exclusive_flock():
            return RecoveryReport(lost_ids=tuple(lost), sweep_skipped=True)
        try:
            with self._lock:
                known = {row[0] for row in self._db.execute('SELECT relpath FROM products')}
            temps, orphans = [], []
            for entry in sorted(self._dir.iterdir()):
                if not entry.is_file():
                    continue
                if entry.name.startswith(TEMP_PREFIX):
                    _unlink_quietly(entry)
                    temps.append(entry.name)
                elif f'{PRODUCT_DIR}/{entry.name}' not in known:
                    _unlink_quietly(entry)
                    orphans.append(entry.name)
            if temps or orphans:
                _fsync_dir(self._dir)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        return RecoveryReport(removed_temp=tuple(temps), removed_orphans=tuple(orphans),
                              lost_ids=tuple(lost))

    def _drop_rows_without_file(self) -> List[str]:
        """Move rows whose file vanished to the ``lost`` table; return their ids."""
        with self._lock:
            rows = self._db.execute('SELECT id, relpath FROM products').fetchall()
        missing = [pid for pid, relpath in rows if not (self._root / relpath).is_file()]
        if not missing:
            return []
        lost = []
        with self._lock, self._transaction():
            now = time.time()
            for product_id in missing:
                row = self._db.execute('SELECT relpath, sha256, downlink_state FROM products '
                                       'WHERE id = ?', (product_id,)).fetchone()
                if row is None or (self._root / row[0]).is_file():
                    continue
                self._db.execute(
                    'INSERT INTO lost (id, relpath, sha256, downlink_state, detected_at, '
                    'reason) VALUES (?, ?, ?, ?, ?, ?)', (product_id, *row, now,
                                                          'file missing on open'))
                self._db.execute('DELETE FROM products WHERE id = ?', (product_id,))
                lost.append(product_id)
        return lost

    def _enable_wal(self) -> None:
        """
        Switch the catalog to WAL, waiting out another process doing the same.

        On a fresh catalog the switch needs an exclusive lock, and SQLite answers "database is
        locked" at once, without its busy handler, while another connection holds it: the
        shovel and cameras nodes opening the store together at first boot. So retry until
        ``busy_timeout_s``.
        """
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                self._db.execute('PRAGMA journal_mode = WAL')
                return
            except sqlite3.OperationalError as err:
                if 'locked' not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _try_exclusive_flock(self) -> bool:
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)

    def _shared_flock(self):
        return _Flock(self._lock_fd, fcntl.LOCK_SH)

    def _transaction(self) -> '_Transaction':
        return _Transaction(self._db)

    def _stage(self, name: str) -> None:
        if self._crash_point is not None:
            self._crash_point(name)

    def _product(self, row: tuple) -> Product:
        (product_id, kind, camera, stamp, relpath, size, sha256, state, related,
         meta_json) = row
        return Product(id=product_id, kind=ProductKind(kind), camera=camera, stamp=stamp,
                       path=self._root / relpath, size_bytes=size, sha256=sha256,
                       downlink_state=DownlinkState(state), related_id=related,
                       metadata=json.loads(meta_json))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute('BEGIN IMMEDIATE')

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._db.execute('COMMIT')
        elif self._db.in_transaction:
            self._db.execute('ROLLBACK')


class _Flock:
    """Hold an flock on a file descriptor for the duration of a ``with`` block."""

    def __init__(self, fd: int, mode: int) -> None:
        self._fd = fd
        self._mode = mode

    def __enter__(self) -> None:
        fcntl.flock(self._fd, self._mode)

    def __exit__(self, *exc_info) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


def _fsync_dir(directory: Path) -> None:
    """Make renames and unlinks in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    """Remove a file that may already be gone (idempotent cleanup)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
