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
Bounded moves: drive a signed distance, or turn in place by a signed angle, closed on odometry.

A move is checked before anything moves (:func:`check_drive_distance`, :func:`check_turn`
raise :class:`InvalidGoal` with the reason), then stepped by the controller with the odometry
pose. Its speed follows a profile that brakes to arrive at the goal (``v = min(speed,
sqrt(2 * a * remaining), k * remaining)``, ``a`` half the deceleration limit so the rate
limiter can follow, ``k`` = :data:`APPROACH_GAIN`);
a distance move also holds its start heading. Within tolerance the move commands zero and
*settles*: it succeeds once the wheels are at rest, and reports what odometry measured then.

It ends exactly once: succeeded, or with one of the action error codes (canceled, preempted,
timeout, e-stop, fault, interlock). The timeout is ``timeout_factor`` times the nominal
duration (distance / speed plus the ramps) plus ``timeout_margin``.
"""

from dataclasses import dataclass
import enum
import math
from typing import Optional, Tuple

from rover_drive.odometry import Pose2D, wrap_angle

#: Speed per unit of remaining distance or angle in the last stretch (1/s): the final approach
#: slows exponentially, so the wheel lag and the ramp barely overshoot the goal.
APPROACH_GAIN = 4.0


class MoveKind(enum.Enum):
    """What a bounded move does."""

    DRIVE_DISTANCE = 'drive_distance'
    TURN = 'turn'


class MoveError(enum.IntEnum):
    """Outcome codes, the values of the DriveDistance/Turn ``ERROR_*`` constants."""

    NONE = 0
    CANCELED = 1
    PREEMPTED = 2
    TIMEOUT = 3
    ESTOP = 4
    FAULT = 5
    INTERLOCK = 6
    INVALID_GOAL = 7


class GoalRejected(Exception):
    """A move was refused before anything moved; ``error_code`` and ``reason`` say why."""

    def __init__(self, reason: str, error_code: MoveError) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_code = error_code


class InvalidGoal(GoalRejected, ValueError):
    """The goal itself is out of range (distance, angle, speed, not finite)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, MoveError.INVALID_GOAL)


class MoveRefused(GoalRejected):
    """The goal is valid but the drive cannot move now (e-stop, fault, interlock)."""


@dataclass(frozen=True)
class MoveLimits:
    """The maxima and tuning of bounded moves."""

    max_distance: float
    max_angle: float
    max_linear: float
    max_angular: float
    linear_accel: float
    linear_decel: float
    angular_accel: float
    angular_decel: float
    distance_tolerance: float
    angle_tolerance: float
    heading_gain: float
    timeout_factor: float
    timeout_margin: float


def check_drive_distance(distance: float, speed: float, limits: MoveLimits) -> None:
    """Raise :class:`InvalidGoal` unless the goal is within the configured maxima."""
    if not (math.isfinite(distance) and math.isfinite(speed)):
        raise InvalidGoal(f'distance and speed must be finite, got {distance!r}, {speed!r}')
    if abs(distance) < limits.distance_tolerance:
        raise InvalidGoal(f'|distance| {abs(distance):.4f} m is below the tolerance '
                          f'{limits.distance_tolerance} m')
    if abs(distance) > limits.max_distance:
        raise InvalidGoal(f'|distance| {abs(distance):.3f} m exceeds max_move_distance '
                          f'{limits.max_distance} m')
    if not 0.0 < speed <= limits.max_linear:
        raise InvalidGoal(f'speed must be in (0, {limits.max_linear}] m/s (max_linear), '
                          f'got {speed}')


def check_turn(angle: float, angular_speed: float, limits: MoveLimits) -> None:
    """Raise :class:`InvalidGoal` unless the goal is within the configured maxima."""
    if not (math.isfinite(angle) and math.isfinite(angular_speed)):
        raise InvalidGoal(f'angle and angular_speed must be finite, got {angle!r}, '
                          f'{angular_speed!r}')
    if abs(angle) < limits.angle_tolerance:
        raise InvalidGoal(f'|angle| {abs(angle):.4f} rad is below the tolerance '
                          f'{limits.angle_tolerance} rad')
    if abs(angle) > limits.max_angle:
        raise InvalidGoal(f'|angle| {abs(angle):.3f} rad exceeds max_move_angle '
                          f'{limits.max_angle} rad')
    if not 0.0 < angular_speed <= limits.max_angular:
        raise InvalidGoal(f'angular_speed must be in (0, {limits.max_angular}] rad/s '
                          f'(max_angular), got {angular_speed}')


@dataclass(frozen=True)
class MoveProgress:
    """A snapshot of a move for feedback and results."""

    move_id: int
    kind: MoveKind
    target: float
    achieved: float
    progress: float
    done: bool
    error: MoveError
    message: str


