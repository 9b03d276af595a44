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
The ground's CFDP destination entity: downlinked files into one directory, verified.

The receiver keeps the ended transactions (id, how they ended, the EOF's size and checksum):
their late or duplicated PDUs are dropped, an EOF gets its ACK plus that Finished PDU again (the
success only for an EOF of the same size and checksum, so a reused number cannot pass for a
delivered file), and a PDU of a new transaction from the source it is receiving from means the
source abandoned the old one: the old one is abandoned and its partial file deleted.
Workarounds 1, 3 and 4 (:mod:`rover_link.cfdp.workarounds`) live here.
"""

from collections import deque
import contextlib
import copy
from dataclasses import dataclass, field
import math
import os
from pathlib import Path
from typing import Deque, Dict, List, Optional, Tuple, Union

from cfdppy import CfdpState, IndicationConfig, LocalEntityConfig, PacketDestination
from cfdppy import RemoteEntityConfigTable
from cfdppy.handler import DestTransactionStep
from rover_link.cfdp.config import CfdpConfig
from rover_link.cfdp.endpoint import Endpoint, HISTORY_LEN, IntervalSet
from rover_link.cfdp.engine import (CheckTimers, destination_of, engine_time, entity,
                                    FaultRecorder, FOREIGN, OUT_OF_STATE, Recorder,
                                    remote_config)
from rover_link.cfdp.filestore import DownlinkFilestore
from rover_link.cfdp.results import CfdpCounters, TransferOutcome, TransferProgress
from rover_link.cfdp.results import TransferResult
from rover_link.cfdp.workarounds import (AFTER_EOF_STEPS, Cfdp070Workarounds,
                                         FreshTrackerDestHandler)
from spacepackets.cfdp import ConditionCode, Direction
from spacepackets.cfdp.pdu import (AckPdu, DeliveryCode, DirectiveType, EofPdu, FileDataPdu,
                                   FileStatus, FinishedPdu, MetadataPdu, NakPdu,
                                   TransactionStatus)
from spacepackets.cfdp.pdu.finished import FinishedParams


@dataclass
class _Receiving:
    seq: int
    last_rx: float
    held: List[Union[FileDataPdu, EofPdu]] = field(default_factory=list)
    """File-data and EOF PDUs that arrived before the Metadata PDU (workaround 3)."""
    held_bytes: int = 0
    metadata_nak_due: float = -math.inf
    dest_name: Optional[str] = None
    size: Optional[int] = None
    received: IntervalSet = field(default_factory=IntervalSet)
    finished: Optional[FinishedParams] = None
    faults: List[Tuple[ConditionCode, str]] = field(default_factory=list)
    delivered_path: Optional[Path] = None
    eof_key: Optional[Tuple[int, bytes]] = None
    """File size and checksum of the EOF (no error) received, if any."""


@dataclass(frozen=True)
class _Ended:
    """What the receiver keeps of an ended transaction to answer a resumed source."""

    finished: FinishedParams
    """The Finished PDU's parameters to answer an EOF with."""
    eof_key: Optional[Tuple[int, bytes]]
    delivered: bool


class FileReceiver:
    """
    The ground's CFDP destination entity: writes downlinked files into one directory.

    A file is written as ``<name>.part`` and renamed to ``<name>`` once its checksum verified;
    a failed or abandoned transfer deletes its ``.part``. Not thread-safe: call it from one
    thread.
    """

    def __init__(self, downlink_dir: Union[str, Path], *, local_entity_id: int,
                 remote_entity_id: int, config: CfdpConfig = CfdpConfig(),
                 hold_limit_bytes: int = 16 << 20,
                 workarounds: Cfdp070Workarounds = Cfdp070Workarounds()) -> None:
        """
        Receive into ``downlink_dir`` (created if missing) from ``remote_entity_id``.

        :param hold_limit_bytes: file data kept in memory while the Metadata PDU is missing;
            beyond it, file data is dropped and re-requested later.
        :param workarounds: only tests proving one is still needed turn it off.
        """
        if hold_limit_bytes < 0:
            raise ValueError(f'hold_limit_bytes must be >= 0, got {hold_limit_bytes}')
        self._endpoint = Endpoint(local_entity_id, remote_entity_id, config)
        self._config = config
        self._hold_limit_bytes = hold_limit_bytes
        self._workarounds = workarounds
        self.downlink_dir = Path(downlink_dir).resolve()
        self.downlink_dir.mkdir(parents=True, exist_ok=True)
        self._filestore = DownlinkFilestore(self.downlink_dir)
        self._recorder = Recorder(self._filestore)
        self._handler = FreshTrackerDestHandler(
            cfg=LocalEntityConfig(entity(local_entity_id), IndicationConfig(),
                                  FaultRecorder(self._recorder)),
            user=self._recorder,
            remote_cfg_table=RemoteEntityConfigTable([remote_config(remote_entity_id, config)]),
            check_timer_provider=CheckTimers(config.nak_timer_s), workarounds=workarounds)
        self._receiving: Optional[_Receiving] = None
        self._ended: Dict[int, _Ended] = {}
        self._ended_order: Deque[int] = deque()

    @property
    def counters(self) -> CfdpCounters:
        """Return a snapshot of the counters."""
        return self._endpoint.counters

    @property
    def busy(self) -> bool:
        """Whether a transaction is in work."""
        return self._receiving is not None

    @property
    def progress(self) -> Optional[TransferProgress]:
        """Progress of the transfer in work, or None."""
        receiving = self._receiving
        if receiving is None:
            return None
        total = receiving.size if receiving.size is not None else self._handler.file_size
        return TransferProgress(
            transaction_seq=receiving.seq, dest_name=receiving.dest_name,
            transferred_bytes=receiving.received.total, confirmed_bytes=receiving.received.total,
            total_bytes=total)

    def pop_results(self) -> List[TransferResult]:
        """Return and forget the completion indications since the last call."""
        return self._endpoint.pop_results()

    def drain(self, max_bytes: Optional[int] = None) -> List[bytes]:
        """Return the PDUs (ACK, NAK, Finished) to send now, at most ``max_bytes``."""
        return self._endpoint.drain(max_bytes)

    def on_pdu(self, data: bytes, now: float) -> None:
        """Take one received PDU; never raises on bad input."""
        pdu = self._endpoint._decode(data, now)
        if pdu is None:
            return
        counters = self._endpoint._counters
        if destination_of(pdu) is not PacketDestination.DEST_HANDLER \
                or pdu.source_entity_id.value != self._endpoint.remote_id \
                or pdu.dest_entity_id.value != self._endpoint.local_id:
            counters.misrouted += 1
            return
        seq = pdu.transaction_seq_num.value
        if seq in self._ended:
            counters.stale += 1
            if isinstance(pdu, EofPdu):
                self._answer_ended_eof(pdu, self._ended[seq])
            return
        receiving = self._receiving
        if receiving is not None and seq != receiving.seq:
            # The source runs one transaction at a time, so it has closed this one: it got
            # our Finished PDU (only its ACK was lost), or it gave up (it restarted).
            if receiving.finished is not None:
                self._handler.reset()
                self._recorder.take()
                self._complete()
            else:
                self._abandon(TransferOutcome.ABANDONED, ConditionCode.CANCEL_REQUEST_RECEIVED,
                              f'superseded by transaction {seq} from the same source')
            receiving = None
        if receiving is None:
            if not isinstance(pdu, (MetadataPdu, FileDataPdu, EofPdu)):
                counters.out_of_state += 1
                return
            receiving = self._receiving = _Receiving(seq=seq, last_rx=now)
        receiving.last_rx = now
        if isinstance(pdu, EofPdu) and pdu.condition_code == ConditionCode.NO_ERROR:
            receiving.eof_key = (pdu.file_size, bytes(pdu.file_checksum))
        if not self._fits(receiving, pdu):
            return
        if self._handler.state == CfdpState.IDLE:
            self._before_metadata(receiving, pdu)
        elif isinstance(pdu, EofPdu) and self._workarounds.reack_duplicate_eof \
                and self._handler.step in AFTER_EOF_STEPS:
            self._ack_eof(pdu, TransactionStatus.ACTIVE)
        else:
            self._step(pdu)

    def poll(self, now: float) -> None:
        """Run the timers (NAK, positive ACK) and detect a silent source."""
        self._endpoint._now = now
        receiving = self._receiving
        if receiving is None:
            return
        if self._handler.state == CfdpState.IDLE:
            self._request_metadata(receiving)
        else:
            self._step(None)
        receiving = self._receiving
        # Only where cfdp-py has no timer of its own: before the Metadata PDU and while file
        # data is expected (the NAK and positive-ACK timers govern the later steps).
        untimed = self._handler.state == CfdpState.IDLE \
            or self._handler.step == DestTransactionStep.RECEIVING_FILE_DATA
        if receiving is not None and untimed \
                and now - receiving.last_rx > self._config.inactivity_s:
            self._abandon(TransferOutcome.ABANDONED, ConditionCode.INACTIVITY_DETECTED,
                          f'no PDU from the source for {self._config.inactivity_s:g} s')

    # Internals ----------------------------------------------------------------------------
    def _before_metadata(self, receiving: _Receiving, pdu: object) -> None:
        if isinstance(pdu, MetadataPdu) or not self._workarounds.hold_until_metadata:
            self._step(pdu)
            if isinstance(pdu, MetadataPdu):
                held, receiving.held, receiving.held_bytes = receiving.held, [], 0
                for held_pdu in held:
                    if self._receiving is not receiving:
                        break
                    if self._fits(receiving, held_pdu):
                        self._step(held_pdu)
            return
        if isinstance(pdu, EofPdu) or \
                receiving.held_bytes + len(pdu.file_data) <= self._hold_limit_bytes:
            receiving.held.append(pdu)
            receiving.held_bytes += 0 if isinstance(pdu, EofPdu) else len(pdu.file_data)
        else:
            self._endpoint._counters.out_of_state += 1
        self._request_metadata(receiving, pdu)

    def _fits(self, receiving: _Receiving, pdu: object) -> bool:
        """Refuse (and count) file data beyond the announced size."""
        if isinstance(pdu, FileDataPdu) and receiving.size is not None \
                and pdu.offset + len(pdu.file_data) > receiving.size:
            # cfdp-py would write it first (a sparse file up to the bogus offset) and then
            # declare FILE_SIZE_ERROR on a transfer that is otherwise fine.
            self._endpoint._counters.out_of_state += 1
            return False
        return True

    def _request_metadata(self, receiving: _Receiving, pdu: Optional[object] = None) -> None:
        """NAK the Metadata PDU alone (segment request 0-0), at most once per NAK timer."""
        now = self._endpoint._now
        if now < receiving.metadata_nak_due or not (pdu or receiving.held):
            return
        conf = copy.copy((pdu or receiving.held[-1]).pdu_header.pdu_conf)
        conf.direction = Direction.TOWARDS_SENDER
        # Scope 0-0: this NAK confirms no file data, only asks for the Metadata PDU.
        self._endpoint._outbound.append(bytes(NakPdu(conf, 0, 0, [(0, 0)]).pack()))
        self._endpoint._counters.metadata_requests += 1
        receiving.metadata_nak_due = now + self._config.nak_timer_s

    def _ack_eof(self, eof: EofPdu, status: TransactionStatus) -> None:
        """Acknowledge an EOF cfdp-py would drop: ours (ACTIVE) or an ended one (4.7.2)."""
        self._endpoint._outbound.append(bytes(AckPdu(
            eof.pdu_header.pdu_conf, DirectiveType.EOF_PDU, eof.condition_code,
            status).pack()))
        if status == TransactionStatus.ACTIVE:
            self._endpoint._counters.eof_reacked += 1

    def _answer_ended_eof(self, eof: EofPdu, ended: _Ended) -> None:
        """
        ACK an EOF of an ended transaction (CFDP 4.7.2) and repeat how it ended.

        A source that resumed the transaction after a restart learns from the Finished PDU
        whether the file is here. Success is only repeated for the same size and checksum:
        a source reusing an old sequence number for another file hears a failure.
        """
        self._ack_eof(eof, TransactionStatus.TERMINATED)
        finished = ended.finished
        if ended.delivered and ended.eof_key != (eof.file_size, bytes(eof.file_checksum)):
            finished = FinishedParams(ConditionCode.CANCEL_REQUEST_RECEIVED,
                                      DeliveryCode.DATA_INCOMPLETE,
                                      FileStatus.DISCARDED_DELIBERATELY)
        self._endpoint._outbound.append(bytes(FinishedPdu(
            eof.pdu_header.pdu_conf, finished).pack()))

    def _step(self, pdu: Optional[object]) -> None:
        counters = self._endpoint._counters
        try:
            with engine_time(self._endpoint._now):
                self._handler.state_machine(pdu)
        except FOREIGN:
            counters.misrouted += 1
        except OUT_OF_STATE:
            counters.out_of_state += 1
        except ValueError:
            if not isinstance(pdu, FileDataPdu):
                raise
            # The lost-segment tracker refuses a segment that straddles a recorded gap: only
            # a PDU with a corrupted offset (that passed the CRC) does that.
            counters.out_of_state += 1
        except OSError as error:
            # Disk full, or a .part file removed under our feet: cfdp-py only handles a
            # missing file or a refused permission when it writes.
            self._endpoint._queue_pdus(self._handler)
            self._abandon(TransferOutcome.FAILED, ConditionCode.FILESTORE_REJECTION,
                          f'downlink filestore error: {error}')
            return
        self._after_step()

    def _after_step(self) -> None:
        self._endpoint._queue_pdus(self._handler)
        receiving = self._receiving
        seen = self._recorder.take()
        if receiving is None:
            return
        for metadata in seen.metadata:
            receiving.dest_name = metadata.dest_file_name
            receiving.size = metadata.file_size
        for segment in seen.segments:
            receiving.received.add(segment.offset, segment.offset + segment.length)
        receiving.faults.extend(seen.faults)
        for finished in seen.finished:
            receiving.finished = finished.finished_params
            self._keep_if_verified(receiving)
        if any(condition == ConditionCode.POSITIVE_ACK_LIMIT_REACHED
               for condition, _ in seen.faults):
            # The Finished handshake failed; cfdp-py 0.7.0 would restart it forever.
            self._abandon(TransferOutcome.FAILED, ConditionCode.POSITIVE_ACK_LIMIT_REACHED,
                          'no ACK of the Finished PDU')
        elif self._handler.state == CfdpState.IDLE and receiving.dest_name is not None:
            self._complete()

    def _keep_if_verified(self, receiving: _Receiving) -> None:
        finished = receiving.finished
        if receiving.delivered_path is not None or receiving.dest_name is None \
                or finished.condition_code != ConditionCode.NO_ERROR \
                or finished.delivery_code != DeliveryCode.DATA_COMPLETE:
            return
        final = self._filestore.final_path(receiving.dest_name)
        os.replace(self._filestore.part_path(receiving.dest_name), final)
        receiving.delivered_path = final

    def _abandon(self, outcome: TransferOutcome, condition: ConditionCode, reason: str) -> None:
        self._handler.reset()
        self._recorder.take()
        self._complete((outcome, condition, reason))

    def _complete(self, forced: Optional[Tuple[TransferOutcome, ConditionCode, str]] = None
                  ) -> None:
        receiving, self._receiving = self._receiving, None
        finished = receiving.finished
        if forced is not None:
            outcome, condition, reason = forced
            if outcome is TransferOutcome.FAILED and receiving.faults:
                condition = receiving.faults[0][0]
                reason = f'fault {condition.name}, then {reason}'
        elif receiving.faults:
            condition, action = receiving.faults[0]
            outcome, reason = TransferOutcome.FAILED, f'fault {condition.name} ({action})'
        elif finished is not None and receiving.delivered_path is not None:
            outcome, condition, reason = TransferOutcome.DELIVERED, ConditionCode.NO_ERROR, ''
        else:
            condition = finished.condition_code if finished is not None \
                else ConditionCode.CANCEL_REQUEST_RECEIVED
            outcome, reason = TransferOutcome.FAILED, f'ended with {condition.name}'
        if receiving.delivered_path is None and receiving.dest_name is not None:
            with contextlib.suppress(FileNotFoundError, PermissionError):
                self._filestore.part_path(receiving.dest_name).unlink()
        delivered = receiving.delivered_path is not None
        self._remember_ended(receiving.seq, _Ended(
            finished=FinishedParams(ConditionCode.NO_ERROR, DeliveryCode.DATA_COMPLETE,
                                    FileStatus.FILE_RETAINED) if delivered
            else FinishedParams(
                ConditionCode.CANCEL_REQUEST_RECEIVED if condition == ConditionCode.NO_ERROR
                else condition, DeliveryCode.DATA_INCOMPLETE, FileStatus.DISCARDED_DELIBERATELY),
            eof_key=receiving.eof_key, delivered=delivered))
        self._endpoint._finish(TransferResult(
            transaction_seq=receiving.seq, dest_name=receiving.dest_name, outcome=outcome,
            condition=condition, file_complete=receiving.delivered_path is not None,
            size=receiving.size, path=receiving.delivered_path, reason=reason))

    def _remember_ended(self, seq: int, ended: _Ended) -> None:
        if seq not in self._ended:
            self._ended_order.append(seq)
        self._ended[seq] = ended
        if len(self._ended_order) > HISTORY_LEN:
            del self._ended[self._ended_order.popleft()]
