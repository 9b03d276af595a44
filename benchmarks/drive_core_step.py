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
Benchmark of the drive core's control step, against a bare kinematics step in the same run.

Prints the time per ``DriveController.step`` (read wheels, odometry with covariance, stamp and
arbitration checks, interlock, limits, ramps, saturation, write wheels, status), with a fresh
teleop command each step as in teleoperation, on the fake backend; and the same loop doing
only what any drive must do (fake read, ``body_to_wheels``, fake write), interleaved in rounds
so machine load hits both alike. The ratio is the price of the safety and odometry layers;
the share of the 50 ms period at 20 Hz says whether it matters.

    .venv/bin/python benchmarks/drive_core_step.py [--steps 4000] [--rounds 5]
"""

import argparse
import statistics
import time

from rover_drive.arbitration import Source
from rover_drive.backends.fake import FakeWheels
from rover_drive.drive_controller import DriveController
from rover_drive.skid_steer import SkidSteerGeometry

PERIOD = 0.05


def full_step_loop(steps: int) -> float:
    """Return seconds per full controller step."""
    geometry = SkidSteerGeometry(0.06, 0.26, 1.5)
    wheels = FakeWheels(geometry)
    controller = DriveController({'interlock_enabled': False}, wheels, now=0.0)
    now = 0.0
    start = time.perf_counter()
    for i in range(steps):
        now += PERIOD
        controller.command_velocity(Source.TELEOP, 0.1, 0.2 if i % 200 < 100 else -0.2,
                                    now=now, stamp=now - 0.01)
        controller.step(now)
    return (time.perf_counter() - start) / steps


def bare_step_loop(steps: int) -> float:
    """Return seconds per bare step: read, kinematics, write; no safety, no odometry."""
    geometry = SkidSteerGeometry(0.06, 0.26, 1.5)
    wheels = FakeWheels(geometry)
    wheels.start(0.0)
    now = 0.0
    start = time.perf_counter()
    for i in range(steps):
        now += PERIOD
        wheels.read(now)
        wheels.write(geometry.body_to_wheels(0.1, 0.2 if i % 200 < 100 else -0.2), now)
    return (time.perf_counter() - start) / steps


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--steps', type=int, default=4000)
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    full, bare = [], []
    for _ in range(args.rounds):
        full.append(full_step_loop(args.steps))
        bare.append(bare_step_loop(args.steps))
    f, b = statistics.median(full), statistics.median(bare)
    print(f'drive core step (median of {args.rounds} rounds x {args.steps} steps)')
    print(f'  full DriveController.step : {f * 1e6:8.1f} us')
    print(f'  bare read+kinematics+write: {b * 1e6:8.1f} us  (baseline, same run)')
    print(f'  ratio full / bare         : {f / b:8.2f} x')
    print(f'  full step / 50 ms period  : {100.0 * f / PERIOD:8.3f} %')


if __name__ == '__main__':
    main()
