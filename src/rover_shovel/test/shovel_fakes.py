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
Test doubles of the drive and camera ports, and a harness that steps a controller in time.

The drive double moves at the requested speed on the test clock, keeps its status fresh
(unless told to go silent) and reports stopped only when no creep runs. The camera double
writes real JPEG-like products into a real ProductStore after a delay.
"""

import math
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from rover_common.product_store import ProductKind, ProductStore

from rover_shovel.config import ShovelConfig
from rover_shovel.controller import ShovelController
from rover_shovel.fake_joint import FakeJointActuator, FakeJointParams
from rover_shovel.ports import (CaptureJob, DriveJob, DriveSnapshot, JobState, PortError,
                                RoverPose)
from rover_shovel.shovel_types import ShovelStatus

DT = 0.05


class Clock:
    """The test clock: the harness advances it, the doubles read it."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start


class FakeDrive:
    """DrivePort double: fresh status, a creep at the asked speed, stop, e-stop, faults."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.available = True
        self.moving = False          # a teleop drive the shovel does not own
        self.estop = False
        self.estop_reason = ''
        self.fault = False
        self.silent_since: Optional[float] = None
        self.refuse_start = False
        self.fail_after: Optional[float] = None   # creep fails after this distance (m)
        self.stall_creep = False     # the creep never progresses
        self.pose = RoverPose(1.5, -2.0, 0.0, 0.0, 0.0, 0.3826834, 0.9238795)
        self.starts: List[Tuple[float, float]] = []
        self.stops = 0
        self._job = DriveJob(JobState.IDLE)
        self._creep: Optional[Tuple[float, float, float]] = None  # start, distance, speed

    def snapshot(self) -> Optional[DriveSnapshot]:
        """Return a status stamped now, or frozen at the time it went silent."""
        stamp = self.clock.now if self.silent_since is None else self.silent_since
        self._update()
        stopped = not self.moving and self._creep is None
        return DriveSnapshot(stamp, stopped, self.estop, self.fault,
                             self.estop_reason if self.estop else '', self.pose)

    def ready(self) -> bool:
        """Return whether the server is there."""
        return self.available

    def start_creep(self, distance: float, speed: float) -> None:
        """Start the creep, or refuse it."""
        if self.refuse_start or not self.available:
            raise PortError('drive_distance goal rejected (test)')
        self.starts.append((distance, speed))
        self._creep = (self.clock.now, distance, speed)
        self._job = DriveJob(JobState.RUNNING, command_id=f'drive-goal-{len(self.starts)}')

    def creep_status(self) -> DriveJob:
        """Return the creep status on the test clock."""
        self._update()
        return self._job

    def stop(self) -> None:
        """Cancel the creep; the rover stops at once."""
        self.stops += 1
        if self._creep is not None:
            self._creep = None
            self._job = DriveJob(JobState.CANCELED, 'canceled', self._job.distance_travelled,
                                 self._job.command_id)

    def _update(self) -> None:
        if self._creep is None:
            return
        start, distance, speed = self._creep
        travelled = 0.0 if self.stall_creep else min(speed * (self.clock.now - start),
                                                     abs(distance))
        signed = math.copysign(travelled, distance)
        cid = self._job.command_id
        if self.fail_after is not None and travelled >= self.fail_after:
            self._creep = None
            self._job = DriveJob(JobState.FAILED, 'wheel fault (test)', signed, cid)
        elif travelled >= abs(distance):
            self._creep = None
            self._job = DriveJob(JobState.SUCCEEDED, 'done', signed, cid)
        else:
            self._job = DriveJob(JobState.RUNNING, '', signed, cid)


class FakeCameras:
    """CameraPort double writing real products into a real store after ``delay`` seconds."""

    def __init__(self, clock: Clock, store: ProductStore, *, delay: float = 0.3) -> None:
        self.clock = clock
        self.store = store
        self.delay = delay
        self.available = True
        self.fail = False
        self.hang = False
        self.bogus_ids = False
        self.requests: List[Tuple[str, str]] = []
        self.cancels = 0
        self._started: Optional[float] = None
        self._job = CaptureJob(JobState.IDLE)

    def ready(self) -> bool:
        """Return whether the server is there."""
        return self.available

    def start_capture(self, camera: str, command_id: str) -> None:
        """Start a capture."""
        if not self.available:
            raise PortError('capture server absent (test)')
        self.requests.append((camera, command_id))
        self._started = self.clock.now
        self._job = CaptureJob(JobState.RUNNING, command_id=command_id)

    def capture_status(self) -> CaptureJob:
        """Finish the capture once the delay passed."""
        if self._job.state != JobState.RUNNING or self.hang:
            return self._job
        if self.clock.now - self._started < self.delay:
            return self._job
        camera, command_id = self.requests[-1]
        if self.fail:
            self._job = CaptureJob(JobState.FAILED, 'device error (test)',
                                   command_id=command_id)
            return self._job
        if self.bogus_ids:
            self._job = CaptureJob(JobState.SUCCEEDED, '', ('img-not-in-store',), command_id)
            return self._job
        sides = ('left', 'right') if camera == 'both' else (camera,)
        ids = []
        for side in sides:
            data = b'\xff\xd8\xff\xe0' + side.encode() * 64 + b'\xff\xd9'
            product = self.store.put(data, kind=ProductKind.IMAGE, suffix='.jpg',
                                     stamp=1_790_000_000.0 + self.clock.now, camera=side,
                                     metadata={'command_id': command_id})
            ids.append(product.id)
        self._job = CaptureJob(JobState.SUCCEEDED, '', tuple(ids), command_id)
        return self._job

    def cancel_capture(self) -> None:
        """Cancel a running capture."""
        self.cancels += 1
        if self._job.state == JobState.RUNNING:
            self._job = CaptureJob(JobState.CANCELED, 'canceled', command_id=self._job.command_id)


class Rig:
    """A controller on the fake joint with fake ports and a real store, stepped on a clock."""

    def __init__(self, tmp_path: Path, *, config: Optional[ShovelConfig] = None,
                 joint: Optional[FakeJointParams] = None, initial_angle: float = 0.0) -> None:
        self.clock = Clock()
        self.config = config or ShovelConfig.from_overrides()
        self.joint = FakeJointActuator(joint or FakeJointParams(current_noise=0.0),
                                       initial_angle=initial_angle, start_time=self.clock.now)
        self.store = ProductStore(tmp_path / 'products', budget_bytes=50_000_000)
        self.drive = FakeDrive(self.clock)
        self.cameras = FakeCameras(self.clock, self.store)
        self.ctl = ShovelController(self.config, self.joint, self.drive, self.cameras,
                                    self.store, utc_clock=lambda: 1_790_000_000.0 + self.clock.now)
        self.statuses: List[ShovelStatus] = []

    def step(self) -> ShovelStatus:
        """Advance the clock by one period and step the controller."""
        self.clock.now += DT
        status = self.ctl.step(self.clock.now)
        self.statuses.append(status)
        return status

    def run_until(self, done: Callable[[], bool], timeout: float = 60.0) -> float:
        """Step until ``done()`` or ``timeout`` simulated seconds; return the time taken."""
        start = self.clock.now
        while not done():
            if self.clock.now - start > timeout:
                raise AssertionError(f'not done after {timeout} s of simulated time')
            self.step()
        return self.clock.now - start

    def run_job(self, job_id: int, timeout: float = 120.0):
        """Step until the job has a result; return it."""
        self.run_until(lambda: self.ctl.job(job_id).done, timeout)
        return self.ctl.job(job_id).result

    def run_for(self, seconds: float) -> None:
        """Step for ``seconds`` of simulated time."""
        end = self.clock.now + seconds
        while self.clock.now < end - 1e-9:
            self.step()
