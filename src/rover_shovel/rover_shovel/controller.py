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
ShovelController: the ROS-free facade of the shovel (joint, faults, sample sequence).

The node and the standalone rover use only this class::

    ctl = ShovelController(config, actuator, drive_port, camera_port, product_store)
    job = ctl.move_to('dig')                 # or an angle in rad; GoalRejected if invalid
    job = ctl.start_collect_sample(SampleRequest(dig_distance=0.1, command_id='tc-7'))
    status = ctl.step(now)                   # every control period; returns ShovelStatus
    view = ctl.job(job)                      # feedback while running, result when done
    ctl.cancel(job); ctl.stow(); ctl.clear_fault(now); ctl.shutdown(now)

One job (a move or a sample) owns the joint at a time; a new one preempts the old. Each
step reads the joint, checks faults (a new fault holds the joint where it is), holds when
the drive's e-stop is latched, steps the job, advances the rate- and acceleration-limited
setpoint and sends it. The returned status carries the drive permission (the interlock):
ALLOWED while the joint and its target are within the stowed/travel range, CREEP_ONLY in
the DIG phase of a sample, FORBIDDEN otherwise or when the joint position is unknown.
Not thread-safe: the node serialises calls with a lock.
"""

from collections import OrderedDict
import math
import re
import time
from typing import Callable, List, Optional, Tuple, Union

from rover_common.health import HealthReport, Level

from rover_shovel.config import ShovelConfig
from rover_shovel.faults import FaultLimits, FaultMonitor
from rover_shovel.fill import FillEstimator, FillModel
from rover_shovel.jobs import Job, MoveJob
from rover_shovel.joint_profile import JointProfile, Setpoint
from rover_shovel.ports import (CameraPort, DrivePort, DriveSnapshot, JointActuator,
                                ProductSink)
from rover_shovel.sample_sequence import SampleSequence
from rover_shovel.shovel_types import (Activity, ActuatorError, DrivePermission, Fault,
                                       GoalRejected, JobView, JointReading, NamedPose, Phase,
                                       SampleRequest, ShovelStatus)

#: Longest command id of a sample: with the ``/capture`` suffix of the capture goal it fits
#: the cameras' 64-character limit.
MAX_COMMAND_ID = 56
_COMMAND_ID_RE = re.compile(r'^[\x20-\x7e]*$')
#: Finished jobs remembered for :meth:`ShovelController.job`.
JOB_HISTORY = 32

Target = Union[str, NamedPose, float]


def fault_limits(config: ShovelConfig) -> FaultLimits:
    """Return the fault thresholds of a configuration."""
    return FaultLimits(
        stall_current=config.stall_current, stall_velocity=config.stall_velocity,
        stall_time=config.stall_time, overcurrent_limit=config.overcurrent_limit,
        overcurrent_time=config.overcurrent_time,
        position_error_tolerance=config.position_error_tolerance,
        position_error_time=config.position_error_time, lower_limit=config.lower_limit,
        upper_limit=config.upper_limit, sensor_margin=config.sensor_margin,
        comm_error_limit=config.comm_error_limit)


def fill_model(config: ShovelConfig) -> FillModel:
    """Return the fill-estimate model of a configuration."""
    return FillModel(
        torque_constant=config.torque_constant,
        torque_constant_rel_sigma=config.torque_constant_rel_sigma, gravity=config.gravity,
        lever_arm=config.sample_lever_arm, horizontal_angle=config.horizontal_angle,
        empty_friction_current=config.empty_lift_friction_current,
        empty_gravity_current=config.empty_lift_gravity_current,
        empty_horizontal_angle=config.empty_horizontal_angle,
        baseline_current_sigma=config.baseline_current_sigma, min_cos=config.fill_min_cos,
        min_samples=config.fill_min_samples)


class ShovelController:
    """
    The shovel: joint control, fault latch, drive interlock and the sample sequence.

    :param config: the configuration (see :mod:`rover_shovel.config`).
    :param actuator: the joint backend.
    :param drive: the drive port (status, creep moves).
    :param cameras: the camera port (evidence captures).
    :param sink: the product store the evidence package goes to.
    :param utc_clock: wall clock for the evidence (UTC epoch seconds).
    """

    def __init__(self, config: ShovelConfig, actuator: JointActuator, drive: DrivePort,
                 cameras: CameraPort, sink: ProductSink, *,
                 utc_clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._actuator = actuator
        self._drive = drive
        self._cameras = cameras
        self._sink = sink
        self._utc_clock = utc_clock
        self._monitor = FaultMonitor(fault_limits(config))
        self._profile: Optional[JointProfile] = None
        self._reading: Optional[JointReading] = None
        self._last_good: Optional[JointReading] = None
        self._last_now: Optional[float] = None
        self._estop_reason: Optional[str] = None
        self._job: Optional[Job] = None
        self._finished: 'OrderedDict[int, JobView]' = OrderedDict()
        self._next_id = 1
        self._holding_sample = False
        self._status = ShovelStatus(0.0, math.nan, 0.0, math.nan, math.nan, '', Activity.IDLE,
                                    DrivePermission.FORBIDDEN, Fault.NONE, '')

    # -- JobContext: what jobs see and do ----------------------------------------------

    @property
    def config(self) -> ShovelConfig:
        """Return the configuration in force."""
        return self._config

    @property
    def drive(self) -> DrivePort:
        """Return the drive port."""
        return self._drive

    @property
    def cameras(self) -> CameraPort:
        """Return the camera port."""
        return self._cameras

    @property
    def sink(self) -> ProductSink:
        """Return the product store."""
        return self._sink

    def reading(self) -> Optional[JointReading]:
        """Return this step's joint reading, or None when the read failed."""
        return self._reading

    def setpoint(self) -> Setpoint:
        """Return where the joint should be now; NaN before the first reading."""
        if self._profile is None:
            return Setpoint(math.nan, 0.0, False)
        return self._profile.setpoint

    def fault(self) -> Tuple[Fault, str]:
        """Return the latched fault and its reason."""
        return self._monitor.fault, self._monitor.reason

    def estop_reason(self) -> Optional[str]:
        """Return the drive's e-stop reason while it is latched, else None."""
        return self._estop_reason

    def drive_snapshot(self, now: float) -> Tuple[Optional[DriveSnapshot], bool]:
        """Return the latest drive snapshot and whether it is fresh."""
        snapshot = self._drive.snapshot()
        fresh = (snapshot is not None
                 and now - snapshot.stamp <= self._config.drive_status_timeout)
        return snapshot, fresh

    def goto(self, target: float, max_velocity: float) -> float:
        """Start a limited move to ``target``; return its planned duration (s)."""
        if self._profile is None:
            return math.inf
        cfg = self._config
        if self._profile.at_target and self._reading is not None:
            self._profile.hold(self._measured_or_setpoint())
        velocity = min(max_velocity, cfg.max_velocity)
        start = self._profile.setpoint.position
        self._profile.move_to(target, max_velocity=velocity,
                              max_acceleration=cfg.max_acceleration)
        return self._profile.planned_duration(start, self._profile.target, velocity,
                                              cfg.max_acceleration)

    def hold(self) -> None:
        """Stop the joint at once where it is (the setpoint if the angle is not trusted)."""
        if self._profile is not None:
            self._profile.hold(self._measured_or_setpoint())

    def stop_motion(self) -> None:
        """Brake the setpoint to rest within the acceleration limit."""
        if self._profile is not None:
            self._profile.stop()

    def at_rest(self) -> bool:
        """Return True when the setpoint rests."""
        return self._profile is None or self._profile.at_target

    def arrived(self, target: float) -> bool:
        """Return True when the setpoint rests on ``target`` and the joint is there too."""
        if self._profile is None or self._reading is None or not self._profile.at_target:
            return False
        if abs(self._profile.target - target) > 1e-9:
            return False
        return abs(self._reading.angle - target) <= self._config.arrival_tolerance

    def utc(self) -> float:
        """Return UTC epoch seconds."""
        return self._utc_clock()

    # -- commands ------------------------------------------------------------------------

    def configure(self, config: ShovelConfig) -> None:
        """Use a new (validated) configuration from the next step on."""
        self._config = config
        self._monitor.set_limits(fault_limits(config))
        if self._profile is not None:
            self._profile.set_limits(config.lower_limit, config.upper_limit)

    def resolve_target(self, target: Target) -> Tuple[float, str]:
        """
        Return the angle (rad) and a label of a named pose or an angle.

        :raises GoalRejected: unknown pose name, or an angle that is not finite or outside
            the joint limits.
        """
        cfg = self._config
        if isinstance(target, str):
            try:
                pose = NamedPose(target)
            except ValueError:
                names = ', '.join(p.value for p in NamedPose)
                raise GoalRejected(f'unknown pose {target!r}; one of: {names}') from None
            return cfg.pose_angle(pose), pose.value
        if isinstance(target, bool) or not isinstance(target, (int, float)):
            raise GoalRejected(f'target must be a pose name or an angle, got {target!r}')
        angle = float(target)
        if not math.isfinite(angle) or not cfg.lower_limit <= angle <= cfg.upper_limit:
            raise GoalRejected(f'angle {angle!r} rad is outside the joint limits '
                               f'[{cfg.lower_limit}, {cfg.upper_limit}] rad')
        return angle, f'{angle:.3f} rad'

    def check_velocity(self, max_velocity: float) -> float:
        """Return the speed limit of a move (0 = configured); GoalRejected if too fast."""
        limit = self._config.max_velocity
        if not math.isfinite(max_velocity) or max_velocity < 0.0:
            raise GoalRejected(f'max_velocity must be >= 0 rad/s, got {max_velocity!r}')
        if max_velocity > limit:
            raise GoalRejected(f'max_velocity {max_velocity} rad/s exceeds the limit '
                               f'{limit} rad/s')
        return max_velocity if max_velocity > 0.0 else limit

    def move_to(self, target: Target, *, max_velocity: float = 0.0) -> int:
        """
        Start a move to a named pose or angle; return the job id.

        A latched fault or e-stop does not refuse the goal: the job ends at once with
        FAULT or ESTOP and says why.

        :raises GoalRejected: the target or speed is invalid; nothing changes.
        """
        angle, label = self.resolve_target(target)
        velocity = self.check_velocity(max_velocity)
        job = MoveJob(self._new_id(), angle, velocity, label)
        if abs(angle - self._config.pose_hold) > self._config.arrival_tolerance:
            self._holding_sample = False
        return self._start(job)

    def stow(self) -> int:
        """Start a move to the stowed pose; return the job id."""
        return self.move_to(NamedPose.STOWED.value)

    def resolve_sample(self, request: SampleRequest) -> SampleRequest:
        """
        Return the request with its defaults filled in.

        :raises GoalRejected: a negative, non-finite or too long dig distance, or a bad
            command id.
        """
        cfg = self._config
        distance = request.dig_distance
        if not math.isfinite(distance) or distance < 0.0:
            raise GoalRejected(f'dig_distance must be >= 0 m, got {distance!r}')
        if distance > cfg.dig_max_distance:
            raise GoalRejected(f'dig_distance {distance} m exceeds dig_max_distance '
                               f'{cfg.dig_max_distance} m')
        if not isinstance(request.command_id, str) or len(request.command_id) > MAX_COMMAND_ID \
                or not _COMMAND_ID_RE.match(request.command_id):
            raise GoalRejected(f'command_id must be printable ASCII of at most '
                               f'{MAX_COMMAND_ID} characters')
        return SampleRequest(distance if distance > 0.0 else cfg.dig_distance,
                             bool(request.dump_after), request.command_id)

    def start_collect_sample(self, request: SampleRequest) -> int:
        """
        Start a sample collection; return the job id.

        :raises GoalRejected: the request is invalid; nothing changes.
        """
        resolved = self.resolve_sample(request)
        job = SampleSequence(self._new_id(), resolved, FillEstimator(fill_model(self._config)))
        self._holding_sample = False
        return self._start(job)

    def cancel(self, job_id: Optional[int] = None) -> bool:
        """Ask the running job (or ``job_id`` if it is the running one) to end safely."""
        if self._job is None or (job_id is not None and self._job.job_id != job_id):
            return False
        self._job.request_cancel()
        return True

    def clear_fault(self, now: float) -> Optional[str]:
        """
        Clear a latched fault whose cause is gone; return None when cleared, else why not.

        The device's own error is reset first (a Dynamixel is rebooted), then the joint is
        read; the setpoint restarts from the measured angle.
        """
        if self._monitor.fault == Fault.NONE:
            return None
        try:
            self._actuator.reset_fault()
            reading = self._actuator.read(now)
        except ActuatorError as err:
            return f'the joint cannot be read ({err}); the fault stays latched'
        reason = self._monitor.clear(reading)
        if reason is None:
            self._reading = self._last_good = reading
            self._init_profile(reading.angle)
        return reason

    def shutdown(self, now: float) -> Optional[str]:
        """
        Cancel everything, stop the creep, hold the joint, release the backend.

        :return: None, or why the hold command could not be sent (the backend is released
            anyway; a Dynamixel keeps holding its last goal on its own).
        """
        if self._job is not None:
            self._job.preempt(self, 'shutting down')
            self._finish_job()
        self._drive.stop()
        self._cameras.cancel_capture()
        self.hold()
        problem = None
        try:
            if self._profile is not None:
                self._actuator.command(self._profile.setpoint.position, now)
        except ActuatorError as err:
            problem = f'hold command failed at shutdown: {err}'
        finally:
            self._actuator.close()
        return problem

    # -- stepping and state --------------------------------------------------------------

    def step(self, now: float) -> ShovelStatus:
        """Run one control step at ``now`` (s, the controller clock); return the status."""
        dt = 0.0 if self._last_now is None else max(0.0, now - self._last_now)
        self._last_now = now
        self._read(now)
        snapshot = self._drive.snapshot()
        estop = None
        if snapshot is not None and snapshot.estop_latched:
            estop = snapshot.reason or 'no reason given'
        if estop is not None and self._estop_reason is None:
            self.hold()
        self._estop_reason = estop
        if self._job is not None:
            self._job.step(self, now)
            if self._job.done:
                self._finish_job()
        if self._profile is not None:
            if self._monitor.fault == Fault.NONE and self._estop_reason is None:
                self._profile.step(dt)
            try:
                self._actuator.command(self._profile.setpoint.position, now)
            except ActuatorError as err:
                self._monitor.on_read_error(f'command failed: {err}')
        self._status = self._make_status(now)
        return self._status

    @property
    def status(self) -> ShovelStatus:
        """Return the status of the last step."""
        return self._status

    @property
    def active_job_id(self) -> Optional[int]:
        """Return the id of the running job, or None."""
        return self._job.job_id if self._job is not None else None

    def job(self, job_id: int) -> JobView:
        """
        Return what is known of a job: feedback, and the result once done.

        :raises KeyError: the id is unknown or too old.
        """
        if self._job is not None and self._job.job_id == job_id:
            return JobView(job_id, self._job.kind, self._job.feedback(self),
                           phases=self._job.phases)
        return self._finished[job_id]

    def health(self) -> List[HealthReport]:
        """Return the health of the joint and of the interlock, for /diagnostics."""
        st = self._status
        values = {'angle_rad': f'{st.angle:.3f}', 'current_a': f'{st.current:.3f}',
                  'pose': st.pose or '-', 'activity': st.activity.name,
                  'drive_permission': st.drive_permission.name,
                  'comm_errors_in_a_row': str(self._monitor.comm_errors)}
        if st.fault != Fault.NONE:
            joint = HealthReport('joint', Level.ERROR, f'{st.fault.name}: {st.fault_reason}',
                                 values)
        elif self._monitor.comm_errors:
            joint = HealthReport('joint', Level.WARN,
                                 f'{self._monitor.comm_errors} failed reads in a row', values)
        elif self._profile is None:
            joint = HealthReport('joint', Level.WARN, 'no joint reading yet', values)
        else:
            joint = HealthReport('joint', Level.OK, st.pose or 'between poses', values)
        if self._estop_reason is not None:
            motion = HealthReport('motion', Level.WARN,
                                  f'held: drive e-stop latched ({self._estop_reason})')
        else:
            motion = HealthReport('motion', Level.OK, st.activity.name.lower())
        return [joint, motion]

    # -- internals -----------------------------------------------------------------------

    def _new_id(self) -> int:
        job_id = self._next_id
        self._next_id += 1
        return job_id

    def _start(self, job: Job) -> int:
        if self._job is not None:
            self._job.preempt(self, f'preempted by {job.kind} job {job.job_id}')
            self._finish_job()
        self._job = job
        return job.job_id

    def _finish_job(self) -> None:
        job = self._job
        self._job = None
        if isinstance(job, SampleSequence):
            self._holding_sample = job.holding_sample
        self._finished[job.job_id] = JobView(job.job_id, job.kind, job.feedback(self),
                                             job.result, job.phases)
        while len(self._finished) > JOB_HISTORY:
            self._finished.popitem(last=False)

    def _read(self, now: float) -> None:
        try:
            reading = self._actuator.read(now)
        except ActuatorError as err:
            self._reading = None
            self._monitor.on_read_error(str(err))
            return
        self._reading = reading
        self._last_good = reading
        if self._profile is None:
            if not self._trusted(reading.angle):
                self._monitor.check(reading, reading.angle, moving=False)
                return
            self._init_profile(reading.angle)
        had_fault = self._monitor.fault != Fault.NONE
        self._monitor.check(reading, self._profile.setpoint.position,
                            moving=not self._profile.at_target)
        if not had_fault and self._monitor.fault != Fault.NONE:
            self.hold()

    def _init_profile(self, angle: float) -> None:
        cfg = self._config
        if self._profile is None:
            self._profile = JointProfile(angle, lower=cfg.lower_limit, upper=cfg.upper_limit)
        else:
            self._profile.hold(angle)

    def _trusted(self, angle: float) -> bool:
        cfg = self._config
        return (math.isfinite(angle)
                and cfg.lower_limit - cfg.sensor_margin <= angle
                <= cfg.upper_limit + cfg.sensor_margin)

    def _measured_or_setpoint(self) -> float:
        reading = self._reading
        if reading is not None and self._trusted(reading.angle) \
                and self._monitor.fault not in (Fault.SENSOR_RANGE, Fault.COMMUNICATION):
            return reading.angle
        return self._profile.setpoint.position

    def _make_status(self, now: float) -> ShovelStatus:
        cfg = self._config
        reading = self._reading if self._reading is not None else self._last_good
        sp = self.setpoint()
        angle = reading.angle if reading is not None else sp.position
        velocity = reading.velocity if reading is not None else 0.0
        current = reading.current if reading is not None else math.nan
        target = self._profile.target if self._profile is not None else math.nan
        pose = ''
        if reading is not None and self.at_rest():
            for named in NamedPose:
                if abs(angle - cfg.pose_angle(named)) <= cfg.arrival_tolerance:
                    pose = named.value
                    break
        if isinstance(self._job, SampleSequence):
            activity = Activity.COLLECTING
        elif self._job is not None or not self.at_rest():
            activity = Activity.MOVING
        elif self._holding_sample:
            activity = Activity.HOLDING
        else:
            activity = Activity.IDLE
        return ShovelStatus(now, angle, velocity, current, target, pose, activity,
                            self._permission(angle, target), self._monitor.fault,
                            self._monitor.reason)

    def _permission(self, angle: float, target: float) -> DrivePermission:
        """Return what the shovel allows the drive (see the module docstring)."""
        if self._profile is None or self._last_good is None \
                or self._monitor.fault in (Fault.SENSOR_RANGE, Fault.COMMUNICATION):
            return DrivePermission.FORBIDDEN
        if isinstance(self._job, SampleSequence) and self._job.phase == Phase.DIG \
                and self._monitor.fault == Fault.NONE:
            return DrivePermission.CREEP_ONLY
        limit = self._config.drive_allowed_max_angle
        if angle <= limit and target <= limit and self._profile.setpoint.position <= limit:
            return DrivePermission.ALLOWED
        return DrivePermission.FORBIDDEN
