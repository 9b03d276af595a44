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

"""Wheel backends: fake model, Dynamixel wheels on the pty emulator, Gazebo adapter."""

import math
import time

import pytest
from rover_common.dynamixel_bus import HardwareError, XSeries
from rover_common.dynamixel_emulator import DynamixelEmulator
from rover_drive.arbitration import Source
from rover_drive.backends.base import BackendError, BackendFault
from rover_drive.backends.dynamixel import DynamixelWheels
from rover_drive.backends.factory import create_backend
from rover_drive.backends.fake import FakeWheels
from rover_drive.backends.gazebo import GazeboWheels, WHEEL_JOINTS
from rover_drive.drive_controller import DriveController, Mode
from rover_drive.parameters import DRIVE_PARAMETERS
from rover_drive.skid_steer import SkidSteerGeometry

GEOMETRY = SkidSteerGeometry(0.06, 0.26, 1.5)
IDS = [11, 12, 13, 14]


def test_fake_first_order_lag():
    wheels = FakeWheels(GEOMETRY, time_constant=0.1)
    wheels.start(0.0)
    wheels.write([1.0] * 4, 0.0)
    feedback = wheels.read(0.1)
    assert feedback.velocities[0] == pytest.approx(1.0 - math.exp(-1.0))
    assert feedback.positions[0] == pytest.approx(0.1 - 0.1 * (1.0 - math.exp(-1.0)))


def test_fake_ignores_clock_jumps():
    wheels = FakeWheels(GEOMETRY)
    wheels.start(0.0)
    wheels.write([1.0] * 4, 0.0)
    assert wheels.read(1e9).positions == (0.0,) * 4


def test_fake_refuses_bad_settings():
    with pytest.raises(ValueError):
        FakeWheels(GEOMETRY, slip=1.0)
    with pytest.raises(ValueError):
        FakeWheels(GEOMETRY, time_constant=0.0)


def test_factory_builds_each_backend():
    values = DRIVE_PARAMETERS.validated({})
    assert isinstance(create_backend(values), FakeWheels)
    gazebo = create_backend(dict(values, backend='gazebo'), gazebo_publish=print)
    assert isinstance(gazebo, GazeboWheels)
    assert isinstance(create_backend(dict(values, backend='hardware')), DynamixelWheels)
    with pytest.raises(ValueError, match='publisher'):
        create_backend(dict(values, backend='gazebo'))


def test_gazebo_backend_maps_joints_and_detects_stale_feedback():
    sent = []
    wheels = GazeboWheels(sent.append, feedback_timeout=0.5)
    with pytest.raises(BackendError, match='no sim/joint_states'):
        wheels.read(0.0)
    names = ['shovel_joint'] + list(reversed(WHEEL_JOINTS))
    assert wheels.on_joint_state(names, [9.0, 4.0, 3.0, 2.0, 1.0],
                                 [0.0, 0.4, 0.3, 0.2, 0.1], 1.0)
    feedback = wheels.read(1.2)
    assert feedback.positions == (1.0, 2.0, 3.0, 4.0)
    assert feedback.velocities == pytest.approx((0.1, 0.2, 0.3, 0.4))
    with pytest.raises(BackendError, match='old'):
        wheels.read(1.6)
    assert not wheels.on_joint_state(['front_left_wheel_joint'], [0.0], [], 2.0)
    assert wheels.incomplete_messages == 1
    wheels.write([1.0, 2.0, 3.0, 4.0], 2.0)
    wheels.stop()
    assert sent == [[1.0, 2.0, 3.0, 4.0], [0.0] * 4]


@pytest.fixture
def emulator():
    with DynamixelEmulator(IDS) as emu:
        yield emu


def hardware_controller(emulator, **params):
    params.setdefault('bus_watchdog', 0.5)
    values = DRIVE_PARAMETERS.validated(dict(backend='hardware', serial_port=emulator.port_name,
                                             motor_ids=IDS, interlock_enabled=False,
                                             **params))
    return DriveController(values, create_backend(values), now=time.monotonic())


