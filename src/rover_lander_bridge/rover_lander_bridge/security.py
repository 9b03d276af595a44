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
SDLS-like authentication of the uplink: keys, MACs and the persisted anti-replay window.

Every uplink frame carries a security header (SPI, anti-replay sequence number ARSN) and a
MAC trailer (layout in :mod:`rover_lander_bridge.framing`). The MAC is HMAC-SHA256 from
``cryptography``, truncated to 128 bits as in the SDLS baseline. HMAC rather than AES-GCM
as GMAC: GMAC needs a never-repeating IV per key, and a ground tool restored from a backup
would repeat one, which with GCM leaks the authentication key; HMAC has no such failure mode.
Like SDLS (and unlike NASA CryptoLib before CVE-2025-46673), an SPI with no configured key
is refused, never passed through.

Keys live in a file outside git: 64 hex characters (a 256-bit key), readable by its owner
only. ``rover-ground keygen PATH`` writes one.

Anti-replay: :class:`ReplayGuard` keeps, per SPI, the ``window`` highest ARSNs accepted so
far. A new ARSN is accepted if it was never accepted and is above the lowest of them; every
ARSN ever accepted is either in the window or at most its lowest value, so no frame is
accepted twice, while frames reordered by the link (less than ``window`` positions) still
pass. The window is persisted in sqlite (``synchronous=FULL``) before any telecommand of a
batch is executed, so a restart can never re-open the door to a replay of an executed TC.
The ground side's :class:`ArsnCounter` persists its counter the same way and never goes below
the wall clock in milliseconds, so a ground tool that lost its state still sends fresh ARSNs.
"""

import bisect
import os
from pathlib import Path
import sqlite3
import stat
import threading
import time
from typing import Dict, List, Mapping, Tuple

from cryptography.hazmat.primitives import constant_time, hashes, hmac

KEY_BYTES = 32
MAC_LEN = 16
SPI_MAX = 0xFFFF
ARSN_MAX = (1 << 64) - 1


class KeyFileError(Exception):
    """The key file is missing, malformed or readable by others."""


class ReplayError(Exception):
    """The ARSN was accepted before, or is older than the anti-replay window."""


def load_key(path: Path) -> bytes:
    """
    Return the 32-byte key in ``path`` (64 hex characters, whitespace ignored).

    :raises KeyFileError: missing, not 64 hex digits, or readable by group or others.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding='ascii')
    except FileNotFoundError:
        raise KeyFileError(f'key file {path} does not exist; create one with '
                           f'"rover-ground keygen {path}"') from None
    except (OSError, UnicodeDecodeError) as err:
        raise KeyFileError(f'cannot read key file {path}: {err}') from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f'key file {path} is accessible by group or others '
                           f'(mode {stat.filemode(mode)}); chmod 600 it')
    digits = ''.join(text.split())
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        raise KeyFileError(f'key file {path} must hold {2 * KEY_BYTES} hex digits') from None
    if len(key) != KEY_BYTES:
        raise KeyFileError(f'key file {path} holds {len(key)} bytes, expected {KEY_BYTES}')
    return key


