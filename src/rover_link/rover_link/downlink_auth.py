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
Authenticated downlink: its own key, never-repeating sequence numbers, the ground's window.

Why each part (frame layout in :mod:`rover_link.framing`):

* **A key per direction.** The uplink and downlink frames have the same shape, so with one
  key a frame the ground sent could be reflected back to it as telemetry. The downlink key
  is HKDF-SHA256 (RFC 5869) of the key file's key with the info ``b'rover downlink'``
  (:meth:`~rover_link.security.MacEngine.derive`, as for the SA-management key), so
  rover and ground need nothing but the key file; the uplink key and frames are unchanged.
* **Sequence numbers that never repeat** (:class:`DownlinkSequence`): blocks of numbers are
  reserved in the telemetry store before they are used, so a crash skips numbers but never
  reuses one; the first number of a run is also never below the rover's clock in
  microseconds, so a lost, replaced or power-cut store (it commits with
  ``synchronous=NORMAL``) still starts above every number sent before (like the ground's
  ARSN, which never goes below its clock in milliseconds). Only both faults at once, the
  store lost *and* the clock set back, could go below; the ground then refuses the frames as
  replays, and a ground started with a new window file hears the rover again.
* **The ground's window** (:class:`DownlinkWindow`): the rule of the rover's uplink window.
  A number is accepted once, and only if it is above the lowest of the ``size`` highest
  accepted so far, so link reordering within ``size`` frames passes and replays do not. With
  a file, the highest accepted number is committed before the frame is read, so a restarted
  ground refuses every frame an earlier session accepted (``synchronous=NORMAL``: a killed
  ground loses nothing, a power cut at most its last commits).
