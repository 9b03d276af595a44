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
A rover-side downlink sequence in its own process, for the SIGKILL test.

Usage: ``downlink_sequence_process.py STORE_DB UTC``. It opens the telemetry store, takes
sequence numbers as fast as it can and prints each one (flushed) until it is killed.
"""

import sys

from rover_lander_bridge.tm_store import TmStore
from rover_link.downlink_auth import DownlinkSequence


def main(argv: list) -> int:
    sequence = DownlinkSequence(TmStore(argv[0]), utc=float(argv[1]))
    while True:
        print(sequence.take(), flush=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
