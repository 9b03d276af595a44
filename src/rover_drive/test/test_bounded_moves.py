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

"""Bounded moves: goal checks, moves on the simulated rover, timeout, cancel, preemption."""

import math

from conftest import Rig
import pytest
from rover_drive.arbitration import Source
from rover_drive.bounded_moves import goal_outcome, GoalOutcome, InvalidGoal, MoveError, \
    MoveRefused
from rover_drive.drive_controller import Mode
from rover_drive.interlock import DrivePermission


@pytest.mark.parametrize('distance, speed, match', [
    (6.0, 0.1, 'max_move_distance'), (-6.0, 0.1, 'max_move_distance'),
    (1.0, 0.2, 'max_linear'), (1.0, 0.0, 'speed'), (1.0, -0.1, 'speed'),
    (math.nan, 0.1, 'finite'), (0.001, 0.1, 'tolerance')])
def test_invalid_drive_distance_goals(rig, distance, speed, match):
    with pytest.raises(InvalidGoal, match=match) as info:
        rig.controller.start_drive_distance(distance, speed, now=rig.now)
    assert info.value.error_code == MoveError.INVALID_GOAL
    assert rig.step(3).mode == Mode.IDLE


@pytest.mark.parametrize('angle, speed, match', [
    (7.0, 0.3, 'max_move_angle'), (1.0, 0.6, 'max_angular'), (1.0, 0.0, 'angular_speed'),
    (math.inf, 0.3, 'finite')])
def test_invalid_turn_goals(rig, angle, speed, match):
    with pytest.raises(InvalidGoal, match=match):
        rig.controller.check_turn(angle, speed)


@pytest.mark.parametrize('distance', [1.0, -0.5])
def test_drive_distance_reaches_the_goal(rig, distance):
    move = rig.controller.start_drive_distance(distance, 0.1, now=rig.now)
    assert rig.step().mode == Mode.DRIVE_DISTANCE
    result = rig.run_move(move)
    assert result.error == MoveError.NONE
    assert result.achieved == pytest.approx(distance, abs=0.005)
    assert rig.wheels.ground_truth.x == pytest.approx(distance, abs=0.005)
    assert result.progress == 1.0
    assert rig.controller.status.stopped


@pytest.mark.parametrize('angle', [math.pi / 2, -2.0 * math.pi])
def test_turn_reaches_the_goal(rig, angle):
    move = rig.controller.start_turn(angle, 0.5, now=rig.now)
    result = rig.run_move(move)
    assert result.error == MoveError.NONE
    assert result.achieved == pytest.approx(angle, abs=0.015)
    assert abs(rig.wheels.ground_truth.x) < 1e-6


def test_drive_distance_holds_heading_against_a_slipping_side():
    rig = Rig()
    # a lopsided slip: the controller sees it through odometry only, so only check the result
    move = rig.controller.start_drive_distance(0.5, 0.1, now=rig.now)
    rig.step(5)
    rig.wheels._positions[0] += 0.02  # one wheel jumped forward (encoder glitch within limits)
    result = rig.run_move(move)
    assert result.error == MoveError.NONE
    assert abs(rig.controller.odometry.pose.yaw) < 0.02


def test_move_with_slip_ends_short_on_the_ground():
    rig = Rig(slip=0.2)
    result = rig.run_move(rig.controller.start_drive_distance(1.0, 0.1, now=rig.now))
    assert result.achieved == pytest.approx(1.0, abs=0.005)
    assert rig.wheels.ground_truth.x == pytest.approx(0.8, abs=0.01)


def test_progress_is_reported_while_moving(rig):
    move = rig.controller.start_drive_distance(1.0, 0.1, now=rig.now)
    rig.step(60)
    progress = rig.controller.move_progress(move)
    assert 0.1 < progress.progress < 0.5 and not progress.done
    assert progress.achieved == pytest.approx(rig.controller.odometry.pose.x)


