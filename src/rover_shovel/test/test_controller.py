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

"""ShovelController moves: named poses, limits, faults, e-stop hold and the drive interlock."""

import math

import pytest
from rover_common.health import Level

from rover_shovel.config import ShovelConfig
from rover_shovel.shovel_types import (Activity, ActuatorError, DrivePermission, Fault,
                                       GoalRejected, MoveError, NamedPose)
from shovel_fakes import DT, Rig


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    rig.step()
    return rig


@pytest.mark.parametrize('pose', list(NamedPose))
def test_every_named_pose_is_reached_and_reported(rig, pose):
    result = rig.run_job(rig.ctl.move_to(pose.value))
    assert result.error == MoveError.NONE, result.message
    expected = rig.config.pose_angle(pose)
    assert result.final_angle == pytest.approx(expected, abs=rig.config.arrival_tolerance)
    rig.step()
    assert rig.ctl.status.pose == pose.value
    assert rig.joint.angle == pytest.approx(expected, abs=rig.config.arrival_tolerance)


def test_named_pose_angles_come_from_the_configuration(tmp_path):
    rig = Rig(tmp_path, config=ShovelConfig.from_overrides(pose_ready=1.3))
    rig.step()
    rig.run_job(rig.ctl.move_to('ready'))
    assert rig.joint.angle == pytest.approx(1.3, abs=0.03)


@pytest.mark.parametrize('target, words', [
    ('scoop', 'unknown pose'), (2.3, 'outside the joint limits'), (-0.1, 'outside'),
    (math.nan, 'outside'), (True, 'pose name or an angle'),
])
def test_bad_targets_are_rejected_and_nothing_moves(rig, target, words):
    with pytest.raises(GoalRejected, match=words):
        rig.ctl.move_to(target)
    assert rig.ctl.active_job_id is None
    rig.run_for(1.0)
    assert rig.joint.angle == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize('speed', [0.61, -0.1, math.inf])
def test_too_fast_or_negative_speeds_are_rejected(rig, speed):
    with pytest.raises(GoalRejected, match='max_velocity'):
        rig.ctl.move_to('dig', max_velocity=speed)
    assert rig.ctl.active_job_id is None


def test_the_joint_moves_within_the_speed_limit_asked(rig):
    job = rig.ctl.move_to(1.5, max_velocity=0.3)
    angles = []
    rig.run_until(lambda: rig.ctl.job(job).done or angles.append(rig.joint.angle))
    speeds = [abs(b - a) / DT for a, b in zip(angles, angles[1:])]
    assert max(speeds) <= 0.3 * 1.05
    assert max(speeds) > 0.25


def test_feedback_progress_rises_to_one(rig):
    job = rig.ctl.move_to('ready')
    progress = []
    rig.run_until(lambda: rig.ctl.job(job).done or progress.append(
        rig.ctl.job(job).feedback.progress))
    assert progress == sorted(progress)
    assert progress[-1] > 0.95
    assert rig.ctl.job(job).feedback.progress == pytest.approx(1.0, abs=0.03)


def test_a_new_goal_preempts_the_running_one(rig):
    first = rig.ctl.move_to('dig')
    rig.run_for(0.5)
    second = rig.ctl.move_to('travel')
    assert rig.ctl.job(first).result.error == MoveError.PREEMPTED
    assert rig.run_job(second).error == MoveError.NONE
    assert rig.joint.angle == pytest.approx(rig.config.pose_travel, abs=0.03)


def test_cancel_brakes_to_rest_and_holds(rig):
    job = rig.ctl.move_to('dig')
    rig.run_for(1.0)
    assert rig.ctl.cancel(job)
    result = rig.run_job(job)
    assert result.error == MoveError.CANCELED
    held = rig.joint.angle
    rig.run_for(1.0)
    assert rig.joint.angle == pytest.approx(held, abs=0.02)
    assert 0.2 < held < 1.0
    assert rig.ctl.status.activity == Activity.IDLE


def test_a_stall_latches_stops_the_joint_and_ends_the_move(rig):
    rig.joint.jam(0.8)  # a rock under the blade
    job = rig.ctl.move_to('dig')
    result = rig.run_job(job)
    assert result.error == MoveError.FAULT
    assert rig.ctl.status.fault == Fault.STALL, rig.ctl.status.fault_reason
    # held at the measured angle: the servo no longer pushes into the rock
    assert rig.joint.command_angle == pytest.approx(0.8, abs=0.02)
    rig.run_for(1.0)
    assert abs(rig.ctl.status.current) < rig.config.stall_current
    assert rig.ctl.status.fault == Fault.STALL


def test_fault_refuses_motion_until_cleared(rig):
    rig.joint.jam(0.8)
    rig.run_job(rig.ctl.move_to('dig'))
    refused = rig.run_job(rig.ctl.move_to('stowed'))
    assert refused.error == MoveError.FAULT and 'clear_fault' in refused.message
    assert rig.joint.angle == pytest.approx(0.8, abs=0.02)
    rig.joint.jam(None)
    assert rig.ctl.clear_fault(rig.clock.now) is None
    rig.step()
    assert rig.ctl.status.fault == Fault.NONE
    assert rig.run_job(rig.ctl.stow()).error == MoveError.NONE
    assert rig.joint.angle == pytest.approx(0.0, abs=0.03)


def test_sensor_fault_cannot_be_cleared_while_the_sensor_is_wrong(rig):
    rig.joint.override_sensor(math.nan)
    rig.step()
    assert rig.ctl.status.fault == Fault.SENSOR_RANGE
    assert rig.ctl.status.drive_permission == DrivePermission.FORBIDDEN
    assert 'out of range' in rig.ctl.clear_fault(rig.clock.now)
    rig.joint.override_sensor(None)
    assert rig.ctl.clear_fault(rig.clock.now) is None


