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

A product is one file under ``root/products/``, one sidecar ``root/meta/<file>.meta.json``
holding every catalog column of it (written before the product is committed), and one row in
the sqlite catalog ``root/catalog.sqlite3``. The cameras node, the shovel node and the lander
bridge open the same store from different processes, so the catalog runs in WAL mode with a
short busy timeout, and every write is crash-safe: a kill at any instant leaves either the
complete product or files that the next open re-adopts or quarantines. No ROS here;
``docs/interfaces.md`` ("Product store") describes the schema, the layout and the budget.

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
    store.recovery            # RecoveryReport of what opening the store found
    store.pending_recovery_reports()    # [(report_id, RecoveryReport)] not yet told to Earth
    store.mark_recovery_reported(report_id)

Write protocol of ``put``: the data goes to a temp file in the product directory and is
fsynced; its sidecar is written to a temp name, fsynced and renamed into ``meta/``; then,
inside one ``BEGIN IMMEDIATE`` transaction (which also serialises budget accounting across
processes), downlinked products are evicted if the budget needs it, the temp file is renamed
to its final name, the directory is fsynced and the row is inserted and committed; the
evicted products' sidecars and files are unlinked after the commit.

The store never deletes what it cannot prove was downlinked. Opening it recovers from a
crash at any of those points, and from a lost or corrupt catalog, without unlinking
anything:

* a product file without a row (also a complete temp file of an interrupted write) whose
  sidecar matches it (same id and name, same size, same recomputed sha256) is
  **re-adopted**: its row is rebuilt from the sidecar, with downlink state ``NONE``, since
  the sidecar cannot know whether it was downlinked and sending twice is safe where never
  sending is not;
* a product file without a usable sidecar (missing, unparsable, another product's, size or
  sha256 mismatch) is **quarantined**: moved with its sidecar into ``root/quarantine/``
  under its own name, never overwriting, for the ground to decide; sidecars that belong to
  no file (an interrupted sidecar write, a delete killed half-way) go there too;
* a row whose file **vanished** (only outside interference can cause that) is moved to the
  ``lost`` table;
* a corrupt catalog is moved aside by :func:`rover_common.state_db.open_state_db` and the
  new one rebuilt by re-adopting every file.

Each report that is not clean is stored in the catalog with the rows it changed (in the
same transaction), so whichever process talks to the ground tells it exactly once
(:meth:`ProductStore.pending_recovery_reports`, :meth:`ProductStore.mark_recovery_reported`).
Writers and deleters hold a shared ``flock`` on ``root/.lock``, recovery takes it
exclusively, so one process opening the store never touches a file that another process is
about to commit or delete.

Every failure is a :class:`StoreError`: sqlite and OS errors become
:class:`StoreUnavailable` (busy past the timeout, unreadable, I/O), :class:`CatalogCorrupt`
or :class:`StoreFull`, with messages that name files relative to the store root (they end
up in telecommand failure reasons cut to 96 bytes).
"""

from dataclasses import asdict, dataclass, field, replace
import datetime
import enum
import errno
import fcntl
import functools
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
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

from rover_common.state_db import BUSY_TIMEOUT_S, is_corruption, open_state_db, \
    StateDbUnavailable

#: Catalog schema version, kept in ``PRAGMA user_version``. ``recovery_reports`` was added
#: without a bump: it is created if missing, and older software ignores it.
SCHEMA_VERSION = 1
#: Version of the sidecar document; a sidecar of another version is not trusted.
SIDECAR_FORMAT = 1

CATALOG_NAME = 'catalog.sqlite3'
PRODUCT_DIR = 'products'
META_DIR = 'meta'
QUARANTINE_DIR = 'quarantine'
LOCK_NAME = '.lock'
TEMP_PREFIX = '.tmp-'
SIDECAR_SUFFIX = '.meta.json'

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
CREATE TABLE IF NOT EXISTS recovery_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    opened_at REAL NOT NULL,
    report TEXT NOT NULL,
    reported_at REAL
);
"""

