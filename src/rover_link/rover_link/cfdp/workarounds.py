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
The cfdp-py 0.7.0 defects both ends work around, and the switches that turn each one off.

They are fixed upstream after that release, in us-irs/cfdp-py PR #54; each workaround can be
switched off (:class:`Cfdp070Workarounds`) so a test shows it is still needed:

1. A duplicate EOF is not re-ACKed once the destination has left the file-data phase, so a lost
   ACK(EOF) makes the source cancel with POSITIVE_ACK_LIMIT_REACHED although the file arrived.
   :class:`~rover_link.cfdp.receiver.FileReceiver` answers such an EOF itself with ACK(EOF, its
   condition, ACTIVE) in the steps :data:`AFTER_EOF_STEPS`.
2. An idle source does not re-ACK a duplicate Finished PDU (it raises), so a lost
   ACK(Finished) makes the destination fault although everything succeeded.
   :class:`~rover_link.cfdp.sender.FileSender` answers a Finished PDU of a transaction it has
   closed with ACK(Finished, TERMINATED), as CFDP 4.7.2 requires.
3. The destination's path for a lost Metadata PDU is broken under loss: file data arriving
   before it is discarded yet each such PDU adds a (0, offset) gap (NAKed as a near-quadratic
   retransmission), the gap bookkeeping is corrupted so the last gaps are never cleared
   (NAK_LIMIT_REACHED), a Metadata PDU arriving after the EOF drops the handler back to the
   file-data step where it waits forever, and the EOF's file checksum is not kept
   (FILE_CHECKSUM_FAILURE). :class:`~rover_link.cfdp.receiver.FileReceiver` keeps cfdp-py off
   that path: it holds the file-data and EOF PDUs of a transaction whose Metadata PDU has not
   arrived (bounded), asks for the Metadata PDU alone with a NAK (0, 0) once per NAK timer, and
   replays the held PDUs once it is in.
4. Every destination handler shares one lost-segment tracker (a mutable dataclass default), so
   gaps left by an abandoned transaction are NAKed in the next one (and across two receivers
   in one process). :class:`FreshTrackerDestHandler` gives each transaction a fresh tracker.

Defects 1 and 2 are the ones documented for 0.7.0; 3 and 4 were found by the lossy tests.
Every workaround is a field of :class:`Cfdp070Workarounds`, on by default.
"""

from dataclasses import dataclass
from typing import Optional

from cfdppy.handler import DestHandler, DestTransactionStep
from cfdppy.handler.dest import LostSegmentTracker


@dataclass(frozen=True)
class Cfdp070Workarounds:
    """
    Switches for the cfdp-py 0.7.0 workarounds (module docstring). All on in flight.

    Tests turn one off to show the failure it prevents, so they fail, and tell us to remove
    it, once an upstream release fixes the defect.
    """

    reack_duplicate_eof: bool = True
    """1: the receiver re-ACKs an EOF that cfdp-py drops after the file-data phase."""
    reack_duplicate_finished: bool = True
    """2: the sender ACKs a Finished PDU of a transaction it has closed."""
    hold_until_metadata: bool = True
    """3: the receiver holds file data and EOF until the Metadata PDU is in."""
    fresh_lost_segment_tracker: bool = True
    """4: each receiving transaction gets its own lost-segment tracker."""


AFTER_EOF_STEPS = (
    DestTransactionStep.WAITING_FOR_MISSING_DATA, DestTransactionStep.TRANSFER_COMPLETION,
    DestTransactionStep.SENDING_FINISHED_PDU, DestTransactionStep.WAITING_FOR_FINISHED_ACK)
"""Steps in which cfdp-py 0.7.0 drops a duplicate EOF without ACKing it (defect 1)."""


class FreshTrackerDestHandler(DestHandler):
    """DestHandler with workaround 4, which needs its transaction parameters."""

    def __init__(self, *args: object, workarounds: Cfdp070Workarounds, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.workarounds = workarounds

    def _common_first_packet_handler(self, pdu: object) -> Optional[bool]:
        started = super()._common_first_packet_handler(pdu)
        if started is None and self.workarounds.fresh_lost_segment_tracker:
            self._params.acked_params.lost_seg_tracker = LostSegmentTracker()
        return started