"""

import bisect
from pathlib import Path
import sqlite3
from typing import Dict, List, Mapping, Optional, Protocol

from rover_common.state_db import open_state_db, StateDbUnavailable
from rover_link.framing import protect_downlink
from rover_link.security import MacEngine, ReplayError

#: HKDF info of the downlink key.
DOWNLINK_KEY_INFO = b'rover downlink'
#: The telemetry-store counter holding the first number not yet reserved.
RESERVED_COUNTER = 'downlink_dsn_reserved'
#: Numbers reserved per store write (one write per this many frames).
DEFAULT_BLOCK = 1024
#: Accepted numbers the ground remembers per SPI: how far the link may reorder frames.
DEFAULT_WINDOW = 1024
#: The rover's numbers stay below 2**63 so that the store's signed INTEGER holds them.
DSN_LIMIT = 1 << 63
_SQL_OFFSET = 1 << 63
_WINDOW_SCHEMA = ('CREATE TABLE IF NOT EXISTS downlink_window ('
                  'spi INTEGER PRIMARY KEY, highest INTEGER NOT NULL);')


class CounterStore(Protocol):
    """
    Where the rover keeps its downlink reservation: its telemetry store.

    The rover's :class:`~rover_lander_bridge.tm_store.TmStore` is one; it lives in the flight
    package, so this library names only the two methods it needs.
    """

    def counter(self, name: str, default: int = 0) -> int:
        """Return the persisted counter ``name`` (``default`` if it was never saved)."""

    def put(self, items: list, counters: Optional[Mapping[str, int]] = None) -> int:
        """Save ``counters`` (and packets ``items``) in one committed transaction."""


def derive_downlink_mac(uplink: MacEngine, spi: int) -> MacEngine:
    """
    Return the MAC engine of the downlink key of ``spi`` (same SPI), derived from its key.

    :raises ValueError: ``uplink`` has no key for ``spi``.
    """
    if not uplink.knows(spi):
        raise ValueError(f'no key for SPI {spi}')
    return uplink.derive(spi, DOWNLINK_KEY_INFO, as_spi=spi)


class DownlinkSequence:
    """
    The rover's downlink sequence numbers (DSN): increasing, never repeated across restarts.

    :param store: the telemetry store, whose counters keep the reservation.
    :param utc: the rover's UTC now, s; the first number is at least this in microseconds.
    :param block: numbers reserved per store write.
    """

    def __init__(self, store: CounterStore, *, utc: float, block: int = DEFAULT_BLOCK) -> None:
        if block < 1:
            raise ValueError(f'block must be >= 1, got {block}')
        self._store = store
        self._block = block
        self._next = max(store.counter(RESERVED_COUNTER), int(utc * 1e6))
        self._limit = self._next

    def take(self) -> int:
        """
        Return the next number; a new block is committed to the store before its first use.

        :raises sqlite3.Error: the store could not be written (no number is used up).
        :raises OverflowError: the numbers are exhausted (after 2**63: rekey).
        """
        if self._next >= self._limit:
            limit = self._next + self._block
            if limit > DSN_LIMIT:
                raise OverflowError('downlink sequence numbers exhausted; rekey the link')
            self._store.put([], {RESERVED_COUNTER: limit})
            self._limit = limit
        dsn = self._next
        self._next += 1
        return dsn


class DownlinkSealer:
    """
    Turns the packets of one downlink frame into a sealed frame (the rover's side).

    :param uplink: the uplink MAC engine; the downlink key of ``spi`` is derived from it.
    :param spi: the security association of the downlink.
    :param store: the telemetry store keeping the sequence number reservation.
    :param utc: the rover's UTC now, s.
    """

    def __init__(self, uplink: MacEngine, spi: int, store: CounterStore, *, utc: float) -> None:
        self._mac = derive_downlink_mac(uplink, spi)
        self._spi = spi
        self._sequence = DownlinkSequence(store, utc=utc)

    def seal(self, packets: bytes) -> bytes:
        """Return the downlink frame of ``packets`` with a fresh sequence number."""
        return protect_downlink(self._mac, self._spi, self._sequence.take(), packets)


class DownlinkWindow:
    """
    The ground's anti-replay window over downlink sequence numbers, per SPI.

    :param size: accepted numbers remembered per SPI (the link's reordering tolerance).
    :param path: sqlite file keeping each SPI's highest accepted number (None: memory only,
        so a restarted ground accepts again frames an earlier session accepted).
    :param busy_timeout_s: longest wait for another process's lock on ``path``.
    :raises rover_common.state_db.StateDbUnavailable: ``path`` cannot be used now.
    """

    def __init__(self, *, size: int = DEFAULT_WINDOW, path: Optional[Path] = None,
                 busy_timeout_s: float = 1.0) -> None:
        if size < 1:
            raise ValueError(f'size must be >= 1, got {size}')
        self._size = size
        self._path = Path(path) if path is not None else None
        self._accepted: Dict[int, List[int]] = {}
        self._floor: Dict[int, int] = {}
        self._conn: Optional[sqlite3.Connection] = None
        self.moved_aside: Optional[Path] = None
        """Where a corrupt window file was moved at opening (its floor is then lost)."""
        if self._path is not None:
            opened = open_state_db(self._path, _WINDOW_SCHEMA, synchronous='NORMAL',
                                   busy_timeout_s=busy_timeout_s)
            self._conn, self.moved_aside = opened.conn, opened.moved_aside
            rows = self._conn.execute('SELECT spi, highest FROM downlink_window').fetchall()
            self._floor = {int(spi): int(highest) + _SQL_OFFSET for spi, highest in rows}

    def accept(self, spi: int, dsn: int) -> None:
        """
        Accept ``dsn`` of ``spi`` or raise; a new highest number is committed first.

        :raises ReplayError: accepted before, older than the window, or not above the highest
            number accepted before this window was opened.
        :raises rover_common.state_db.StateDbUnavailable: the new highest could not be
            saved (the frame is not accepted).
        """
        floor = self._floor.get(spi)
        if floor is not None and dsn <= floor:
            raise ReplayError(f'DSN {dsn} of SPI {spi} is not above {floor}, the highest '
                              f'accepted before this ground started')
        values = self._accepted.setdefault(spi, [])
        index = bisect.bisect_left(values, dsn)
        if index < len(values) and values[index] == dsn:
            raise ReplayError(f'DSN {dsn} of SPI {spi} was accepted before')
        if len(values) >= self._size and index == 0:
            raise ReplayError(f'DSN {dsn} of SPI {spi} is older than the anti-replay window '
                              f'(lowest kept {values[0]})')
        if not values or dsn > values[-1]:
            self._save(spi, dsn)
        values.insert(index, dsn)
        if len(values) > self._size:
            del values[0]

    def close(self) -> None:
        """Close the file, if any."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _save(self, spi: int, highest: int) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute('INSERT OR REPLACE INTO downlink_window (spi, highest) '
                               'VALUES (?, ?)', (spi, highest - _SQL_OFFSET))
        except sqlite3.Error as err:
            raise StateDbUnavailable(self._path, f'cannot save the downlink window: {err}') \
                from err
