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
Safing on time: the real runner thread and the standalone rover, on a simulated clock.

The runner's transport is the simulated world: waiting in ``receive`` advances the clock and
steps the rover at its control rate, and scheduled uplink frames arrive at their times. What
counts is the wheel command the drive core writes to its (fake) wheels, stamped with the
simulated time. (The runner thread on the wall clock with a slow tick is tested with the
runner, in rover_lander_bridge's test_runner.py.)
"""

from collections import deque
import threading

from rover_common.product_store import ProductStore
from rover_ground.ground import GroundStation
from rover_lander_bridge.params import TABLE
from rover_lander_bridge.runner import BridgeStack
from rover_link import commands as cmd
from rover_link.protocol import ErrorCode, LinkState, VerificationSubtype as V
from rover_link.security import ArsnCounter, load_key, MacEngine
from rover_link.transports import Transport
from rover_standalone.standalone_rover import StandaloneRover

#: The promise: wheel command zero at most this long after the safing deadline (s).
SAFING_BUDGET = 0.1
#: Wheel speed at the drive's default top speed (0.1 m/s on 0.075 m wheels), rad/s.
FULL_SPEED = 0.1 / 0.075
START = 1000.0


class SimClock:
    """Simulated monotonic time; only the simulated world moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class SimWorld(Transport):
    """
    The runner's transport on simulated time.

    ``receive(timeout)`` advances the clock by ``timeout`` (or to the next scheduled frame),
    stepping the rover at its period on the way; past ``until`` it stops the clock and
    reports ``finished`` so the test can stop the runner.
    """

    def __init__(self, clock: SimClock, rover: StandaloneRover, until: float) -> None:
        super().__init__(65000)
        self.clock = clock
        self.rover = rover
        self.until = until
        self.schedule = deque()
        self.sent = []
        self.finished = threading.Event()
        self._released = threading.Event()

    def at(self, when: float, frame: bytes) -> None:
        """Deliver ``frame`` to the rover at simulated time ``when``."""
        self.schedule.append((when, frame))

    def _send(self, frame: bytes) -> None:
        self.sent.append((self.clock.now, frame))

    def _receive(self, timeout: float):
        if self.schedule and self.schedule[0][0] <= self.clock.now:
            return self.schedule.popleft()[1]
        if self.clock.now >= self.until:
            self.finished.set()
            self._released.wait(0.01)
            return None
        target = min(self.clock.now + timeout, self.until)
        if self.schedule:
            target = min(target, self.schedule[0][0])
        rover = self.rover
        while rover.now + rover.period <= target:
            self.clock.now = rover.now + rover.period
            rover.step()
        self.clock.now = target
        return None

    def _close(self) -> None:
        self._released.set()


class Wheels:
    """Records what the drive core writes to the fake wheels, at simulated time."""

    def __init__(self, rover: StandaloneRover, clock: SimClock) -> None:
        self.writes = []
        backend = rover.drive.backend
        write = backend.write

        def recorded(velocities, now):
            self.writes.append((clock.now, tuple(velocities)))
            write(velocities, now)

        backend.write = recorded

    def before(self, when: float):
        """Return the last command written before ``when``."""
        return [w for t, w in self.writes if t < when][-1]

    def first_zero_after(self, when: float) -> float:
        """Return when the command first became zero at or after ``when``."""
        return next(t for t, w in self.writes if t >= when and not any(w))

    def moving_between(self, start: float, end: float) -> bool:
        """Return True if any non-zero command was written in [start, end)."""
        return any(any(w) for t, w in self.writes if start <= t < end)


def parameters(tmp_path, **extra):
    return TABLE.validated(dict({
        'key_file': str(tmp_path / 'uplink.key'), 'state_dir': str(tmp_path / 'state'),
        'product_dir': str(tmp_path / 'products'), 'create_key_if_missing': True,
        'beacon_interval': 0.0}, **extra))


def ground_of(tmp_path) -> GroundStation:
    return GroundStation(mac=MacEngine({1: load_key(tmp_path / 'uplink.key')}), spi=1,
                         counter=ArsnCounter(tmp_path / 'ground.sqlite3', 1))


def run_world(tmp_path, seconds: float, plan, **timeouts):
    """
    Run the runner thread and the rover for ``seconds`` of simulated time.

    ``plan(ground, world)`` schedules the uplink. Return the stack, the wheels and the
    ground (already fed with everything downlinked).
    """
    clock = SimClock()
    products = ProductStore(tmp_path / 'products', budget_bytes=10_000_000)
    rover = StandaloneRover(products, image_size=(64, 48), now=START)
    wheels = Wheels(rover, clock)
    world = SimWorld(clock, rover, START + seconds)
    stack = BridgeStack(parameters(tmp_path, **timeouts), rover, products=products,
                        transport=world, clock=clock)
    ground = ground_of(tmp_path)
    plan(ground, world)
    stack.start()
    try:
        assert world.finished.wait(20.0), 'the simulated run did not finish'
    finally:
        stack.close()
        rover.close()
        products.close()
    for when, frame in world.sent:
        ground.handle_frame(frame, when)
    return stack, wheels, ground


def test_wheels_are_commanded_to_zero_on_the_safing_deadline_from_full_speed(tmp_path):
    def plan(ground, world):
        # off the 20 Hz grid of ticks and drive steps: waiting for either would be seen late
        world.at(START + 0.013, ground.command(cmd.Drive(5.0, 0.1), 0.0)[0])

    stack, wheels, _ = run_world(tmp_path, 3.0, plan, link_timeout=2.0, safing_timeout=2.0)
    deadline = stack.bridge.link.last_contact + 2.0
    assert stack.bridge.link.last_contact == START + 0.013
    assert min(abs(w) for w in wheels.before(deadline)) >= 0.99 * FULL_SPEED
    zero_at = wheels.first_zero_after(deadline)
    assert zero_at - deadline <= SAFING_BUDGET
    assert zero_at == deadline, 'the runner wakes on the deadline, the e-stop acts at once'
    assert not wheels.moving_between(zero_at, START + 3.0)
    assert stack.bridge.snapshot().state is LinkState.SAFED


def test_the_hold_stops_the_rover_refuses_a_blind_drive_and_contact_restores(tmp_path):
    requests = {}

    def plan(ground, world):
        world.at(START, ground.command(cmd.Drive(5.0, 0.1), 0.0)[0])
        frame, requests['blind'] = ground.command(cmd.Drive(0.5, 0.1), 0.0)
        world.at(START + 2.0, frame)
        frame, requests['fresh'] = ground.command(cmd.Drive(0.5, 0.1), 0.0)
        world.at(START + 2.5, frame)

    stack, wheels, ground = run_world(tmp_path, 3.0, plan, link_timeout=1.0,
                                      safing_timeout=10.0)
    hold_at = START + 1.0
    assert min(abs(w) for w in wheels.before(hold_at)) >= 0.99 * FULL_SPEED
    # the hold is a normal stop: 0.1 m/s at the 0.5 m/s^2 ramp, on the 20 Hz drive steps
    assert wheels.first_zero_after(hold_at) - hold_at <= 0.2 + 0.05
    assert not wheels.moving_between(wheels.first_zero_after(hold_at), START + 2.5), \
        'contact alone does not resume the motion'
    blind = ground.tracker.get(requests['blind'])
    assert blind.failure.subtype is V.START_FAILURE
    assert blind.failure.code is ErrorCode.UNAVAILABLE and 'link hold' in blind.failure.reason
    fresh = ground.tracker.get(requests['fresh'])
    assert V.START_SUCCESS in [r.subtype for r in fresh.reports]
    assert wheels.moving_between(START + 2.5, START + 3.0)
    assert stack.bridge.snapshot().state is LinkState.UP
