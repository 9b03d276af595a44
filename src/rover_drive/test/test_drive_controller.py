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

"""DriveController safety paths on simulated time: each test fails if its path breaks."""

import math

from conftest import PERIOD, Rig
import pytest
from rover_common.param_spec import ParameterError
from rover_drive.arbitration import Source
from rover_drive.backends.base import BackendError, WheelBackend
from rover_drive.drive_controller import (CommandVerdict, DriveController, FaultClearError,
                                          Mode)
from rover_drive.interlock import DrivePermission, InterlockState


def teleop(rig, linear, angular=0.0, stamp=None):
    return lambda now: rig.controller.command_velocity(Source.TELEOP, linear, angular,
                                                       now=now, stamp=stamp)


def test_velocity_command_moves_the_rover(rig):
    status = rig.step(40, command=teleop(rig, 0.1))
    assert status.mode == Mode.VELOCITY and status.active_source == Source.TELEOP
    assert status.commanded_linear == pytest.approx(0.1)
    assert status.measured_linear == pytest.approx(0.1, abs=1e-3)
    assert rig.controller.odometry.pose.x > 0.1


def test_commands_beyond_limits_are_clamped_keeping_curvature(rig):
    status = rig.step(60, command=teleop(rig, 1.0, 1.0))
    assert status.commanded_linear == pytest.approx(0.1)
    assert status.commanded_angular == pytest.approx(0.1)
    assert max(abs(w) for w in status.wheel_velocity_command) <= 3.0


def test_wheel_saturation_scales_both_axes():
    rig = Rig(max_wheel_speed=2.0)
    status = rig.step(60, command=teleop(rig, 0.1, 0.5))
    assert max(abs(w) for w in status.wheel_velocity_command) == pytest.approx(2.0)
    assert status.commanded_angular / status.commanded_linear == pytest.approx(5.0)


def test_acceleration_is_limited(rig):
    status = rig.step(1, command=teleop(rig, 0.1))
    assert status.commanded_linear == pytest.approx(0.2 * PERIOD)


def test_watchdog_ramps_to_zero_within_decel_time_after_timeout(rig):
    rig.step(40, command=teleop(rig, 0.1))
    last_command = rig.now
    commanded = []
    for _ in range(30):
        commanded.append((rig.now + PERIOD - last_command, rig.step().commanded_linear))
    # still valid until cmd_timeout (0.5 s)
    assert all(v == pytest.approx(0.1) for t, v in commanded if t <= 0.5)
    first_zero = next(t for t, v in commanded if v == 0.0)
    # timeout + one period to notice + 0.1 m/s / 0.5 m/s^2 ramp
    assert first_zero <= 0.5 + PERIOD + 0.2 + 1e-9
    # and the ramp respected the deceleration limit
    values = [v for _, v in commanded]
    assert all(a - b <= 0.5 * PERIOD + 1e-9 for a, b in zip(values, values[1:]))
    status = rig.step(10)
    assert status.watchdog_stops == 1 and status.stopped and status.mode == Mode.IDLE


def test_stale_stamp_is_rejected_and_counted(rig):
    rig.step()
    verdict = rig.controller.command_velocity(Source.TELEOP, 0.1, 0.0, now=rig.now,
                                              stamp=rig.now - 0.6)
    assert verdict == CommandVerdict.REJECTED_STALE
    status = rig.step(5)
    assert status.rejected_stale == 1 and status.commanded_linear == 0.0


def test_future_stamp_is_rejected_and_counted(rig):
    rig.step()
    verdict = rig.controller.command_velocity(Source.TELEOP, 0.1, 0.0, now=rig.now,
                                              stamp=rig.now + 0.3)
    assert verdict == CommandVerdict.REJECTED_FUTURE
    status = rig.step(5)
    assert status.rejected_future == 1 and status.commanded_linear == 0.0


def test_delayed_stamp_expires_early(rig):
    # stamped 0.4 s ago with a 0.5 s timeout: valid for only 0.1 s more
    rig.step()
    rig.controller.command_velocity(Source.TELEOP, 0.1, 0.0, now=rig.now, stamp=rig.now - 0.4)
    assert rig.step(1).active_source == Source.TELEOP
    assert rig.step(2).active_source == Source.NONE