class GoalOutcome(enum.Enum):
    """The one terminal state an action goal ends in (the goal handle's method name)."""

    SUCCEED = 'succeed'
    CANCELED = 'canceled'
    ABORT = 'abort'


def goal_outcome(error: MoveError, cancel_requested: bool) -> GoalOutcome:
    """
    Return how a finished move ends its goal.

    Canceled only when the client asked for it; a move canceled for any other reason (a
    shutdown, a preemption) is an abort, as the action protocol expects.
    """
    if error == MoveError.NONE:
        return GoalOutcome.SUCCEED
    if error == MoveError.CANCELED and cancel_requested:
        return GoalOutcome.CANCELED
    return GoalOutcome.ABORT


class BoundedMove:
    """
    One drive-distance or turn move, stepped with the odometry pose.

    :param move_id: identifier the caller polls with.
    :param kind: drive distance or turn.
    :param target: signed distance (m) or angle (rad).
    :param speed: speed magnitude (m/s or rad/s), already checked.
    :param start_pose: odometry pose at the start.
    :param now: start time (s).
    :param limits: the move limits (for the profile and the timeout).
    """

    def __init__(self, move_id: int, kind: MoveKind, target: float, speed: float,
                 start_pose: Pose2D, now: float, limits: MoveLimits) -> None:
        self.move_id = move_id
        self.kind = kind
        self.target = target
        self.speed = speed
        self._start = start_pose
        self._last_yaw = start_pose.yaw
        self._turned = 0.0
        self._limits = limits
        if kind == MoveKind.DRIVE_DISTANCE:
            accel, decel = limits.linear_accel, limits.linear_decel
        else:
            accel, decel = limits.angular_accel, limits.angular_decel
        self._profile_decel = 0.5 * decel
        nominal = abs(target) / speed + speed / accel + speed / self._profile_decel
        self.deadline = now + limits.timeout_factor * nominal + limits.timeout_margin
        self.achieved = 0.0
        self.settling = False
        self.error: Optional[MoveError] = None
        self.message = ''

    @property
    def done(self) -> bool:
        """Return whether the move has ended (either way)."""
        return self.error is not None

    def finish(self, error: MoveError, message: str) -> None:
        """End the move with ``error`` (NONE for success); later calls change nothing."""
        if self.error is None:
            self.error = error
            self.message = message

    def progress(self) -> MoveProgress:
        """Return a snapshot for feedback or the result."""
        if self.error == MoveError.NONE:
            fraction = 1.0  # reached within tolerance
        else:
            fraction = self.achieved / self.target
        return MoveProgress(self.move_id, self.kind, self.target, self.achieved,
                            min(max(fraction, 0.0), 1.0), self.done,
                            self.error if self.error is not None else MoveError.NONE,
                            self.message)

    def step(self, pose: Pose2D, now: float, at_rest: bool) -> Tuple[float, float]:
        """
        Update the achieved distance or angle from ``pose`` and return the twist to command.

        :param pose: the odometry pose now.
        :param now: time (s).
        :param at_rest: whether the wheels are commanded and measured at rest.
        :return: (linear m/s, angular rad/s); zero once settling or done.
        """
        self._measure(pose)
        if self.done:
            return 0.0, 0.0
        unit = 'm' if self.kind == MoveKind.DRIVE_DISTANCE else 'rad'
        if now > self.deadline:
            self.finish(MoveError.TIMEOUT, f'timed out after reaching {self.achieved:+.3f} '
                                           f'of {self.target:+.3f} {unit}')
            return 0.0, 0.0
        remaining = self.target - self.achieved
        tolerance = (self._limits.distance_tolerance if self.kind == MoveKind.DRIVE_DISTANCE
                     else self._limits.angle_tolerance)
        if self.settling or abs(remaining) <= tolerance or remaining * self.target < 0.0:
            self.settling = True
            if at_rest:
                self.finish(MoveError.NONE, f'reached {self.achieved:+.4f} of '
                                            f'{self.target:+.4f} {unit}')
            return 0.0, 0.0
        speed = min(self.speed, math.sqrt(2.0 * self._profile_decel * abs(remaining)),
                    APPROACH_GAIN * abs(remaining))
        command = math.copysign(speed, remaining)
        if self.kind == MoveKind.TURN:
            return 0.0, command
        heading_error = wrap_angle(pose.yaw - self._start.yaw)
        limit = 0.25 * self._limits.max_angular
        angular = max(-limit, min(limit, -self._limits.heading_gain * heading_error))
        return command, angular

    def _measure(self, pose: Pose2D) -> None:
        if self.kind == MoveKind.DRIVE_DISTANCE:
            dx, dy = pose.x - self._start.x, pose.y - self._start.y
            self.achieved = dx * math.cos(self._start.yaw) + dy * math.sin(self._start.yaw)
        else:
            self._turned += wrap_angle(pose.yaw - self._last_yaw)
            self._last_yaw = pose.yaw
            self.achieved = self._turned
