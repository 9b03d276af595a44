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
File downlink with CFDP class 2 (acknowledged) through cfdp-py 0.7.0.

The rover runs a :class:`FileSender` (the CFDP source entity) and the ground a
:class:`FileReceiver` (the destination entity). Both are transport-agnostic and clock-agnostic:
the caller feeds received PDU bytes with :meth:`on_pdu(data, now) <FileSender.on_pdu>`, calls
``poll(now)`` regularly, and sends whatever ``drain()`` returns. ``now`` is any monotonic time
in seconds: ``time.monotonic()`` on the rover, simulated time in tests, where a 2.6 s round trip
then costs no wall time. The sender generates file data lazily, one PDU per ``drain`` step, so a
bandwidth scheduler can hand CFDP only the bytes left over after telemetry.

Class 2 only: class 1 is useless on this link (once the Metadata PDU is lost, cfdp-py drops
every file-data PDU). The NAK mode is deferred (gaps are requested after EOF): in 0.7.0 the
immediate mode re-requests the whole file prefix for every file-data PDU that arrives before a
lost Metadata PDU, a quadratic retransmission. Neither end ever raises from ``on_pdu``: bytes
that are no PDU, PDUs for someone else and PDUs cfdp-py cannot use now are counted
(:class:`CfdpCounters`).

Import from here; the modules behind it, one job each:

* :mod:`~rover_link.cfdp.config`: the link parameters both ends share (:class:`CfdpConfig`);
* :mod:`~rover_link.cfdp.results`: what an end reports (outcomes, progress, counters);
* :mod:`~rover_link.cfdp.sender`: :class:`FileSender`, and how it resumes after a restart;
* :mod:`~rover_link.cfdp.receiver`: :class:`FileReceiver`, and the ended transactions it keeps;
* :mod:`~rover_link.cfdp.downlink_queue`: the sender's persisted requests and their TCs;
* :mod:`~rover_link.cfdp.endpoint`: decoding, the outbound queue and counters of both ends;
* :mod:`~rover_link.cfdp.engine`: plumbing to cfdp-py (simulated time, indications, ids);
* :mod:`~rover_link.cfdp.filestore`: where the ground writes downlinked files;
* :mod:`~rover_link.cfdp.workarounds`: the cfdp-py 0.7.0 defects and their switches.
"""

from rover_link.cfdp.config import CfdpConfig, EARTH_MOON_RTT_S, ENTITY_ID_BYTES
from rover_link.cfdp.downlink_queue import (check_dest_name, DownlinkQueue, DownlinkRecord,
                                            DownlinkState, DownlinkTc, InvalidDownlinkRequest,
                                            SEQ_NUM_BITS)
from rover_link.cfdp.receiver import FileReceiver
from rover_link.cfdp.results import (CfdpCounters, Resumption, TransferOutcome,
                                     TransferProgress, TransferResult)
from rover_link.cfdp.sender import FileSender
from rover_link.cfdp.workarounds import Cfdp070Workarounds

__all__ = [
    'Cfdp070Workarounds', 'CfdpConfig', 'CfdpCounters', 'check_dest_name', 'DownlinkQueue',
    'DownlinkRecord', 'DownlinkState', 'DownlinkTc', 'EARTH_MOON_RTT_S', 'ENTITY_ID_BYTES',
    'FileReceiver', 'FileSender', 'InvalidDownlinkRequest', 'Resumption', 'SEQ_NUM_BITS',
    'TransferOutcome', 'TransferProgress', 'TransferResult',
]
