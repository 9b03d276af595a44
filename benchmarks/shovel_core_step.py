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
Benchmark of the shovel core's control step, and of a whole sample sequence in simulated time.

Prints:
- the cost of ``ShovelController.step`` on the fake joint (read, fault checks, job, profile,
  command, status) idle and during a move, against the bare backend I/O of a step (one
  ``read`` and one ``command`` of the same fake joint) in the same run, and their ratio: the
  core's own overhead per step;
- the share of one core the step costs at the default 20 Hz control rate;
- the wall time of a complete collect_sample (fake joint, in-memory drive and camera ports,
  a real product store) run in simulated time, against the sequence's simulated duration.

    .venv/bin/python benchmarks/shovel_core_step.py [--steps 20000]
"""

import argparse
from pathlib import Path
import statistics
import sys
import tempfile
import time

from rover_shovel.config import ShovelConfig
from rover_shovel.fake_joint import FakeJointActuator, FakeJointParams
from rover_shovel.shovel_types import SampleError, SampleRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'src' / 'rover_shovel' / 'test'))
from shovel_fakes import DT, Rig  # noqa: E402, I100


def time_per_call(function, count: int) -> float:
    """Return the median time per call (s) over 5 batches of ``count`` calls."""
    batches = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(count):
            function()
        batches.append((time.perf_counter() - start) / count)
    return statistics.median(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--steps', type=int, default=20000, help='calls per batch')
    args = parser.parse_args()
    config = ShovelConfig.from_overrides()

    with tempfile.TemporaryDirectory() as tmp:
        # baseline: the backend I/O alone, on its own fake joint and clock
        bare = FakeJointActuator(FakeJointParams())
        bare_clock = [0.0]

        def bare_step() -> None:
            bare_clock[0] += DT
            bare.read(bare_clock[0])
            bare.command(0.5, bare_clock[0])

        rig = Rig(Path(tmp), config=config, joint=FakeJointParams())
        rig.step()
        idle_base = time_per_call(bare_step, args.steps)
        idle = time_per_call(rig.step, args.steps)

        def moving_step() -> None:
            if rig.ctl.active_job_id is None:
                rig.ctl.move_to('dig' if rig.joint.angle < 1.0 else 'stowed')
            rig.step()

        moving_base = time_per_call(bare_step, args.steps)
        moving = time_per_call(moving_step, args.steps)
        rate = 1.0 / DT
        print(f'control step, idle:   {idle * 1e6:7.1f} us  (bare backend I/O '
              f'{idle_base * 1e6:.1f} us, ratio {idle / idle_base:.1f}x)')
        print(f'control step, moving: {moving * 1e6:7.1f} us  (bare backend I/O '
              f'{moving_base * 1e6:.1f} us, ratio {moving / moving_base:.1f}x)')
        print(f'CPU share at {rate:.0f} Hz: {moving * rate:.3%} of one core')

        rig = Rig(Path(tmp) / 'sample', config=config, joint=FakeJointParams())
        rig.step()
        job = rig.ctl.start_collect_sample(SampleRequest(command_id='bench'))
        start_sim, start_wall = rig.clock.now, time.perf_counter()
        rig.run_until(lambda: rig.ctl.job(job).done, timeout=300.0)
        wall = time.perf_counter() - start_wall
        result = rig.ctl.job(job).result
        assert result.error == SampleError.NONE, result.message
        simulated = rig.clock.now - start_sim
        print(f'collect_sample: {simulated:.1f} s simulated in {wall * 1e3:.0f} ms wall '
              f'({simulated / wall:.0f}x real time), fill {result.fill_estimate_kg:.3f} '
              f'+- {result.fill_estimate_sigma_kg:.3f} kg (true {rig.joint.load_kg:.3f} kg)')


if __name__ == '__main__':
    main()
