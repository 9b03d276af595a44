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
Open the rover's sqlite state files so that a bad file never stops the rover.

Every database the rover keeps (product catalog, anti-replay window, telemetry store, file
downlink queue) is opened here. Two faults are told apart, because they need opposite
answers:

* **corrupt** (sqlite says ``SQLITE_CORRUPT``/``SQLITE_NOTADB``, or ``PRAGMA quick_check``
  fails): the file will never read again. It is moved aside, with its ``-wal``/``-shm``
  companions, under a name that says when and why (never deleted: the ground may want it),
  and a fresh database is created in its place. :attr:`OpenedDb.moved_aside` says where the
  old one went, so the owner can report it.
* **unavailable** (locked by another process past the busy timeout, unreadable, a directory
  that cannot be written, an I/O error): the file may be fine and come back. Nothing is
  moved; :class:`StateDbUnavailable` names the file and the cause, and the owner runs
  degraded.

The busy timeout is short (:data:`BUSY_TIMEOUT_S`): a loop that also runs link-loss safing
must never freeze for seconds behind another process's lock.
"""

from dataclasses import dataclass
import datetime
from pathlib import Path
import sqlite3
from typing import Optional, Tuple

#: Longest wait for another connection's lock (s); callers treat a longer wait as a fault.
BUSY_TIMEOUT_S = 0.1
#: sqlite result codes that mean "this file is damaged", not "try again later".
_CORRUPT_CODES = frozenset({'SQLITE_CORRUPT', 'SQLITE_NOTADB'})
_COMPANIONS = ('-wal', '-shm', '-journal')


class StateDbUnavailable(Exception):
    """A state database cannot be used now (locked, unreadable, I/O error); nothing moved."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f'{path}: {cause}')
        self.path = Path(path)
        self.cause = cause


@dataclass(frozen=True)
class OpenedDb:
    """An open state database and, when the old file was corrupt, where it was moved."""

    conn: sqlite3.Connection
    moved_aside: Optional[Path] = None


def is_corruption(err: BaseException) -> bool:
    """Return True when ``err`` says the database file is damaged (not merely busy)."""
    return isinstance(err, sqlite3.DatabaseError) and \
        getattr(err, 'sqlite_errorname', '') in _CORRUPT_CODES


def move_aside(path: Path, reason: str = 'corrupt') -> Path:
    """
    Rename ``path`` (and its sqlite companions) to ``<name>.<reason>-<UTC stamp>``.

    Returns the new path of the main file. Never overwrites an earlier moved-aside copy.
    """
    path = Path(path)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    target = path.with_name(f'{path.name}.{reason}-{stamp}')
    serial = 1
    while target.exists():
        serial += 1
        target = path.with_name(f'{path.name}.{reason}-{stamp}-{serial}')
    for suffix in _COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    if path.exists():
        path.rename(target)
    return target


def open_state_db(path: Path, schema: str, *, synchronous: str = 'FULL',
                  busy_timeout_s: float = BUSY_TIMEOUT_S) -> OpenedDb:
    """
    Open (or create) the WAL database at ``path`` and run ``schema`` (idempotent DDL).

    A corrupt file is moved aside and replaced by an empty one (see the module docstring);
    raises :class:`StateDbUnavailable` when the file cannot be used now.
    """
    if synchronous not in ('FULL', 'NORMAL', 'OFF'):
        raise ValueError(f'synchronous must be FULL, NORMAL or OFF, got {synchronous!r}')
    if not busy_timeout_s > 0.0:
        raise ValueError(f'busy_timeout_s must be > 0, got {busy_timeout_s!r}')
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StateDbUnavailable(path, f'cannot create its directory: {err}') from err
    conn, problem = _try_open(path, schema, synchronous, busy_timeout_s)
    if conn is not None:
        return OpenedDb(conn)
    if problem is not None and not is_corruption(problem) \
            and not isinstance(problem, _QuickCheckFailed):
        raise StateDbUnavailable(path, str(problem)) from problem
    try:
        moved = move_aside(path)
    except OSError as err:
        raise StateDbUnavailable(path, f'corrupt and cannot be moved aside: {err}') from err
    conn, problem = _try_open(path, schema, synchronous, busy_timeout_s)
    if conn is None:
        raise StateDbUnavailable(path, f'fresh database after moving the corrupt one to '
                                       f'{moved.name}: {problem}') from problem
    return OpenedDb(conn, moved)


class _QuickCheckFailed(sqlite3.DatabaseError):
    """PRAGMA quick_check found damage that opening alone did not reveal."""


def _try_open(path: Path, schema: str, synchronous: str, busy_timeout_s: float
              ) -> Tuple[Optional[sqlite3.Connection], Optional[BaseException]]:
    try:
        conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as err:
        return None, err
    try:
        conn.execute(f'PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}')
        check = conn.execute('PRAGMA quick_check').fetchone()
        if check is None or check[0] != 'ok':
            raise _QuickCheckFailed(f'quick_check: {check[0] if check else "no answer"}')
        conn.execute('PRAGMA journal_mode = WAL')
        conn.execute(f'PRAGMA synchronous = {synchronous}')
        conn.executescript(schema)
    except sqlite3.Error as err:
        conn.close()
        return None, err
    return conn, None
