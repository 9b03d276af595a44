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
Jobs the shovel controller runs one at a time: the context they act through, and a move.

A job is stepped by the controller on every control step, after the joint was read and
checked for faults and before the setpoint is sent. It moves the joint only through its
:class:`JobContext`, so it cannot get around the limits, the fault latch or the e-stop hold.
"""

from typing import Optional, Protocol, Tuple

from rover_shovel.config import ShovelConfig
from rover_shovel.joint_profile import Setpoint
from rover_shovel.ports import CameraPort, DrivePort, DriveSnapshot, ProductSink
from rover_shovel.shovel_types import (Fault, JobFeedback, JointReading, MoveError, MoveResult,
                                       Phase)


class JobContext(Protocol):
    """What a job may see and do; the controller implements it."""

    @property
    def config(self) -> ShovelConfig:
        """Return the configuration in force."""

    @property
    def drive(self) -> DrivePort:
        """Return the drive port."""

    @property
    def cameras(self) -> CameraPort:
        """Return the camera port."""

    @property
    def sink(self) -> ProductSink:
        """Return the product store."""

    def reading(self) -> Optional[JointReading]:
        """Return this step's joint reading, or None when the read failed."""

    def setpoint(self) -> Setpoint:
        """Return the joint setpoint."""

    def fault(self) -> Tuple[Fault, str]:
        """Return the latched fault and its reason (NONE, '' when healthy)."""

    def estop_reason(self) -> Optional[str]:
        """Return why the drive's e-stop is latched, or None when it is not."""

    def drive_snapshot(self, now: float) -> Tuple[Optional[DriveSnapshot], bool]:
        """Return the latest drive snapshot and whether it is fresh."""

    def goto(self, target: float, max_velocity: float) -> float:
        """Start moving the joint to ``target``; return the planned duration (s)."""

    def hold(self) -> None:
        """Stop the joint at once where it is and hold it there."""

    def stop_motion(self) -> None:
        """Decelerate the joint to rest within the acceleration limit."""

    def at_rest(self) -> bool:
        """Return True when the setpoint rests."""

    def arrived(self, target: float) -> bool:
        """Return True when the setpoint rests on ``target`` and the joint is within tolerance."""

    def utc(self) -> float:
        """Return wall-clock UTC seconds since the epoch (for the evidence)."""


class Job:
    """
    Base of the controller's jobs: an id, a result once done, feedback while running.

    :param job_id: the controller's id for it.
    """

    kind = 'job'

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.result: Optional[object] = None
        self._cancel_requested = False

    @property
    def done(self) -> bool:
        """Return True once the job has its result."""
        return self.result is not None

    def request_cancel(self) -> None:
        """Ask the job to end safely; it ends on a later step."""
        self._cancel_requested = True

    def feedback(self, ctx: JobContext) -> JobFeedback:
        """Return the job's feedback now."""
        raise NotImplementedError

    @property
    def phases(self) -> Tuple[Phase, ...]:
        """Return the phases entered so far (none for a plain move)."""
        return ()

    def step(self, ctx: JobContext, now: float) -> None:
        """Advance the job by one control step."""
        raise NotImplementedError

    def preempt(self, ctx: JobContext, reason: str) -> None:
        """End at once because another job takes over the joint."""
        raise NotImplementedError


class MoveJob(Job):
    """
    Move the joint to an angle within the limits, at most ``max_velocity``.

    Ends NONE on arrival; CANCELED after braking to rest; FAULT, ESTOP (the joint held where
    it is) or TIMEOUT after 1.5 times the planned duration plus ``move_timeout_margin``.
    """

    kind = 'move'

    def __init__(self, job_id: int, target: float, max_velocity: float, label: str) -> None:
        super().__init__(job_id)
        self.target = target
        self.max_velocity = max_velocity
        self.label = label
        self._start_angle: Optional[float] = None
        self._deadline = 0.0
        self._stopping = False

    def feedback(self, ctx: JobContext) -> JobFeedback:
        """Return progress 0..1 by angle travelled."""
        reading = ctx.reading()
        angle = reading.angle if reading is not None else ctx.setpoint().position
        current = reading.current if reading is not None else float('nan')
        if self._start_angle is None:
            return JobFeedback(0.0, angle, current)
        span = abs(self.target - self._start_angle)
        progress = 1.0 if span < 1e-9 else 1.0 - abs(self.target - angle) / span
        return JobFeedback(min(max(progress, 0.0), 1.0), angle, current)

    def _finish(self, ctx: JobContext, error: MoveError, message: str) -> None:
        reading = ctx.reading()
        final = reading.angle if reading is not None else ctx.setpoint().position
        self.result = MoveResult(error, message, final)

    def step(self, ctx: JobContext, now: float) -> None:
        """Start on the first step, then watch arrival, faults, e-stop, cancel and time."""
        fault, reason = ctx.fault()
        if fault != Fault.NONE:
            ctx.hold()
            self._finish(ctx, MoveError.FAULT,
                         f'fault {fault.name} latched: {reason}; clear it with '
                         'shovel/clear_fault')
            return
        estop = ctx.estop_reason()
        if estop is not None:
            ctx.hold()
            self._finish(ctx, MoveError.ESTOP, f'e-stop latched ({estop}); shovel held')
            return
        if self._start_angle is None:
            reading = ctx.reading()
            self._start_angle = reading.angle if reading else ctx.setpoint().position
            planned = ctx.goto(self.target, self.max_velocity)
            self._deadline = now + 1.5 * planned + ctx.config.move_timeout_margin
        if self._cancel_requested:
            if not self._stopping:
                ctx.stop_motion()
                self._stopping = True
            if ctx.at_rest():
                self._finish(ctx, MoveError.CANCELED, 'canceled; shovel braked to rest and held')
            return
        if ctx.arrived(self.target):
            self._finish(ctx, MoveError.NONE, f'at {self.label}')
            return
        if now > self._deadline:
            ctx.hold()
            self._finish(ctx, MoveError.TIMEOUT,
                         f'did not reach {self.label} ({self.target:.3f} rad) in time; held')

    def preempt(self, ctx: JobContext, reason: str) -> None:
        """End PREEMPTED; the new job takes over the setpoint as it is."""
        self._finish(ctx, MoveError.PREEMPTED, reason)
