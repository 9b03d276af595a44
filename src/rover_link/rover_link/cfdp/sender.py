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
The rover's CFDP source entity: queued product files down, one transaction at a time.

Transactions outlive a restart (the queue is :mod:`rover_link.cfdp.downlink_queue`).
cfdp-py 0.7.0 has no suspend/resume, but class 2 needs none to resume: a restarted
:class:`FileSender` re-enters the interrupted transaction under its persisted sequence number,
sends the Metadata PDU and, without re-sending any file data, the EOF PDU (file size and
checksum of the whole file). To the receiver, still in the transaction, that is an ordinary
EOF after lost file data: its deferred NAK asks for exactly the byte ranges it lacks, the
sender re-sends only those, and the receiver verifies the checksum of the whole file as
always. A resumption is not a new attempt (``max_attempts``). If the receiver had closed the
transaction meanwhile, it answers the EOF with ACK(EOF, TERMINATED) and the Finished PDU it
ended with: a delivered file is then reported delivered (nothing re-sent), otherwise the
sender starts a new transaction from byte 0, still without using an attempt.

The Metadata PDU is sent ``metadata_copies`` times, so losing it (which makes cfdp-py discard
the data that arrives before it) is rare. Workaround 2 (:mod:`rover_link.cfdp.workarounds`)
lives here.
"""

from collections import deque
from dataclasses import dataclass, field
import logging
from pathlib import Path
from typing import Deque, Dict, List, Optional, Sequence, Tuple, Union

from cfdppy import CfdpState, IndicationConfig, LocalEntityConfig, PacketDestination
from cfdppy import PutRequest, RemoteEntityConfigTable
from cfdppy.exceptions import SourceFileDoesNotExist
from cfdppy.filestore import NativeFilestore
from cfdppy.handler import SourceTransactionStep
from rover_link.cfdp.config import CfdpConfig
from rover_link.cfdp.downlink_queue import DownlinkQueue, DownlinkRecord, DownlinkState
from rover_link.cfdp.downlink_queue import DownlinkTc
from rover_link.cfdp.endpoint import Endpoint, HISTORY_LEN, IntervalSet
from rover_link.cfdp.engine import (
    AssignedSeqCount, CheckTimers, destination_of, engine_time, entity, FaultRecorder, FOREIGN,
    OUT_OF_STATE, Recorder, remote_config, ResumableSourceHandler,
)
from rover_link.cfdp.results import (CfdpCounters, Resumption, TransferOutcome,
                                     TransferProgress, TransferResult)
from rover_link.cfdp.workarounds import Cfdp070Workarounds
from spacepackets.cfdp import ConditionCode, PduFactory, TransmissionMode
from spacepackets.cfdp.pdu import (AckPdu, DeliveryCode, DirectiveType, FinishedPdu, NakPdu,
                                   TransactionStatus)
from spacepackets.cfdp.pdu.finished import FinishedParams


_LOGGER = logging.getLogger(__name__)


@dataclass
class _Sending:
    record: DownlinkRecord
    seq: int
    last_rx: float
    size: int
    attempts: int
    """Attempts of the request used so far, this one included."""
    resumed: bool = False
    """The transaction was re-entered after a restart (no file data sent before NAKs)."""
    metadata_sent: bool = False
    closed_ack: Optional[AckPdu] = None
    """Resumed: the receiver's ACK(EOF, TERMINATED), held until its Finished PDU arrives."""
    confirmed: IntervalSet = field(default_factory=IntervalSet)
    finished: Optional[FinishedParams] = None
    faults: List[Tuple[ConditionCode, str]] = field(default_factory=list)


