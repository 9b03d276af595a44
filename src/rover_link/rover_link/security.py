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
SDLS-like authentication of the uplink: keys, MACs and the persisted anti-replay state.

Every uplink frame carries a security header (SPI, anti-replay sequence number ARSN) and a
MAC trailer (layout in :mod:`rover_link.framing`). The MAC is HMAC-SHA256 from
``cryptography``, truncated to 128 bits as in the SDLS baseline. HMAC rather than AES-GCM
as GMAC: GMAC needs a never-repeating IV per key, and a ground tool restored from a backup
would repeat one, which with GCM leaks the authentication key; HMAC has no such failure mode.
Like SDLS (and unlike NASA CryptoLib before CVE-2025-46673), an SPI with no configured key
is refused, never passed through. Keys for other purposes (SA management) are derived from
the key file's key by HKDF-SHA256 with a label per purpose (:meth:`MacEngine.derive`).

Keys live in a file outside git: 64 hex characters (a 256-bit key), readable by its owner
only. ``rover-ground keygen PATH`` writes one.

**Anti-replay** (:class:`ReplayGuard`). Per SPI the rover keeps the ``window`` highest ARSNs
accepted (so frames the link reordered by fewer than ``window`` positions still pass), a
*base* at or below which nothing passes, and so the *floor*: the highest ARSN ever accepted
(or the base, if higher), above which every ARSN is new. A new ARSN passes if it is above
the base, was never accepted and is not below a full window. The state is kept twice, both
written by :meth:`persist` before any telecommand of a batch runs (so nothing runs whose
ARSN could be forgotten):

1. the sqlite window file (WAL, ``synchronous=FULL``, opened by
   :func:`rover_common.state_db.open_state_db`: busy timeout 0.1 s, a corrupt file is moved
   aside, never deleted): window, bases, floors and the SA state;
2. the *floor file*, somewhere else (the bridge keeps it beside the key file: a rover that
   lost its key cannot check a captured frame anyway): the floors and the SA state as JSON
   with a SHA-256 over its body, replaced atomically (temporary file, fsync, rename, fsync
   of the directory).

sqlite is written first, so the floor file never runs ahead of it. A copy is *valid* when
it reads and passes its check. At start the newest SA generation wins (``epoch``: +1 at
every SA-management reset and every consumed challenge, written to sqlite first); within
one generation each SPI's floor is the max of the valid copies, and the sqlite window is
used only if it reaches that floor, else only ARSNs above the floor pass.

**"Existed once"**: the replay state existed once when, at start, the sqlite file exists
(with any content, zero bytes included) or had to be moved aside, or the floor file exists
(even corrupt or unreadable), or the owner says so with :meth:`ReplayGuard.expect_existing`
(the bridge does when its telemetry store counts an earlier boot). Otherwise it is a first
boot: the guard starts unlocked, empty, and writes both copies at once.

**Locked**: the state existed once but no valid copy is left, or two copies of the same
generation disagree on the challenge. No floor is known, so every telecommand is refused
(:class:`UplinkLocked`) until an authenticated SA-management reset
(:mod:`rover_link.sa_management`) gives the SPI a floor (:meth:`reset_window`).
The lock is itself persisted (``strict``): after a loss, an SPI without a floor stays
refused until it is reset. A sqlite file that cannot be opened now (locked by another
process, unreadable) also refuses everything, until :meth:`ReplayGuard.reopen` succeeds.

