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

r"""
The regolith sample collection as an explicit state machine.

Phases (``Phase``, the CollectSample.Feedback PHASE_ constants)::

    CHECK_PRECONDITIONS -> UNSTOW -> LOWER -> DIG -> LIFT -> CAPTURE -> HOLD -> DONE
                                                                \\-> DUMP -> STOW -> DONE
    any phase --(cancel, fault, e-stop, timeout, drive/capture error)--> SAFING -> result

* CHECK_PRECONDITIONS waits (up to its timeout) for a fresh ``drive/status`` showing the
  rover stopped and no drive fault, the drive and capture servers, and a joint reading;
  a latched shovel fault or drive fault fails it at once.
* UNSTOW moves to ``ready``, LOWER to ``dig``. DIG announces CREEP_ONLY to the drive on its
  first step and starts the creep on the next (so the drive sees the permission before the
  goal), then waits for the drive to report the distance done. The creep goes backwards
  (-x): the shovel is at the back and scoops as the rover backs into the soil.
* LIFT moves slowly to ``hold`` and feeds the fill estimator with steady-speed samples.
* CAPTURE photographs the scoop, checks the images are in the store and writes the evidence
  package; then HOLD settles in ``hold`` (mouth up: the sample is kept), or DUMP lowers the
  scoop to ``dump``, where its mouth faces down past ``spill_angle``, dwells there while the
  regolith falls out, and STOW stows the empty shovel.
* SAFING stops the creep (the rover must report stopped) and cancels a capture. After a
  fault or an e-stop, or when the preconditions were not met, the joint is held where it
  is; otherwise it goes to ``stowed``, or stays in ``hold`` when a sample is in the scoop.
  The result names the phase that failed and why, and what safing achieved.

Every phase, SAFING included, has its own timeout (``timeout_<phase>``).
"""

from dataclasses import dataclass
import math
from typing import Dict, List, Optional, Tuple

from rover_shovel.evidence import (Evidence, EvidenceError, image_ids_in_order, PhaseRecord,
                                   write_evidence)
from rover_shovel.fill import FillEstimate, FillEstimator
from rover_shovel.jobs import Job, JobContext
from rover_shovel.ports import JobState, PortError
from rover_shovel.shovel_types import (Fault, JobFeedback, Phase, SampleError,
                                       SampleRequest, SampleResult)

#: Share of the whole sequence each phase stands for in the feedback progress.
PROGRESS_WEIGHTS: Dict[Phase, float] = {
    Phase.CHECK_PRECONDITIONS: 0.02, Phase.UNSTOW: 0.12, Phase.LOWER: 0.10, Phase.DIG: 0.30,
    Phase.LIFT: 0.16, Phase.CAPTURE: 0.14, Phase.HOLD: 0.16, Phase.DUMP: 0.08,
    Phase.STOW: 0.08,
}
_COMMON_PATH = (Phase.CHECK_PRECONDITIONS, Phase.UNSTOW, Phase.LOWER, Phase.DIG, Phase.LIFT,
                Phase.CAPTURE)
HOLD_PATH = _COMMON_PATH + (Phase.HOLD,)
DUMP_PATH = _COMMON_PATH + (Phase.DUMP, Phase.STOW)


@dataclass(frozen=True)
class _Failure:
    """Why the sequence is ending early, where, and whether the joint must stay put."""

    error: SampleError
    message: str
    phase: Phase
    hold_joint: bool


