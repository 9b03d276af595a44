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
Link-loss safing latency: safing deadline -> wheel command zero, real threads, real time.

The real ``BridgeStack`` (runner thread, 20 Hz ticks) in front of the ``StandaloneRover``
(its own thread, drive core at 20 Hz, fake wheels), on loopback UDP. Each repetition: the
ground sends RELEASE, then one DRIVE at top speed (0.1 m/s), then nothing. With
``link_timeout = safing_timeout`` the rover is at full speed when the safing deadline
(last contact + ``safing_timeout``) passes. Measured, per repetition, from the deadline:

* ``wake``: the bridge's safing e-stop call reaches the rover port;
* ``wheels zero``: the drive core writes zero to the wheels (the promise: <= 100 ms);
* ``next step``: the rover's first control step after the e-stop call, i.e. what the latency
  would be if the drive applied the stop at its next step instead of inside the call.

The baseline is the bridge's tick period, measured in the same run (median interval between
ticks while the link is silent); latencies are also printed as a ratio of it.

    .venv/bin/python benchmarks/bridge_safing_latency.py [--reps 50] [--safing-timeout 1.0]
"""

import argparse
import os
from pathlib import Path
import statistics
import tempfile
import threading
import time
from typing import List, Tuple

from rover_common.product_store import ProductStore
from rover_ground.ground import GroundStation
from rover_lander_bridge.params import TABLE
from rover_lander_bridge.runner import BridgeStack
from rover_link import commands as cmd
from rover_link.protocol import LinkState
from rover_link.security import ArsnCounter, load_key, MacEngine
from rover_link.transports import free_udp_port, UdpTransport
from rover_standalone.standalone_rover import StandaloneRover

#: Wheel speed of 0.1 m/s on the 0.075 m wheels (rad/s); "full speed" within 1 %.
FULL_SPEED = 0.1 / 0.075
BUDGET_MS = 100.0


class Probes:
    """Wall-clock stamps of wheel writes, rover steps, bridge ticks and safing e-stops."""

    def __init__(self, rover: StandaloneRover, stack: BridgeStack) -> None:
        self.writes: List[Tuple[float, Tuple[float, ...]]] = []
        self.steps: List[float] = []
        self.ticks: List[float] = []
        self.estops: List[float] = []
        self._lock = threading.Lock()
        backend = rover.drive.backend
        write, step, tick, set_estop = backend.write, rover.step, stack.bridge.tick, \
            rover.set_estop

        def timed_write(velocities, now):
            write(velocities, now)
            self._note(self.writes, (time.monotonic(), tuple(velocities)))

        def timed_step():
            self._note(self.steps, time.monotonic())
            step()

        def timed_tick(now):
            self._note(self.ticks, time.monotonic())
            return tick(now)

        def timed_estop(engage, reason, done):
            if engage:
                self._note(self.estops, time.monotonic())
            set_estop(engage, reason, done)

        backend.write, rover.step, stack.bridge.tick = timed_write, timed_step, timed_tick
        rover.set_estop = timed_estop

    def _note(self, series: list, value) -> None:
        with self._lock:
            series.append(value)

    def after(self, series: list, when: float) -> list:
        """Return the entries of ``series`` stamped at or after ``when``."""
        with self._lock:
            return [v for v in series if (v[0] if isinstance(v, tuple) else v) >= when]


def percentile(values: List[float], q: int) -> float:
    """Return the ``q``-th percentile of ``values`` (inclusive method)."""
    return statistics.quantiles(values, n=100, method='inclusive')[q - 1]


def main() -> None:
    """Run the repetitions and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--reps', type=int, default=50)
    parser.add_argument('--safing-timeout', type=float, default=1.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='safing-bench-'))
    bridge_port, ground_port = free_udp_port(), free_udp_port()
    values = TABLE.validated({
        'key_file': str(work / 'uplink.key'), 'create_key_if_missing': True,
        'state_dir': str(work / 'state'), 'product_dir': str(work / 'products'),
        'udp_local_host': '127.0.0.1', 'udp_local_port': bridge_port,
        'udp_remote_host': '127.0.0.1', 'udp_remote_port': ground_port,
        'link_timeout': args.safing_timeout, 'safing_timeout': args.safing_timeout})
    products = ProductStore(work / 'products', budget_bytes=50_000_000)
    rover = StandaloneRover(products, image_size=(64, 48))
    stack = BridgeStack(values, rover, products=products)
    probes = Probes(rover, stack)
    link = UdpTransport(('127.0.0.1', ground_port), ('127.0.0.1', bridge_port))
    ground = GroundStation(mac=MacEngine({1: load_key(work / 'uplink.key')}), spi=1,
                           counter=ArsnCounter(work / 'ground.sqlite3', 1))
    rover.start()
    stack.start()
    wake, zero, next_step, periods = [], [], [], []
    not_full = 0
    try:
        for _ in range(args.reps):
            link.send(ground.command(cmd.Release(), 0.0)[0])
            time.sleep(0.2)
            link.send(ground.command(cmd.Drive(5.0, 0.1), 0.0)[0])
            while stack.bridge.snapshot().state is not LinkState.SAFED:
                while link.receive(0.01) is not None:
                    pass
            time.sleep(0.15)
            deadline = stack.bridge.link.last_contact + args.safing_timeout
            before = [w for t, w in probes.after(probes.writes, deadline - 0.2) if t < deadline]
            if not before or min(abs(v) for v in before[-1]) < 0.99 * FULL_SPEED:
                not_full += 1
            estop_at = probes.after(probes.estops, deadline - 0.5)[0]
            zero_at = next(t for t, w in probes.after(probes.writes, estop_at) if not any(w))
            wake.append(1e3 * (estop_at - deadline))
            zero.append(1e3 * (zero_at - deadline))
            next_step.append(1e3 * (probes.after(probes.steps, estop_at)[0] - deadline))
            silent_ticks = [t for t in probes.after(probes.ticks, deadline - 0.8)
                            if t < deadline]
            periods += [b - a for a, b in zip(silent_ticks, silent_ticks[1:])]
    finally:
        link.close()
        stack.close()
        rover.close()
        products.close()
    tick_ms = 1e3 * statistics.median(periods)
    print(f'{args.reps} repetitions, safing_timeout = link_timeout = {args.safing_timeout} s, '
          f'DRIVE at 0.1 m/s, loopback UDP, {os.cpu_count()} CPUs, '
          f'load {os.getloadavg()[0]:.2f}')
    print(f'tick period measured: {tick_ms:.2f} ms (median of {len(periods)} intervals)')
    for label, series in (('wake (safing e-stop called)', wake),
                          ('wheels zero (drive core, inside the call)', zero),
                          ('next rover step (if applied at the step)', next_step)):
        p50, p99, top = percentile(series, 50), percentile(series, 99), max(series)
        print(f'{label}\n    p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  max {top:7.2f} ms   '
              f'(/ tick: {p50 / tick_ms:.3f} {p99 / tick_ms:.3f} {top / tick_ms:.3f})')
    print(f'repetitions not at full speed at the deadline: {not_full}')
    verdict = 'met' if max(zero) <= BUDGET_MS and not not_full else 'NOT met'
    print(f'goal wheels zero <= {BUDGET_MS:.0f} ms after the deadline: {verdict} '
          f'(max {max(zero):.2f} ms)')


if __name__ == '__main__':
    main()
