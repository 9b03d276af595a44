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
DriveController: the ROS-free drive that the node and a standalone rover process both use.

Construction and time
    ``DriveController(params, backend, now=t)`` with ``params`` a (partial) dict of the drive
    parameters (:data:`rover_drive.parameters.DRIVE_PARAMETERS`; missing names take their
    defaults, bad values raise ``ParameterError``) and a backend from
    :func:`rover_drive.backends.factory.create_backend`. Every method takes ``now``: seconds
    on one monotonic clock (ROS time in the node). Nothing reads a clock by itself.

Thread safety
    Every public method holds one internal lock, so callbacks on several threads may call
    them concurrently. Backend I/O happens under that lock, in :meth:`step` and in the
    immediate stop of :meth:`engage_estop`.

The control loop
    Call :meth:`step` at ``control_rate``. It reads the wheels, integrates odometry, picks the
    command (e-stop > ground > teleop > autonomy, see :mod:`rover_drive.arbitration`), applies
    the shovel interlock, speed limits, acceleration ramps and wheel saturation, writes the
    wheels and returns a :class:`DriveStatus`. Motion stops when: the e-stop is engaged (at
    once), a fault latches (at once), the owning command expires (ramped at the deceleration
    limits, counted in ``watchdog_stops``), the interlock blocks (ramped).

Commands (all keyword ``now``)
    ``command_velocity(source, linear, angular, now=, stamp=None) -> CommandVerdict``
        One velocity command. ``stamp`` follows :mod:`rover_drive.stamp_policy` (None/0.0 =
        unstamped). Stale/future stamps are refused and counted; commands during an e-stop or
        fault are refused. A ``Source.GROUND`` command preempts a running bounded move.
        Non-finite values raise ``ValueError``.
    ``check_drive_distance(distance, speed)`` / ``check_turn(angle, angular_speed)``
        Raise :class:`~rover_drive.bounded_moves.InvalidGoal` (``.reason``) for goals beyond
        the configured maxima; nothing changes.
    ``start_drive_distance(distance, speed, now=) -> move_id`` / ``start_turn(angle,
    angular_speed, now=) -> move_id``
        Start a bounded move (ground priority), preempting any running move. Raise
        ``InvalidGoal`` or :class:`~rover_drive.bounded_moves.MoveRefused` (e-stop, fault,
        interlock blocked), both ``GoalRejected`` with ``.reason`` and ``.error_code``.
    ``move_progress(move_id) -> MoveProgress``
        Progress, signed achieved distance/angle, ``done`` and the outcome (``MoveError``:
        NONE on success, CANCELED, PREEMPTED, TIMEOUT, ESTOP, FAULT, INTERLOCK) with a message.
    ``cancel_move(move_id=None, now=) -> bool``
        End the move as canceled; the rover ramps to a stop.
    ``engage_estop(reason, now=)`` / ``release_estop(now=)``
        Latch: zero to the wheels at once, every command and move dropped. Only a release
        clears it; commands stamped before the release are refused afterwards.
    ``clear_fault(now=) -> str``
        Recover the backend (e.g. reboot motors) and clear the latched fault; raises
        :class:`FaultClearError` when recovery fails (the fault stays).
    ``set_shovel_permission(value)``
        ``ShovelState.drive_permission``; ValueError for an unknown value.
    ``reconfigure(changes)``
        Apply parameter changes (same checks as the node; read-only ones are refused).

Read-only views
    ``status`` (last :class:`DriveStatus`), ``odometry`` (last
    :class:`~rover_drive.odometry.OdometryEstimate`), ``wheel_feedback``, ``params``,
    :meth:`health` (``HealthReport`` list). :meth:`stop` (zero to the wheels, never raises)
    and :meth:`close` are for shutdown.