def run(controller, seconds, linear=0.0, angular=0.0):
    end = time.monotonic() + seconds
    status = None
    while time.monotonic() < end:
        now = time.monotonic()
        if linear or angular:
            controller.command_velocity(Source.TELEOP, linear, angular, now=now)
        status = controller.step(now)
        time.sleep(0.02)
    return status


def goal_becomes_zero(emulator, motor_id, timeout=1.0):
    """Sync writes get no answer: wait until the emulator has applied the last one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.motor(motor_id).get(XSeries.GOAL_VELOCITY) == 0:
            return True
        time.sleep(0.01)
    return False


def test_hardware_backend_drives_the_emulated_motors(emulator):
    controller = hardware_controller(emulator)
    try:
        status = run(controller, 1.2, linear=0.1)
        assert not status.fault_latched, status.fault_reason
        wheel = 0.1 / DRIVE_PARAMETERS.defaults()['wheel_radius']
        # right motors are mirrored: they turn the other way on the bus
        assert emulator.motor(11).velocity == pytest.approx(wheel, rel=0.05)
        assert emulator.motor(12).velocity == pytest.approx(-wheel, rel=0.05)
        assert status.measured_linear == pytest.approx(0.1, rel=0.05)
        assert controller.odometry.pose.x > 0.05
        assert controller.wheel_feedback.currents[0] > 0.0
    finally:
        controller.close()
    assert goal_becomes_zero(emulator, 11)


def test_motor_hardware_error_latches_a_fault_naming_the_wheel(emulator):
    controller = hardware_controller(emulator)
    try:
        run(controller, 0.3, linear=0.1)
        emulator.inject_hardware_error(13, HardwareError.OVERLOAD)
        status = run(controller, 0.2, linear=0.1)
        assert status.mode == Mode.FAULT
        assert 'motor 13 (rear left wheel): hardware error overload' in status.fault_reason
        assert goal_becomes_zero(emulator, 11)
        message = controller.clear_fault(now=time.monotonic())
        assert 'overload' in message
        status = run(controller, 0.3)
        assert not status.fault_latched and not emulator.motor(13).hardware_error
    finally:
        controller.close()


def test_silent_motor_faults_after_the_error_limit(emulator):
    controller = hardware_controller(emulator, backend_error_limit=3)
    try:
        run(controller, 0.3, linear=0.05)
        emulator.set_silent(12)
        status = run(controller, 0.6, linear=0.05)
        assert status.fault_latched
        assert '3 times in a row' in status.fault_reason and 'motor 12' in status.fault_reason
        assert controller.backend.health_values()['timeouts'] != '0'
    finally:
        emulator.set_silent(12, False)
        controller.close()


def test_checksum_errors_are_counted_not_fatal_when_isolated(emulator):
    controller = hardware_controller(emulator)
    try:
        run(controller, 0.2)
        emulator.corrupt_replies(2)
        status = run(controller, 0.4)
        assert not status.fault_latched
        assert controller.backend.health_values()['checksum_errors'] != '0'
    finally:
        controller.close()


def test_missing_port_starts_faulted():
    values = DRIVE_PARAMETERS.validated({'backend': 'hardware',
                                         'serial_port': '/dev/no-such-rover-port'})
    controller = DriveController(values, create_backend(values), now=0.0)
    assert controller.status.fault_latched
    assert 'no-such-rover-port' in controller.status.fault_reason


def test_wheel_limit_above_motor_velocity_limit_is_a_fault(emulator):
    backend = DynamixelWheels(emulator.port_name, baudrate=1_000_000, motor_ids=IDS,
                              directions=[1, -1, 1, -1], max_wheel_speed=6.0, bus_watchdog=0.0)
    with pytest.raises(BackendFault, match='Velocity Limit'):
        backend.start(0.0)
    backend.close()


def test_motor_watchdog_expiry_is_a_fault(emulator):
    controller = hardware_controller(emulator, bus_watchdog=0.1)
    try:
        run(controller, 0.3, linear=0.1)
        time.sleep(0.3)  # the control loop "hangs"
        status = run(controller, 0.1)
        assert status.fault_latched and 'watchdog' in status.fault_reason
    finally:
        controller.close()
