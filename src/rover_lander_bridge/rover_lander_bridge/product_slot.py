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
The product store, or why it is unavailable, and the thread that keeps trying to open it.

A locked, unreadable or misplaced product store must never stop the rover: drive, safing and
the link do not need it. :class:`ProductSlot` opens the store once at start; when that fails
it keeps the reason (logged, naming the path) and retries in its own thread every
``retry_interval`` seconds, so the bridge loop never waits for an open (a store recovery can
hash many files). Once the store opens, the callback given to :meth:`ProductSlot.retry`
hands it over (the bridge then reports STORE_AVAILABLE).

The slot also stands in for the store where the standalone rover's cameras and shovel write
(``put``, ``put_with_thumbnail``, ``get``): while the store is unavailable those raise
:class:`~rover_common.product_store.StoreUnavailable`, which they already report as a failed
capture or sample, with the reason.
"""

import logging
from pathlib import Path
import sqlite3
import threading
from typing import Any, Callable, Mapping, Optional, Tuple

from rover_common.product_store import (Product, ProductKind, ProductStore,
                                        StoreUnavailable)
from rover_common.state_db import BUSY_TIMEOUT_S

_LOGGER = logging.getLogger(__name__)


class ProductSlot:
    """
    Where the product store is, whether it is open, and its retries.

    :param root: store directory.
    :param budget_bytes: disk budget of the store.
    :param retry_interval: seconds between attempts while it is unavailable.
    :param busy_timeout_s: the store's sqlite busy timeout (short: the bridge loop reads it).
    """

    def __init__(self, root: Path, *, budget_bytes: int, retry_interval: float = 30.0,
                 busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        if not retry_interval > 0.0:
            raise ValueError(f'retry_interval must be > 0 s, got {retry_interval}')
        self._root = Path(root)
        self._budget = budget_bytes
        self._retry_interval = retry_interval
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._store: Optional[ProductStore] = None
        self._owns_store = True
        self._problem = 'not opened yet'
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @classmethod
    def holding(cls, store: ProductStore) -> 'ProductSlot':
        """Return a slot around a store its caller opened (and closes)."""
        slot = cls(store.root, budget_bytes=store.budget_bytes)
        slot._store = store
        slot._owns_store = False
        slot._problem = ''
        return slot

    @property
    def root(self) -> Path:
        """Return the store directory."""
        return self._root

    @property
    def store(self) -> Optional[ProductStore]:
        """Return the open store, or None while it is unavailable."""
        with self._lock:
            return self._store

    @property
    def problem(self) -> str:
        """Return why the store is unavailable ('' once open)."""
        with self._lock:
            return self._problem

    def try_open(self) -> Optional[ProductStore]:
        """Try to open the store now; return it, or None (the reason is in :attr:`problem`)."""
        with self._lock:
            if self._store is not None:
                return self._store
        try:
            store = ProductStore(self._root, budget_bytes=self._budget,
                                 busy_timeout_s=self._busy_timeout_s)
        except (StoreUnavailable, OSError, sqlite3.Error) as err:
            with self._lock:
                self._problem = f'{type(err).__name__}: {err}'
            _LOGGER.error('product store %s is unavailable, running without it: %s',
                          self._root, self._problem)
            return None
        with self._lock:
            self._store, self._problem = store, ''
        return store

    def retry(self, on_open: Callable[[ProductStore], None]) -> None:
        """Keep trying to open the store in a thread; call ``on_open(store)`` when it opens."""
        if self.store is not None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._retry_loop, args=(on_open,),
                                        name='product-store-retry', daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop retrying and close the store if this slot opened it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)
        with self._lock:
            store, self._store = self._store, None
            self._problem = 'closed'
        if store is not None and self._owns_store:
            store.close()

    # -- the store's writing API, for the cameras and the shovel -------------------------

    def put(self, data: bytes, *, kind: ProductKind, suffix: str, stamp: float,
            camera: str = '', metadata: Optional[Mapping[str, Any]] = None,
            related_id: str = '') -> Product:
        """Store one product (see ProductStore.put); StoreUnavailable while unavailable."""
        return self._open_store().put(data, kind=kind, suffix=suffix, stamp=stamp,
                                      camera=camera, metadata=metadata, related_id=related_id)

    def put_with_thumbnail(self, data: bytes, thumbnail: bytes, **kwargs: Any
                           ) -> Tuple[Product, Product]:
        """Store a product and its thumbnail (see ProductStore.put_with_thumbnail)."""
        return self._open_store().put_with_thumbnail(data, thumbnail, **kwargs)

    def get(self, product_id: str) -> Product:
        """Return a catalog entry (see ProductStore.get)."""
        return self._open_store().get(product_id)

    def _open_store(self) -> ProductStore:
        with self._lock:
            if self._store is None:
                raise StoreUnavailable(self._root.name, f'unavailable: {self._problem}',
                                       self._root)
            return self._store

    def _retry_loop(self, on_open: Callable[[ProductStore], None]) -> None:
        while not self._stop.wait(self._retry_interval):
            store = self.try_open()
            if store is not None:
                _LOGGER.warning('product store %s opened on retry', self._root)
                on_open(store)
                return
