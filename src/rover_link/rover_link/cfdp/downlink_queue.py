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
The rover's persisted file-downlink queue, its telecommands and the CFDP sequence counter.

All three live in one sqlite file. A downlink must survive the bridge process being killed,
so everything the sender and the bridge need to carry on is committed before the CFDP engine
or the ground hears of it:

* the request (source, destination name, priority), its state, the attempts it has used, and
  the CFDP transaction sequence number and source size of the transaction in work;
* the DOWNLINK_PRODUCT telecommand that asked for it (request id, acknowledgement flags,
  product, file name, size, sha256, the progress step already reported), so that the
  original TC still gets its completion or failure report after a restart, exactly once
  unless the process dies in the instant between the report and its bookkeeping (then twice).

A request left ``active`` by a killed process is put back first in the queue marked
``interrupted``: the sender re-enters the same transaction (same sequence number), and the
ground's NAKs ask only for the bytes it lacks. An interrupted request does not use another
attempt when it starts again.

The transaction sequence counter lives here so a restarted rover never reuses a number: the
ground tells a resumed transaction from a new one by it. A new database (first start, or a
corrupt one moved aside) starts the counter at the current UTC second, above any number an
earlier database can have reached unless it started more than one transfer per second.

The file is opened with :func:`rover_common.state_db.open_state_db` (busy timeout 0.1 s; a
corrupt file is moved aside, never deleted, and :attr:`DownlinkQueue.moved_aside` says where).
"""

import contextlib
from dataclasses import dataclass
import enum
from pathlib import Path, PurePosixPath
import sqlite3
import threading
import time
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

from rover_common.state_db import BUSY_TIMEOUT_S, open_state_db, StateDbUnavailable

SEQ_NUM_BITS = 32
"""Width of the CFDP transaction sequence number: wide enough never to wrap in a mission."""

MAX_DEST_NAME_BYTES = 255
"""Longest destination name accepted (it travels in the Metadata PDU's LV field)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS downlink (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    dest_name TEXT NOT NULL,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    transaction_seq INTEGER,
    condition TEXT,
    source_size INTEGER,
    interrupted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER);
CREATE TABLE IF NOT EXISTS downlink_tc (
    downlink_id INTEGER PRIMARY KEY REFERENCES downlink (id),
    request_id BLOB NOT NULL,
    ack INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    last_step INTEGER NOT NULL DEFAULT 0,
    reported INTEGER NOT NULL DEFAULT 0);
"""

#: Columns added since the first release, with their definitions (older files get them).
_ADDED_COLUMNS = (('source_size', 'INTEGER'), ('interrupted', 'INTEGER NOT NULL DEFAULT 0'))
_COLUMN_NAMES = ('id', 'source', 'dest_name', 'priority', 'state', 'attempts', 'transaction_seq',
                 'condition', 'source_size', 'interrupted')
_COLUMNS = ', '.join(_COLUMN_NAMES)


class InvalidDownlinkRequest(ValueError):
    """A downlink request was refused (bad destination name, missing source); nothing queued."""


class DownlinkState(str, enum.Enum):
    """Life cycle of one downlink request."""

    QUEUED = 'queued'
    ACTIVE = 'active'
    DELIVERED = 'delivered'
    FAILED = 'failed'


@dataclass(frozen=True)
class DownlinkRecord:
    """One row of the queue, as stored."""

    downlink_id: int
    source: Path
    dest_name: str
    priority: int
    state: DownlinkState
    attempts: int
    """Transfer attempts started (a resumption after a restart is not a new one)."""
    transaction_seq: Optional[int]
    """The transaction in work, or the one to re-enter after a restart."""
    condition: Optional[str]
    source_size: Optional[int] = None
    """Size of the source when that transaction started (a resumption needs the same)."""
    interrupted: bool = False
    """A restart interrupted the attempt: the next start continues it."""


@dataclass(frozen=True)
class DownlinkTc:
    """The telecommand a downlink answers, as the bridge needs it to report after a restart."""

    request_id: bytes
    """The packed PUS request id (4 bytes)."""
    ack: int
    """The TC's acknowledgement flags."""
    product_id: str
    file_name: str
    size: int
    sha256: str
    last_step: int = 0
    """The last progress step reported to the ground."""


def check_dest_name(dest_name: str) -> str:
    """
    Return ``dest_name`` if it is a safe relative POSIX file name, else raise.

    The ground writes the file under its downlink directory with this name, so it must not
    climb out of it (``..``), be absolute, or carry a NUL.

    :raises InvalidDownlinkRequest: the name names the rule it breaks.
    """
    if not dest_name or '\x00' in dest_name or '\\' in dest_name:
        raise InvalidDownlinkRequest(
            f'destination name {dest_name!r} must be non-empty, without NUL or backslash')
    if len(dest_name.encode('utf-8')) > MAX_DEST_NAME_BYTES:
        raise InvalidDownlinkRequest(
            f'destination name is longer than {MAX_DEST_NAME_BYTES} bytes')
    path = PurePosixPath(dest_name)
    if path.is_absolute() or any(part in ('..', '.') for part in path.parts) \
            or dest_name.endswith('/'):
        raise InvalidDownlinkRequest(
            f'destination name {dest_name!r} must be a relative file path without . or ..')
    return dest_name


