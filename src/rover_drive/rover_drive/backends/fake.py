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
The ``fake`` backend: an in-process wheel model so the stack runs with no hardware or sim.

Each wheel follows its command through a first-order lag (exact discretisation, so any step
length is stable). Optional effects, all seeded: ``slip`` (the ground moves by ``1 - slip``
of the wheel rim travel, so odometry over-estimates like on loose regolith) and ``noise``
(Gaussian encoder noise on the reported positions, rad). The true body pose is integrated
separately as :attr:`FakeWheels.ground_truth`, for tests of odometry and bounded moves.
For fault-path tests, :meth:`FakeWheels.inject_fault` and :meth:`FakeWheels.fail_reads` make
the next reads raise like a real bus would.
"""

import math
from typing import List, Optional, Sequence

import numpy as np
from rover_drive.backends.base import BackendError, BackendFault, WheelBackend, WheelFeedback
from rover_drive.odometry import Pose2D, wrap_angle
from rover_drive.skid_steer import SkidSteerGeometry, WHEEL_COUNT

#: Longest integration step of the ground-truth pose (s).
MAX_SUBSTEP = 0.01
#: A longer gap between two calls is a clock jump, not motion (s).
MAX_ADVANCE = 1.0


class FakeWheels(WheelBackend):
    """
    Four simulated wheels.

    :param geometry: rover geometry (the same model maps wheel travel to ground truth).
    :param time_constant: wheel velocity lag (s), > 0.
    :param slip: fraction of rim travel lost to slip, in [0, 1).
    :param noise: standard deviation of the reported positions (rad), >= 0.
    :param seed: random seed of the noise.
    """

    name = 'fake'

    def __init__(self, geometry: SkidSteerGeometry, *, time_constant: float = 0.1,
                 slip: float = 0.0, noise: float = 0.0, seed: int = 0) -> None:
        if not time_constant > 0.0:
            raise ValueError(f'time_constant must be > 0 s, got {time_constant!r}')
        if not 0.0 <= slip < 1.0:
            raise ValueError(f'slip must be in [0, 1), got {slip!r}')
        if not noise >= 0.0:
            raise ValueError(f'noise must be >= 0 rad, got {noise!r}')
        self.geometry = geometry
        self.time_constant = time_constant
        self.slip = slip
        self.noise = noise
        self._rng = np.random.default_rng(seed)
        self._positions = [0.0] * WHEEL_COUNT
        self._velocities = [0.0] * WHEEL_COUNT
        self._command = [0.0] * WHEEL_COUNT
        self._time: Optional[float] = None
        self._fault: Optional[str] = None
        self._failing_reads = 0
        self.ground_truth = Pose2D()
        self.writes = 0

    @property
    def command(self) -> List[float]:
        """Return the last wheel command, rad/s."""
        return list(self._command)

    @property
    def velocities(self) -> List[float]:
        """Return the true wheel velocities, rad/s."""
        return list(self._velocities)

    def inject_fault(self, reason: str) -> None:
        """Make reads raise BackendFault(reason) until :meth:`recover`."""
        self._fault = reason

    def fail_reads(self, count: int) -> None:
        """Make the next ``count`` reads raise BackendError."""
        self._failing_reads = count

    def start(self, now: float) -> None:
        """Start the model clock."""
        self._time = now

    def read(self, now: float) -> WheelFeedback:
        """Advance the model to ``now`` and return the (noisy) wheel state."""
        self._advance(now)
        if self._fault is not None:
            raise BackendFault(self._fault)
        if self._failing_reads > 0:
            self._failing_reads -= 1
            raise BackendError('simulated read timeout')
        positions = self._positions
        if self.noise > 0.0:
            positions = list(np.asarray(positions) + self._rng.normal(0.0, self.noise, 4))
        return WheelFeedback(tuple(positions), tuple(self._velocities))

    def write(self, velocities: Sequence[float], now: float) -> None:
        """Advance to ``now``, then follow the new command."""
        self._advance(now)
        self._command = [float(v) for v in velocities]
        self.writes += 1

    def recover(self, now: float) -> None:
        """Clear an injected fault."""
        self._fault = None

    def stop(self) -> None:
        """Command zero."""
        self._command = [0.0] * WHEEL_COUNT

    def health_values(self) -> dict:
        """Return the model settings."""
        return {'slip': f'{self.slip:.3f}', 'noise_rad': f'{self.noise:.4f}'}

    def _advance(self, now: float) -> None:
        if self._time is None:
            self._time = now
            return
        remaining = now - self._time
        self._time = max(self._time, now)
        if remaining > MAX_ADVANCE:
            # the clock jumped (sim time started, a paused test): do not integrate the gap
            remaining = 0.0
        while remaining > 1e-12:
            dt = min(remaining, MAX_SUBSTEP)
            remaining -= dt
            self._step(dt)

    def _step(self, dt: float) -> None:
        decay = math.exp(-dt / self.time_constant)
        start = list(self._velocities)
        for i, (v, target) in enumerate(zip(self._velocities, self._command)):
            self._positions[i] += target * dt + (v - target) * self.time_constant * (1 - decay)
            self._velocities[i] = target + (v - target) * decay
        mean = [0.5 * (a + b) * (1.0 - self.slip) for a, b in zip(start, self._velocities)]
        linear, angular = self.geometry.wheels_to_body(mean)
        pose = self.ground_truth
        mid = pose.yaw + 0.5 * angular * dt
        self.ground_truth = Pose2D(pose.x + linear * dt * math.cos(mid),
                                   pose.y + linear * dt * math.sin(mid),
                                   wrap_angle(pose.yaw + angular * dt))
