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
What both CFDP ends share: decoding and routing checks, the outbound queue, counters, results.

Each end (:class:`~rover_link.cfdp.sender.FileSender`,
:class:`~rover_link.cfdp.receiver.FileReceiver`) owns one :class:`Endpoint`: it counts every
PDU in and out, turns undecodable bytes into a count instead of an exception, and hands out
PDUs under a byte budget so a bandwidth scheduler can give CFDP only what telemetry left.
"""

from collections import deque
from dataclasses import replace
import logging
import math
from typing import Callable, Deque, List, Optional, Tuple, Union

from cfdppy.handler import DestHandler, SourceHandler
from rover_link.cfdp.config import CfdpConfig
from rover_link.cfdp.engine import MALFORMED
from rover_link.cfdp.results import CfdpCounters, TransferOutcome, TransferResult
from spacepackets.cfdp import ConditionCode, PduFactory
from spacepackets.cfdp.pdu import EofPdu, MetadataPdu


_LOGGER = logging.getLogger(__name__)

HISTORY_LEN = 4096
"""Ended transactions remembered to recognise their late and duplicated PDUs."""


class IntervalSet:
    """Union of half-open byte ranges, for progress accounting."""

    def __init__(self) -> None:
        self._ranges: List[Tuple[int, int]] = []

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        merged = []
        for low, high in self._ranges:
            if high < start or low > end:
                merged.append((low, high))
            else:
                start, end = min(start, low), max(end, high)
        merged.append((start, end))
        self._ranges = sorted(merged)

    @property
    def total(self) -> int:
        return sum(high - low for low, high in self._ranges)


class Endpoint:
    """What both ends share: decoding, the outbound queue, counters and results."""

    def __init__(self, local_id: int, remote_id: int, config: CfdpConfig,
                 refill: Callable[[], None] = lambda: None) -> None:
        if local_id == remote_id:
            raise ValueError(f'local and remote entity ids must differ, both are {local_id}')
        self.config = config
        self.local_id = local_id
        self.remote_id = remote_id
        self._counters = CfdpCounters()
        self._outbound: Deque[bytes] = deque()
        self._results: List[TransferResult] = []
        self._refill = refill
        self._now = 0.0

    @property
    def counters(self) -> CfdpCounters:
        """Return a snapshot of the counters."""
        return replace(self._counters)

    @property
    def queued_bytes(self) -> int:
        """Bytes of PDUs generated and waiting for :meth:`drain`."""
        return sum(len(pdu) for pdu in self._outbound)

    def pop_results(self) -> List[TransferResult]:
        """Return and forget the completion indications since the last call."""
        results, self._results = self._results, []
        return results

    def drain(self, max_bytes: Optional[int] = None) -> List[bytes]:
        """
        Return the PDUs to send now, at most ``max_bytes`` in total (None: no limit).

        File data is produced on demand, so an unlimited drain on the sender returns the whole
        remaining file; a limited one leaves the rest for later calls.
        """
        pdus = []
        budget = math.inf if max_bytes is None else max_bytes
        while True:
            if not self._outbound:
                self._refill()
                if not self._outbound:
                    break
            if len(self._outbound[0]) > budget:
                break
            pdu = self._outbound.popleft()
            budget -= len(pdu)
            pdus.append(pdu)
            self._counters.pdus_sent += 1
            self._counters.bytes_sent += len(pdu)
        return pdus

    def _decode(self, data: bytes, now: float) -> Optional[object]:
        """Count and decode ``data``; return the PDU or None (counted) if unusable."""
        self._now = now
        self._counters.pdus_received += 1
        self._counters.bytes_received += len(data)
        try:
            pdu = PduFactory.from_raw(bytes(data))
            if isinstance(pdu, MetadataPdu):
                # The names are decoded lazily: bad UTF-8 would raise inside cfdp-py.
                _ = (pdu.source_file_name, pdu.dest_file_name)
        except MALFORMED:
            pdu = None
        if pdu is None:
            self._counters.malformed += 1
            return None
        if isinstance(pdu, EofPdu) and pdu.condition_code > 0x0F:
            # spacepackets 0.32.0 unpacks the EOF condition code without shifting it down
            # (EOF(cancel) reads 240, not 15), which makes cfdp-py fail packing its replies.
            try:
                pdu.condition_code = ConditionCode(pdu.condition_code >> 4)
            except ValueError:
                self._counters.malformed += 1
                return None
        if pdu.source_entity_id.value not in (self.local_id, self.remote_id) or \
                pdu.dest_entity_id.value not in (self.local_id, self.remote_id):
            self._counters.misrouted += 1
            return None
        return pdu

    def _queue_pdus(self, handler: Union[SourceHandler, DestHandler]) -> None:
        while True:
            holder = handler.get_next_packet()
            if holder is None:
                return
            self._outbound.append(bytes(holder.pdu.pack()))

    def _finish(self, result: TransferResult) -> None:
        self._results.append(result)
        if result.outcome is TransferOutcome.DELIVERED:
            self._counters.transfers_delivered += 1
        elif result.outcome is TransferOutcome.FAILED:
            self._counters.transfers_failed += 1
        else:
            self._counters.transfers_abandoned += 1
        log = _LOGGER.info if result.outcome is TransferOutcome.DELIVERED else _LOGGER.warning
        log('CFDP transaction %d (%s) %s: %s, %s', result.transaction_seq, result.dest_name,
            result.outcome.value, result.condition.name, result.reason)