The ground side's :class:`ArsnCounter` persists its counter in sqlite and never goes below
the wall clock in milliseconds, so a ground tool that lost its state still sends fresh ARSNs.
"""

import bisect
import copy
from dataclasses import dataclass, field
import hashlib
import json
import logging
import os
from pathlib import Path
import sqlite3
import stat
import threading
import time
from typing import Dict, List, Mapping, Optional, Set, Tuple

from cryptography.hazmat.primitives import constant_time, hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from rover_common.state_db import BUSY_TIMEOUT_S, move_aside, open_state_db, StateDbUnavailable

KEY_BYTES = 32
MAC_LEN = 16
SPI_MAX = 0xFFFF
ARSN_MAX = (1 << 64) - 1
#: Bytes of an SA-management challenge (a random nonce: 128 bits never repeat).
CHALLENGE_LEN = 16
#: ``format`` of the floor file (bumped if its layout changes).
FLOOR_FILE_FORMAT = 'rover-replay-floor/1'
_LOGGER = logging.getLogger(__name__)


class KeyFileError(Exception):
    """The key file is missing, malformed or readable by others."""


class ReplayError(Exception):
    """The ARSN was accepted before, or is older than the anti-replay window."""


class UplinkLocked(ReplayError):
    """The replay state was lost (or is unavailable): no ARSN of this SPI can be trusted."""


class ReplayPersistError(Exception):
    """The anti-replay state could not be made durable; the message names file and cause."""


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
        self._keys: Dict[int, bytes] = {}
        self._templates: Dict[int, hmac.HMAC] = {}
        for spi, key in keys.items():
            if not 0 <= spi <= SPI_MAX:
                raise ValueError(f'SPI must be in [0, {SPI_MAX}], got {spi}')
            if len(key) != KEY_BYTES:
                raise ValueError(f'key of SPI {spi} must be {KEY_BYTES} bytes, got {len(key)}')
            self._keys[spi] = bytes(key)
            self._templates[spi] = hmac.HMAC(bytes(key), hashes.SHA256())

    @property
    def spis(self) -> Tuple[int, ...]:
        """Return the SPIs that have a key, in increasing order."""
        return tuple(sorted(self._templates))

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

    def derive(self, spi: int, info: bytes, *, as_spi: int) -> 'MacEngine':
        """
        Return an engine whose key for ``as_spi`` is HKDF-SHA256(key of ``spi``, ``info``).

        One key file, one key per purpose: a MAC computed for one purpose (a telecommand)
        never verifies for another (SA management), and the key file's key never leaves
        an engine.

        :raises KeyError: ``spi`` has no key.
        """
        derived = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                       info=bytes(info)).derive(self._keys[spi])
        return MacEngine({as_spi: derived})


@dataclass
class _SpiState:
    """The anti-replay state of one SPI."""

    base: Optional[int] = None
    window: List[int] = field(default_factory=list)

    @property
    def floor(self) -> Optional[int]:
        """Return the highest ARSN accepted, or the base if higher (None: neither)."""
        highest = self.window[-1] if self.window else None
        if self.base is None:
            return highest
        return self.base if highest is None else max(self.base, highest)


@dataclass
class _State:
    """The whole anti-replay state, as kept in memory and in each copy."""

    epoch: int
    challenge: bytes
    strict: bool
    spis: Dict[int, _SpiState] = field(default_factory=dict)

    def floors(self) -> Dict[int, int]:
        """Return the floor of every SPI that has one."""
        return {spi: s.floor for spi, s in self.spis.items() if s.floor is not None}


class ReplayGuard:
    """
    The persisted anti-replay state of the rover, per SPI (see the module docstring).

    :param path: sqlite window file (created if missing).
    :param floor_path: the floor file, the second copy; keep it in another directory (the
        bridge puts it beside the key file). Default: ``<path>.floor``.
    :param window: how many of the highest accepted ARSNs are remembered (the tolerance to
        reordering on the link).
    :param synchronous: sqlite durability; FULL survives power loss.
    :param busy_timeout_s: longest wait for another connection's lock on ``path``.
    """

    _SCHEMA = ('CREATE TABLE IF NOT EXISTS accepted_arsn ('
               'spi INTEGER NOT NULL, arsn INTEGER NOT NULL, PRIMARY KEY (spi, arsn));'
               'CREATE TABLE IF NOT EXISTS replay_floor ('
               'spi INTEGER PRIMARY KEY, base INTEGER);'
               'CREATE TABLE IF NOT EXISTS sa_state (name TEXT PRIMARY KEY, value NOT NULL);')

    def __init__(self, path: Path, *, floor_path: Optional[Path] = None, window: int = 64,
                 synchronous: str = 'FULL', busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        if window < 1:
            raise ValueError(f'window must be >= 1, got {window}')
        if synchronous not in ('FULL', 'NORMAL', 'OFF'):
            raise ValueError(f'synchronous must be FULL, NORMAL or OFF, got {synchronous!r}')
        self._path = Path(path)
        self._floor_path = Path(floor_path) if floor_path is not None \
            else self._path.with_name(self._path.name + '.floor')
        self._window = window
        self._synchronous = synchronous
        self._busy_timeout_s = busy_timeout_s
        self._conn: Optional[sqlite3.Connection] = None
        self._unavailable = ''
        self._lock_reason = ''
        self._first_boot = False
        self._moved_aside: List[Path] = []
        self._state = _State(0, os.urandom(CHALLENGE_LEN), True)
        self._db_dirty: Set[int] = set()
        self._db_wipe = False
        self._meta_dirty = False
        self._file_dirty = False
        self._establish()

    # -- what the owner reads ----------------------------------------------------------

    @property
    def window(self) -> int:
        """Return the number of remembered ARSNs per SPI."""
        return self._window

    @property
    def floor_path(self) -> Path:
        """Return the path of the floor file (the second copy)."""
        return self._floor_path

    @property
    def available(self) -> bool:
        """Return False while the sqlite file cannot be opened (everything is refused)."""
        return self._conn is not None

    @property
    def locked(self) -> bool:
        """Return True when no SPI can pass: state lost (no SA reset since) or unavailable."""
        return not self.available or (self._state.strict and not self._state.floors())

    @property
    def lock_reason(self) -> str:
        """Return why the uplink is locked ('' when it is not)."""
        if not self.available:
            return f'replay state unavailable: {self._unavailable}'
        return self._lock_reason if self.locked else ''

    @property
    def moved_aside(self) -> Tuple[Path, ...]:
        """Return where corrupt copies were moved (never deleted), oldest first."""
        return tuple(self._moved_aside)

    @property
    def challenge(self) -> bytes:
        """Return the SA-management challenge now valid (consumed by :meth:`reset_window`)."""
        return self._state.challenge

    @property
    def epoch(self) -> int:
        """Return the SA generation (+1 at every reset and every consumed challenge)."""
        return self._state.epoch

    def floor(self, spi: int) -> Optional[int]:
        """Return the highest ARSN of ``spi`` accepted, or the reset value; None if neither."""
        state = self._state.spis.get(spi)
        return None if state is None else state.floor

    def is_locked(self, spi: int) -> bool:
        """Return True if every ARSN of ``spi`` is refused until an SA reset."""
        return not self.available or (self._state.strict and self.floor(spi) is None)

    # -- the window --------------------------------------------------------------------

    def check(self, spi: int, arsn: int) -> None:
        """
        Raise ReplayError if ``arsn`` must be refused for ``spi``; change nothing.

        :raises UplinkLocked: the SPI has no trustworthy state (lost, or unavailable).
        :raises ReplayError: the reason says "at or below the floor", "seen before" or
            "older than the window".
        """
        if self.is_locked(spi):
            raise UplinkLocked(f'uplink locked for SPI {spi}: {self.lock_reason or "no floor"}'
                               '; an SA-management window reset is needed')
        state = self._state.spis.get(spi)
        if state is None:
            return
        if state.base is not None and arsn <= state.base:
            raise ReplayError(f'ARSN {arsn} of SPI {spi} is at or below the floor {state.base}')
        values = state.window
        index = bisect.bisect_left(values, arsn)
        if index < len(values) and values[index] == arsn:
            raise ReplayError(f'ARSN {arsn} of SPI {spi} was accepted before')
        if len(values) >= self._window and arsn < values[0]:
            raise ReplayError(f'ARSN {arsn} of SPI {spi} is older than the anti-replay window '
                              f'(lowest kept {values[0]})')

    def accept(self, spi: int, arsn: int) -> None:
        """Add ``arsn`` to the window in memory; :meth:`persist` makes it durable."""
        self.check(spi, arsn)
        self._first_boot = False
        state = self._state.spis.setdefault(spi, _SpiState())
        floor = state.floor
        bisect.insort(state.window, arsn)
        if len(state.window) > self._window:
            del state.window[0]
        self._db_dirty.add(spi)
        if floor is None or arsn > floor:
            self._file_dirty = True

    def persist(self) -> None:
        """
        Make the state durable: sqlite first, then the floor file (only if a floor moved).

        Nothing of a batch may run before this returned: ARSNs accepted in memory but not
        persisted would pass again after a restart.

        :raises ReplayPersistError: a copy could not be written (the rest stays pending and
            is written by the next call); the message names the file, never its directory.
        """
        if not (self._db_dirty or self._db_wipe or self._meta_dirty or self._file_dirty):
            return
        if self._conn is None:
            raise ReplayPersistError(f'replay state unavailable: {self._unavailable}')
        if self._db_dirty or self._db_wipe or self._meta_dirty:
            try:
                self._write_db()
            except sqlite3.Error as err:
                raise ReplayPersistError(f'{self._path.name}: {err}') from err
            self._db_dirty.clear()
            self._db_wipe = self._meta_dirty = False
        if self._file_dirty:
            try:
                self._write_floor_file()
            except OSError as err:
                raise ReplayPersistError(f'{self._floor_path.name}: '
                                         f'{err.strerror or err}') from err
            self._file_dirty = False

    # -- SA management -----------------------------------------------------------------

    def reset_window(self, spi: int, floor: int) -> Optional[int]:
        """
        Set the floor of ``spi`` (forget its window), consume the challenge, persist.

        The only way out of a lock, and the only way down for a floor (the recovery of a
        ground clock fault). The caller has checked the SA-management frame's MAC and
        challenge. Returns the floor before.

        :raises ValueError: ``floor`` is not a 64-bit ARSN.
        :raises ReplayPersistError: not durable; nothing changed.
        """
        if not 0 <= floor <= ARSN_MAX:
            raise ValueError(f'floor must be in [0, {ARSN_MAX}], got {floor}')
        before = copy.deepcopy(self._state)
        previous = self.floor(spi)
        self._state.spis[spi] = _SpiState(base=floor)
        self._next_generation()
        self._db_dirty.add(spi)
        try:
            self.persist()
        except ReplayPersistError:
            self._state = before
            self._db_dirty.update(before.spis)
            self._db_dirty.add(spi)
            self._meta_dirty = self._file_dirty = True
            raise
        self._lock_reason = ''
        _LOGGER.warning('anti-replay window of SPI %d reset by SA management: floor %s -> %d',
                        spi, previous, floor)
        return previous

    def consume_challenge(self) -> None:
        """
        Replace the challenge (a reset carried it but was refused); persisted when possible.

        :raises ReplayPersistError: the new challenge is in force but not yet durable (the
            next :meth:`persist` writes it).
        """
        self._next_generation()
        self.persist()

    # -- life cycle --------------------------------------------------------------------

    def expect_existing(self, reason: str) -> None:
        """
        Lock the uplink if this start looked like a first boot but ``reason`` says it is not.

        The owner knows of an earlier boot (the bridge: its telemetry store counts one): both
        copies of the replay state were lost together, so no floor can be trusted.
        """
        if self._first_boot:
            self._lock(f'replay state missing but {reason}', self._state.epoch + 1)
            self._write_back()

    def reopen(self) -> bool:
        """Try again to open an unavailable sqlite file; return True when available."""
        if self._conn is None:
            self._establish()
        return self._conn is not None

    def close(self) -> None:
        """Persist what is pending (a failure is logged: nothing pending has run), close."""
        try:
            self.persist()
        except ReplayPersistError as err:
            _LOGGER.warning('anti-replay state not persisted at close: %s', err)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._unavailable = 'closed'

    # -- loading -----------------------------------------------------------------------

    def _establish(self) -> None:
        """Read both copies, decide the state (module docstring) and write it back."""
        db_existed = self._path.exists()
        file_existed, file_state = self._read_floor_file()
        try:
            opened = open_state_db(self._path, self._SCHEMA, synchronous=self._synchronous,
                                   busy_timeout_s=self._busy_timeout_s)
        except StateDbUnavailable as err:
            self._set_unavailable(err.cause)
            return
        if opened.moved_aside is not None:
            self._note_moved(self._path.name, opened.moved_aside)
            db_existed = True
        self._conn, self._unavailable = opened.conn, ''
        try:
            db_state = self._read_db()
        except sqlite3.Error as err:
            self._conn.close()
            self._set_unavailable(str(err))
            return
        state, conflict = _reconcile(db_state, file_state)
        if conflict:
            try:
                self._note_moved(self._floor_path.name,
                                 move_aside(self._floor_path, 'disagreeing'))
            except OSError as err:
                _LOGGER.error('floor file %s cannot be moved aside: %s', self._floor_path.name,
                              err)
            self._lock(conflict, max(db_state.epoch, file_state.epoch) + 1)
        elif state is not None:
            self._adopt(state)
            if db_state is None or file_state is None:
                _LOGGER.warning('anti-replay state rebuilt from one copy (%s): floors %s',
                                self._path.name if file_state is None
                                else self._floor_path.name, self._state.floors())
        elif db_existed or file_existed:
            self._lock(f'replay state lost ({self._path.name} '
                       f'{"empty or corrupt" if db_existed else "missing"}, '
                       f'{self._floor_path.name} '
                       f'{"corrupt" if file_existed else "missing"})', 0)
        else:
            self._first_boot = True
            self._adopt(_State(0, os.urandom(CHALLENGE_LEN), False))
        self._write_back()

    def _adopt(self, state: _State) -> None:
        self._state = state
        self._db_dirty = set(state.spis)
        self._meta_dirty = self._file_dirty = True

    def _lock(self, reason: str, epoch: int) -> None:
        """Forget every floor, refuse every SPI until reset, and say why."""
        self._first_boot = False
        self._lock_reason = reason
        self._adopt(_State(epoch, os.urandom(CHALLENGE_LEN), True))
        self._db_wipe = True
        _LOGGER.error('uplink LOCKED: %s; every telecommand is refused until an '
                      'SA-management window reset', reason)

    def _write_back(self) -> None:
        try:
            self.persist()
        except ReplayPersistError as err:
            _LOGGER.warning('anti-replay state not yet written (retried at the next batch; '
                            'telecommands are refused until then): %s', err)

    def _set_unavailable(self, cause: str) -> None:
        self._conn = None
        self._unavailable = f'{self._path.name}: {cause}'
        self._first_boot = False
        _LOGGER.error('anti-replay state unavailable (%s): every telecommand is refused',
                      self._unavailable)

    def _note_moved(self, name: str, moved: Path) -> None:
        self._moved_aside.append(moved)
        _LOGGER.error('%s was corrupt: moved aside to %s', name, moved)

    def _read_db(self) -> Optional[_State]:
        """Return the sqlite copy, or None when it holds no state (new, emptied)."""
        conn = self._conn
        meta = dict(conn.execute('SELECT name, value FROM sa_state').fetchall())
        spis: Dict[int, _SpiState] = {}
        for spi, base in conn.execute('SELECT spi, base FROM replay_floor'):
            spis[spi] = _SpiState(base=None if base is None else _from_sql(base))
        for spi, arsn in conn.execute('SELECT spi, arsn FROM accepted_arsn ORDER BY spi, arsn'):
            spis.setdefault(spi, _SpiState()).window.append(_from_sql(arsn))
        for state in spis.values():
            del state.window[:-self._window]
        if 'epoch' in meta:
            challenge = bytes(meta.get('challenge', b''))
            if len(challenge) != CHALLENGE_LEN:
                raise sqlite3.DatabaseError(f'{self._path.name}: SA challenge damaged')
            return _State(int(meta['epoch']), challenge, bool(meta.get('strict', 0)), spis)
        if spis:
            # A window written before the floor and SA state existed: adopt it as it is.
            return _State(0, os.urandom(CHALLENGE_LEN), False, spis)
        return None

    def _read_floor_file(self) -> Tuple[bool, Optional[_State]]:
        """Return whether the floor file exists and its state if valid (else moved aside)."""
        path = self._floor_path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return False, None
        except OSError as err:
            _LOGGER.error('floor file %s unreadable: %s', path.name, err)
            return True, None
        try:
            return True, _parse_floor_file(raw)
        except ValueError as err:
            _LOGGER.error('floor file %s invalid: %s', path.name, err)
        try:
            self._note_moved(path.name, move_aside(path))
        except OSError as err:
            _LOGGER.error('floor file %s cannot be moved aside: %s', path.name, err)
        return True, None

    # -- writing -----------------------------------------------------------------------

    def _next_generation(self) -> None:
        self._state.epoch += 1
        self._state.challenge = os.urandom(CHALLENGE_LEN)
        self._meta_dirty = self._file_dirty = True

    def _write_db(self) -> None:
        conn, state = self._conn, self._state
        conn.execute('BEGIN IMMEDIATE')
        try:
            if self._db_wipe:
                conn.execute('DELETE FROM accepted_arsn')
                conn.execute('DELETE FROM replay_floor')
            for spi in sorted(self._db_dirty):
                conn.execute('DELETE FROM accepted_arsn WHERE spi = ?', (spi,))
                conn.execute('DELETE FROM replay_floor WHERE spi = ?', (spi,))
                spi_state = state.spis.get(spi)
                if spi_state is None:
                    continue
                conn.executemany('INSERT INTO accepted_arsn (spi, arsn) VALUES (?, ?)',
                                 [(spi, _to_sql(a)) for a in spi_state.window])
                base = None if spi_state.base is None else _to_sql(spi_state.base)
                conn.execute('INSERT INTO replay_floor (spi, base) VALUES (?, ?)', (spi, base))
            if self._meta_dirty:
                conn.executemany('INSERT OR REPLACE INTO sa_state (name, value) VALUES (?, ?)',
                                 [('epoch', state.epoch), ('challenge', state.challenge),
                                  ('strict', int(state.strict))])
            conn.execute('COMMIT')
        except BaseException:
            conn.execute('ROLLBACK')
            raise

    def _write_floor_file(self) -> None:
        state = self._state
        body = {'format': FLOOR_FILE_FORMAT, 'epoch': state.epoch, 'strict': state.strict,
                'challenge': state.challenge.hex(),
                'floors': {str(spi): floor for spi, floor in sorted(state.floors().items())}}
        document = dict(body, sha256=hashlib.sha256(_canonical(body)).hexdigest())
        text = json.dumps(document, sort_keys=True, indent=1) + '\n'
        self._floor_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self._floor_path, text.encode('ascii'))


def write_atomically(path: Path, data: bytes) -> None:
    """
    Replace ``path`` by ``data`` so that a crash leaves the old or the new file, never half.

    Temporary file beside it (mode 0600), fsync, rename over ``path``, fsync the directory
    (without which the rename itself may be lost at a power cut).

    :raises OSError: nothing was replaced (a stale temporary file may remain).
    """
    path = Path(path)
    temporary = path.with_name(path.name + '.tmp')
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(',', ':')).encode('ascii')


def _parse_floor_file(raw: bytes) -> _State:
    """
    Return the state a floor file holds.

    :raises ValueError: not JSON, wrong format, bad checksum or out-of-range fields.
    """
    try:
        document = json.loads(raw.decode('ascii'))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f'not a JSON document: {err}') from None
    if not isinstance(document, dict) or document.get('format') != FLOOR_FILE_FORMAT:
        raise ValueError(f'not a {FLOOR_FILE_FORMAT} document')
    checksum = document.pop('sha256', None)
    if not isinstance(checksum, str) or not constant_time.bytes_eq(
            checksum.encode('ascii', 'replace'),
            hashlib.sha256(_canonical(document)).hexdigest().encode('ascii')):
        raise ValueError('checksum mismatch')
    try:
        epoch, strict = document['epoch'], document['strict']
        challenge = bytes.fromhex(document['challenge'])
        floors = {int(spi): value for spi, value in document['floors'].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f'malformed fields: {err}') from None
    if not isinstance(epoch, int) or epoch < 0 or not isinstance(strict, bool) \
            or len(challenge) != CHALLENGE_LEN \
            or not all(0 <= spi <= SPI_MAX and isinstance(v, int) and 0 <= v <= ARSN_MAX
                       for spi, v in floors.items()):
        raise ValueError('fields out of range')
    return _State(epoch, challenge, strict,
                  {spi: _SpiState(base=floor) for spi, floor in floors.items()})


def _reconcile(db: Optional[_State], floor_file: Optional[_State]
               ) -> Tuple[Optional[_State], str]:
    """
    Return the state the valid copies establish (None: none valid) and a conflict ('' if none).

    The newest generation wins whole; within one generation the copies must agree on the
    challenge and the lock, and each SPI gets the highest floor; a window below the floor
    file's floor is dropped (only ARSNs above that floor pass).
    """
    if db is None or floor_file is None:
        return db or floor_file, ''
    if db.epoch != floor_file.epoch:
        return (db if db.epoch > floor_file.epoch else floor_file), ''
    if not constant_time.bytes_eq(db.challenge, floor_file.challenge) or \
            db.strict != floor_file.strict:
        return None, f'the two copies of generation {db.epoch} disagree'
    merged = db
    for spi, floor in floor_file.floors().items():
        mine = merged.spis.get(spi)
        if mine is None or mine.floor is None or mine.floor < floor:
            merged.spis[spi] = _SpiState(base=floor)
    return merged, ''


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

    @property
    def _arsn_key(self) -> str:
        return f'arsn_{self._spi}'

    def take(self) -> Tuple[int, int]:
        """Return a fresh (ARSN, PUS sequence count) pair, already persisted."""
        arsn_key, seq_key = self._arsn_key, 'tc_seq_count'
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

    def last(self) -> int:
        """Return the highest ARSN this counter may have given out (the clock, if higher)."""
        with self._db.lock:
            row = self._db.conn.execute('SELECT value FROM ground_counters WHERE name = ?',
                                        (self._arsn_key,)).fetchone()
        stored = _from_sql(row[0]) if row is not None else 0
        return max(stored, int(self._clock() * 1000.0))

    def reset_to(self, arsn: int) -> None:
        """
        Make the next :meth:`take` return ``max(arsn + 1, clock in ms)``, even if lower.

        Only after the rover confirmed an SA-management window reset to floor ``arsn``
        (REPLAY_WINDOW_RESET): the two ends then agree again on where ARSNs start.

        :raises ValueError: ``arsn`` is not a 64-bit ARSN below the largest one.
        """
        if not 0 <= arsn < ARSN_MAX:
            raise ValueError(f'ARSN must be in [0, {ARSN_MAX - 1}], got {arsn}')
        with self._db.lock:
            self._db.conn.execute('INSERT OR REPLACE INTO ground_counters (name, value) '
                                  'VALUES (?, ?)', (self._arsn_key, _to_sql(arsn)))

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def _to_sql(arsn: int) -> int:
    """Map an unsigned 64-bit ARSN onto sqlite's signed 64-bit INTEGER, preserving order."""
    return arsn - (1 << 63)


def _from_sql(value: int) -> int:
    return value + (1 << 63)
