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
The long uplink fuzz run: 1 M frames through the bridge, zero uncaught exceptions, all counted.

Frames come from five generators (seeded, reproducible): random bytes; mutations of a valid
frame (bit flips, cuts, insertions, deletions); authenticated frames around random packets
on the PUS, CFDP and unknown APIDs; authenticated well-formed telecommands with random
service, subtype, acknowledgement flags and data; and valid commands with random arguments
(NaN, infinities, huge values) plus replays of earlier frames. They go through
``LanderBridge.handle_frames`` in batches of 100 with a product store, a CFDP file sender and
a rover port that completes everything at once; the bridge ticks after every batch, so
reports, events, the telemetry store (overflowing) and the downlink scheduler run too.

Checked for every batch: no exception escapes, and ``accepted + rejected + CFDP PDUs``
grows by exactly the batch size. Whatever reaches the rover port is checked against the
limits. The figures are printed with the rate against a bare ``PusTc.unpack`` of the same
number of raw frames (baseline, same run).

    .venv/bin/python benchmarks/bridge_fuzz.py [--frames 1000000] [--seed 1]
"""

import argparse
import collections
import math
import os
from pathlib import Path
import random
import tempfile
import time
import traceback

from rover_common.product_store import ProductStore
from rover_lander_bridge.bridge import BridgeConfig, LanderBridge
from rover_lander_bridge.rover_port import RoverTelemetry
from rover_lander_bridge.tm_store import TmStore
from rover_link import commands as cmd
from rover_link.cfdp import FileSender
from rover_link.framing import protect
from rover_link.protocol import (APID_CFDP, APID_ROVER, CFDP_GROUND_ENTITY_ID,
                                 CFDP_ROVER_ENTITY_ID, HkSet)
from rover_link.security import MacEngine, ReplayGuard
from rover_link.telemetry import MobilityHk, ShovelHk
from spacepackets.ecss.tc import PusTc

BATCH = 100
LIMITS = cmd.CommandLimits()


class CheckingPort:
    """Completes every operation at once and checks that its arguments are within limits."""

    def __init__(self) -> None:
        self.calls = collections.Counter()
        self.violations = []

    def _done(self, name, args, done) -> None:
        self.calls[name] += 1
        if name == 'drive_distance' and not (0 < abs(args[0]) <= LIMITS.max_drive_distance
                                             and 0 < args[1] <= LIMITS.max_drive_speed):
            self.violations.append((name, args))
        if name == 'turn' and not (0 < abs(args[0]) <= LIMITS.max_turn_angle
                                   and 0 < args[1] <= LIMITS.max_turn_rate):
            self.violations.append((name, args))
        done.succeed()

    def drive_distance(self, distance, speed, done):
        self._done('drive_distance', (distance, speed), done)

    def turn(self, angle, rate, done):
        self._done('turn', (angle, rate), done)

    def stop(self, done):
        self._done('stop', (), done)

    def set_estop(self, engage, reason, done):
        self._done('set_estop', (engage,), done)

    def move_shovel(self, pose, angle, velocity, done):
        self._done('move_shovel', (pose, angle, velocity), done)

    def stow_shovel(self, done):
        self._done('stow_shovel', (), done)

    def hold_shovel(self, done):
        self._done('hold_shovel', (), done)

    def collect_sample(self, dig, dump, command_id, done):
        self._done('collect_sample', (dig, dump), done)

    def capture(self, camera, quality, width, command_id, done):
        self._done('capture', (camera, quality, width), done)

    def clear_fault(self, target, done):
        self._done('clear_fault', (target,), done)

    def telemetry(self) -> RoverTelemetry:
        return RoverTelemetry(MobilityHk.unknown(), ShovelHk.unknown())


class Generator:
    """Seeded frame generators; ``draw()`` returns (kind, frame)."""

    KINDS = (('random bytes', 30), ('mutated valid frame', 30), ('authenticated packet', 20),
             ('authenticated random TC', 15), ('valid command (random args) or replay', 5))

    def __init__(self, mac: MacEngine, seed: int) -> None:
        self._mac = mac
        self._rng = random.Random(seed)
        self._arsn = 1
        self._seq = 0
        self._history = collections.deque(maxlen=1000)
        self._kinds = [k for k, _ in self.KINDS]
        self._weights = [w for _, w in self.KINDS]
        self._makers = dict(zip(self._kinds, (self._random_bytes, self._mutated_valid,
                                              self._authenticated_packet,
                                              self._authenticated_random,
                                              self._valid_command)))
        self._valid = self._protect(self._tc(*cmd.encode(cmd.Drive(1.0, 0.05))))

    def _protect(self, packet: bytes) -> bytes:
        self._arsn += 1
        frame = protect(self._mac, 1, self._arsn, packet)
        self._history.append(frame)
        return frame

    def _tc(self, service: int, subtype: int, data: bytes, ack: int = 0b1111) -> bytes:
        self._seq = (self._seq + 1) % 16384
        return bytes(PusTc(service=service, message_subtype=subtype, app_data=data,
                           apid=APID_ROVER, seq_count=self._seq, ack_flags=ack).pack())

    def draw(self):
        kind = self._rng.choices(self._kinds, self._weights)[0]
        return kind, self._makers[kind]()

    def _random_bytes(self) -> bytes:
        return self._rng.randbytes(self._rng.randint(0, 300))

    def _mutated_valid(self) -> bytes:
        frame = bytearray(self._valid)
        for _ in range(self._rng.randint(1, 4)):
            choice = self._rng.randrange(4)
            index = self._rng.randrange(len(frame)) if frame else 0
            if choice == 0 and frame:
                frame[index] ^= 1 << self._rng.randrange(8)
            elif choice == 1:
                del frame[index:]
            elif choice == 2:
                frame[index:index] = self._rng.randbytes(self._rng.randint(1, 4))
            elif frame:
                del frame[index]
        return bytes(frame)

    def _authenticated_packet(self) -> bytes:
        body = bytearray(self._rng.randbytes(self._rng.randint(7, 300)))
        apid = self._rng.choice([APID_ROVER, APID_CFDP, self._rng.randrange(2048)])
        body[0] = 0x10 | (body[0] & 0x08) | (apid >> 8)
        body[1] = apid & 0xFF
        body[4:6] = (len(body) - 7).to_bytes(2, 'big')
        return self._protect(bytes(body))

    def _authenticated_random(self) -> bytes:
        service = self._rng.choice([3, 8, 9, 17, self._rng.randrange(256)])
        subtype = self._rng.randrange(256) if self._rng.random() < 0.3 else \
            self._rng.choice([1, 5, 6, 27, 31, 128])
        data = bytes([self._rng.randrange(16)]) + self._rng.randbytes(self._rng.randint(0, 30))
        return self._protect(self._tc(service, subtype, data, self._rng.randrange(16)))

    def _valid_command(self) -> bytes:
        if self._rng.random() < 0.3 and self._history:
            return self._rng.choice(self._history)
        values = [0.0, -0.0, 1.0, 0.05, 1e300, -1e300, math.nan, math.inf, -math.inf, 5.0,
                  5.0000001, 0.1, 0.10000001]

        def real() -> float:
            return self._rng.choice(values) if self._rng.random() < 0.5 else \
                self._rng.uniform(-10.0, 10.0)

        command = self._rng.choice([
            cmd.Drive(real(), real()), cmd.Turn(real(), real()),
            cmd.CollectSample(abs(real()) % 1.0 if math.isfinite(real()) else 0.0),
            cmd.ListProducts(self._rng.random() < 0.5, self._rng.randrange(100)),
            cmd.DownlinkProduct(self._rng.choice(['img-x', 'nope', 'a' * 64])),
            cmd.HkOneShot((HkSet.LINK,)),
            cmd.Ping(), cmd.Stop()])
        return self._protect(self._tc(*cmd.encode(command)))


def baseline(frames, count: int) -> float:
    """Return seconds for a bare ``PusTc.unpack`` attempt on ``count`` raw frames."""
    start = time.perf_counter()
    for frame in frames[:count]:
        try:
            PusTc.unpack(frame[10:-16])
        except Exception:  # noqa: B902 - the baseline parser may raise anything on junk
            pass
    return time.perf_counter() - start


def main() -> None:
    """Run the fuzz campaign and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=1_000_000)
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix='bridge-fuzz-'))
    mac = MacEngine({1: os.urandom(32)})
    port = CheckingPort()
    products = ProductStore(workdir / 'products', budget_bytes=10 ** 8)
    sender = FileSender(workdir / 'downlink.sqlite3', local_entity_id=CFDP_ROVER_ENTITY_ID,
                        remote_entity_id=CFDP_GROUND_ENTITY_ID)
    bridge = LanderBridge(BridgeConfig(), port, mac=mac,
                          replay=ReplayGuard(workdir / 'replay.sqlite3', synchronous='NORMAL'),
                          tm_store=TmStore(workdir / 'tm.sqlite3'), products=products,
                          files=sender, now=0.0)
    generator = Generator(mac, args.seed)
    kinds = collections.Counter()
    exceptions = 0
    uncounted = 0
    sample = []
    now = 0.0
    start = time.perf_counter()
    done = 0
    while done < args.frames:
        batch = []
        for _ in range(min(BATCH, args.frames - done)):
            kind, frame = generator.draw()
            kinds[kind] += 1
            batch.append(frame)
        if len(sample) < 20000:
            sample.extend(batch)
        before = bridge.status(now)
        now += 0.01
        try:
            bridge.handle_frames(batch, now)
            bridge.tick(now)
        except Exception:  # noqa: B902 - counting, not swallowing: the run fails below
            exceptions += 1
            if exceptions <= 3:
                traceback.print_exc()
        after = bridge.status(now)
        counted = sum(getattr(after, f) - getattr(before, f)
                      for f in ('tc_accepted', 'tc_rejected', 'cfdp_pdus_received'))
        if counted != len(batch):
            uncounted += abs(len(batch) - counted)
        done += len(batch)
        if done % 100_000 == 0:
            print(f'  {done} frames, {time.perf_counter() - start:.0f} s', flush=True)
    elapsed = time.perf_counter() - start
    snap = bridge.status(now)
    base = baseline(sample, len(sample)) / max(len(sample), 1) * args.frames
    bridge.close()
    sender.close()
    products.close()
    print(f'{args.frames} frames (seed {args.seed}) in {elapsed:.1f} s: '
          f'{args.frames / elapsed:.0f} frames/s through the bridge; a bare PusTc.unpack '
          f'attempt on the same frames would take {base:.1f} s ({elapsed / base:.1f}x)')
    for kind, _ in Generator.KINDS:
        print(f'  {kind:<38} {kinds[kind]:>8}')
    print(f'accepted {snap.tc_accepted}, refused {snap.tc_rejected} (auth {snap.tc_auth_failures}'
          f', replay {snap.tc_replays}, malformed {snap.tc_malformed}), CFDP PDUs '
          f'{snap.cfdp_pdus_received}; TM dropped by the full store {snap.tm_dropped}')
    print(f'rover port calls: {dict(port.calls)}; limit violations: {len(port.violations)}')
    print(f'uncaught exceptions: {exceptions}; frames not counted exactly once: {uncounted}')
    ok = exceptions == 0 and uncounted == 0 and not port.violations
    print('PASS' if ok else 'FAIL')
    raise SystemExit(0 if ok else 1)


if __name__ == '__main__':
    main()