"""

from dataclasses import dataclass
import enum
import math
import threading
from typing import Dict, List, Mapping, Optional, Tuple

from rover_common.health import HealthReport, Level
from rover_common.param_spec import ParameterError, ParamValue
from rover_drive.arbitration import CommandArbiter, Source
from rover_drive.backends.base import BackendError, BackendFault, WheelBackend, WheelFeedback
from rover_drive.bounded_moves import (BoundedMove, check_drive_distance, check_turn,
                                       MoveError, MoveKind, MoveLimits, MoveProgress,
                                       MoveRefused)
from rover_drive.interlock import InterlockState, ShovelInterlock
from rover_drive.limits import MotionLimits, scale_to_limits, TwistRamp
from rover_drive.odometry import OdometryEstimate, WheelOdometry
from rover_drive.parameters import DRIVE_PARAMETERS
from rover_drive.skid_steer import saturate_wheels, SkidSteerGeometry, WHEEL_COUNT
from rover_drive.stamp_policy import StampPolicy, StampVerdict

#: Finished moves kept for :meth:`DriveController.move_progress`.
FINISHED_MOVES_KEPT = 16
#: Longest step the ramps integrate (s); a stalled loop does not turn into a jump.
MAX_STEP = 0.25


class Mode(enum.IntEnum):
    """DriveStatus.MODE_* values."""

    IDLE = 0
    VELOCITY = 1
    DRIVE_DISTANCE = 2
    TURN = 3
    STOPPING = 4
    ESTOP = 5
    FAULT = 6


class CommandVerdict(enum.Enum):
    """What happened to one velocity command."""

    ACCEPTED = 'accepted'
    REJECTED_STALE = 'rejected: stamp too old'
    REJECTED_FUTURE = 'rejected: stamp in the future'
    REJECTED_ESTOP = 'rejected: e-stop engaged'
    REJECTED_FAULT = 'rejected: drive fault latched'


class FaultClearError(Exception):
    """A latched fault could not be cleared; the message says why."""


@dataclass(frozen=True)
class DriveStatus:
    """The state of the drive after one step (the fields of rover_interfaces/DriveStatus)."""

    stamp: float
    mode: Mode
    active_source: Source
    interlock: InterlockState
    interlock_reason: str
    estop_latched: bool
    estop_reason: str
    fault_latched: bool
    fault_reason: str
    stopped: bool
    commanded_linear: float
    commanded_angular: float
    measured_linear: float
    measured_angular: float
    wheel_velocity_command: Tuple[float, float, float, float]
    rejected_stale: int
    rejected_future: int
    watchdog_stops: int


class DriveController:
    """
    The drive core: arbitration, safety, limits, kinematics, odometry and bounded moves.

    :param params: drive parameters (missing ones take their defaults).
    :param backend: where the wheel commands go.
    :param now: the start time (s); the backend is started here (a failure latches a fault).
    """

    def __init__(self, params: Mapping[str, ParamValue], backend: WheelBackend, *,
                 now: float) -> None:
        self._values = DRIVE_PARAMETERS.validated(params)
        self._lock = threading.RLock()
        self._backend = backend
        v = self._values
        self._period = 1.0 / v['control_rate']
        self._arbiter = CommandArbiter(self._timeouts(v))
        self._stamps = StampPolicy(future_tolerance=v['future_tolerance'])
        self._interlock = ShovelInterlock(enabled=v['interlock_enabled'],
                                          creep_speed=v['creep_speed'])
        self._configure(v)
        self._odometry = WheelOdometry(self._geometry, wheel_noise=v['wheel_noise'],
                                       twist_variance=self._twist_variance(v),
                                       max_wheel_speed=v['max_wheel_speed'])
        self._estimate = self._odometry.estimate(now)
        self._feedback: Optional[WheelFeedback] = None
        self._feedback_seen = False
        self._estop_reason: Optional[str] = None
        self._fault_reason: Optional[str] = None
        self._accept_after = -math.inf
        self._move: Optional[BoundedMove] = None
        self._finished: Dict[int, BoundedMove] = {}
        self._next_move_id = 1
        self._wheel_command: Tuple[float, ...] = (0.0,) * WHEEL_COUNT
        self._active_source = Source.NONE
        self._velocity_owner = False
        self._last_step: Optional[float] = None
        self._consecutive_errors = 0
        self._io_errors = 0
        self._last_io_error = ''
        self._rejected_stale = 0
        self._rejected_future = 0
        self._rejected_other = 0
        self._watchdog_stops = 0
        try:
            backend.start(now)
        except BackendFault as exc:
            self._latch_fault(str(exc))
        self._status = self._make_status(now, stopped=True, measured=(0.0, 0.0))

    # ---- configuration ------------------------------------------------------------------
    @staticmethod
    def _timeouts(v: Mapping[str, ParamValue]) -> Dict[Source, float]:
        return {Source.GROUND: v['ground_cmd_timeout'], Source.TELEOP: v['cmd_timeout'],
                Source.AUTONOMY: v['nav_cmd_timeout']}

    @staticmethod
    def _twist_variance(v: Mapping[str, ParamValue]) -> Tuple[float, float]:
        return (v['twist_variance_linear'], v['twist_variance_angular'])

    def _configure(self, v: Mapping[str, ParamValue]) -> None:
        self._geometry = SkidSteerGeometry(v['wheel_radius'], v['track'], v['icr_factor'])
        self._limits = MotionLimits(v['max_linear'], v['max_angular'], v['linear_accel'],
                                    v['linear_decel'], v['angular_accel'], v['angular_decel'])
        if hasattr(self, '_ramp'):
            self._ramp.limits = self._limits
        else:
            self._ramp = TwistRamp(self._limits)
        self._move_limits = MoveLimits(
            max_distance=v['max_move_distance'], max_angle=v['max_move_angle'],
            max_linear=v['max_linear'], max_angular=v['max_angular'],
            linear_accel=v['linear_accel'], linear_decel=v['linear_decel'],
            angular_accel=v['angular_accel'], angular_decel=v['angular_decel'],
            distance_tolerance=v['distance_tolerance'], angle_tolerance=v['angle_tolerance'],
            heading_gain=v['heading_gain'], timeout_factor=v['move_timeout_factor'],
            timeout_margin=v['move_timeout_margin'])

    @property
    def params(self) -> Dict[str, ParamValue]:
        """Return the parameter values in force."""
        with self._lock:
            return dict(self._values)

    def reconfigure(self, changes: Mapping[str, ParamValue]) -> None:
        """
        Apply parameter changes at run time.

        :raises ParameterError: a value, a read-only name or the combination is refused
            (nothing changes).
        """
        with self._lock:
            reason = DRIVE_PARAMETERS.check_changes(self._values, changes)
            if reason is not None:
                raise ParameterError(reason)
            v = dict(self._values)
            v.update(changes)
            self._values = v
            self._configure(v)
            for source, timeout in self._timeouts(v).items():
                self._arbiter.set_timeout(source, timeout)
            self._stamps.future_tolerance = v['future_tolerance']
            self._interlock.enabled = v['interlock_enabled']
            self._interlock.creep_speed = v['creep_speed']
            self._odometry.geometry = self._geometry
            self._odometry.wheel_noise = v['wheel_noise']
            self._odometry.twist_variance = self._twist_variance(v)
            self._odometry.max_wheel_speed = v['max_wheel_speed']

    # ---- read-only views ------------------------------------------------------------------
    @property
    def status(self) -> DriveStatus:
        """Return the status of the last step."""
        with self._lock:
            return self._status

    @property
    def odometry(self) -> OdometryEstimate:
        """Return the last odometry estimate."""
        with self._lock:
            return self._estimate

    @property
    def wheel_feedback(self) -> Optional[WheelFeedback]:
        """Return the last wheel measurement (None before the first)."""
        with self._lock:
            return self._feedback

    @property
    def backend(self) -> WheelBackend:
        """Return the wheel backend."""
        return self._backend

    # ---- commands -------------------------------------------------------------------------
    def command_velocity(self, source: Source, linear: float, angular: float, *,
                         now: float, stamp: Optional[float] = None) -> CommandVerdict:
        """Offer one velocity command (see the module docstring)."""
        if not (math.isfinite(linear) and math.isfinite(angular)):
            raise ValueError(f'velocity command must be finite, got ({linear!r}, {angular!r})')
        with self._lock:
            if self._estop_reason is not None:
                self._rejected_other += 1
                return CommandVerdict.REJECTED_ESTOP
            if self._fault_reason is not None:
                self._rejected_other += 1
                return CommandVerdict.REJECTED_FAULT
            check = self._stamps.check(stamp, now, self._arbiter.timeout(source))
            if check.verdict == StampVerdict.FUTURE:
                self._rejected_future += 1
                return CommandVerdict.REJECTED_FUTURE
            if check.verdict == StampVerdict.STALE or check.effective_time < self._accept_after:
                self._rejected_stale += 1
                return CommandVerdict.REJECTED_STALE
            if source == Source.GROUND and self._move is not None:
                self._end_move(MoveError.PREEMPTED, 'preempted by a ground velocity command')
            self._arbiter.offer(source, linear, angular, check.effective_time)
            return CommandVerdict.ACCEPTED

    def check_drive_distance(self, distance: float, speed: float) -> None:
        """Raise InvalidGoal unless the goal is within the configured maxima."""
        with self._lock:
            check_drive_distance(distance, speed, self._move_limits)

    def check_turn(self, angle: float, angular_speed: float) -> None:
        """Raise InvalidGoal unless the goal is within the configured maxima."""
        with self._lock:
            check_turn(angle, angular_speed, self._move_limits)

    def start_drive_distance(self, distance: float, speed: float, *, now: float) -> int:
        """Start driving ``distance`` (m, signed) at ``speed`` (m/s); return the move id."""
        with self._lock:
            check_drive_distance(distance, speed, self._move_limits)
            self._refuse_if_unable()
            limit = self._interlock.rim_speed_limit()
            if limit is not None:
                speed = min(speed, limit)
            return self._start_move(MoveKind.DRIVE_DISTANCE, distance, speed, now)

    def start_turn(self, angle: float, angular_speed: float, *, now: float) -> int:
        """Start turning in place by ``angle`` (rad, signed); return the move id."""
        with self._lock:
            check_turn(angle, angular_speed, self._move_limits)
            self._refuse_if_unable()
            limit = self._interlock.rim_speed_limit()
            if limit is not None:
                angular_speed = min(angular_speed,
                                    2.0 * limit / self._geometry.effective_track)
            return self._start_move(MoveKind.TURN, angle, angular_speed, now)

    def move_progress(self, move_id: int) -> MoveProgress:
        """Return the progress of a running or recently finished move; KeyError if unknown."""
        with self._lock:
            if self._move is not None and self._move.move_id == move_id:
                return self._move.progress()
            if move_id in self._finished:
                return self._finished[move_id].progress()
            raise KeyError(f'unknown move id {move_id}')

    def cancel_move(self, move_id: Optional[int] = None, *, now: float) -> bool:
        """Cancel the running move (if it is ``move_id``); return whether one was canceled."""
        with self._lock:
            if self._move is None or (move_id is not None and self._move.move_id != move_id):
                return False
            self._end_move(MoveError.CANCELED, 'canceled')
            return True

    def engage_estop(self, reason: str, *, now: float) -> None:
        """Latch the e-stop: zero to the wheels now, drop every command and move."""
        with self._lock:
            self._estop_reason = reason or 'e-stop engaged'
            self._halt(MoveError.ESTOP, f'e-stop: {self._estop_reason}', now)

    def release_estop(self, *, now: float) -> None:
        """Release the e-stop; commands stamped before ``now`` stay refused."""
        with self._lock:
            self._estop_reason = None
            self._arbiter.clear()
            self._accept_after = now

    def clear_fault(self, *, now: float) -> str:
        """Recover the wheels and clear the latched fault; return what was done."""
        with self._lock:
            if self._fault_reason is None:
                return 'no fault latched'
            old = self._fault_reason
            try:
                self._backend.recover(now)
            except BackendFault as exc:
                self._fault_reason = f'{old}; recovery failed: {exc}'
                raise FaultClearError(f'fault not cleared: {exc}') from exc
            self._fault_reason = None
            self._consecutive_errors = 0
            self._odometry.resync()
            self._arbiter.clear()
            self._accept_after = now
            return f'cleared: {old}'

    def set_shovel_permission(self, value: int) -> None:
        """Record ShovelState.drive_permission (ValueError for an unknown value)."""
        with self._lock:
            self._interlock.set_permission(value)

    # ---- the control loop -----------------------------------------------------------------
    def step(self, now: float) -> DriveStatus:
        """Run one control period at ``now`` and return the status."""
        with self._lock:
            dt = self._period if self._last_step is None else now - self._last_step
            dt = min(max(dt, 0.0), MAX_STEP)
            self._last_step = now
            io_ok = self._read(now)
            target, source = self._target(now)
            if self._estop_reason is not None or self._fault_reason is not None:
                self._ramp.reset()
                linear, angular = 0.0, 0.0
            else:
                linear, angular = self._ramp.step(target[0], target[1], dt)
            wheels, factor = saturate_wheels(self._geometry.body_to_wheels(linear, angular),
                                             self._values['max_wheel_speed'])
            if factor < 1.0:
                linear, angular = linear * factor, angular * factor
                self._ramp.reset(linear, angular)
            self._wheel_command = wheels
            io_ok = self._write(wheels, now) and io_ok
            self._count_io(io_ok)
            self._active_source = source
            stopped = self._at_rest()
            self._status = self._make_status(
                now, stopped=stopped, measured=(self._estimate.linear, self._estimate.angular))
            return self._status

    def stop(self) -> None:
        """Command zero to the wheels (best effort, never raises): for ``finally`` blocks."""
        with self._lock:
            self._ramp.reset()
            self._wheel_command = (0.0,) * WHEEL_COUNT
            self._backend.stop()

    def close(self) -> None:
        """Stop the wheels and release the backend."""
        with self._lock:
            self.stop()
            self._backend.close()

    def health(self, now: float) -> List[HealthReport]:
        """Return diagnostics: wheels, safety, commands, odometry."""
        with self._lock:
            s = self._status
            wheels = dict(self._backend.health_values())
            wheels.update({'backend': self._backend.name,
                           'consecutive_io_errors': str(self._consecutive_errors),
                           'io_errors': str(self._io_errors)})
            if self._last_io_error:
                wheels['last_io_error'] = self._last_io_error
            if s.fault_latched:
                wheel_report = HealthReport('wheels', Level.ERROR, s.fault_reason, wheels)
            elif not self._feedback_seen:
                wheel_report = HealthReport('wheels', Level.WARN, 'waiting for wheel feedback',
                                            wheels)
            elif self._consecutive_errors:
                wheel_report = HealthReport('wheels', Level.WARN, self._last_io_error, wheels)
            else:
                wheel_report = HealthReport('wheels', Level.OK, 'ok', wheels)
            if s.estop_latched:
                safety = HealthReport('safety', Level.WARN, f'e-stop: {s.estop_reason}')
            elif not self._interlock.enabled:
                safety = HealthReport('safety', Level.WARN, self._interlock.reason)
            else:
                safety = HealthReport('safety', Level.OK, self._interlock.reason,
                                      {'interlock': s.interlock.name})
            commands = HealthReport('commands', Level.OK, s.active_source.name.lower(), {
                'rejected_stale': str(s.rejected_stale),
                'rejected_future': str(s.rejected_future),
                'rejected_estop_or_fault': str(self._rejected_other),
                'watchdog_stops': str(s.watchdog_stops)})
            odom = HealthReport('odometry', Level.OK, 'ok', {
                'jumps_discarded': str(self._odometry.jumps_discarded),
                'x': f'{self._estimate.pose.x:.3f}', 'y': f'{self._estimate.pose.y:.3f}',
                'yaw': f'{self._estimate.pose.yaw:.3f}'})
            return [wheel_report, safety, commands, odom]

    # ---- internals ------------------------------------------------------------------------
    def _refuse_if_unable(self) -> None:
        if self._estop_reason is not None:
            raise MoveRefused(f'e-stop engaged: {self._estop_reason}', MoveError.ESTOP)
        if self._fault_reason is not None:
            raise MoveRefused(f'drive fault: {self._fault_reason}', MoveError.FAULT)
        if self._interlock.state == InterlockState.BLOCKED:
            raise MoveRefused(f'shovel interlock: {self._interlock.reason}',
                              MoveError.INTERLOCK)

    def _start_move(self, kind: MoveKind, target: float, speed: float, now: float) -> int:
        if self._move is not None:
            self._end_move(MoveError.PREEMPTED, 'preempted by a new move')
        self._arbiter.clear(Source.GROUND)
        move_id = self._next_move_id
        self._next_move_id += 1
        self._move = BoundedMove(move_id, kind, target, speed, self._odometry.pose, now,
                                 self._move_limits)
        return move_id

    def _end_move(self, error: MoveError, message: str) -> None:
        if self._move is not None:
            self._move.finish(error, message)
            self._retire_move()

    def _retire_move(self) -> None:
        move = self._move
        self._move = None
        self._finished[move.move_id] = move
        while len(self._finished) > FINISHED_MOVES_KEPT:
            del self._finished[min(self._finished)]

    def _latch_fault(self, reason: str) -> None:
        if self._fault_reason is None:
            self._fault_reason = reason
        self._halt(MoveError.FAULT, f'drive fault: {reason}', None)

    def _halt(self, error: MoveError, message: str, now: Optional[float]) -> None:
        self._arbiter.clear()
        self._end_move(error, message)
        self._ramp.reset()
        self._wheel_command = (0.0,) * WHEEL_COUNT
        if now is not None:
            self._count_io(self._write(self._wheel_command, now))

    def _read(self, now: float) -> bool:
        try:
            feedback = self._backend.read(now)
        except BackendFault as exc:
            self._latch_fault(str(exc))
            return False
        except BackendError as exc:
            self._last_io_error = f'read: {exc}'
            if not self._feedback_seen:
                return True  # still waiting for the first feedback: not an error yet
            return False
        self._feedback = feedback
        self._feedback_seen = True
        self._estimate = self._odometry.update(feedback.positions, now,
                                               velocities=feedback.velocities)
        return True

    def _write(self, wheels, now: float) -> bool:
        try:
            self._backend.write(wheels, now)
        except BackendFault as exc:
            self._latch_fault(str(exc))
            return False
        except BackendError as exc:
            self._last_io_error = f'write: {exc}'
            return False
        return True

    def _count_io(self, ok: bool) -> None:
        if ok:
            self._consecutive_errors = 0
            return
        self._io_errors += 1
        self._consecutive_errors += 1
        limit = self._values['backend_error_limit']
        if self._consecutive_errors >= limit and self._fault_reason is None:
            self._latch_fault(f'wheel I/O failed {self._consecutive_errors} times in a row '
                              f'({self._last_io_error})')

    def _target(self, now: float) -> Tuple[Tuple[float, float], Source]:
        """Return the body twist to ramp towards and the source that owns the wheels."""
        command, expired = self._arbiter.select(now)
        moving = self._ramp.twist != (0.0, 0.0)
        if self._velocity_owner and expired and command is None and moving:
            self._watchdog_stops += 1
        self._velocity_owner = False
        if self._estop_reason is not None:
            return (0.0, 0.0), Source.ESTOP
        if self._fault_reason is not None:
            return (0.0, 0.0), Source.NONE
        if self._move is not None:
            if self._interlock.state == InterlockState.BLOCKED:
                self._end_move(MoveError.INTERLOCK,
                               f'shovel interlock: {self._interlock.reason}')
                return (0.0, 0.0), Source.NONE
            target = self._move.step(self._odometry.pose, now, self._at_rest())
            if self._move.done:
                self._retire_move()
            return self._apply_limits(*target), Source.GROUND
        if command is None:
            return (0.0, 0.0), Source.NONE
        self._velocity_owner = True
        return self._apply_limits(command.linear, command.angular), command.source

    def _apply_limits(self, linear: float, angular: float) -> Tuple[float, float]:
        linear, angular = scale_to_limits(linear, angular, self._limits.max_linear,
                                          self._limits.max_angular)
        limit = self._interlock.rim_speed_limit()
        if limit is not None:
            factor = self._geometry.rim_speed_scale(linear, angular, limit) if limit else 0.0
            linear, angular = linear * factor, angular * factor
        return linear, angular

    def _at_rest(self) -> bool:
        if any(w != 0.0 for w in self._wheel_command):
            return False
        if self._feedback is None:
            return True
        threshold = self._values['stopped_speed']
        return all(abs(v) < threshold for v in self._feedback.velocities)

    def _make_status(self, now: float, *, stopped: bool,
                     measured: Tuple[float, float]) -> DriveStatus:
        if self._estop_reason is not None:
            mode = Mode.ESTOP
        elif self._fault_reason is not None:
            mode = Mode.FAULT
        elif self._move is not None:
            mode = Mode.DRIVE_DISTANCE if self._move.kind == MoveKind.DRIVE_DISTANCE \
                else Mode.TURN
        elif self._velocity_owner:
            mode = Mode.VELOCITY
        elif not stopped:
            mode = Mode.STOPPING
        else:
            mode = Mode.IDLE
        linear, angular = self._ramp.twist
        return DriveStatus(
            stamp=now, mode=mode, active_source=self._active_source,
            interlock=self._interlock.state, interlock_reason=self._interlock.reason,
            estop_latched=self._estop_reason is not None,
            estop_reason=self._estop_reason or '',
            fault_latched=self._fault_reason is not None,
            fault_reason=self._fault_reason or '', stopped=stopped,
            commanded_linear=linear, commanded_angular=angular,
            measured_linear=measured[0], measured_angular=measured[1],
            wheel_velocity_command=tuple(self._wheel_command),
            rejected_stale=self._rejected_stale, rejected_future=self._rejected_future,
            watchdog_stops=self._watchdog_stops)