class SampleSequence(Job):
    """
    One sample collection; the controller steps it until it has a :class:`SampleResult`.

    :param job_id: the controller's id.
    :param request: the goal, already validated; ``dig_distance`` > 0.
    :param fill: the estimator (its model comes from the configuration).
    :param now: start time on the controller clock.
    """

    kind = 'sample'

    def __init__(self, job_id: int, request: SampleRequest, fill: FillEstimator) -> None:
        super().__init__(job_id)
        if not request.dig_distance > 0.0:
            raise ValueError('dig_distance must be resolved to a positive distance')
        self.request = request
        self.command_id = request.command_id or f'sample-{job_id}'
        self.phase = Phase.CHECK_PRECONDITIONS
        self._entered: List[Phase] = [self.phase]
        self._fill = fill
        self._path = DUMP_PATH if request.dump_after else HOLD_PATH
        self._phase_start: Optional[float] = None
        self._phase_start_utc = 0.0
        self._phase_start_angle = 0.0
        self._fraction = 0.0
        self._progress = 0.0
        self._records: List[PhaseRecord] = []
        self._waiting: List[str] = []
        self._failure: Optional[_Failure] = None
        self._safe_target: Optional[float] = None
        self._safing_notes: List[str] = []
        self._creep_started = False
        self._announced = False
        self._dig_travelled = 0.0
        self._dwell_since: Optional[float] = None
        self._command_ids: List[str] = [self.command_id]
        self._evidence_id = ''
        self._image_ids: Tuple[str, ...] = ()
        self._estimate = FillEstimate(math.nan, math.nan, 0)
        self.holding_sample = False

    # -- what callers see -------------------------------------------------------------

    def feedback(self, ctx: JobContext) -> JobFeedback:
        """Return phase, progress 0..1 over the whole sequence, angle and current."""
        reading = ctx.reading()
        angle = reading.angle if reading is not None else ctx.setpoint().position
        current = reading.current if reading is not None else math.nan
        return JobFeedback(self._progress, angle, current, self.phase)

    @property
    def phases(self) -> Tuple[Phase, ...]:
        """Return every phase entered so far, in order."""
        return tuple(self._entered)

    @property
    def fill_estimate(self) -> FillEstimate:
        """Return the fill estimate of the lift (NaN before it)."""
        return self._estimate

    def preempt(self, ctx: JobContext, reason: str) -> None:
        """End PREEMPTED at once: stop the creep and the capture; the new job has the joint."""
        ctx.drive.stop()
        ctx.cameras.cancel_capture()
        self._result(SampleError.PREEMPTED, reason, self.phase)

    # -- stepping ---------------------------------------------------------------------

    def step(self, ctx: JobContext, now: float) -> None:
        """Advance by one control step."""
        if self.done:
            return
        if self._phase_start is None:
            self._enter(ctx, now)
        if self.phase != Phase.SAFING and not self.done:
            failure = self._abort_reason(ctx, now)
            if failure is not None:
                self._begin_safing(ctx, now, failure)
            else:
                self._HANDLERS[self.phase](self, ctx, now)
        if self.phase == Phase.SAFING and not self.done:
            self._step_safing(ctx, now)
        self._update_progress()

    def _abort_reason(self, ctx: JobContext, now: float) -> Optional[_Failure]:
        """Return why the running phase must end now (checked before its handler)."""
        fault, reason = ctx.fault()
        if fault != Fault.NONE:
            if self.phase == Phase.CHECK_PRECONDITIONS:
                return _Failure(SampleError.PRECONDITION, f'shovel fault {fault.name} latched: '
                                f'{reason}; clear it with shovel/clear_fault', self.phase, True)
            return _Failure(SampleError.FAULT, f'shovel fault {fault.name}: {reason}',
                            self.phase, True)
        estop = ctx.estop_reason()
        if estop is not None:
            return _Failure(SampleError.ESTOP, f'drive e-stop latched ({estop})', self.phase,
                            True)
        if self._cancel_requested:
            return _Failure(SampleError.CANCELED, 'canceled', self.phase, False)
        if self.phase != Phase.CHECK_PRECONDITIONS:
            snapshot, fresh = ctx.drive_snapshot(now)
            if not fresh:
                return _Failure(SampleError.DRIVE, 'drive/status lost (older than '
                                f'{ctx.config.drive_status_timeout:.1f} s)', self.phase, False)
        timeout = ctx.config.phase_timeout(self.phase)
        if now - self._phase_start > timeout:
            if self.phase == Phase.CHECK_PRECONDITIONS:
                return _Failure(SampleError.PRECONDITION,
                                f'preconditions not met within {timeout:.1f} s; waiting for: '
                                f'{", ".join(self._waiting) or "nothing"}', self.phase, False)
            return _Failure(SampleError.TIMEOUT,
                            f'{self.phase.name} did not complete within {timeout:.1f} s',
                            self.phase, False)
        return None

    def _enter(self, ctx: JobContext, now: float) -> None:
        """Record the phase start and run its entry action."""
        self._phase_start = now
        self._phase_start_utc = ctx.utc()
        reading = ctx.reading()
        self._phase_start_angle = reading.angle if reading else ctx.setpoint().position
        self._fraction = 0.0
        self._dwell_since = None
        cfg = ctx.config
        if self.phase == Phase.UNSTOW:
            ctx.goto(cfg.pose_ready, cfg.max_velocity)
        elif self.phase == Phase.LOWER:
            ctx.goto(cfg.pose_dig, cfg.max_velocity)
        elif self.phase == Phase.LIFT:
            self._fill.reset()
            ctx.goto(cfg.pose_hold, cfg.lift_velocity)
        elif self.phase == Phase.CAPTURE:
            try:
                ctx.cameras.start_capture(cfg.evidence_camera, f'{self.command_id}/capture')
            except PortError as err:
                self._begin_safing(ctx, now, _Failure(
                    SampleError.CAPTURE, f'capture could not start: {err}', self.phase, False))
                return
            self._command_ids.append(f'{self.command_id}/capture')
        elif self.phase == Phase.HOLD:
            ctx.goto(cfg.pose_hold, cfg.max_velocity)
        elif self.phase == Phase.DUMP:
            ctx.goto(cfg.pose_dump, cfg.max_velocity)
        elif self.phase == Phase.STOW:
            ctx.goto(cfg.pose_stowed, cfg.max_velocity)

    def _next(self, ctx: JobContext, now: float, phase: Phase) -> None:
        """Close the running phase and enter ``phase``."""
        self._records.append(PhaseRecord(self.phase.name.lower(), self._phase_start_utc,
                                         now - self._phase_start))
        self.phase = phase
        self._entered.append(phase)
        if phase == Phase.DONE:
            self._finish_done(ctx)
            return
        self._enter(ctx, now)

    def _move_fraction(self, ctx: JobContext, target: float) -> float:
        reading = ctx.reading()
        if reading is None:
            return self._fraction
        span = abs(target - self._phase_start_angle)
        if span < 1e-9:
            return 1.0
        return min(max(1.0 - abs(target - reading.angle) / span, 0.0), 1.0)

    # -- phase handlers ---------------------------------------------------------------

    def _check(self, ctx: JobContext, now: float) -> None:
        snapshot, fresh = ctx.drive_snapshot(now)
        waiting = []
        if snapshot is None:
            waiting.append('drive/status (none received)')
        elif not fresh:
            waiting.append('a fresh drive/status')
        else:
            if snapshot.fault_latched:
                self._begin_safing(ctx, now, _Failure(
                    SampleError.PRECONDITION, f'drive fault latched: {snapshot.reason}',
                    self.phase, False))
                return
            if not snapshot.stopped:
                waiting.append('the rover to stop')
        if not ctx.drive.ready():
            waiting.append('the drive_distance server')
        if not ctx.cameras.ready():
            waiting.append('the capture server')
        if ctx.reading() is None:
            waiting.append('a joint reading')
        self._waiting = waiting
        if not waiting:
            self._next(ctx, now, Phase.UNSTOW)

    def _unstow(self, ctx: JobContext, now: float) -> None:
        self._fraction = self._move_fraction(ctx, ctx.config.pose_ready)
        if ctx.arrived(ctx.config.pose_ready):
            self._next(ctx, now, Phase.LOWER)

    def _lower(self, ctx: JobContext, now: float) -> None:
        self._fraction = self._move_fraction(ctx, ctx.config.pose_dig)
        if ctx.arrived(ctx.config.pose_dig):
            self._next(ctx, now, Phase.DIG)

    def _dig(self, ctx: JobContext, now: float) -> None:
        if not self._announced:
            self._announced = True  # this step publishes CREEP_ONLY; the goal goes next step
            return
        distance = self.request.dig_distance
        if not self._creep_started:
            try:
                ctx.drive.start_creep(-distance, ctx.config.creep_speed)
            except PortError as err:
                self._begin_safing(ctx, now, _Failure(
                    SampleError.DRIVE, f'creep drive could not start: {err}', self.phase,
                    False))
                return
            self._creep_started = True
            return
        job = ctx.drive.creep_status()
        self._dig_travelled = job.distance_travelled
        self._fraction = min(abs(job.distance_travelled) / distance, 1.0)
        if job.command_id and job.command_id not in self._command_ids:
            self._command_ids.append(job.command_id)
        if job.state == JobState.SUCCEEDED:
            self._next(ctx, now, Phase.LIFT)
        elif job.state != JobState.RUNNING:
            self._begin_safing(ctx, now, _Failure(
                SampleError.DRIVE, f'creep drive {job.state.value}: {job.message}',
                self.phase, False))

    def _lift(self, ctx: JobContext, now: float) -> None:
        cfg = ctx.config
        reading = ctx.reading()
        if reading is not None:
            sp = ctx.setpoint()
            # Cruise speed only, and clear of the ground (above the ready pose): in the soil
            # the regolith's resistance, not the sample's weight, loads the joint.
            steady = (not sp.accelerating and abs(sp.velocity) >= 0.9 * cfg.lift_velocity
                      and abs(reading.velocity - sp.velocity) <= 0.2 * cfg.lift_velocity
                      and reading.angle <= cfg.pose_ready)
            self._fill.add(reading.angle, reading.current, steady=steady)
        self._fraction = self._move_fraction(ctx, cfg.pose_hold)
        if ctx.arrived(cfg.pose_hold):
            self._estimate = self._fill.estimate()
            self.holding_sample = True
            self._next(ctx, now, Phase.CAPTURE)

    def _capture(self, ctx: JobContext, now: float) -> None:
        job = ctx.cameras.capture_status()
        if job.state == JobState.RUNNING:
            return
        if job.state != JobState.SUCCEEDED:
            self._begin_safing(ctx, now, _Failure(
                SampleError.CAPTURE, f'capture {job.state.value}: {job.message}', self.phase,
                False))
            return
        reading = ctx.reading()
        snapshot, _ = ctx.drive_snapshot(now)
        utc = ctx.utc()
        try:
            self._image_ids = image_ids_in_order(job.product_ids)
            records = tuple(self._records) + (PhaseRecord(
                'capture', self._phase_start_utc, now - self._phase_start),)
            self._evidence_id = write_evidence(ctx.sink, Evidence(
                utc=utc, command_ids=tuple(self._command_ids),
                image_product_ids=self._image_ids,
                rover_pose=snapshot.pose if snapshot is not None else None,
                shovel_angle=reading.angle if reading else ctx.setpoint().position,
                shovel_current=reading.current if reading else math.nan,
                fill=self._estimate, dig_distance_requested=self.request.dig_distance,
                dig_distance_travelled=self._dig_travelled, dig_angle=ctx.config.pose_dig,
                phases=records))
        except EvidenceError as err:
            self._begin_safing(ctx, now, _Failure(SampleError.CAPTURE, str(err), self.phase,
                                                  False))
            return
        self._fraction = 1.0
        self._next(ctx, now, Phase.DUMP if self.request.dump_after else Phase.HOLD)

    def _dwell_done(self, now: float, dwell: float) -> bool:
        if self._dwell_since is None:
            self._dwell_since = now
        return now - self._dwell_since >= dwell

    def _hold(self, ctx: JobContext, now: float) -> None:
        if ctx.arrived(ctx.config.pose_hold):
            self._fraction = 0.5
            if self._dwell_done(now, ctx.config.hold_settle):
                self._next(ctx, now, Phase.DONE)

    def _dump(self, ctx: JobContext, now: float) -> None:
        self._fraction = 0.5 * self._move_fraction(ctx, ctx.config.pose_dump)
        if ctx.arrived(ctx.config.pose_dump):
            if self._dwell_done(now, ctx.config.dump_dwell):
                self.holding_sample = False
                self._next(ctx, now, Phase.STOW)

    def _stow(self, ctx: JobContext, now: float) -> None:
        self._fraction = self._move_fraction(ctx, ctx.config.pose_stowed)
        if ctx.arrived(ctx.config.pose_stowed):
            self._next(ctx, now, Phase.DONE)

    _HANDLERS = {
        Phase.CHECK_PRECONDITIONS: _check, Phase.UNSTOW: _unstow, Phase.LOWER: _lower,
        Phase.DIG: _dig, Phase.LIFT: _lift, Phase.CAPTURE: _capture, Phase.HOLD: _hold,
        Phase.DUMP: _dump, Phase.STOW: _stow,
    }

    # -- safing and results -------------------------------------------------------------

    def _begin_safing(self, ctx: JobContext, now: float, failure: _Failure) -> None:
        """Stop the rover and the capture; hold the joint or send it to the safe pose."""
        self._records.append(PhaseRecord(self.phase.name.lower(), self._phase_start_utc,
                                         now - self._phase_start))
        self._failure = failure
        self.phase = Phase.SAFING
        self._entered.append(Phase.SAFING)
        self._phase_start = now
        self._phase_start_utc = ctx.utc()
        ctx.drive.stop()
        ctx.cameras.cancel_capture()
        cfg = ctx.config
        if failure.hold_joint or failure.phase == Phase.CHECK_PRECONDITIONS:
            ctx.hold()
            self._safe_target = None
        else:
            self._safe_target = cfg.pose_hold if self.holding_sample else cfg.pose_stowed
            ctx.goto(self._safe_target, cfg.max_velocity)

    def _step_safing(self, ctx: JobContext, now: float) -> None:
        fault, reason = ctx.fault()
        estop = ctx.estop_reason()
        if self._safe_target is not None and (fault != Fault.NONE or estop is not None):
            ctx.hold()
            self._safe_target = None
            self._safing_notes.append(f'fault {fault.name} during safing: {reason}'
                                      if fault != Fault.NONE else
                                      f'e-stop during safing ({estop})')
        joint_safe = self._safe_target is None or ctx.arrived(self._safe_target)
        rover_stopped = True
        if self._creep_started:
            snapshot, fresh = ctx.drive_snapshot(now)
            rover_stopped = (ctx.drive.creep_status().state != JobState.RUNNING
                             and fresh and snapshot is not None and snapshot.stopped)
        elapsed = now - self._phase_start
        if joint_safe and rover_stopped:
            self._finish_failure(ctx, elapsed, complete=True)
        elif elapsed > ctx.config.timeout_safing:
            missing = []
            if not joint_safe:
                missing.append('shovel not at its safe pose (held where it is)')
                ctx.hold()
            if not rover_stopped:
                missing.append('rover stop not confirmed by drive/status')
            self._safing_notes.append('safing timed out: ' + '; '.join(missing))
            self._finish_failure(ctx, elapsed, complete=False)

    def _safe_description(self, ctx: JobContext) -> str:
        cfg = ctx.config
        reading = ctx.reading()
        angle = reading.angle if reading is not None else ctx.setpoint().position
        if self._safe_target is None:
            joint = f'shovel held at {angle:.3f} rad'
        elif self._safe_target == cfg.pose_hold and self.holding_sample:
            joint = 'shovel held in the hold pose with the sample'
        else:
            joint = 'shovel stowed'
        rover = 'rover stopped' if self._creep_started else 'rover not moved'
        return f'{joint}, {rover}'

    def _finish_failure(self, ctx: JobContext, elapsed: float, *, complete: bool) -> None:
        failure = self._failure
        notes = ''.join(f'; {n}' for n in self._safing_notes)
        state = 'safed' if complete else 'safing incomplete'
        message = (f'{failure.phase.name}: {failure.message}; {state} in {elapsed:.1f} s: '
                   f'{self._safe_description(ctx)}{notes}')
        self._result(failure.error, message, failure.phase)

    def _finish_done(self, ctx: JobContext) -> None:
        if self.request.dump_after:
            message = 'sample collected, photographed, dumped; shovel stowed'
        else:
            message = 'sample collected and photographed; holding it in the hold pose'
        self._progress = 1.0
        self._result(SampleError.NONE, message, Phase.DONE)

    def _result(self, error: SampleError, message: str, phase: Phase) -> None:
        self.result = SampleResult(
            error=error, message=message, final_phase=phase,
            evidence_product_id=self._evidence_id, image_product_ids=self._image_ids,
            fill_estimate_kg=self._estimate.mass_kg,
            fill_estimate_sigma_kg=self._estimate.sigma_kg)

    def _update_progress(self) -> None:
        if self.phase in (Phase.SAFING, Phase.DONE) or self.phase not in self._path:
            return
        index = self._path.index(self.phase)
        base = sum(PROGRESS_WEIGHTS[p] for p in self._path[:index])
        self._progress = min(base + PROGRESS_WEIGHTS[self.phase] * self._fraction, 1.0)