def test_non_finite_command_raises_and_changes_nothing(rig):
    with pytest.raises(ValueError):
        rig.controller.command_velocity(Source.TELEOP, math.nan, 0.0, now=rig.now)
    assert rig.step(3).commanded_linear == 0.0


def test_ground_overrides_teleop(rig):
    def both(now):
        rig.controller.command_velocity(Source.TELEOP, 0.1, 0.0, now=now)
        rig.controller.command_velocity(Source.GROUND, -0.05, 0.0, now=now)
    status = rig.step(40, command=both)
    assert status.active_source == Source.GROUND
    assert status.commanded_linear == pytest.approx(-0.05)


def test_autonomy_yields_to_teleop_and_resumes(rig):
    def nav(now):
        rig.controller.command_velocity(Source.AUTONOMY, 0.05, 0.0, now=now)
    rig.step(5, command=nav)
    rig.controller.command_velocity(Source.TELEOP, 0.0, 0.2, now=rig.now)
    assert rig.step(1, command=nav).active_source == Source.TELEOP
    assert rig.step(12, command=nav).active_source == Source.AUTONOMY


def test_estop_stops_at_once_and_latches(rig):
    rig.step(40, command=teleop(rig, 0.1))
    rig.controller.engage_estop('operator', now=rig.now)
    # zero reached the wheels inside the call, before any step
    assert rig.wheels.command == [0.0] * 4
    status = rig.step(1, command=teleop(rig, 0.1))
    assert status.mode == Mode.ESTOP and status.estop_latched
    assert status.estop_reason == 'operator' and status.active_source == Source.ESTOP
    assert status.wheel_velocity_command == (0.0,) * 4
    verdict = rig.controller.command_velocity(Source.GROUND, 0.1, 0.0, now=rig.now)
    assert verdict == CommandVerdict.REJECTED_ESTOP
    assert rig.step(20).estop_latched


def test_release_needs_a_fresh_command(rig):
    rig.step(5, command=teleop(rig, 0.1))
    rig.controller.engage_estop('test', now=rig.now)
    rig.step(2)
    rig.controller.release_estop(now=rig.now)
    status = rig.step(3)
    assert status.mode == Mode.IDLE and status.commanded_linear == 0.0
    # a command stamped before the release is refused
    verdict = rig.controller.command_velocity(Source.TELEOP, 0.1, 0.0, now=rig.now,
                                              stamp=rig.now - 0.2)
    assert verdict == CommandVerdict.REJECTED_STALE
    assert rig.step(10, command=teleop(rig, 0.1)).commanded_linear > 0.0


def test_estop_aborts_a_move(rig):
    move = rig.controller.start_drive_distance(1.0, 0.1, now=rig.now)
    rig.step(10)
    rig.controller.engage_estop('stop', now=rig.now)
    progress = rig.controller.move_progress(move)
    assert progress.done and progress.error.name == 'ESTOP'


def test_interlock_without_shovel_state_blocks_motion():
    rig = Rig(interlock_enabled=True)
    status = rig.step(20, command=teleop(rig, 0.1))
    assert status.interlock == InterlockState.BLOCKED
    assert status.commanded_linear == 0.0 and rig.controller.odometry.pose.x == 0.0
    assert 'no shovel state' in status.interlock_reason


def test_interlock_creep_limits_rim_speed():
    rig = Rig(interlock_enabled=True)
    rig.controller.set_shovel_permission(int(DrivePermission.CREEP_ONLY))
    status = rig.step(40, command=teleop(rig, 0.1, 0.3))
    assert status.interlock == InterlockState.CREEP_ONLY
    rim = max(abs(w) for w in status.wheel_velocity_command) * rig.geometry.wheel_radius
    assert rim == pytest.approx(0.02)


def test_interlock_forbidden_ramps_a_moving_rover_down():
    rig = Rig(interlock_enabled=True)
    rig.controller.set_shovel_permission(int(DrivePermission.ALLOWED))
    rig.step(40, command=teleop(rig, 0.1))
    rig.controller.set_shovel_permission(int(DrivePermission.FORBIDDEN))
    values = [rig.step(1, command=teleop(rig, 0.1)).commanded_linear for _ in range(6)]
    assert values[0] == pytest.approx(0.1 - 0.5 * PERIOD)
    assert values[-1] == 0.0