class DownlinkQueue:
    """
    Persisted queue of downlink requests: interrupted first, then by priority, then by age.

    Higher priority goes first. Thread-safe: every method takes one lock, and every change is
    committed (in one sqlite transaction) before it returns.

    :param db_path: the sqlite file (created if missing; a corrupt one is moved aside).
    :param busy_timeout_s: longest wait for another connection's lock.
    :param clock: UTC seconds, to seed the sequence counter of a new database.
    :raises rover_common.state_db.StateDbUnavailable: the file cannot be used now.
    """

    def __init__(self, db_path: Union[str, Path], *, busy_timeout_s: float = BUSY_TIMEOUT_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        opened = open_state_db(Path(db_path), _SCHEMA, busy_timeout_s=busy_timeout_s)
        self._db, self._moved_aside = opened.conn, opened.moved_aside
        try:
            with self._lock, self._transaction():
                present = {row[1] for row in self._db.execute('PRAGMA table_info(downlink)')}
                for name, definition in _ADDED_COLUMNS:
                    if name not in present:
                        self._db.execute(f'ALTER TABLE downlink ADD COLUMN {name} {definition}')
                self._db.execute(
                    "INSERT OR IGNORE INTO counter (name, value) VALUES ('transaction_seq', ?)",
                    (int(clock()) % (1 << SEQ_NUM_BITS),))
        except sqlite3.OperationalError as err:
            # Readable but not writable now (another process holds the write lock).
            self._db.close()
            raise StateDbUnavailable(Path(db_path), str(err)) from err

    @property
    def moved_aside(self) -> Optional[Path]:
        """Return where a corrupt file found at opening was moved, or None."""
        return self._moved_aside

    def close(self) -> None:
        """Close the database; the object is unusable afterwards."""
        with self._lock:
            self._db.close()

    def enqueue(self, source: Union[str, Path], dest_name: str, priority: int = 0,
                tc: Optional[DownlinkTc] = None) -> int:
        """
        Queue ``source`` for downlink as ``dest_name`` and return the request id.

        :param tc: the telecommand to report to when the request ends, stored with it.
        :raises InvalidDownlinkRequest: the source is not a readable regular file or the
            destination name is unsafe.
        """
        source_path = Path(source).resolve()
        if not source_path.is_file():
            raise InvalidDownlinkRequest(f'source {source_path} is not a regular file')
        check_dest_name(dest_name)
        if tc is not None and len(tc.request_id) != 4:
            raise InvalidDownlinkRequest(
                f'a request id is 4 bytes, got {len(tc.request_id)}')
        with self._lock, self._transaction():
            cursor = self._db.execute(
                'INSERT INTO downlink (source, dest_name, priority, state) VALUES (?, ?, ?, ?)',
                (str(source_path), dest_name, int(priority), DownlinkState.QUEUED.value))
            downlink_id = int(cursor.lastrowid)
            if tc is not None:
                self._db.execute(
                    'INSERT INTO downlink_tc (downlink_id, request_id, ack, product_id,'
                    ' file_name, size, sha256, last_step) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
                    (downlink_id, bytes(tc.request_id), int(tc.ack), tc.product_id,
                     tc.file_name, int(tc.size), tc.sha256, int(tc.last_step)))
        return downlink_id

    def next_queued(self, exclude: Sequence[int] = ()) -> Optional[DownlinkRecord]:
        """Return the request to send next (not in ``exclude``), or None."""
        query = f'SELECT {_COLUMNS} FROM downlink WHERE state = ?'
        if exclude:
            query += f' AND id NOT IN ({",".join("?" * len(exclude))})'
        # Interrupted first: a new transaction would make the ground drop the partial file.
        query += ' ORDER BY interrupted DESC, priority DESC, id ASC LIMIT 1'
        with self._lock:
            row = self._db.execute(query, (DownlinkState.QUEUED.value, *exclude)).fetchone()
        return None if row is None else _record(row)

    def mark_active(self, downlink_id: int, transaction_seq: int, source_size: int, *,
                    new_attempt: bool) -> None:
        """Record that transaction ``transaction_seq`` starts (or, resumed, goes on) now."""
        with self._lock, self._transaction():
            self._db.execute(
                'UPDATE downlink SET state = ?, attempts = attempts + ?, transaction_seq = ?,'
                ' source_size = ?, interrupted = 0 WHERE id = ?',
                (DownlinkState.ACTIVE.value, 1 if new_attempt else 0, transaction_seq,
                 source_size, downlink_id))

    def mark_done(self, downlink_id: int, state: DownlinkState, condition: str) -> None:
        """Record the final (or, with ``QUEUED``, the retry) state and the last condition."""
        with self._lock, self._transaction():
            self._db.execute(
                'UPDATE downlink SET state = ?, condition = ? WHERE id = ?',
                (state.value, condition, downlink_id))

    def requeue_interrupted(self, downlink_id: int, condition: str) -> None:
        """
        Queue an interrupted request again for a new transaction that continues its attempt.

        For a resumed transaction the ground had already closed: it must start over.
        """
        with self._lock, self._transaction():
            self._db.execute(
                'UPDATE downlink SET state = ?, condition = ?, transaction_seq = NULL,'
                ' interrupted = 1 WHERE id = ?',
                (DownlinkState.QUEUED.value, condition, downlink_id))

    def recover_interrupted(self) -> List[DownlinkRecord]:
        """Put requests left ``active`` by a killed process first in the queue; return them."""
        with self._lock, self._transaction():
            rows = self._db.execute(
                f'SELECT {_COLUMNS} FROM downlink WHERE state = ?',
                (DownlinkState.ACTIVE.value,)).fetchall()
            self._db.execute(
                "UPDATE downlink SET state = ?, condition = 'interrupted by restart',"
                ' interrupted = 1 WHERE state = ?',
                (DownlinkState.QUEUED.value, DownlinkState.ACTIVE.value))
        return [_record(row) for row in rows]

    def get(self, downlink_id: int) -> Optional[DownlinkRecord]:
        """Return one request by id, or None."""
        with self._lock:
            row = self._db.execute(
                f'SELECT {_COLUMNS} FROM downlink WHERE id = ?', (downlink_id,)).fetchone()
        return None if row is None else _record(row)

    def records(self) -> List[DownlinkRecord]:
        """Return every request, oldest first."""
        with self._lock:
            rows = self._db.execute(f'SELECT {_COLUMNS} FROM downlink ORDER BY id').fetchall()
        return [_record(row) for row in rows]

    def unreported_tcs(self) -> List[Tuple[DownlinkRecord, DownlinkTc]]:
        """Return the telecommands whose downlink has not been reported as ended, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f'SELECT {", ".join("d." + name for name in _COLUMN_NAMES)}, t.request_id,'
                ' t.ack, t.product_id, t.file_name, t.size, t.sha256, t.last_step'
                ' FROM downlink_tc t JOIN downlink d ON d.id = t.downlink_id'
                ' WHERE t.reported = 0 ORDER BY d.id').fetchall()
        width = len(_COLUMN_NAMES)
        return [(_record(row[:width]), DownlinkTc(bytes(row[width]), *row[width + 1:]))
                for row in rows]

    def set_tc_step(self, downlink_id: int, step: int) -> None:
        """Record the progress step last reported for a downlink's telecommand."""
        with self._lock, self._transaction():
            self._db.execute('UPDATE downlink_tc SET last_step = ? WHERE downlink_id = ?',
                             (int(step), downlink_id))

    def mark_tcs_reported(self, downlink_ids: Sequence[int]) -> None:
        """Record that the end of these downlinks was reported to their telecommands."""
        if not downlink_ids:
            return
        with self._lock, self._transaction():
            self._db.executemany('UPDATE downlink_tc SET reported = 1 WHERE downlink_id = ?',
                                 [(i,) for i in downlink_ids])

    def next_transaction_seq(self) -> int:
        """Return a transaction sequence number never returned before (wraps at 2**32)."""
        with self._lock, self._transaction():
            (value,) = self._db.execute(
                "SELECT value FROM counter WHERE name = 'transaction_seq'").fetchone()
            self._db.execute(
                "UPDATE counter SET value = ? WHERE name = 'transaction_seq'",
                ((value + 1) % (1 << SEQ_NUM_BITS),))
        return int(value)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Run the block in one write transaction (the connection is in autocommit mode)."""
        self._db.execute('BEGIN IMMEDIATE')
        try:
            yield
        except BaseException:
            if self._db.in_transaction:
                self._db.execute('ROLLBACK')
            raise
        self._db.execute('COMMIT')


def _record(row: Sequence) -> DownlinkRecord:
    (downlink_id, source, dest_name, priority, state, attempts, seq, condition, source_size,
     interrupted) = row
    return DownlinkRecord(
        downlink_id=downlink_id, source=Path(source), dest_name=dest_name, priority=priority,
        state=DownlinkState(state), attempts=attempts, transaction_seq=seq, condition=condition,
        source_size=source_size, interrupted=bool(interrupted))