_CAMERA_RE = re.compile(r'^[a-z0-9_]{0,16}$')
_SUFFIX_RE = re.compile(r'^(\.[A-Za-z0-9]{1,10}){1,2}$')
_SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
_COLUMNS = ('id, kind, camera, stamp, relpath, size_bytes, sha256, downlink_state, '
            'related_id, metadata')
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


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


class UnknownRecoveryReport(StoreError):
    """No recovery report with this id is in the catalog."""


class CorruptProduct(StoreError):
    """A product's file is missing or no longer matches its recorded sha256."""


class StoreFull(StoreError):
    """The product cannot be stored without deleting an undownlinked one; it was refused."""


class ProductNotDownlinked(StoreError):
    """Deleting an undownlinked product needs ``force=True``."""


class StoreUnavailable(StoreError):
    """
    The store cannot be used now: locked past the busy timeout, unreadable, an I/O error.

    Nothing stored was lost; the same call may work later. The message names the file
    relative to the store root (``catalog.sqlite3: database is locked``).

    :param name: the file or directory, relative to the store root.
    :param cause: what went wrong.
    :param path: its absolute path, for logs on board.
    """

    def __init__(self, name: str, cause: str, path: Path) -> None:
        super().__init__(f'{name}: {cause}')
        self.name = name
        self.cause = cause
        self.path = Path(path)