def test_sensor_fault_holds_the_last_good_setpoint_not_the_bad_angle(rig):
    job = rig.ctl.move_to('ready')
    rig.run_for(1.0)
    rig.joint.override_sensor(2.9)
    rig.run_job(job)
    commanded = rig.joint.command_angle
    assert 0.2 < commanded < 1.2
    rig.run_for(0.5)
    assert rig.joint.command_angle == commanded


def test_lost_reads_latch_a_communication_fault(rig):
    rig.joint.fail_reads(rig.config.comm_error_limit - 1)
    rig.run_for(DT * (rig.config.comm_error_limit - 1))
    assert rig.ctl.status.fault == Fault.NONE
    assert rig.ctl.health()[0].level == Level.WARN
    rig.step()
    assert rig.ctl.status.fault == Fault.NONE  # a good read in between resets the count
    rig.joint.fail_reads(100)
    rig.run_for(DT * rig.config.comm_error_limit)
    assert rig.ctl.status.fault == Fault.COMMUNICATION
    assert rig.ctl.status.drive_permission == DrivePermission.FORBIDDEN
    assert rig.ctl.health()[0].level == Level.ERROR


def test_position_error_latches_when_the_joint_does_not_follow(rig):
    rig.run_job(rig.ctl.move_to('ready'))
    rig.joint.bias_sensor(0.25)
    rig.run_for(1.0)
    assert rig.ctl.status.fault == Fault.POSITION_ERROR


def test_device_fault_is_latched_and_cleared_by_a_reset(rig):
    rig.joint.inject_hardware_fault((Fault.OVERCURRENT, 'servo: electrical shock'))
    rig.step()
    assert rig.ctl.status.fault == Fault.OVERCURRENT
    assert rig.ctl.status.fault_reason == 'servo: electrical shock'
    assert rig.ctl.clear_fault(rig.clock.now) is None


def test_estop_holds_the_joint_and_ends_the_move(rig):
    job = rig.ctl.move_to('dig')
    rig.run_for(1.0)
    rig.drive.estop, rig.drive.estop_reason = True, 'operator'
    result = rig.run_job(job)
    assert result.error == MoveError.ESTOP and 'operator' in result.message
    held = rig.joint.angle
    rig.run_for(1.0)
    assert rig.joint.angle == pytest.approx(held, abs=0.02)
    assert rig.run_job(rig.ctl.stow()).error == MoveError.ESTOP
    assert rig.ctl.health()[1].level == Level.WARN
    rig.drive.estop = False
    assert rig.run_job(rig.ctl.stow()).error == MoveError.NONE


def test_move_times_out_when_the_joint_cannot_arrive(tmp_path):
    rig = Rig(tmp_path, config=ShovelConfig.from_overrides(move_timeout_margin=0.5))
    rig.step()
    rig.joint.bias_sensor(0.1)  # within the position-error tolerance, beyond arrival
    result = rig.run_job(rig.ctl.move_to('ready'))
    assert result.error == MoveError.TIMEOUT


def test_drive_permission_follows_the_joint(rig):
    assert rig.ctl.status.drive_permission == DrivePermission.ALLOWED
    rig.run_job(rig.ctl.move_to('travel'))
    assert rig.ctl.status.drive_permission == DrivePermission.ALLOWED
    job = rig.ctl.move_to('ready')
    rig.step()
    # the target is outside the travel range: forbidden before the joint leaves it
    assert rig.joint.angle < rig.config.drive_allowed_max_angle
    assert rig.ctl.status.drive_permission == DrivePermission.FORBIDDEN
    rig.run_job(job)
    assert rig.ctl.status.drive_permission == DrivePermission.FORBIDDEN
    rig.run_job(rig.ctl.stow())
    assert rig.ctl.status.drive_permission == DrivePermission.ALLOWED


def test_permission_is_forbidden_before_the_first_reading(tmp_path):
    rig = Rig(tmp_path)
    rig.joint.fail_reads(1)
    assert rig.step().drive_permission == DrivePermission.FORBIDDEN
    assert rig.ctl.health()[0].level == Level.WARN
    assert rig.step().drive_permission == DrivePermission.ALLOWED


def test_reconfigure_changes_limits_and_poses(rig):
    rig.ctl.configure(ShovelConfig.from_overrides(pose_travel=0.3, max_velocity=0.2,
                                                  lift_velocity=0.2))
    with pytest.raises(GoalRejected):
        rig.ctl.move_to('dig', max_velocity=0.5)
    job = rig.ctl.move_to('travel')
    elapsed = rig.run_until(lambda: rig.ctl.job(job).done)
    assert elapsed >= 0.3 / 0.2
    assert rig.joint.angle == pytest.approx(0.3, abs=0.03)


def test_shutdown_holds_and_releases(rig):
    job = rig.ctl.move_to('dig')
    rig.run_for(1.0)
    assert rig.ctl.shutdown(rig.clock.now) is None
    assert rig.ctl.active_job_id is None
    assert rig.ctl.job(job).result.error == MoveError.PREEMPTED
    assert rig.joint.command_angle == pytest.approx(rig.joint.angle, abs=0.02)


def test_shutdown_reports_a_hold_command_that_failed(rig, monkeypatch):
    def refuse(angle, now):
        raise ActuatorError('bus gone')
    monkeypatch.setattr(rig.joint, 'command', refuse)
    assert 'bus gone' in rig.ctl.shutdown(rig.clock.now)
