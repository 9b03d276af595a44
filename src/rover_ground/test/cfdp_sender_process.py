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
A rover-side file sender in its own process, for the kill-and-restart test.

Usage: ``cfdp_sender_process.py QUEUE_DB LOCAL_PORT REMOTE_PORT RATE_BPS [SOURCE DEST_NAME]``.
It sends over UDP, paced at RATE_BPS as the bridge's bandwidth budget would, prints one line
per interrupted transfer it takes up (``resumed <transaction_seq> <from_start>``) and per
completed transfer (``result <outcome> <condition> <transaction_seq>``), and exits once its
queue is empty. The kill-and-restart tests SIGKILL it mid-transfer and start it again.
"""

import sys
import time

from rover_link.cfdp import CfdpConfig, FileSender
from rover_link.transports import UdpTransport

TEST_CONFIG = CfdpConfig().scaled(0.1)
"""Timers of the test (0.5 s ACK and NAK timers on a loopback link)."""


def main(argv: list) -> int:
    queue_db, local_port, remote_port, rate_bps = argv[:4]
    sender = FileSender(queue_db, local_entity_id=1, remote_entity_id=2, config=TEST_CONFIG,
                        retry_delay_s=0.0)
    if len(argv) == 6:
        sender.enqueue(argv[4], argv[5])
    budget_per_s = float(rate_bps) / 8.0
    with UdpTransport(('127.0.0.1', int(local_port)), ('127.0.0.1', int(remote_port))) as link:
        print('ready', flush=True)
        last, tokens = time.monotonic(), 0.0
        while True:
            frame = link.receive(0.005)
            now = time.monotonic()
            if frame is not None:
                sender.on_pdu(frame, now)
            sender.poll(now)
            # Token bucket: the bandwidth budget the bridge's scheduler would grant.
            tokens = min(tokens + (now - last) * budget_per_s, 4096.0)
            last = now
            for pdu in sender.drain(int(tokens)):
                link.send(pdu)
                tokens -= len(pdu)
            for resumption in sender.pop_resumptions():
                print('resumed', resumption.transaction_seq, resumption.from_start, flush=True)
            for result in sender.pop_results():
                print('result', result.outcome.value, result.condition.name,
                      result.transaction_seq, flush=True)
            if not sender.busy and not any(r.state.value == 'queued'
                                           for r in sender.requests()):
                return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
