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
Benchmark: telecommands decoded, authenticated and validated per second, and p99, one core.

Three loops over the same pre-built uplink frames (DRIVE telecommands with fresh ARSNs),
interleaved in rounds so machine load hits them alike:

* **baseline**: bare ``spacepackets`` ``PusTc.unpack`` of the packet (parse + CRC-16), what
  any PUS receiver must do;
* **accept path**: what the bridge does before a TC may run: frame structure and HMAC check
  (``framing.open_uplink``), anti-replay window (``ReplayGuard.accept``, in memory),
  ``PusTc.unpack``, ``commands.decode`` and ``commands.validate`` against the limits;
* **full bridge**: ``LanderBridge.handle_frames`` on batches of up to 256 frames, as the
  runner hands them over under a flood (``runner.MAX_BATCH``): the accept path, the ARSN
  window committed to sqlite (``synchronous=FULL``) once per batch before anything runs,
  acceptance and start reports built, dispatch to a rover port that does nothing.

Goals (issue 6): accept path >= 20 000 TC/s and p99 <= 1 ms on one core. Figures are printed
as rates and as ratios to the baseline.

    .venv/bin/python benchmarks/bridge_tc_throughput.py [--frames 20000] [--rounds 5]
"""

import argparse
import os
from pathlib import Path
import statistics
import tempfile
import time
from typing import List

from rover_lander_bridge.bridge import BridgeConfig, LanderBridge
from rover_lander_bridge.rover_port import RoverTelemetry
from rover_lander_bridge.runner import MAX_BATCH
from rover_lander_bridge.tm_store import TmStore
from rover_link import commands as cmd
from rover_link.framing import open_uplink, protect
from rover_link.protocol import APID_ROVER
from rover_link.security import MacEngine, ReplayGuard
from rover_link.telemetry import MobilityHk, ShovelHk
from spacepackets.ecss.tc import PusTc

BATCH = MAX_BATCH


class IdlePort:
    """A rover port that accepts everything and never reports (nothing to measure there)."""

    def __getattr__(self, name):
        return lambda *args: None

    def telemetry(self) -> RoverTelemetry:
        return RoverTelemetry(MobilityHk.unknown(), ShovelHk.unknown())


def build_frames(mac: MacEngine, count: int, first_arsn: int) -> List[bytes]:
    """Return ``count`` authenticated DRIVE frames with consecutive ARSNs."""
    service, subtype, data = cmd.encode(cmd.Drive(1.0, 0.05))
    frames = []
    for i in range(count):
        tc = PusTc(service=service, message_subtype=subtype, app_data=data, apid=APID_ROVER,
                   seq_count=i % 16384, source_id=1)
        frames.append(protect(mac, 1, first_arsn + i, bytes(tc.pack())))
    return frames


def time_each(function, items) -> List[int]:
    """Return the ns each call took."""
    clock = time.perf_counter_ns
    times = []
    for item in items:
        start = clock()
        function(item)
        times.append(clock() - start)
    return times


def baseline(frames: List[bytes]) -> List[int]:
    """PusTc.unpack of each frame's packet."""
    packets = [f[10:-16] for f in frames]
    return time_each(PusTc.unpack, packets)


def accept_path(frames: List[bytes], mac: MacEngine, guard: ReplayGuard) -> List[int]:
    """The bridge's checks before a TC may run, per frame."""
    limits = cmd.CommandLimits()

    def accept(frame: bytes) -> None:
        uplink = open_uplink(mac, frame)
        guard.accept(uplink.spi, uplink.arsn)
        tc = PusTc.unpack(uplink.packet)
        header = tc.pus_tc_sec_header
        cmd.validate(cmd.decode(header.service, header.message_subtype, tc.app_data), limits)

    return time_each(accept, frames)


def full_bridge(frames: List[bytes], bridge: LanderBridge, now: float) -> float:
    """Return seconds for the whole batched handling of ``frames``."""
    start = time.perf_counter()
    for i in range(0, len(frames), BATCH):
        bridge.handle_frames(frames[i:i + BATCH], now)
    return time.perf_counter() - start


def p99(times: List[int]) -> float:
    """Return the 99th percentile in µs."""
    return statistics.quantiles(times, n=100)[98] / 1000.0


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=20000)
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix='bridge-bench-'))
    mac = MacEngine({1: os.urandom(32)})
    results = {'baseline': [], 'accept': [], 'bridge': []}
    rates = {'baseline': [], 'accept': [], 'bridge': []}
    arsn = 1
    for round_index in range(args.rounds):
        frames = build_frames(mac, args.frames, arsn)
        arsn += args.frames
        times = baseline(frames)
        results['baseline'] += times
        rates['baseline'].append(len(times) / (sum(times) / 1e9))
        guard = ReplayGuard(workdir / f'window-{round_index}.sqlite3')
        times = accept_path(frames, mac, guard)
        guard.close()
        results['accept'] += times
        rates['accept'].append(len(times) / (sum(times) / 1e9))
        bridge = LanderBridge(BridgeConfig(), IdlePort(), mac=mac,
                              replay=ReplayGuard(workdir / f'bridge-{round_index}.sqlite3'),
                              tm_store=TmStore(workdir / f'tm-{round_index}.sqlite3'),
                              now=0.0)
        seconds = full_bridge(frames, bridge, 1.0)
        bridge.close()
        rates['bridge'].append(args.frames / seconds)
    base = statistics.median(rates['baseline'])
    print(f'{args.frames} DRIVE frames x {args.rounds} rounds, one thread '
          f'(median of rounds; p99 over all frames)')
    for key, label in (('baseline', 'baseline: PusTc.unpack (parse + CRC)'),
                       ('accept', 'accept path: structure + HMAC + anti-replay + unpack + '
                                  'decode + validate'),
                       ('bridge', f'full bridge.handle_frames, batches of {BATCH}, ARSNs '
                                  'committed (FULL) per batch, reports built')):
        rate = statistics.median(rates[key])
        line = f'{label}\n    {rate:10.0f} TC/s  ({rate / base:.2f}x baseline rate)'
        if results[key]:
            line += (f', median {statistics.median(results[key]) / 1000:.1f} us, '
                     f'p99 {p99(results[key]):.1f} us')
        print(line)
    accept_rate = statistics.median(rates['accept'])
    accept_p99 = p99(results['accept'])
    verdict = 'met' if accept_rate >= 20000 and accept_p99 <= 1000 else 'NOT met'
    print(f'goal >= 20000 TC/s and p99 <= 1 ms on the accept path: {verdict} '
          f'({accept_rate:.0f} TC/s, p99 {accept_p99:.1f} us)')


if __name__ == '__main__':
    main()