def generate_key_file(path: Path) -> None:
    """
    Write a new random key to ``path`` with mode 0600; refuse to overwrite an existing file.

    :raises KeyFileError: the file exists.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f'{path} exists; refusing to overwrite a key') from None
    with os.fdopen(fd, 'w', encoding='ascii') as handle:
        handle.write(os.urandom(KEY_BYTES).hex() + '\n')


class MacEngine:
    """
    HMAC-SHA256-128 over byte strings, one key per SPI.

    :param keys: SPI -> 32-byte key. An SPI not in it is unknown and always refused.
    """

    def __init__(self, keys: Mapping[int, bytes]) -> None:
        self._templates: Dict[int, hmac.HMAC] = {}
        for spi, key in keys.items():
            if not 0 <= spi <= SPI_MAX:
                raise ValueError(f'SPI must be in [0, {SPI_MAX}], got {spi}')
            if len(key) != KEY_BYTES:
                raise ValueError(f'key of SPI {spi} must be {KEY_BYTES} bytes, got {len(key)}')
            self._templates[spi] = hmac.HMAC(bytes(key), hashes.SHA256())

    def knows(self, spi: int) -> bool:
        """Return True if ``spi`` has a key."""
        return spi in self._templates

    def tag(self, spi: int, data: bytes) -> bytes:
        """Return the 16-byte MAC of ``data`` under the key of ``spi`` (KeyError if none)."""
        mac = self._templates[spi].copy()
        mac.update(data)
        return mac.finalize()[:MAC_LEN]

    def verify(self, spi: int, data: bytes, tag: bytes) -> bool:
        """Return True if ``tag`` is the MAC of ``data`` (constant-time comparison)."""
        if spi not in self._templates:
            return False
        return constant_time.bytes_eq(self.tag(spi, data), bytes(tag))


class _Db:
    """A sqlite connection in WAL mode, with a lock so several threads may share it."""

    def __init__(self, path: Path, schema: str, *, synchronous: str) -> None:
        if synchronous not in ('FULL', 'NORMAL', 'OFF'):
            raise ValueError(f'synchronous must be FULL, NORMAL or OFF, got {synchronous!r}')
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute('PRAGMA journal_mode = WAL')
        self.conn.execute(f'PRAGMA synchronous = {synchronous}')
        self.conn.executescript(schema)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class ReplayGuard:
    """
    The persisted anti-replay window of the rover, per SPI.

    :param path: sqlite file (created if missing).
    :param window: how many of the highest accepted ARSNs are remembered (the tolerance to
        reordering on the link).
    :param synchronous: sqlite durability; FULL survives power loss.
    """

    _SCHEMA = ('CREATE TABLE IF NOT EXISTS accepted_arsn ('
               'spi INTEGER NOT NULL, arsn INTEGER NOT NULL, PRIMARY KEY (spi, arsn));')

    def __init__(self, path: Path, *, window: int = 64, synchronous: str = 'FULL') -> None:
        if window < 1:
            raise ValueError(f'window must be >= 1, got {window}')
        self._window = window
        self._db = _Db(path, self._SCHEMA, synchronous=synchronous)
        self._accepted: Dict[int, List[int]] = {}
        self._pending: List[Tuple[int, int]] = []
        with self._db.lock:
            rows = self._db.conn.execute(
                'SELECT spi, arsn FROM accepted_arsn ORDER BY spi, arsn').fetchall()
        for spi, arsn in rows:
            self._accepted.setdefault(spi, []).append(_from_sql(arsn))
        for spi, values in self._accepted.items():
            values.sort()
            del values[:-window]

    @property
    def window(self) -> int:
        """Return the number of remembered ARSNs per SPI."""
        return self._window

    def check(self, spi: int, arsn: int) -> None:
        """
        Raise ReplayError if ``arsn`` must be refused for ``spi``; change nothing.

        :raises ReplayError: the reason says "seen before" or "older than the window".
        """
        values = self._accepted.get(spi, ())
        if not values:
            return
        if arsn in values:
            raise ReplayError(f'ARSN {arsn} of SPI {spi} was accepted before')
        if len(values) >= self._window and arsn < values[0]:
            raise ReplayError(f'ARSN {arsn} of SPI {spi} is older than the anti-replay window '
                              f'(lowest kept {values[0]})')

    def accept(self, spi: int, arsn: int) -> None:
        """Add ``arsn`` to the window in memory; :meth:`persist` makes it durable."""
        self.check(spi, arsn)
        values = self._accepted.setdefault(spi, [])
        bisect.insort(values, arsn)
        if len(values) > self._window:
            del values[0]
        self._pending.append((spi, arsn))

    def persist(self) -> None:
        """Write the ARSNs accepted since the last call, in one transaction."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        with self._db.lock:
            conn = self._db.conn
            conn.execute('BEGIN IMMEDIATE')
            try:
                conn.executemany('INSERT OR IGNORE INTO accepted_arsn (spi, arsn) VALUES (?, ?)',
                                 [(spi, _to_sql(arsn)) for spi, arsn in pending])
                for spi in {spi for spi, _ in pending}:
                    lowest = self._accepted[spi][0]
                    conn.execute('DELETE FROM accepted_arsn WHERE spi = ? AND arsn < ?',
                                 (spi, _to_sql(lowest)))
                conn.execute('COMMIT')
            except BaseException:
                conn.execute('ROLLBACK')
                self._pending = pending + self._pending
                raise

    def close(self) -> None:
        """Close the database (pending ARSNs are persisted first)."""
        self.persist()
        self._db.close()


class ArsnCounter:
    """
    The ground's anti-replay sequence numbers for one SPI, persisted in sqlite.

    Each :meth:`take` is committed before it is returned, so two ground tools sharing the
    file, or one restarted, never reuse an ARSN. The value never goes below the wall clock in
    milliseconds: a ground that lost its file still sends numbers newer than any it sent.
    It also keeps the 14-bit PUS sequence count of the ground's telecommands.
    """

    _SCHEMA = ('CREATE TABLE IF NOT EXISTS ground_counters ('
               'name TEXT PRIMARY KEY, value INTEGER NOT NULL);')

    def __init__(self, path: Path, spi: int, *, clock=time.time) -> None:
        self._spi = spi
        self._clock = clock
        self._db = _Db(path, self._SCHEMA, synchronous='FULL')

    def take(self) -> Tuple[int, int]:
        """Return a fresh (ARSN, PUS sequence count) pair, already persisted."""
        arsn_key, seq_key = f'arsn_{self._spi}', 'tc_seq_count'
        with self._db.lock:
            conn = self._db.conn
            conn.execute('BEGIN IMMEDIATE')
            try:
                stored = dict(conn.execute(
                    'SELECT name, value FROM ground_counters WHERE name IN (?, ?)',
                    (arsn_key, seq_key)).fetchall())
                arsn = max(_from_sql(stored.get(arsn_key, _to_sql(0))) + 1,
                           int(self._clock() * 1000.0))
                seq = (stored.get(seq_key, -1) + 1) % (1 << 14)
                conn.executemany('INSERT OR REPLACE INTO ground_counters (name, value) '
                                 'VALUES (?, ?)', [(arsn_key, _to_sql(arsn)), (seq_key, seq)])
                conn.execute('COMMIT')
            except BaseException:
                conn.execute('ROLLBACK')
                raise
        return arsn, seq

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def _to_sql(arsn: int) -> int:
    """Map an unsigned 64-bit ARSN onto sqlite's signed 64-bit INTEGER, preserving order."""
    return arsn - (1 << 63)


def _from_sql(value: int) -> int:
    return value + (1 << 63)