def test_interlock_forbidden_aborts_a_move_and_refuses_new_ones():
    rig = Rig(interlock_enabled=True)
    rig.controller.set_shovel_permission(0)
    move = rig.controller.start_drive_distance(1.0, 0.1, now=rig.now)
    rig.step(5)
    rig.controller.set_shovel_permission(2)
    rig.step()
    assert rig.controller.move_progress(move).error.name == 'INTERLOCK'
    with pytest.raises(Exception) as info:
        rig.controller.start_turn(1.0, 0.3, now=rig.now)
    assert info.value.error_code.name == 'INTERLOCK'


def test_backend_fault_latches_and_stops_at_once(rig):
    rig.step(40, command=teleop(rig, 0.1))
    rig.wheels.inject_fault('motor 3 overload')
    status = rig.step(1, command=teleop(rig, 0.1))
    assert status.mode == Mode.FAULT and status.fault_reason == 'motor 3 overload'
    assert rig.wheels.command == [0.0] * 4
    verdict = rig.controller.command_velocity(Source.TELEOP, 0.1, 0.0, now=rig.now)
    assert verdict == CommandVerdict.REJECTED_FAULT


def test_consecutive_io_errors_latch_a_fault_only_at_the_limit(rig):
    rig.step(5)
    rig.wheels.fail_reads(4)
    status = rig.step(5, command=teleop(rig, 0.05))
    assert not status.fault_latched
    rig.wheels.fail_reads(5)
    status = rig.step(5, command=teleop(rig, 0.05))
    assert status.fault_latched and '5 times in a row' in status.fault_reason


def test_clear_fault_recovers_and_needs_a_new_command(rig):
    rig.wheels.inject_fault('overload')
    rig.step(2)
    message = rig.controller.clear_fault(now=rig.now)
    assert 'overload' in message
    status = rig.step(3)
    assert not status.fault_latched and status.commanded_linear == 0.0
    assert rig.controller.clear_fault(now=rig.now) == 'no fault latched'


class SilentBackend(WheelBackend):
    """A backend that never produced feedback (a simulator still starting)."""

    name = 'silent'

    def read(self, now):
        raise BackendError('no sim/joint_states received yet')

    def write(self, velocities, now):
        pass


def test_no_feedback_yet_waits_without_faulting():
    controller = DriveController({'interlock_enabled': False}, SilentBackend(), now=0.0)
    for i in range(20):
        status = controller.step(0.05 * (i + 1))
    assert not status.fault_latched and status.stopped
    assert controller.health(1.0)[0].message == 'waiting for wheel feedback'


def test_failed_recovery_raises_and_keeps_fault(rig):
    rig.wheels.inject_fault('overload')
    rig.step()

    def fail(now):
        from rover_drive.backends.base import BackendFault
        raise BackendFault('reboot failed')
    rig.wheels.recover = fail
    with pytest.raises(FaultClearError):
        rig.controller.clear_fault(now=rig.now)
    assert rig.step().fault_latched


def test_reconfigure_rejects_bad_values_and_changes_nothing(rig):
    with pytest.raises(ParameterError):
        rig.controller.reconfigure({'max_linear': 0.5})  # beyond wheel limit * radius
    with pytest.raises(ParameterError):
        rig.controller.reconfigure({'backend': 'hardware'})
    assert rig.controller.params['max_linear'] == 0.1
    rig.controller.reconfigure({'max_linear': 0.05})
    status = rig.step(40, command=teleop(rig, 0.1))
    assert status.commanded_linear == pytest.approx(0.05)


def test_bad_startup_parameters_are_refused():
    with pytest.raises(ParameterError, match='creep_speed'):
        Rig(creep_speed=0.15)


def test_health_reports(rig):
    rig.step(3)
    names = [r.name for r in rig.controller.health(rig.now)]
    assert names == ['wheels', 'safety', 'commands', 'odometry']