def test_cancel_stops_the_rover(rig):
    move = rig.controller.start_drive_distance(2.0, 0.1, now=rig.now)
    rig.step(40)
    assert rig.controller.cancel_move(move, now=rig.now)
    result = rig.controller.move_progress(move)
    assert result.done and result.error == MoveError.CANCELED
    statuses = [rig.step() for _ in range(10)]
    assert statuses[-1].stopped and statuses[-1].commanded_linear == 0.0
    assert not rig.controller.cancel_move(move, now=rig.now)


def test_timeout_aborts_a_stalled_move(rig):
    move = rig.controller.start_drive_distance(0.2, 0.1, now=rig.now)
    rig.wheels.time_constant = 1e9  # the wheels no longer follow: stuck in regolith
    result = rig.run_move(move, limit_s=30.0)
    assert result.error == MoveError.TIMEOUT and 'timed out' in result.message


def test_new_move_preempts_the_old(rig):
    first = rig.controller.start_drive_distance(1.0, 0.1, now=rig.now)
    rig.step(10)
    second = rig.controller.start_turn(0.5, 0.5, now=rig.now)
    assert rig.controller.move_progress(first).error == MoveError.PREEMPTED
    assert rig.run_move(second).error == MoveError.NONE


def test_ground_velocity_preempts_a_move_but_teleop_does_not(rig):
    move = rig.controller.start_drive_distance(1.0, 0.1, now=rig.now)
    rig.step(5)
    rig.controller.command_velocity(Source.TELEOP, -0.1, 0.0, now=rig.now)
    status = rig.step()
    assert status.active_source == Source.GROUND and status.mode == Mode.DRIVE_DISTANCE
    rig.controller.command_velocity(Source.GROUND, 0.0, 0.1, now=rig.now)
    assert rig.controller.move_progress(move).error == MoveError.PREEMPTED


def test_moves_refused_during_estop_and_fault(rig):
    rig.controller.engage_estop('test', now=rig.now)
    with pytest.raises(MoveRefused) as info:
        rig.controller.start_drive_distance(1.0, 0.1, now=rig.now)
    assert info.value.error_code == MoveError.ESTOP
    rig.controller.release_estop(now=rig.now)
    rig.wheels.inject_fault('overload')
    rig.step()
    with pytest.raises(MoveRefused) as info:
        rig.controller.start_turn(1.0, 0.1, now=rig.now)
    assert info.value.error_code == MoveError.FAULT


def test_creep_only_slows_a_move_to_creep_speed():
    rig = Rig(interlock_enabled=True)
    rig.controller.set_shovel_permission(int(DrivePermission.CREEP_ONLY))
    move = rig.controller.start_drive_distance(0.1, 0.1, now=rig.now)
    rig.step(40)
    assert rig.controller.status.commanded_linear == pytest.approx(0.02)
    assert rig.run_move(move).error == MoveError.NONE


def test_unknown_move_id(rig):
    with pytest.raises(KeyError):
        rig.controller.move_progress(99)


@pytest.mark.parametrize('error,cancel_requested,outcome', [
    (MoveError.NONE, False, GoalOutcome.SUCCEED),
    (MoveError.NONE, True, GoalOutcome.SUCCEED),
    (MoveError.CANCELED, True, GoalOutcome.CANCELED),
    (MoveError.CANCELED, False, GoalOutcome.ABORT),
    (MoveError.PREEMPTED, True, GoalOutcome.ABORT),
    (MoveError.ESTOP, False, GoalOutcome.ABORT),
    (MoveError.TIMEOUT, False, GoalOutcome.ABORT)])
def test_goal_outcome_is_canceled_only_when_the_client_asked(error, cancel_requested, outcome):
    assert goal_outcome(error, cancel_requested) == outcome


def test_shutdown_estop_ends_a_running_move_as_an_abort(rig):
    move_id = rig.controller.start_drive_distance(1.0, 0.1, now=rig.now)
    rig.step(10)
    rig.controller.engage_estop('drive shutting down', now=rig.now)
    progress = rig.controller.move_progress(move_id)
    assert progress.done and progress.error == MoveError.ESTOP
    assert goal_outcome(progress.error, cancel_requested=False) == GoalOutcome.ABORT
    rig.step(3)
    assert rig.controller.status.wheel_velocity_command == (0.0,) * 4
