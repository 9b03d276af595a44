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
The rover's persisted file-downlink queue and CFDP transaction sequence counter (sqlite).

A downlink request must survive the bridge process being killed: the queue lives in sqlite,
every state change is committed before the CFDP engine acts on it, and a request that was
``active`` when the process died is put back to ``queued`` on the next start, to be sent again
from the start under a new transaction sequence number (cfdp-py 0.7.0 implements neither
suspend/resume nor a partial re-send, so a restart costs at most one product's bytes).

The transaction sequence counter is persisted in the same database so that a restarted rover
never reuses a sequence number: the ground tells a restarted transfer from a stale one by it.
"""

from dataclasses import dataclass
import enum
from pathlib import Path, PurePosixPath
import sqlite3
import threading
from typing import List, Optional, Sequence, Union

SEQ_NUM_BITS = 32
"""Width of the CFDP transaction sequence number: wide enough never to wrap in a mission."""

MAX_DEST_NAME_BYTES = 255
"""Longest destination name accepted (it travels in the Metadata PDU's LV field)."""


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
    transaction_seq: Optional[int]
    condition: Optional[str]


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
    Persisted FIFO of downlink requests ordered by priority (higher first), then age.

    Thread-safe: every method takes one lock, and every change is committed before it returns.
    """

    def __init__(self, db_path: Union[str, Path]) -> None:
        """Open (or create) the queue database at ``db_path``."""
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(db_path), check_same_thread=False)
        with self._lock, self._db:
            self._db.execute(
                'CREATE TABLE IF NOT EXISTS downlink ('
                ' id INTEGER PRIMARY KEY AUTOINCREMENT,'
                ' source TEXT NOT NULL,'
                ' dest_name TEXT NOT NULL,'
                ' priority INTEGER NOT NULL,'
                ' state TEXT NOT NULL,'
                ' attempts INTEGER NOT NULL DEFAULT 0,'
                ' transaction_seq INTEGER,'
                ' condition TEXT)')
            self._db.execute(
                'CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER)')
            self._db.execute(
                "INSERT OR IGNORE INTO counter (name, value) VALUES ('transaction_seq', 0)")

    def close(self) -> None:
        """Close the database; the object is unusable afterwards."""
        with self._lock:
            self._db.close()

    def enqueue(self, source: Union[str, Path], dest_name: str, priority: int = 0) -> int:
        """
        Queue ``source`` for downlink as ``dest_name`` and return the request id.

        :raises InvalidDownlinkRequest: the source is not a readable regular file or the
            destination name is unsafe.
        """
        source_path = Path(source).resolve()
        if not source_path.is_file():
            raise InvalidDownlinkRequest(f'source {source_path} is not a regular file')
        check_dest_name(dest_name)
        with self._lock, self._db:
            cursor = self._db.execute(
                'INSERT INTO downlink (source, dest_name, priority, state) VALUES (?, ?, ?, ?)',
                (str(source_path), dest_name, int(priority), DownlinkState.QUEUED.value))
            return int(cursor.lastrowid)

    def next_queued(self, exclude: Sequence[int] = ()) -> Optional[DownlinkRecord]:
        """Return the most urgent queued request not in ``exclude``, or None."""
        placeholders = ','.join('?' * len(exclude))
        query = 'SELECT * FROM downlink WHERE state = ?'
        if exclude:
            query += f' AND id NOT IN ({placeholders})'
        query += ' ORDER BY priority DESC, id ASC LIMIT 1'
        with self._lock:
            row = self._db.execute(query, (DownlinkState.QUEUED.value, *exclude)).fetchone()
        return None if row is None else _record(row)

    def mark_active(self, downlink_id: int, transaction_seq: int) -> None:
        """Record that a transfer attempt with ``transaction_seq`` starts now."""
        with self._lock, self._db:
            self._db.execute(
                'UPDATE downlink SET state = ?, attempts = attempts + 1, transaction_seq = ?'
                ' WHERE id = ?', (DownlinkState.ACTIVE.value, transaction_seq, downlink_id))

    def mark_done(self, downlink_id: int, state: DownlinkState, condition: str) -> None:
        """Record the final (or, with ``QUEUED``, the retry) state and the last condition."""
        with self._lock, self._db:
            self._db.execute(
                'UPDATE downlink SET state = ?, condition = ? WHERE id = ?',
                (state.value, condition, downlink_id))

    def recover_interrupted(self) -> List[DownlinkRecord]:
        """Put requests left ``active`` by a killed process back in the queue; return them."""
        with self._lock, self._db:
            rows = self._db.execute(
                'SELECT * FROM downlink WHERE state = ?', (DownlinkState.ACTIVE.value,)).fetchall()
            self._db.execute(
                "UPDATE downlink SET state = ?, condition = 'interrupted by restart'"
                ' WHERE state = ?', (DownlinkState.QUEUED.value, DownlinkState.ACTIVE.value))
        return [_record(row) for row in rows]

    def get(self, downlink_id: int) -> Optional[DownlinkRecord]:
        """Return one request by id, or None."""
        with self._lock:
            row = self._db.execute(
                'SELECT * FROM downlink WHERE id = ?', (downlink_id,)).fetchone()
        return None if row is None else _record(row)

    def records(self) -> List[DownlinkRecord]:
        """Return every request, oldest first."""
        with self._lock:
            rows = self._db.execute('SELECT * FROM downlink ORDER BY id').fetchall()
        return [_record(row) for row in rows]

    def next_transaction_seq(self) -> int:
        """Return a transaction sequence number never returned before (wraps at 2**32)."""
        with self._lock, self._db:
            (value,) = self._db.execute(
                "SELECT value FROM counter WHERE name = 'transaction_seq'").fetchone()
            self._db.execute(
                "UPDATE counter SET value = ? WHERE name = 'transaction_seq'",
                ((value + 1) % (1 << SEQ_NUM_BITS),))
        return int(value)


def _record(row: tuple) -> DownlinkRecord:
    downlink_id, source, dest_name, priority, state, attempts, seq, condition = row
    return DownlinkRecord(
        downlink_id=downlink_id, source=Path(source), dest_name=dest_name, priority=priority,
        state=DownlinkState(state), attempts=attempts, transaction_seq=seq, condition=condition)
