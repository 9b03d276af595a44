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

"""The hardware backend against an emulated Dynamixel on a pty, through dynamixel-sdk."""

import math

import pytest
from rover_common.dynamixel_bus import DynamixelBus, HardwareError, XM430_W350, XSeries
from rover_common.dynamixel_emulator import DynamixelEmulator
from rover_common.product_store import ProductStore

from rover_shovel.config import ShovelConfig
from rover_shovel.controller import ShovelController
from rover_shovel.dynamixel_joint import DynamixelJointActuator, fault_of
from rover_shovel.shovel_types import ActuatorError, Fault, MoveError
from shovel_fakes import Clock, FakeCameras, FakeDrive

SERVO = 5
ZERO = 2048
UNIT = XM430_W350.position_unit


class Bench:
    """An emulated servo on a pty and the backend on the other end, on a manual clock."""

    def __init__(self, *, direction: int = 1, start_angle: float = 0.0) -> None:
        self.clock = Clock()
        # a blocked servo draws what the shovel drive is rated for (0.8 N*m, 0.45 A)
        self.emulator = DynamixelEmulator([SERVO], clock=lambda: self.clock.now,
                                          stall_current=0.45).start()
        motor = self.emulator.motor(SERVO)
        motor.position = (ZERO + direction * start_angle / UNIT) * UNIT
        self.tick(0.01)
        self.bus = DynamixelBus(self.emulator.port_name)
        self.joint = DynamixelJointActuator(self.bus, servo_id=SERVO, zero_ticks=ZERO,
                                            direction=direction)

    def tick(self, dt: float) -> float:
        self.clock.now += dt
        self.emulator.advance(self.clock.now)
        return self.clock.now

    def servo_angle(self) -> float:
        return self.emulator.motor(SERVO).position - ZERO * UNIT

    def close(self) -> None:
        self.joint.close()
        self.emulator.stop()


@pytest.fixture
def bench():
    bench = Bench(start_angle=0.3)
    bench.joint.connect()
    yield bench
    bench.close()


def test_connect_holds_the_present_position_and_enables_torque(bench):
    motor = bench.emulator.motor(SERVO)
    assert motor.torque
    assert motor.get(XSeries.GOAL_POSITION) == motor.get(XSeries.PRESENT_POSITION)
    bench.tick(0.5)
    assert bench.servo_angle() == pytest.approx(0.3, abs=2 * UNIT)
    reading = bench.joint.read(bench.clock.now)
    assert reading.angle == pytest.approx(0.3, abs=2 * UNIT)
    assert reading.hardware_fault is None


@pytest.mark.parametrize('direction', [1, -1])
def test_commands_move_the_servo_in_joint_angles(direction):
    bench = Bench(direction=direction)
    try:
        bench.joint.connect()
        bench.joint.command(1.2, bench.clock.now)
        bench.joint.read(bench.clock.now)  # a round trip: the (unanswered) write has landed
        bench.tick(1.0)
        reading = bench.joint.read(bench.clock.now)
        assert reading.angle == pytest.approx(1.2, abs=2 * UNIT)
        assert bench.servo_angle() == pytest.approx(direction * 1.2, abs=2 * UNIT)
    finally:
        bench.close()


def test_hardware_error_is_reported_and_a_reboot_clears_it(bench):
    bench.emulator.inject_hardware_error(SERVO, HardwareError.OVERLOAD)
    reading = bench.joint.read(bench.clock.now)
    assert reading.hardware_fault == (Fault.STALL, f'servo {SERVO} hardware error: overload')
    assert not bench.emulator.motor(SERVO).torque
    bench.joint.reset_fault()
    assert bench.joint.read(bench.clock.now).hardware_fault is None
    assert bench.emulator.motor(SERVO).torque
    bench.joint.command(0.5, bench.clock.now)
    bench.joint.read(bench.clock.now)
    bench.tick(0.5)
    assert bench.joint.read(bench.clock.now).angle == pytest.approx(0.5, abs=2 * UNIT)


@pytest.mark.parametrize('errors, fault', [
    (HardwareError.OVERLOAD, Fault.STALL),
    (HardwareError.ELECTRICAL_SHOCK | HardwareError.INPUT_VOLTAGE, Fault.OVERCURRENT),
    (HardwareError.OVERHEATING, Fault.OVERCURRENT),
    (HardwareError.MOTOR_ENCODER, Fault.SENSOR_RANGE),
    (HardwareError.INPUT_VOLTAGE, Fault.COMMUNICATION),
])
def test_hardware_errors_map_to_shovel_faults(errors, fault):
    assert fault_of(errors) == fault


def test_a_silent_servo_is_an_actuator_error(bench):
    bench.emulator.set_silent(SERVO)
    with pytest.raises(ActuatorError, match='no answer'):
        bench.joint.read(bench.clock.now)


def test_a_corrupt_reply_is_an_actuator_error(bench):
    bench.emulator.corrupt_replies(1, SERVO)
    with pytest.raises(ActuatorError):
        bench.joint.read(bench.clock.now)
    assert math.isfinite(bench.joint.read(bench.clock.now).angle)


def test_a_wrong_model_is_refused_before_torque_is_enabled():
    bench = Bench()
    try:
        bench.emulator.motor(SERVO).table[0:2] = (1200).to_bytes(2, 'little')
        with pytest.raises(ActuatorError, match='model 1200'):
            bench.joint.connect()
        assert not bench.emulator.motor(SERVO).torque
    finally:
        bench.close()


def test_a_missing_port_is_an_actuator_error():
    joint = DynamixelJointActuator(DynamixelBus('/dev/nonexistent-shovel'), servo_id=SERVO,
                                   zero_ticks=ZERO, direction=1)
    with pytest.raises(ActuatorError, match='nonexistent'):
        joint.connect()


def test_the_controller_moves_and_latches_a_stall_on_the_emulated_servo(tmp_path, bench):
    store = ProductStore(tmp_path / 'products', budget_bytes=10_000_000)
    config = ShovelConfig.from_overrides()
    ctl = ShovelController(config, bench.joint, FakeDrive(bench.clock),
                           FakeCameras(bench.clock, store), store)
    ctl.step(bench.tick(0.05))
    job = ctl.move_to('ready')
    while not ctl.job(job).done:
        ctl.step(bench.tick(0.05))
        assert bench.clock.now < 200.0
    assert ctl.job(job).result.error == MoveError.NONE
    assert bench.servo_angle() == pytest.approx(config.pose_ready, abs=0.01)
    # a rock: the servo stops and draws its stall current
    job = ctl.move_to('dig')
    for _ in range(4):
        ctl.step(bench.tick(0.05))
    bench.emulator.set_stalled(SERVO)
    while not ctl.job(job).done:
        ctl.step(bench.tick(0.05))
        assert bench.clock.now < 200.0
    assert ctl.job(job).result.error == MoveError.FAULT
    assert ctl.status.fault == Fault.STALL
    stalled_at = bench.servo_angle()
    bench.joint.read(bench.clock.now)  # a round trip: the last (unanswered) goal has landed
    goal = bench.emulator.motor(SERVO).get(XSeries.GOAL_POSITION) * UNIT - ZERO * UNIT
    assert goal == pytest.approx(stalled_at, abs=0.01)  # held where it stopped
    bench.emulator.set_stalled(SERVO, False)
    assert ctl.clear_fault(bench.clock.now) is None
    store.close()