class CatalogCorrupt(StoreUnavailable):
    """The catalog turned out damaged at run time; reopening the store rebuilds it."""


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
    What opening the store found: nothing in it is ever deleted, so all of it is told.

    :param readopted: ids of products whose row was rebuilt from file and sidecar (not yet
        downlinked, whatever they were before).
    :param quarantined: product files moved into ``quarantine/`` (each with its sidecar, if
        any), relative to the store root.
    :param vanished: ids of products whose file had disappeared (see the ``lost`` table).
    :param catalog_moved_aside: where a corrupt catalog was moved, relative to the store
        root; the new catalog was rebuilt from the files.
    :param sweep_skipped: another process kept writing for the whole busy timeout, so files
        were left to the next open (rows were still checked). Not a loss, not reported.
    """

    readopted: Tuple[str, ...] = ()
    quarantined: Tuple[str, ...] = ()
    vanished: Tuple[str, ...] = ()
    catalog_moved_aside: Optional[str] = None
    sweep_skipped: bool = False

    @property
    def clean(self) -> bool:
        """Return True when there is nothing to tell the ground."""
        return not (self.readopted or self.quarantined or self.vanished
                    or self.catalog_moved_aside)

    def summary(self) -> str:
        """Return one line for a log or an event (≤ 120 characters for a usual report)."""
        if self.clean:
            return 'clean, files left to the next open' if self.sweep_skipped else 'clean'
        counts = (f'{len(self.readopted)} re-adopted, {len(self.quarantined)} quarantined, '
                  f'{len(self.vanished)} vanished')
        if self.catalog_moved_aside is None:
            return counts
        return f'catalog moved aside to {self.catalog_moved_aside}; {counts}'


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
class _Record:
    """Every catalog column of one product but its downlink state, and where its file is."""

    id: str  # noqa: A003 (mirrors Product.id)
    kind: ProductKind
    camera: str
    stamp: float
    relpath: str
    size_bytes: int
    sha256: str
    related_id: str
    metadata_json: str
    stored_at: float
    source: Path

    @property
    def file_name(self) -> str:
        """Return the name of the product file (also the key of its sidecar)."""
        return Path(self.relpath).name


@dataclass
class _Plan:
    """What recovery will do, decided before the catalog is locked for writing."""

    adopt: List[_Record] = field(default_factory=list)
    quarantine: List[Tuple[Path, Path]] = field(default_factory=list)
    quarantined_products: List[str] = field(default_factory=list)
    vanished: List[str] = field(default_factory=list)


_F = TypeVar('_F', bound=Callable[..., Any])


def _contained(method: _F) -> _F:
    """Turn sqlite and OS errors of a store operation into StoreError subclasses."""
    @functools.wraps(method)
    def wrapper(self: 'ProductStore', *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except (sqlite3.Error, OSError) as err:
            raise self._fault(err) from err
    return wrapper  # type: ignore[return-value]


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
    :param busy_timeout_s: how long to wait for another process holding the catalog or the
        lock file before raising StoreUnavailable (short: the bridge loop also runs safing).
    :param crash_point: test hook called with the name of each write stage
        (``temp_written``, ``sidecar_written``, ``renamed``, ``row_inserted``,
        ``committed``); a crash test kills the process inside it. None in production.
    :raises StoreUnavailable: the directory, lock file or catalog cannot be used now, or
        the catalog is of a newer schema. A corrupt catalog is not an error: it is moved
        aside and rebuilt (see :attr:`recovery`).
    """

    def __init__(self, root: Path, *, budget_bytes: int,
                 busy_timeout_s: float = BUSY_TIMEOUT_S,
                 crash_point: Optional[Callable[[str], None]] = None) -> None:
        if not isinstance(budget_bytes, int) or isinstance(budget_bytes, bool) \
                or budget_bytes <= 0:
            raise InvalidProduct(f'budget_bytes must be a positive int, got {budget_bytes!r}')
        if not busy_timeout_s > 0:
            raise InvalidProduct(f'busy_timeout_s must be > 0, got {busy_timeout_s!r}')
        self._root = Path(root).resolve()
        self._dir = self._root / PRODUCT_DIR
        self._meta_dir = self._root / META_DIR
        self._quarantine_dir = self._root / QUARANTINE_DIR
        self._budget = budget_bytes
        self._busy_timeout_s = float(busy_timeout_s)
        self._crash_point = crash_point
        self._lock = threading.RLock()
        self._db: Optional[sqlite3.Connection] = None
        self._lock_fd: Optional[int] = None
        try:
            for directory in (self._dir, self._meta_dir):
                directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self._root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
            opened = self._open_catalog()
            self._db = opened.conn
            self._check_schema()
            moved = None if opened.moved_aside is None else self._relative(opened.moved_aside)
            self._recovery = self._recover(moved)
        except BaseException as err:
            self.close()
            if isinstance(err, (sqlite3.Error, OSError)):
                raise self._fault(err) from err
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
        """Return what opening the store found (this open only; see pending reports)."""
        return self._recovery

    # -- writing -----------------------------------------------------------------------

    @_contained
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
        :raises StoreUnavailable: the catalog is busy or an I/O error happened. If it
            happened after the file reached its final name, the file is kept and the next
            open re-adopts it: an error never means the data was deleted.
        """
        return self._put_group([_Request(data, kind, suffix, camera, metadata, related_id)],
                               stamp, link=False)[0]

    @_contained
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

    @_contained
    def set_downlink_state(self, product_id: str, state: DownlinkState) -> Product:
        """Record how far the downlink of a product has got; return the updated entry."""
        state = DownlinkState(state)
        with self._lock, self._transaction():
            cursor = self._db.execute('UPDATE products SET downlink_state = ? WHERE id = ?',
                                      (int(state), product_id))
            if cursor.rowcount != 1:
                raise UnknownProduct(f'no product {product_id!r}')
        return self.get(product_id)

    @_contained
    def delete(self, product_id: str, *, force: bool = False) -> None:
        """
        Delete a product: row first, then sidecar, then file.

        A crash in between leaves at most a file without sidecar, which the next open
        quarantines rather than re-adopting a product someone chose to delete.

        :raises UnknownProduct: no such id.
        :raises ProductNotDownlinked: it is not downlinked yet and ``force`` is False.
        """
        with self._lock, self._shared_flock():
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
            self._remove_product_files(row[0])

    @_contained
    def mark_recovery_reported(self, report_id: int) -> None:
        """
        Record that recovery report ``report_id`` reached the ground (idempotent).

        :raises UnknownRecoveryReport: no report with this id.
        """
        with self._lock, self._transaction():
            cursor = self._db.execute(
                'UPDATE recovery_reports SET reported_at = COALESCE(reported_at, ?) '
                'WHERE id = ?', (time.time(), int(report_id)))
            if cursor.rowcount != 1:
                raise UnknownRecoveryReport(f'no recovery report {report_id!r}')

    # -- reading -----------------------------------------------------------------------

    @_contained
    def get(self, product_id: str) -> Product:
        """Return the catalog entry of ``product_id``; raise UnknownProduct if absent."""
        with self._lock:
            row = self._db.execute(f'SELECT {_COLUMNS} FROM products WHERE id = ?',
                                   (product_id,)).fetchone()
        if row is None:
            raise UnknownProduct(f'no product {product_id!r}')
        return self._product(row)

    @_contained
    def path(self, product_id: str) -> Path:
        """Return the absolute path of the product's file."""
        return self.get(product_id).path

    @_contained
    def read(self, product_id: str) -> bytes:
        """
        Return the product's bytes after checking them against the recorded sha256.

        :raises CorruptProduct: the file is gone or its content changed.
        """
        product = self.get(product_id)
        name = self._relative(product.path)
        try:
            data = product.path.read_bytes()
        except FileNotFoundError:
            raise CorruptProduct(f'{name} is missing') from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != product.sha256:
            raise CorruptProduct(f'{name}: sha256 mismatch ({digest[:8]}, catalog '
                                 f'{product.sha256[:8]})')
        return data

    @_contained
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

    @_contained
    def usage(self) -> StoreUsage:
        """Return bytes used against the budget, product count and undownlinked count."""
        with self._lock:
            used, count, pending = self._db.execute(
                'SELECT COALESCE(SUM(size_bytes), 0), COUNT(*), '
                'COALESCE(SUM(downlink_state != ?), 0) FROM products',
                (int(DownlinkState.DONE),)).fetchone()
        return StoreUsage(used_bytes=int(used), budget_bytes=self._budget, count=int(count),
                          pending_count=int(pending))

    @_contained
    def pending_recovery_reports(self) -> List[Tuple[int, RecoveryReport]]:
        """
        Return the recovery reports no process has marked reported yet, oldest first.

        Any process that opened the store may have written them (the cameras node often
        opens it before the lander bridge); the one that talks to the ground sends them and
        then calls :meth:`mark_recovery_reported`.
        """
        with self._lock:
            rows = self._db.execute('SELECT id, report FROM recovery_reports '
                                    'WHERE reported_at IS NULL ORDER BY id').fetchall()
        return [(int(report_id), _report_from_json(text)) for report_id, text in rows]

    def close(self) -> None:
        """Close the catalog and the lock file; the store is unusable afterwards."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> 'ProductStore':
        """Return the store itself."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Close the store."""
        self.close()

    # -- internals: writing ----------------------------------------------------------

    def _put_group(self, requests: Sequence['_Request'], stamp: float, *,
                   link: bool) -> List[Product]:
        """Validate, write temp files and sidecars, then commit all rows in one transaction."""
        if not isinstance(stamp, (int, float)) or isinstance(stamp, bool) \
                or not math.isfinite(stamp) or stamp < 0:
            raise InvalidProduct(f'stamp must be finite UTC epoch seconds >= 0, got {stamp!r}')
        checked = [self._validate(request) for request in requests]
        ids = self._allocate_ids(checked, stamp)
        if link:
            checked = [replace(checked[0], related_id=ids[1]),
                       replace(checked[1], related_id=ids[0])]
        with self._lock, self._shared_flock():
            new: List[_Record] = []
            try:
                for product_id, request in zip(ids, checked):
                    new.append(self._write_temp(product_id, request, stamp))
                self._stage('temp_written')
                for item in new:
                    self._write_sidecar(item)
                self._stage('sidecar_written')
                evicted = self._commit(new)
            except BaseException:
                self._abandon(new)
                raise
            for relpath in evicted:
                self._remove_product_files(relpath)
        return [self.get(item.id) for item in new]

    def _abandon(self, new: Sequence[_Record]) -> None:
        """
        Undo a put that failed before any file reached its final name.

        Once one has, the transaction may or may not have committed, so nothing is removed:
        the next open finds the row or re-adopts the file from its sidecar.
        """
        if not all(item.source.exists() for item in new):
            return
        for item in new:
            _unlink_quietly(self._meta_dir / (TEMP_PREFIX + item.file_name + SIDECAR_SUFFIX))
            _unlink_quietly(self._sidecar_of(item.file_name))
            _unlink_quietly(item.source)

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

    def _write_temp(self, product_id: str, request: '_Request', stamp: float) -> _Record:
        temp = self._dir / f'{TEMP_PREFIX}{product_id}{request.suffix}'
        _write_durably(temp, request.data)
        return _Record(id=product_id, kind=request.kind, camera=request.camera,
                       stamp=float(stamp), relpath=f'{PRODUCT_DIR}/{product_id}{request.suffix}',
                       size_bytes=len(request.data),
                       sha256=hashlib.sha256(request.data).hexdigest(),
                       related_id=request.related_id, metadata_json=request.metadata,
                       stored_at=time.time(), source=temp)

    def _write_sidecar(self, record: _Record) -> None:
        """Write the sidecar of ``record`` atomically: temp name, fsync, rename, fsync dir."""
        document = {'format': SIDECAR_FORMAT, 'id': record.id, 'kind': int(record.kind),
                    'camera': record.camera, 'stamp': record.stamp, 'relpath': record.relpath,
                    'size_bytes': record.size_bytes, 'sha256': record.sha256,
                    'related_id': record.related_id,
                    'metadata': json.loads(record.metadata_json),
                    'stored_at': record.stored_at}
        data = (json.dumps(document, sort_keys=True, indent=1) + '\n').encode()
        final = self._sidecar_of(record.file_name)
        temp = final.with_name(TEMP_PREFIX + final.name)
        _write_durably(temp, data)
        os.replace(temp, final)
        _fsync_dir(self._meta_dir)

    def _commit(self, new: Sequence[_Record]) -> List[str]:
        """Evict for the budget, rename into place and insert rows; return evicted paths."""
        with self._transaction():
            evicted = self._evict_for(sum(item.size_bytes for item in new))
            for item in new:
                os.replace(item.source, self._root / item.relpath)
            _fsync_dir(self._dir)
            self._stage('renamed')
            for item in new:
                self._insert(item)
            self._stage('row_inserted')
        self._stage('committed')
        return evicted

    def _insert(self, record: _Record) -> None:
        """Insert the row of ``record``, not yet downlinked."""
        self._db.execute(
            f'INSERT INTO products ({_COLUMNS}, stored_at) '
            'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            (record.id, int(record.kind), record.camera, record.stamp, record.relpath,
             record.size_bytes, record.sha256, int(DownlinkState.NONE), record.related_id,
             record.metadata_json, record.stored_at))

    def _evict_for(self, incoming: int) -> List[str]:
        """
        Delete the rows of the oldest downlinked products until ``incoming`` bytes fit.

        Runs inside the put transaction, so no other process can change a downlink state
        between the choice and the delete; only ``DONE`` rows are candidates. Raises
        StoreFull (and so rolls back, deleting nothing) when even evicting every downlinked
        product would not make room.
        """
        used = self._db.execute(
            'SELECT COALESCE(SUM(size_bytes), 0) FROM products').fetchone()[0]
        excess = used + incoming - self._budget
        if excess <= 0:
            return []
        if incoming > self._budget:
            raise StoreFull(f'store full: {incoming} B is larger than the whole budget '
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
                f'store full: {incoming} B refused, {max(self._budget - used, 0)} B free and '
                f'{freed} B downlinked; downlink or force-delete products')
        for product_id, _ in victims:
            self._db.execute('DELETE FROM products WHERE id = ? AND downlink_state = ?',
                             (product_id, int(DownlinkState.DONE)))
        return [relpath for _, relpath in victims]

    def _remove_product_files(self, relpath: str) -> None:
        """Remove the sidecar, then the file, of a product whose row is gone."""
        _unlink_quietly(self._sidecar_of(Path(relpath).name))
        _unlink_quietly(self._root / relpath)

    # -- internals: opening and recovery ---------------------------------------------

    def _open_catalog(self):
        """
        Open the catalog through state_db, retrying a fresh file another process creates.

        Switching a fresh catalog to WAL needs an exclusive lock, and SQLite answers
        "database is locked" at once, without its busy handler, while another connection
        holds it (the shovel and cameras nodes opening the store together at first boot).
        """
        path = self._root / CATALOG_NAME
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                return open_state_db(path, _SCHEMA, synchronous='FULL',
                                     busy_timeout_s=self._busy_timeout_s)
            except StateDbUnavailable as err:
                if 'locked' not in err.cause or time.monotonic() > deadline:
                    raise self._unavailable(CATALOG_NAME, err.cause, path) from err
                time.sleep(0.01)

    def _check_schema(self) -> None:
        """Refuse a catalog of a newer schema; stamp a fresh one with ours."""
        version = self._db.execute('PRAGMA user_version').fetchone()[0]
        if version > SCHEMA_VERSION:
            raise self._unavailable(
                CATALOG_NAME, f'catalog schema {version} is newer than this software '
                              f'({SCHEMA_VERSION}); refusing to use it',
                self._root / CATALOG_NAME)
        if version < SCHEMA_VERSION:
            self._db.execute(f'PRAGMA user_version = {SCHEMA_VERSION}')

    def _recover(self, moved_aside: Optional[str]) -> RecoveryReport:
        """Re-adopt, quarantine and record what a crash or a lost catalog left; see above."""
        os.listdir(self._dir)   # an unreadable directory must not make every row "vanished"
        if not _acquire_flock(self._lock_fd, fcntl.LOCK_EX, self._busy_timeout_s):
            plan = _Plan(vanished=self._rows_without_file())
            return self._apply(plan, moved_aside, sweep_skipped=True)
        try:
            plan = self._plan_sweep()
            report = self._apply(plan, moved_aside, sweep_skipped=False)
            self._move_to_quarantine(plan.quarantine)
            self._write_missing_sidecars()
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        return report

    def _rows_without_file(self) -> List[str]:
        with self._lock:
            rows = self._db.execute('SELECT id, relpath FROM products').fetchall()
        return [pid for pid, relpath in rows if _missing(self._root / relpath)]

    def _plan_sweep(self) -> _Plan:
        """Decide the fate of every file; runs under the exclusive flock, changes nothing."""
        with self._lock:
            rows = self._db.execute('SELECT id, relpath FROM products').fetchall()
        known_ids = {pid for pid, _ in rows}
        known_paths = {relpath for _, relpath in rows}
        plan = _Plan(vanished=[pid for pid, relpath in rows
                               if _missing(self._root / relpath)])
        claimed = {Path(relpath).name + SIDECAR_SUFFIX for pid, relpath in rows
                   if pid not in plan.vanished}
        reserved: set = set()
        for entry in sorted(self._dir.iterdir()):
            if not entry.is_file():
                continue
            temp = entry.name.startswith(TEMP_PREFIX)
            name = entry.name[len(TEMP_PREFIX):] if temp else entry.name
            relpath = f'{PRODUCT_DIR}/{name}'
            if not temp and relpath in known_paths:
                continue
            record = None
            if relpath not in known_paths and not (temp and (self._dir / name).exists()):
                record = self._record_from_sidecar(entry, name)
            if record is not None and record.id not in known_ids:
                plan.adopt.append(record)
                known_ids.add(record.id)
                known_paths.add(relpath)
                claimed.add(name + SIDECAR_SUFFIX)
                continue
            target = self._quarantine_target(entry.name, reserved)
            plan.quarantine.append((entry, target))
            plan.quarantined_products.append(self._relative(target))
        for entry in sorted(self._meta_dir.iterdir()):
            if entry.is_file() and entry.name not in claimed:
                plan.quarantine.append((entry, self._quarantine_target(entry.name, reserved)))
        return plan

    def _record_from_sidecar(self, source: Path, name: str) -> Optional[_Record]:
        """Return the record of ``source`` if its sidecar describes exactly it, else None."""
        try:
            document = json.loads(self._sidecar_of(name).read_bytes())
        except (OSError, ValueError):
            return None
        record = _record_of(document, name, source)
        if record is None or source.stat().st_size != record.size_bytes:
            return None
        with open(source, 'rb') as stream:
            digest = hashlib.file_digest(stream, 'sha256').hexdigest()
        return record if digest == record.sha256 else None

    def _quarantine_target(self, name: str, reserved: set) -> Path:
        """Return ``quarantine/<name>``, or ``<name>~N`` if taken: never overwrite."""
        target, serial = self._quarantine_dir / name, 1
        while target.exists() or target in reserved:
            serial += 1
            target = self._quarantine_dir / f'{name}~{serial}'
        reserved.add(target)
        return target

    def _apply(self, plan: _Plan, moved_aside: Optional[str], *,
               sweep_skipped: bool) -> RecoveryReport:
        """
        Commit re-adopted rows, lost rows and the report in one transaction.

        Quarantine moves come after the commit: a crash in between quarantines and reports
        the same files again at the next open, where the other order could hide them.
        """
        report = RecoveryReport(readopted=tuple(r.id for r in plan.adopt),
                                quarantined=tuple(plan.quarantined_products),
                                vanished=tuple(plan.vanished),
                                catalog_moved_aside=moved_aside, sweep_skipped=sweep_skipped)
        if report.clean:
            return report
        with self._lock, self._transaction():
            now = time.time()
            vanished = []
            for product_id in plan.vanished:
                row = self._db.execute('SELECT relpath, sha256, downlink_state FROM products '
                                       'WHERE id = ?', (product_id,)).fetchone()
                if row is None or not _missing(self._root / row[0]):
                    continue
                self._db.execute(
                    'INSERT INTO lost (id, relpath, sha256, downlink_state, detected_at, '
                    'reason) VALUES (?, ?, ?, ?, ?, ?)', (product_id, *row, now,
                                                          'file missing on open'))
                self._db.execute('DELETE FROM products WHERE id = ?', (product_id,))
                vanished.append(product_id)
            for record in plan.adopt:
                final = self._root / record.relpath
                if record.source != final:
                    os.replace(record.source, final)
                self._insert(record)
            if plan.adopt:
                _fsync_dir(self._dir)
            report = replace(report, vanished=tuple(vanished))
            if not report.clean:
                self._db.execute('INSERT INTO recovery_reports (opened_at, report) '
                                 'VALUES (?, ?)', (now, _report_to_json(report)))
        return report

    def _move_to_quarantine(self, moves: Sequence[Tuple[Path, Path]]) -> None:
        if not moves:
            return
        self._quarantine_dir.mkdir(exist_ok=True)
        for source, target in moves:
            os.rename(source, target)
        for directory in (self._quarantine_dir, self._dir, self._meta_dir):
            _fsync_dir(directory)

    def _write_missing_sidecars(self) -> None:
        """Give catalogued products stored before sidecars existed one, for a future rebuild."""
        with self._lock:
            rows = self._db.execute(f'SELECT {_COLUMNS}, stored_at FROM products').fetchall()
        for row in rows:
            relpath = row[4]
            if self._sidecar_of(Path(relpath).name).exists() or _missing(self._root / relpath):
                continue
            self._write_sidecar(_Record(
                id=row[0], kind=ProductKind(row[1]), camera=row[2], stamp=row[3],
                relpath=relpath, size_bytes=row[5], sha256=row[6], related_id=row[8],
                metadata_json=row[9], stored_at=row[10], source=self._root / relpath))

    # -- internals: helpers ----------------------------------------------------------

    def _sidecar_of(self, file_name: str) -> Path:
        return self._meta_dir / (file_name + SIDECAR_SUFFIX)

    def _relative(self, path: Any) -> str:
        """Return ``path`` relative to the store root (its name if outside): never absolute."""
        try:
            return str(Path(path).resolve().relative_to(self._root))
        except ValueError:
            return Path(path).name

    def _unavailable(self, name: str, cause: str, path: Path,
                     kind: type = StoreUnavailable) -> StoreUnavailable:
        """Build a StoreUnavailable whose text carries no absolute path of the store."""
        return kind(name, cause.replace(f'{self._root}{os.sep}', ''), path)

    def _fault(self, err: BaseException) -> StoreError:
        """Return the StoreError that stands for a sqlite or OS error."""
        if isinstance(err, sqlite3.Error):
            code = getattr(err, 'sqlite_errorname', type(err).__name__)
            path = self._root / CATALOG_NAME
            if is_corruption(err):
                return self._unavailable(CATALOG_NAME, f'{err} ({code}); reopen to rebuild',
                                         path, CatalogCorrupt)
            if code == 'SQLITE_FULL':
                return StoreFull(f'{CATALOG_NAME}: file system full')
            return self._unavailable(CATALOG_NAME, f'{err} ({code})', path)
        filename = getattr(err, 'filename', None)
        name = self._relative(filename) if filename else 'store'
        if getattr(err, 'errno', None) in _FULL_DISK:
            return StoreFull(f'file system full writing {name}')
        return self._unavailable(name, getattr(err, 'strerror', None) or str(err),
                                 Path(filename) if filename else self._root)

    def _shared_flock(self) -> '_Flock':
        return _Flock(self, fcntl.LOCK_SH)

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
    """
    Hold a shared flock on the store's lock file for a ``with`` block.

    Waits at most the busy timeout: a recovery of another process (which holds it
    exclusively) makes the operation fail with StoreUnavailable instead of freezing it.
    """

    def __init__(self, store: ProductStore, mode: int) -> None:
        self._store = store
        self._mode = mode

    def __enter__(self) -> None:
        store = self._store
        if not _acquire_flock(store._lock_fd, self._mode, store._busy_timeout_s):
            raise store._unavailable(LOCK_NAME, 'another process is recovering the store',
                                     store.root / LOCK_NAME)

    def __exit__(self, *exc_info) -> None:
        fcntl.flock(self._store._lock_fd, fcntl.LOCK_UN)