class FileSender:
    """
    The rover's CFDP source entity: sends queued product files, one transaction at a time.

    Requests, the telecommands waiting on them and the transaction in work are persisted (see
    :class:`~rover_link.cfdp.downlink_queue.DownlinkQueue`), so a restarted bridge resumes an
    interrupted transfer where the receiver stands (module docstring). Not thread-safe: call it
    from one thread.
    """

    def __init__(self, queue_path: Union[str, Path], *, local_entity_id: int,
                 remote_entity_id: int, config: CfdpConfig = CfdpConfig(),
                 max_attempts: int = 3, retry_delay_s: float = 30.0,
                 workarounds: Cfdp070Workarounds = Cfdp070Workarounds()) -> None:
        """
        Open the queue at ``queue_path`` and recover transfers a killed process left active.

        :param max_attempts: transfer attempts per request before it is marked failed (a
            restart does not use one).
        :param retry_delay_s: wait before retrying a failed attempt, s.
        :param workarounds: only tests proving one is still needed turn it off.
        :raises rover_common.state_db.StateDbUnavailable: the queue file cannot be used now (a
            corrupt one is moved aside instead, see :attr:`moved_aside`).
        """
        if max_attempts < 1:
            raise ValueError(f'max_attempts must be >= 1, got {max_attempts}')
        if retry_delay_s < 0.0:
            raise ValueError(f'retry_delay_s must be >= 0 s, got {retry_delay_s}')
        self._endpoint = Endpoint(local_entity_id, remote_entity_id, config, self._refill)
        self._config = config
        self._max_attempts = max_attempts
        self._retry_delay_s = retry_delay_s
        self._workarounds = workarounds
        self._queue = DownlinkQueue(queue_path)
        self.recovered: List[DownlinkRecord] = self._queue.recover_interrupted()
        """Requests that were active when the previous process died; they resume first."""
        self._recorder = Recorder(NativeFilestore())
        self._seq = AssignedSeqCount()
        self._handler = ResumableSourceHandler(
            cfg=LocalEntityConfig(entity(local_entity_id), IndicationConfig(),
                                  FaultRecorder(self._recorder)),
            user=self._recorder,
            remote_cfg_table=RemoteEntityConfigTable([remote_config(remote_entity_id, config)]),
            check_timer_provider=CheckTimers(config.nak_timer_s), seq_num_provider=self._seq)
        self._sending: Optional[_Sending] = None
        self._closed_transactions: Deque[int] = deque(maxlen=HISTORY_LEN)
        self._not_before: Dict[int, float] = {}
        self._resumptions: List[Resumption] = []
        self._results_of_ended_unreported()

    # Public API ---------------------------------------------------------------------------
    @property
    def counters(self) -> CfdpCounters:
        """Return a snapshot of the counters."""
        return self._endpoint.counters

    @property
    def queued_bytes(self) -> int:
        """Bytes of PDUs generated and waiting for :meth:`drain`."""
        return self._endpoint.queued_bytes

    @property
    def busy(self) -> bool:
        """Whether a transaction is in work."""
        return self._sending is not None

    @property
    def moved_aside(self) -> Optional[Path]:
        """Where a corrupt queue file found at opening was moved (None: it was fine)."""
        return self._queue.moved_aside

    def enqueue(self, source: Union[str, Path], dest_name: str, priority: int = 0,
                tc: Optional[DownlinkTc] = None) -> int:
        """
        Persist a request to send ``source`` as ``dest_name``; return its id.

        Higher ``priority`` goes first (e.g. thumbnails above full images). ``tc``, the
        telecommand that asked for it, is persisted with it in one transaction: after a
        restart :meth:`pending_tcs` returns it until :meth:`mark_tcs_reported`.

        :raises InvalidDownlinkRequest: missing source or unsafe destination name.
        """
        return self._queue.enqueue(source, dest_name, priority, tc)

    def requests(self) -> List[DownlinkRecord]:
        """Every request ever queued, with its state."""
        return self._queue.records()

    def pending_tcs(self) -> List[Tuple[int, DownlinkTc]]:
        """
        Return (downlink id, telecommand) of every request whose end was not yet reported.

        The ends that happened before a restart are among the next :meth:`pop_results`.
        """
        return [(record.downlink_id, tc) for record, tc in self._queue.unreported_tcs()]

    def set_tc_step(self, downlink_id: int, step: int) -> None:
        """Persist the progress step last reported to a request's telecommand."""
        self._queue.set_tc_step(downlink_id, step)

    def mark_tcs_reported(self, downlink_ids: Sequence[int]) -> None:
        """Persist that the end of these requests reached their telecommands' reports."""
        self._queue.mark_tcs_reported(downlink_ids)

    def pop_resumptions(self) -> List[Resumption]:
        """Return and forget the interrupted transfers taken up since the last call."""
        resumptions, self._resumptions = self._resumptions, []
        return resumptions

    def cancel(self, downlink_id: int, now: float) -> bool:
        """
        Cancel a queued or active request; return False if it is neither.

        An active transfer is cancelled the CFDP way (EOF(cancel) to the receiver).
        """
        self._endpoint._now = now
        record = self._queue.get(downlink_id)
        if record is None or record.state not in (DownlinkState.QUEUED, DownlinkState.ACTIVE):
            return False
        if self._sending is not None and self._sending.record.downlink_id == downlink_id:
            transaction_id = self._handler.transaction_id
            with engine_time(now):
                self._handler.cancel_request(transaction_id)
            self._after_step()
            return True
        self._queue.mark_done(downlink_id, DownlinkState.FAILED, 'cancelled by operator')
        return True

    @property
    def progress(self) -> Optional[TransferProgress]:
        """Progress of the transfer in work, or None."""
        if self._sending is None:
            return None
        size = self._handler.file_size
        return TransferProgress(
            transaction_seq=self._sending.seq, dest_name=self._sending.record.dest_name,
            transferred_bytes=self._handler.progress,
            confirmed_bytes=self._sending.confirmed.total, total_bytes=size)

    def pop_results(self) -> List[TransferResult]:
        """Return and forget the completion indications since the last call."""
        return self._endpoint.pop_results()

    def on_pdu(self, data: bytes, now: float) -> None:
        """Take one received PDU (Finished, NAK, ACK of EOF); never raises on bad input."""
        pdu = self._endpoint._decode(data, now)
        if pdu is None:
            return
        counters = self._endpoint._counters
        if destination_of(pdu) is not PacketDestination.SOURCE_HANDLER:
            counters.misrouted += 1
            return
        seq = pdu.transaction_seq_num.value
        sending = self._sending
        if sending is None or seq != sending.seq:
            if isinstance(pdu, FinishedPdu) and seq in self._closed_transactions \
                    and self._workarounds.reack_duplicate_finished:
                self._endpoint._outbound.append(bytes(AckPdu(
                    pdu.pdu_header.pdu_conf, DirectiveType.FINISHED_PDU, pdu.condition_code,
                    TransactionStatus.TERMINATED).pack()))
                counters.finished_reacked += 1
            elif isinstance(pdu, FinishedPdu) and not self._workarounds.reack_duplicate_finished:
                # What cfdp-py 0.7.0 does with it (it raises): kept so a test notices when an
                # upstream release starts answering it itself.
                self._step(pdu)
            else:
                counters.stale += 1
            return
        sending.last_rx = now
        if isinstance(pdu, NakPdu):
            if not self._nak_is_sane(pdu):
                counters.out_of_state += 1
                return
            self._confirm_from_nak(pdu)
        elif isinstance(pdu, AckPdu) and sending.resumed \
                and pdu.directive_code_of_acked_pdu == DirectiveType.EOF_PDU \
                and pdu.transaction_status != TransactionStatus.ACTIVE:
            # The receiver had closed the transaction before we resumed it; its Finished PDU
            # says how. Held back, cfdp-py keeps repeating the EOF, and the receiver its
            # answer, until that Finished PDU is in.
            sending.closed_ack = pdu
            return
        elif isinstance(pdu, FinishedPdu) and sending.closed_ack is not None \
                and self._handler.step == SourceTransactionStep.WAITING_FOR_EOF_ACK:
            self._step(sending.closed_ack)
        self._step(pdu)

    def poll(self, now: float) -> None:
        """Run the timers, start the next queued transfer when idle, detect a silent peer."""
        self._endpoint._now = now
        if self._sending is not None:
            self._step(None)
        self._check_inactivity(now)
        if self._sending is None:
            self._start_next(now)

    def drain(self, max_bytes: Optional[int] = None) -> List[bytes]:
        """Return the PDUs to send now, at most ``max_bytes`` (see :meth:`Endpoint.drain`)."""
        return self._endpoint.drain(max_bytes)

    def close(self) -> None:
        """Close the queue database (active transfers resume at the next start)."""
        self._queue.close()

    # Internals ----------------------------------------------------------------------------
    def _results_of_ended_unreported(self) -> None:
        """Queue the results of requests that ended before a restart but were not reported."""
        for record, _ in self._queue.unreported_tcs():
            if record.state not in (DownlinkState.DELIVERED, DownlinkState.FAILED):
                continue
            delivered = record.state is DownlinkState.DELIVERED
            condition = ConditionCode.__members__.get(
                record.condition or '', ConditionCode.NO_ERROR if delivered
                else ConditionCode.CANCEL_REQUEST_RECEIVED)
            self._endpoint._results.append(TransferResult(
                transaction_seq=-1 if record.transaction_seq is None else record.transaction_seq,
                dest_name=record.dest_name,
                outcome=TransferOutcome.DELIVERED if delivered else TransferOutcome.FAILED,
                condition=condition, file_complete=delivered, size=record.source_size,
                path=record.source,
                reason='' if delivered else f'{record.condition} (before a restart)',
                downlink_id=record.downlink_id))

    def _start_next(self, now: float) -> None:
        exclude = [i for i, t in self._not_before.items() if t > now]
        record = self._queue.next_queued(exclude)
        if record is None:
            return
        self._not_before.pop(record.downlink_id, None)
        try:
            size = record.source.stat().st_size
        except OSError as error:
            self._source_unreadable(record, error)
            return
        resume = record.interrupted and record.transaction_seq is not None \
            and record.source_size == size
        # Committed before the engine starts: a kill from here on resumes this transaction.
        seq = record.transaction_seq if resume else self._queue.next_transaction_seq()
        self._queue.mark_active(record.downlink_id, seq, size, new_attempt=not record.interrupted)
        request = PutRequest(
            destination_id=entity(self._endpoint.remote_id), source_file=record.source,
            dest_file=Path(record.dest_name), trans_mode=TransmissionMode.ACKNOWLEDGED,
            closure_requested=True)
        self._seq.assign(seq)
        self._handler.resume = resume
        try:
            with engine_time(now):
                self._handler.put_request(request)
                self._handler.state_machine()
        except (SourceFileDoesNotExist, OSError) as error:
            self._handler.reset()
            self._source_unreadable(record, error)
            return
        self._sending = _Sending(record=record, seq=seq, last_rx=now,
                                 size=self._handler.file_size,
                                 attempts=record.attempts + (0 if record.interrupted else 1),
                                 resumed=resume)
        if record.interrupted:
            self._note_resumption(record, seq, resume, size)
        self._after_step()

    def _note_resumption(self, record: DownlinkRecord, seq: int, resume: bool,
                         size: int) -> None:
        if resume:
            reason = f'transaction {seq} resumed; the receiver asks for what it lacks'
        elif record.transaction_seq is None:
            reason = record.condition or 'the previous transaction is closed'
        else:
            reason = f'source size changed from {record.source_size} B to {size} B'
        self._resumptions.append(Resumption(
            downlink_id=record.downlink_id, dest_name=record.dest_name, transaction_seq=seq,
            from_start=not resume, reason=reason))
        _LOGGER.info('downlink %d (%s) after a restart: %s', record.downlink_id,
                     record.dest_name, reason)

    def _source_unreadable(self, record: DownlinkRecord, error: OSError) -> None:
        self._queue.mark_done(record.downlink_id, DownlinkState.FAILED,
                              f'source unreadable: {error}')
        self._endpoint._finish(TransferResult(
            transaction_seq=-1, dest_name=record.dest_name, outcome=TransferOutcome.FAILED,
            condition=ConditionCode.FILESTORE_REJECTION, file_complete=False, size=None,
            path=record.source, reason=f'source unreadable: {error}',
            downlink_id=record.downlink_id))

    def _refill(self) -> None:
        if self._sending is not None and self._handler.step in (
                SourceTransactionStep.SENDING_METADATA, SourceTransactionStep.SENDING_FILE_DATA,
                SourceTransactionStep.SENDING_EOF, SourceTransactionStep.RETRANSMITTING):
            self._step(None)

    def _step(self, pdu: Optional[object]) -> None:
        counters = self._endpoint._counters
        try:
            with engine_time(self._endpoint._now):
                self._handler.state_machine(pdu)
        except FOREIGN:
            counters.misrouted += 1
        except OUT_OF_STATE:
            counters.out_of_state += 1
        except (SourceFileDoesNotExist, OSError) as error:
            self._abandon(ConditionCode.FILESTORE_REJECTION, f'source unreadable: {error}')
        self._after_step()

    def _after_step(self) -> None:
        sending = self._sending
        seen = self._recorder.take()
        if sending is not None:
            sending.faults.extend(seen.faults)
            for finished in seen.finished:
                sending.finished = finished.finished_params
        before = len(self._endpoint._outbound)
        self._endpoint._queue_pdus(self._handler)
        if sending is not None and not sending.metadata_sent:
            self._repeat_metadata(before)
        if sending is not None and self._handler.state == CfdpState.IDLE:
            self._complete()

    def _repeat_metadata(self, first_new: int) -> None:
        outbound = self._endpoint._outbound
        for index in range(first_new, len(outbound)):
            if PduFactory.pdu_directive_type(outbound[index]) == DirectiveType.METADATA_PDU:
                for _ in range(self._config.metadata_copies - 1):
                    outbound.insert(index + 1, outbound[index])
                self._sending.metadata_sent = True
                return

    def _nak_is_sane(self, nak: NakPdu) -> bool:
        # cfdp-py 0.7.0 only checks that a request starts within the bytes sent: a request
        # ending far beyond the file would make it emit empty file-data PDUs up to that end.
        size = self._sending.size
        return all(low <= high <= size for low, high in nak.segment_requests)

    def _confirm_from_nak(self, nak: NakPdu) -> None:
        # A deferred NAK lists every gap inside its scope: the rest of the scope has arrived.
        start = nak.start_of_scope
        for low, high in sorted(r for r in nak.segment_requests if r != (0, 0)):
            self._sending.confirmed.add(start, low)
            start = max(start, high)
        self._sending.confirmed.add(start, nak.end_of_scope)

    def _check_inactivity(self, now: float) -> None:
        # cfdp-py has no timer while waiting for the Finished PDU (the receiver repeats it):
        # if nothing at all arrives for inactivity_s, the receiver is gone.
        if self._sending is not None \
                and self._handler.step == SourceTransactionStep.WAITING_FOR_FINISHED \
                and now - self._sending.last_rx > self._config.inactivity_s:
            self._abandon(ConditionCode.INACTIVITY_DETECTED,
                          f'no PDU from the receiver for {self._config.inactivity_s:g} s')

    def _abandon(self, condition: ConditionCode, reason: str) -> None:
        self._handler.reset()
        self._recorder.take()
        if self._sending is not None:
            self._sending.faults.append((condition, reason))
            self._complete(reason)

    def _complete(self, reason: str = '') -> None:
        # The queue is updated first: if that fails (database locked), the transaction stays
        # in work and the next poll completes it again.
        sending = self._sending
        finished = sending.finished
        file_complete = finished is not None \
            and finished.delivery_code == DeliveryCode.DATA_COMPLETE
        if sending.faults:
            condition, action = sending.faults[0]
            outcome = TransferOutcome.FAILED
            reason = reason or f'fault {condition.name} ({action})'
        elif finished is not None and finished.condition_code == ConditionCode.NO_ERROR \
                and file_complete:
            condition, outcome, reason = ConditionCode.NO_ERROR, TransferOutcome.DELIVERED, ''
            sending.confirmed.add(0, sending.size)
        elif finished is not None:
            condition, outcome = finished.condition_code, TransferOutcome.FAILED
            reason = f'receiver reported {condition.name}'
        else:
            condition, outcome = ConditionCode.CANCEL_REQUEST_RECEIVED, TransferOutcome.ABANDONED
            reason = reason or 'ended without a Finished PDU'
        record = sending.record
        will_retry = False
        if outcome is TransferOutcome.DELIVERED:
            self._queue.mark_done(record.downlink_id, DownlinkState.DELIVERED, condition.name)
        elif sending.closed_ack is not None:
            # Resumed too late: the receiver had given the transaction up. Not a failed
            # attempt, the restart lost it: start over at once.
            outcome = TransferOutcome.ABANDONED
            reason = f'the ground had closed transaction {sending.seq} ({reason})'
            self._queue.requeue_interrupted(record.downlink_id, reason)
            will_retry = True
        elif sending.attempts < self._max_attempts and condition not in (
                ConditionCode.FILESTORE_REJECTION, ConditionCode.CANCEL_REQUEST_RECEIVED):
            self._queue.mark_done(record.downlink_id, DownlinkState.QUEUED, condition.name)
            self._not_before[record.downlink_id] = self._endpoint._now + self._retry_delay_s
            will_retry = True
        else:
            self._queue.mark_done(record.downlink_id, DownlinkState.FAILED, condition.name)
        self._sending = None
        self._closed_transactions.append(sending.seq)
        self._endpoint._finish(TransferResult(
            transaction_seq=sending.seq, dest_name=record.dest_name, outcome=outcome,
            condition=condition, file_complete=file_complete, size=sending.size,
            path=record.source, reason=reason, downlink_id=record.downlink_id,
            will_retry=will_retry))
