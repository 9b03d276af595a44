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
Benchmark: a ping answered after a flood of 10 000 authenticated-but-refused telecommands.

The standalone rover (``rover-standalone``, its default parameters) runs as a real process
on loopback UDP. The ground side, in this process, first measures the reply latency of a
ping on the idle link (the baseline: send the TC[17,1] to receiving its completion report,
median of ``--pings``); then sends ``--count`` DRIVE telecommands that are authenticated and
fresh but refused at acceptance (50 m, beyond ``max_drive_distance``) as fast as the socket
takes them, and right after them one ping (resent with a fresh ARSN every 2 s if the kernel
dropped it). Printed: the rover's RSS before and after, the datagrams its kernel dropped,
the bridge's counters (LINK housekeeping), the refusal reports that reached the ground and
the TC_REFUSALS_SUPPRESSED totals, and the latency of the ping after the flood as a ratio to
the baseline (issue 13 saw 17-26 s before flood control).

Run (after ``tools/setup``):
``.venv/bin/python benchmarks/bridge_flood.py [--count 10000] [--rcvbuf BYTES]``.
"""

import argparse
from pathlib import Path
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Tuple

from rover_ground.ground import EventReport, GroundStation, Housekeeping, Verification
from rover_link import commands as cmd
from rover_link.framing import protect
from rover_link.protocol import (AckFlag, APID_ROVER, EventId, GROUND_SOURCE_ID, HkSet,
                                 VerificationSubtype as V)
from rover_link.security import ArsnCounter, generate_key_file, load_key, MacEngine
from rover_link.transports import free_udp_port, UdpTransport
from spacepackets.ecss.req_id import RequestId
from spacepackets.ecss.tc import PusTc

LOCALHOST = '127.0.0.1'
SPI = 1


class Ground:
    """The ground end: builds frames with its own consecutive ARSNs, reads the downlink."""

    def __init__(self, workdir: Path, key: Path, rover_port: int, ground_port: int) -> None:
        mac = MacEngine({SPI: load_key(key)})
        self._mac = mac
        self.station = GroundStation(mac=mac, spi=SPI,
                                     counter=ArsnCounter(workdir / 'ground.sqlite3', SPI))
        self.link = UdpTransport((LOCALHOST, ground_port), (LOCALHOST, rover_port),
                                 receive_buffer_bytes=8 << 20)
        self._arsn = int(time.time() * 1000)
        self._seq = 0
        self.items: list = []

    def frame(self, command: cmd.Command, ack: AckFlag = AckFlag.ALL
              ) -> Tuple[bytes, RequestId]:
        """Return an authenticated, fresh uplink frame of ``command`` and its request id."""
        service, subtype, data = cmd.encode(command)
        self._arsn += 1
        self._seq = (self._seq + 1) % (1 << 14)
        tc = PusTc(service=service, message_subtype=subtype, app_data=data, apid=APID_ROVER,
                   seq_count=self._seq, source_id=GROUND_SOURCE_ID, ack_flags=int(ack))
        return protect(self._mac, SPI, self._arsn, bytes(tc.pack())), RequestId.from_pus_tc(tc)

    def pump(self, seconds: float) -> None:
        """Read the downlink for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            frame = self.link.receive(max(0.0, min(0.05, end - time.monotonic())))
            if frame is not None:
                self.items.extend(self.station.handle_frame(frame, time.monotonic()))

    def wait_for(self, request_id: RequestId, timeout: float) -> Optional[float]:
        """Return the monotonic time the completion report arrived, None at the timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            frame = self.link.receive(0.01)
            if frame is None:
                continue
            arrived = time.monotonic()
            items = self.station.handle_frame(frame, arrived)
            self.items.extend(items)
            if any(isinstance(i, Verification) and i.request_id == request_id
                   and i.subtype is V.COMPLETION_SUCCESS for i in items):
                return arrived
        return None

    def ping(self, timeout: float) -> Optional[float]:
        """Return the reply latency of one ping (s), None if it was not answered in time."""
        frame, request_id = self.frame(cmd.Ping())
        start = time.monotonic()
        self.link.send(frame)
        arrived = self.wait_for(request_id, timeout)
        return None if arrived is None else arrived - start

    def housekeeping(self, sid: HkSet):
        """Ask for one housekeeping set and return it."""
        frame, request_id = self.frame(cmd.HkOneShot((sid,)))
        self.link.send(frame)
        self.wait_for(request_id, 10.0)
        return [i.values for i in self.items if isinstance(i, Housekeeping) and i.sid is sid][-1]


def rss_kib(pid: int) -> int:
    """Return the resident set size of a process, KiB."""
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    raise RuntimeError(f'no VmRSS for process {pid}')


def start_rover(workdir: Path, key: Path, rover_port: int, ground_port: int,
                rcvbuf: Optional[int]) -> subprocess.Popen:
    """Start rover-standalone and wait for its ready line."""
    extra = [] if rcvbuf is None else ['--param', f'udp_receive_buffer_bytes={rcvbuf}']
    process = subprocess.Popen(
        [sys.executable, '-m', 'rover_standalone.standalone_rover', '--key', str(key),
         '--state-dir', str(workdir / 'state'), '--product-dir', str(workdir / 'products'),
         '--local', f'{LOCALHOST}:{rover_port}', '--remote', f'{LOCALHOST}:{ground_port}',
         *extra], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if 'rover-standalone: bridge on' not in line:
        process.kill()
        raise RuntimeError(f'the standalone rover did not start: {line!r}')
    return process


def main() -> None:
    """Run the baseline, the flood and the ping after it; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--count', type=int, default=10000, help='refused TCs in the flood')
    parser.add_argument('--pings', type=int, default=20, help='pings of the baseline')
    parser.add_argument('--rcvbuf', type=int, default=None,
                        help='udp_receive_buffer_bytes of the rover (default: the parameter)')
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix='bridge-flood-'))
    key = workdir / 'uplink.key'
    generate_key_file(key)
    rover_port, ground_port = free_udp_port(), free_udp_port()
    rover = start_rover(workdir, key, rover_port, ground_port, args.rcvbuf)
    ground = Ground(workdir, key, rover_port, ground_port)
    try:
        ground.ping(10.0)  # brings the link up
        ground.pump(1.0)
        baseline: List[float] = [ground.ping(5.0) for _ in range(args.pings)]
        base = statistics.median(x for x in baseline if x is not None)
        rss_before = rss_kib(rover.pid)
        flood = [ground.frame(cmd.Drive(50.0, 0.05))[0] for _ in range(args.count)]
        start = time.monotonic()
        for frame in flood:
            ground.link.send(frame)
        flood_end = time.monotonic()
        sent_in = flood_end - start
        after, attempts = None, 0
        while after is None and attempts < 10:
            attempts += 1
            after = ground.ping(2.0)
        since_flood = time.monotonic() - flood_end
        ground.pump(3.0)
        rss_after = rss_kib(rover.pid)
        link = ground.housekeeping(HkSet.LINK)
        faults = ground.housekeeping(HkSet.FAULT)
        later = statistics.median(x for x in (ground.ping(5.0) for _ in range(5)) if x)
    finally:
        rover.send_signal(signal.SIGTERM)
        rover.communicate(timeout=30)
        ground.link.close()
    refusals = sum(1 for i in ground.items
                   if isinstance(i, Verification) and i.subtype is V.ACCEPTANCE_FAILURE)
    suppressed = [struct.unpack('>I', i.event.aux)[0] for i in ground.items
                  if isinstance(i, EventReport)
                  and i.event.event_id is EventId.TC_REFUSALS_SUPPRESSED]
    buffer = 'default' if args.rcvbuf is None else f'{args.rcvbuf} B'
    print(f'rover-standalone on loopback UDP (udp_receive_buffer_bytes {buffer}), '
          f'{args.count} authenticated DRIVE 50 m TCs (refused: beyond max_drive_distance) '
          f'sent in {sent_in:.2f} s')
    print(f'baseline ping latency (idle, median of {args.pings}): {base * 1000:.1f} ms')
    if after is None:
        print('ping after the flood: NOT answered in 10 attempts')
    else:
        print(f'ping after the flood: {after * 1000:.1f} ms ({after / base:.1f}x baseline), '
              f'answered at attempt {attempts}, {since_flood * 1000:.0f} ms after the last '
              'flood frame')
    print(f'pings once the flood is over (median of 5): {later * 1000:.1f} ms '
          f'({later / base:.1f}x baseline)')
    print(f'rover RSS: {rss_before / 1024:.1f} MiB before, {rss_after / 1024:.1f} MiB after '
          f'({(rss_after - rss_before) / 1024:+.1f} MiB)')
    print(f'kernel drops (SO_RXQ_OVFL, LINK HK): {link.kernel_drops}')
    print(f'bridge counters (LINK HK): tc accepted {link.tc_accepted}, rejected '
          f'{link.tc_rejected}, refusal reports suppressed {link.refusals_suppressed}, '
          f'tm backlog {link.tm_backlog}, tm dropped {link.tm_dropped}; loop faults '
          f'{faults.loop_faults}')
    print(f'on the ground: {refusals} TM[1,2] refusal reports, {len(suppressed)} '
          f'TC_REFUSALS_SUPPRESSED events summing {sum(suppressed)}')


if __name__ == '__main__':
    main()
