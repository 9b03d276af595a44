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
CFDP wire bytes per file byte at 0 %, 20 % and 50 % two-way loss (goals: <= 1.05x, <= 1.35x).

Each run downlinks one ~160 kB 720p JPEG (simplejpeg, q85, synthetic lunar-like image) from a
``FileSender`` to a ``FileReceiver`` across the link model (``SimulatedLink``: 1.3 s each way,
independent random loss in both directions, seeded) with the flight timers, in simulated time.
The baseline is the file's own size measured in the same run: a ratio of 1.00x means not one
byte more than the file crossed the link. "wire" counts every CFDP PDU byte in both
directions (file data, Metadata, EOF, NAK, ACK, Finished, retransmissions); "+SPP" adds the
6-byte space-packet header the bridge wraps around each PDU.

Run (after ``tools/setup``): ``.venv/bin/python benchmarks/bridge_cfdp_overhead.py [--runs 20]``.
"""

import argparse
from pathlib import Path
import statistics
import sys
import tempfile

import numpy as np
from rover_ground.link_emulator import Direction, LinkProfile, SimulatedLink
from rover_link.cfdp import CfdpConfig, FileReceiver, FileSender, TransferOutcome
import simplejpeg

SPACE_PACKET_HEADER = 6
GOALS = {0.0: 1.05, 0.2: 1.35}


def lunar_jpeg(seed: int = 0, width: int = 1280, height: int = 720) -> bytes:
    """Encode a synthetic regolith-and-craters frame as a q85 4:2:0 JPEG (about 160 kB)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = 110 + 25 * np.sin(x / 211.0) * np.cos(y / 157.0)
    coarse = rng.normal(0, 1, (height // 16 + 1, width // 16 + 1)).astype(np.float32)
    image += 18 * np.kron(coarse, np.ones((16, 16), np.float32))[:height, :width]
    for _ in range(40):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(8, 90)
        d = np.hypot(x - cx, y - cy) / r
        image += np.where(d < 1, -35 * (1 - d ** 2), np.where(d < 1.25, 100 * (1.25 - d), 0))
    image += rng.normal(0, 5.0, (height, width))
    gray = np.clip(image, 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(np.stack([gray, gray, (gray * 0.97).astype(np.uint8)], -1))
    return simplejpeg.encode_jpeg(rgb, quality=85, colorspace='RGB', colorsubsampling='420')


def transfer(data: bytes, loss: float, seed: int) -> dict:
    """Downlink ``data`` once in simulated time; return the byte and PDU counts."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / 'img.jpg'
        source.write_bytes(data)
        profile = LinkProfile(delay_s=1.3, loss=loss)
        link = SimulatedLink(downlink=profile, uplink=profile, seed=seed)
        config = CfdpConfig()
        sender = FileSender(Path(tmp) / 'q.sqlite', local_entity_id=1, remote_entity_id=2,
                            config=config)
        receiver = FileReceiver(Path(tmp) / 'down', local_entity_id=2, remote_entity_id=1,
                                config=config)
        sender.enqueue(source, 'img.jpg')
        now, results = 0.0, []
        while not (len(results) == 2 and not receiver.busy and not sender.busy):
            for direction, frame in link.pop_due(now):
                (receiver if direction is Direction.DOWNLINK else sender).on_pdu(frame, now)
            for direction, end in ((Direction.DOWNLINK, sender), (Direction.UPLINK, receiver)):
                end.poll(now)
                for pdu in end.drain():
                    link.send(direction, pdu, now)
            results += sender.pop_results() + receiver.pop_results()
            due = link.next_due()
            now = now + 0.1 if due is None else max(now, min(now + 0.1, due))
        ok = all(r.outcome is TransferOutcome.DELIVERED for r in results) and \
            (Path(tmp) / 'down' / 'img.jpg').read_bytes() == data
        sent, received = sender.counters, receiver.counters
        return {'ok': ok, 'down': sent.bytes_sent, 'up': received.bytes_sent,
                'pdus': sent.pdus_sent + received.pdus_sent, 'time': now}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--runs', type=int, default=20, help='seeds per loss rate')
    args = parser.parse_args()
    data = lunar_jpeg()
    size = len(data)
    print(f'file: 1280x720 q85 JPEG, {size} B; baseline = file size (1.00x); '
          f'{args.runs} seeded runs per loss rate, simulated time, 1.3 s each way')
    print(f'{"loss":>5} {"ok":>5} {"wire mean":>10} {"p90":>7} {"max":>7} {"+SPP mean":>10} '
          f'{"down only":>10} {"sim s":>7}  goal')
    failures = 0
    for loss in (0.0, 0.2, 0.5):
        runs = [transfer(data, loss, seed) for seed in range(args.runs)]
        wire = sorted((r['down'] + r['up']) / size for r in runs)
        spp = [(r['down'] + r['up'] + SPACE_PACKET_HEADER * r['pdus']) / size for r in runs]
        down = [r['down'] / size for r in runs]
        ok = sum(r['ok'] for r in runs)
        goal = GOALS.get(loss)
        verdict = '-' if goal is None else (
            f'<= {goal:.2f}x ' + ('met' if statistics.mean(wire) <= goal else 'NOT MET'))
        failures += goal is not None and statistics.mean(wire) > goal or ok < len(runs)
        print(f'{loss:>5.0%} {ok:>2}/{len(runs):<2} {statistics.mean(wire):>9.3f}x '
              f'{wire[int(0.9 * (len(wire) - 1))]:>6.3f}x {wire[-1]:>6.3f}x '
              f'{statistics.mean(spp):>9.3f}x {statistics.mean(down):>9.3f}x '
              f'{statistics.mean(r["time"] for r in runs):>7.1f}  {verdict}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