def _acquire_flock(fd: int, mode: int, timeout_s: float) -> bool:
    """Take an flock, polling until ``timeout_s``; return False if it stayed taken."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)


def _record_of(document: Any, name: str, source: Path) -> Optional[_Record]:
    """Return the record a sidecar document describes for file ``name``, or None if unusable."""
    if not isinstance(document, dict) or document.get('format') != SIDECAR_FORMAT:
        return None
    product_id, kind, camera = document.get('id'), document.get('kind'), document.get('camera')
    size, sha256, related = (document.get('size_bytes'), document.get('sha256'),
                             document.get('related_id'))
    metadata = document.get('metadata')
    checks = (isinstance(product_id, str) and name.split('.', 1)[0] == product_id,
              document.get('relpath') == f'{PRODUCT_DIR}/{name}',
              _is_int(kind) and kind in {k.value for k in ProductKind},
              isinstance(camera, str) and bool(_CAMERA_RE.match(camera)),
              _is_epoch(document.get('stamp')), _is_epoch(document.get('stored_at')),
              _is_int(size) and size >= 0,
              isinstance(sha256, str) and bool(_SHA256_RE.match(sha256)),
              isinstance(related, str), isinstance(metadata, dict))
    if not all(checks):
        return None
    try:
        metadata_json = json.dumps(metadata, sort_keys=True, allow_nan=False)
    except ValueError:
        return None
    return _Record(id=product_id, kind=ProductKind(kind), camera=camera,
                   stamp=float(document['stamp']), relpath=f'{PRODUCT_DIR}/{name}',
                   size_bytes=size, sha256=sha256, related_id=related,
                   metadata_json=metadata_json, stored_at=float(document['stored_at']),
                   source=source)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_epoch(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and value >= 0


def _report_to_json(report: RecoveryReport) -> str:
    return json.dumps(asdict(report), sort_keys=True)


def _report_from_json(text: str) -> RecoveryReport:
    document = json.loads(text)
    return RecoveryReport(readopted=tuple(document['readopted']),
                          quarantined=tuple(document['quarantined']),
                          vanished=tuple(document['vanished']),
                          catalog_moved_aside=document['catalog_moved_aside'],
                          sweep_skipped=bool(document['sweep_skipped']))


def _missing(path: Path) -> bool:
    """Return True when ``path`` does not exist; other OS errors propagate (not "vanished")."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    return False


def _write_durably(path: Path, data: bytes) -> None:
    """Create ``path`` (never an existing one) with ``data`` and fsync it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        _unlink_quietly(path)
        raise


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
