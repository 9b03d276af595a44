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
Time to downlink a 720p JPEG over a 1 Mbit/s link with a 2.6 s round trip, against the ideal.

The file (~160 kB, simplejpeg q85 from a synthetic lunar-like frame) goes from a ``FileSender``
to a ``FileReceiver`` with the flight CFDP timers (5 s). Two ways, both reported:

* ``emulator`` (default): real time, over UDP on loopback through the ``LinkEmulator`` thread
  (1 Mbit/s line rate and 1.3 s delay each way, seeded loss); the rover paces its PDUs at the
  line rate with a token bucket, as the bridge's bandwidth budget does.
* ``simulated``: the same link model (``SimulatedLink``) in simulated time, for many seeds.

Baseline, computed in the same run from the measured file size: ``ideal = size * 8 / rate +
RTT / 2``, the time for the last bit to reach the ground on a perfect link. Two times are
measured from the first send: ``file`` (the verified file has its final name on the ground)
and ``closed`` (the rover has the Finished PDU, so it knows: at least RTT/2 more).

Run (after ``tools/setup``):
``.venv/bin/python benchmarks/bridge_cfdp_downlink_time.py [--mode both] [--runs 2]``.
"""

import argparse
from dataclasses import replace
from pathlib import Path
import statistics
import sys
import tempfile
import time

from rover_ground.link_emulator import Direction, LinkEmulator, LinkProfile, SimulatedLink
from rover_link.cfdp import CfdpConfig, FileReceiver, FileSender, TransferOutcome
from rover_link.transports import UdpTransport

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bridge_cfdp_overhead import lunar_jpeg  # noqa: E402, I100

RATE_BPS = 1e6
ONE_WAY_S = 1.3


CONFIG = CfdpConfig()


def _ends(tmp: Path, data: bytes):
    source = tmp / 'img.jpg'
    source.write_bytes(data)
    sender = FileSender(tmp / 'q.sqlite', local_entity_id=1, remote_entity_id=2,
                        config=CONFIG)
    receiver = FileReceiver(tmp / 'down', local_entity_id=2, remote_entity_id=1,
                            config=CONFIG)
    sender.enqueue(source, 'img.jpg')
    return sender, receiver


def _check(results, tmp: Path, data: bytes) -> bool:
    return all(r.outcome is TransferOutcome.DELIVERED for r in results) and \
        (tmp / 'down' / 'img.jpg').read_bytes() == data


def run_simulated(data: bytes, loss: float, seed: int) -> tuple:
    """Return (file_s, closed_s, ok) in simulated time."""
    profile = LinkProfile(delay_s=ONE_WAY_S, loss=loss, rate_bps=RATE_BPS)
    link = SimulatedLink(downlink=profile, uplink=profile, seed=seed)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        sender, receiver = _ends(tmp, data)
        delivered = tmp / 'down' / 'img.jpg'
        now, file_s, closed_s, results = 0.0, None, None, []
        while file_s is None or closed_s is None or receiver.busy:
            for direction, frame in link.pop_due(now):
                (receiver if direction is Direction.DOWNLINK else sender).on_pdu(frame, now)
            for direction, end in ((Direction.DOWNLINK, sender), (Direction.UPLINK, receiver)):
                end.poll(now)
                for pdu in end.drain():
                    link.send(direction, pdu, now)
            got, sent = receiver.pop_results(), sender.pop_results()
            file_s = now if file_s is None and delivered.exists() else file_s
            closed_s = now if sent and closed_s is None else closed_s
            results += got + sent
            due = link.next_due()
            now = now + 0.01 if due is None else max(now, min(now + 0.01, due))
        return file_s, closed_s, _check(results, tmp, data)


def run_emulated(data: bytes, loss: float, seed: int) -> tuple:
    """Return (file_s, closed_s, ok) in wall time through the UDP link emulator."""
    profile = LinkProfile(delay_s=ONE_WAY_S, loss=loss, rate_bps=RATE_BPS)
    with tempfile.TemporaryDirectory() as name, \
            LinkEmulator(downlink=profile, uplink=profile, seed=seed) as emulator, \
            UdpTransport(('127.0.0.1', 0), emulator.rover_address) as rover, \
            UdpTransport(('127.0.0.1', 0), emulator.ground_address) as ground:
        tmp = Path(name)
        emulator.set_peers(rover.local_address, ground.local_address)
        sender, receiver = _ends(tmp, data)
        delivered = tmp / 'down' / 'img.jpg'
        start = last = time.monotonic()
        file_s, closed_s, results, tokens = None, None, [], 0.0
        while file_s is None or closed_s is None or receiver.busy:
            for end, link in ((sender, rover), (receiver, ground)):
                frame = link.receive(0.001)
                while frame is not None:
                    end.on_pdu(frame, time.monotonic())
                    frame = link.receive(0.0)
                end.poll(time.monotonic())
                # The rover hands CFDP bytes to the link at the line rate (the bridge's
                # bandwidth budget); the ground's few replies go at once.
                now = time.monotonic()
                tokens = min(tokens + (now - last) * RATE_BPS / 8, 8192.0)
                last = now
                for pdu in end.drain(int(tokens) if end is sender else None):
                    link.send(pdu)
                    tokens -= len(pdu) if end is sender else 0
            got, sent = receiver.pop_results(), sender.pop_results()
            elapsed = time.monotonic() - start
            file_s = elapsed if file_s is None and delivered.exists() else file_s
            closed_s = elapsed if sent and closed_s is None else closed_s
            results += got + sent
            if elapsed > 600:
                raise RuntimeError('downlink did not finish in 10 minutes')
        return file_s, closed_s, _check(results, tmp, data)


def main() -> int:
    global CONFIG
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--mode', choices=('emulator', 'simulated', 'both'), default='both')
    parser.add_argument('--runs', type=int, default=2, help='real-time runs per loss rate')
    parser.add_argument('--sim-runs', type=int, default=20, help='simulated runs per loss')
    parser.add_argument('--nak-timer', type=float, default=CONFIG.nak_timer_s,
                        help=f'deferred-NAK timer, s (default {CONFIG.nak_timer_s:g})')
    args = parser.parse_args()
    CONFIG = replace(CONFIG, nak_timer_s=args.nak_timer)
    data = lunar_jpeg()
    ideal = len(data) * 8 / RATE_BPS + ONE_WAY_S
    print(f'file {len(data)} B; link {RATE_BPS / 1e6:g} Mbit/s, RTT {2 * ONE_WAY_S:g} s; '
          f'ACK/NAK timers {CONFIG.ack_timer_s:g}/{CONFIG.nak_timer_s:g} s; '
          f'ideal = size*8/rate + RTT/2 = {ideal:.2f} s (baseline, 1.00x)')
    print(f'{"mode":>9} {"loss":>5} {"runs":>4} {"ok":>3} {"file s":>7} {"x ideal":>8} '
          f'{"worst":>7} {"closed s":>9} {"x ideal":>8}')
    modes = ('emulator', 'simulated') if args.mode == 'both' else (args.mode,)
    failed = 0
    for mode in modes:
        runner, count = (run_emulated, args.runs) if mode == 'emulator' \
            else (run_simulated, args.sim_runs)
        for loss in (0.0, 0.2):
            runs = [runner(data, loss, seed) for seed in range(count)]
            files = [r[0] for r in runs]
            closed = [r[1] for r in runs]
            ok = sum(r[2] for r in runs)
            failed += count - ok
            print(f'{mode:>9} {loss:>5.0%} {count:>4} {ok:>3} {statistics.mean(files):>7.2f} '
                  f'{statistics.mean(files) / ideal:>7.2f}x {max(files) / ideal:>6.2f}x '
                  f'{statistics.mean(closed):>9.2f} {statistics.mean(closed) / ideal:>7.2f}x',
                  flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
