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
Store-and-forward telemetry: every TM packet waits here, in sqlite, until it is downlinked.

All telemetry takes the same path: the bridge puts packets in (with their downlink priority),
the scheduler takes the oldest unsent ones of the most urgent class while the link is up and
marks them sent. During an outage nothing is taken, so packets pile up in order and survive a
restart of the bridge. Sent packets are kept a little longer: when the link is declared down,
those sent since the last contact may have gone into a dead link, so they are put back in the
queue (the ground drops exact duplicates); once the ground has been heard from after a
packet was sent, the packet is deleted.

The store is bounded (packets and bytes). When full, it drops in this order: already-sent
packets, then the oldest unsent housekeeping, then the oldest unsent urgent packets; it
returns how many unsent packets it dropped so the bridge can say so in an event.

Durability is ``synchronous=NORMAL`` in WAL mode by default: a killed process loses nothing;
a power cut may lose the last transactions (the replay window, which guards safety, uses
FULL). Small counters the bridge must keep across restarts (TM sequence count, boot count)
are stored in the same transactions as the packets.

The file is opened with :func:`rover_common.state_db.open_state_db`: a corrupt file is moved
aside (:attr:`TmStore.moved_aside` says where, so the bridge can tell the ground) and the busy
timeout is 100 ms, so the bridge loop, which also runs link-loss safing, never waits long for
another process's lock; a write that times out raises ``sqlite3.OperationalError`` and changes
nothing, and the bridge retries it later. A store opened without a file (``path=None``) keeps
everything in memory: the bridge's fallback when the file cannot be opened at all.
"""

from pathlib import Path
import sqlite3
import threading
from typing import List, Mapping, Optional, Sequence, Tuple

from rover_common.state_db import BUSY_TIMEOUT_S, open_state_db
from rover_link.protocol import Priority

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tm_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    packet BLOB NOT NULL,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS tm_unsent ON tm_queue (priority, id) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS tm_sent ON tm_queue (sent_at) WHERE sent_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class TmStore:
    """
    The bounded, persisted telemetry queue.

    :param path: sqlite file (created if missing; a corrupt one is moved aside); None keeps
        the queue in memory only (lost at exit).
    :param max_packets: most packets kept (sent-but-unconfirmed included).
    :param max_bytes: most packet bytes kept.
    :param synchronous: sqlite durability, NORMAL or FULL.
    :param busy_timeout_s: longest wait for another connection's lock.
    :raises rover_common.state_db.StateDbUnavailable: the file cannot be used now.
    """

    def __init__(self, path: Optional[Path], *, max_packets: int = 20000,
                 max_bytes: int = 8 << 20, synchronous: str = 'NORMAL',
                 busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        if max_packets < 1 or max_bytes < 1:
            raise ValueError('max_packets and max_bytes must be positive')
        if synchronous not in ('NORMAL', 'FULL'):
            raise ValueError(f'synchronous must be NORMAL or FULL, got {synchronous!r}')
        self._max_packets = max_packets
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._path = Path(path) if path is not None else None
        self._moved_aside: Optional[Path] = None
        if self._path is None:
            self._db = sqlite3.connect(':memory:', isolation_level=None,
                                       check_same_thread=False)
            self._db.executescript(_SCHEMA)
        else:
            opened = open_state_db(self._path, _SCHEMA, synchronous=synchronous,
                                   busy_timeout_s=busy_timeout_s)
            self._db, self._moved_aside = opened.conn, opened.moved_aside
        self._reload_totals()

    @property
    def path(self) -> Optional[Path]:
        """Return the sqlite file, None for a store kept in memory."""
        return self._path

    @property
    def volatile(self) -> bool:
        """Return True when the queue lives in memory only (a restart loses it)."""
        return self._path is None

    @property
    def moved_aside(self) -> Optional[Path]:
        """Return where a corrupt file found at opening was moved, or None."""
        return self._moved_aside

    @property
    def backlog(self) -> int:
        """Return the number of packets not yet sent."""
        return self._unsent

    @property
    def size(self) -> Tuple[int, int]:
        """Return (packets, bytes) kept, sent-but-unconfirmed included."""
        return self._count, self._bytes

    def counter(self, name: str, default: int = 0) -> int:
        """Return a persisted counter."""
        with self._lock:
            row = self._db.execute('SELECT value FROM counters WHERE name = ?',
                                   (name,)).fetchone()
        return int(row[0]) if row is not None else default

    def put(self, items: Sequence[Tuple[Priority, bytes]],
            counters: Optional[Mapping[str, int]] = None) -> int:
        """
        Append packets (in order) and save counters, in one transaction.

        :return: the number of unsent packets dropped to stay within the bounds.
        """
        if not items and not counters:
            return 0
        with self._lock:
            db = self._db
            db.execute('BEGIN IMMEDIATE')
            try:
                db.executemany('INSERT INTO tm_queue (priority, packet) VALUES (?, ?)',
                               [(int(p), bytes(pkt)) for p, pkt in items])
                if counters:
                    db.executemany('INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)',
                                   list(counters.items()))
                self._count += len(items)
                self._bytes += sum(len(pkt) for _, pkt in items)
                self._unsent += len(items)
                dropped = self._enforce_bounds()
                db.execute('COMMIT')
            except BaseException:
                db.execute('ROLLBACK')
                self._reload_totals()
                raise
        return dropped

    def pending(self, priority: Priority, limit: int,
                after_id: int = 0) -> List[Tuple[int, bytes]]:
        """Return up to ``limit`` unsent (id, packet) of one class, oldest first."""
        with self._lock:
            rows = self._db.execute(
                'SELECT id, packet FROM tm_queue WHERE sent_at IS NULL AND priority = ? '
                'AND id > ? ORDER BY id LIMIT ?', (int(priority), after_id, limit)).fetchall()
        return [(int(i), bytes(p)) for i, p in rows]

    def mark_sent(self, ids: Sequence[int], now: float) -> None:
        """Record that these packets went out at ``now``."""
        if not ids:
            return
        with self._lock:
            self._db.execute('BEGIN IMMEDIATE')
            try:
                changed = 0
                for chunk in _chunks(ids, 500):
                    cursor = self._db.execute(
                        f'UPDATE tm_queue SET sent_at = ? WHERE sent_at IS NULL AND id IN '
                        f'({",".join("?" * len(chunk))})', (now, *chunk))
                    changed += cursor.rowcount
                self._db.execute('COMMIT')
            except BaseException:
                self._db.execute('ROLLBACK')
                raise
            self._unsent -= changed

    def requeue_sent_since(self, since: float) -> int:
        """Put packets sent at or after ``since`` back in the queue; return how many."""
        with self._lock:
            cursor = self._db.execute(
                'UPDATE tm_queue SET sent_at = NULL WHERE sent_at IS NOT NULL AND sent_at >= ?',
                (since,))
            self._unsent += cursor.rowcount
        return cursor.rowcount

    def purge_sent_before(self, before: float) -> int:
        """Delete packets sent before ``before`` (the ground was heard from since)."""
        with self._lock:
            row = self._db.execute(
                'SELECT COUNT(*), COALESCE(SUM(LENGTH(packet)), 0) FROM tm_queue '
                'WHERE sent_at IS NOT NULL AND sent_at < ?', (before,)).fetchone()
            if not row[0]:
                return 0
            self._db.execute('DELETE FROM tm_queue WHERE sent_at IS NOT NULL AND sent_at < ?',
                             (before,))
            self._count -= int(row[0])
            self._bytes -= int(row[1])
        return int(row[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _enforce_bounds(self) -> int:
        """Drop packets until within bounds (inside the caller's transaction)."""
        dropped_unsent = 0
        orders = (('sent_at IS NOT NULL', 'sent_at, id', False),
                  (f'sent_at IS NULL AND priority = {int(Priority.ROUTINE)}', 'id', True),
                  (f'sent_at IS NULL AND priority = {int(Priority.URGENT)}', 'id', True))
        for where, order, unsent in orders:
            while self._count > self._max_packets or self._bytes > self._max_bytes:
                excess = max(self._count - self._max_packets, 1)
                rows = self._db.execute(
                    f'SELECT id, LENGTH(packet) FROM tm_queue WHERE {where} ORDER BY {order} '
                    f'LIMIT ?', (max(excess, 16),)).fetchall()
                if not rows:
                    break
                victims: List[int] = []
                for row_id, size in rows:
                    if self._count <= self._max_packets and self._bytes <= self._max_bytes:
                        break
                    victims.append(row_id)
                    self._count -= 1
                    self._bytes -= size
                    if unsent:
                        self._unsent -= 1
                        dropped_unsent += 1
                for chunk in _chunks(victims, 500):
                    self._db.execute(f'DELETE FROM tm_queue WHERE id IN '
                                     f'({",".join("?" * len(chunk))})', chunk)
        return dropped_unsent

    def _reload_totals(self) -> None:
        count, size, unsent = self._db.execute(
            'SELECT COUNT(*), COALESCE(SUM(LENGTH(packet)), 0), '
            'COALESCE(SUM(sent_at IS NULL), 0) FROM tm_queue').fetchone()
        self._count, self._bytes, self._unsent = int(count), int(size), int(unsent)


def _chunks(values: Sequence[int], size: int) -> List[Sequence[int]]:
    return [values[i:i + size] for i in range(0, len(values), size)]
