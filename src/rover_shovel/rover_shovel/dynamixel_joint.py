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
The ``hardware`` backend: the shovel servo, a Dynamixel X-series motor in position mode.

It uses ``rover_common.dynamixel_bus`` (Protocol 2.0 over pyserial through dynamixel-sdk,
shared with the drive). Joint angle and servo position are related by
``servo_rad = zero_ticks * unit + direction * angle``. Opening the servo sets the goal
position to the present position *before* torque is enabled, so the shovel never jumps.
Bus errors (timeout, checksum, refused packet) become :class:`ActuatorError` and are counted
by the controller. A status packet with the alert bit makes the backend read the Hardware
Error Status and report it as a device fault, mapped to the ShovelState faults:

==================  ==================
Dynamixel error     shovel fault
==================  ==================
overload            STALL
electrical shock    OVERCURRENT
overheating         OVERCURRENT
motor encoder       SENSOR_RANGE
input voltage       COMMUNICATION
==================  ==================

``reset_fault`` reboots the servo (the only way to clear a Dynamixel hardware error) and
opens it again. Closing leaves torque on, so the shovel keeps holding its pose.
"""

from dataclasses import replace
from typing import Optional, Tuple

from rover_common.dynamixel_bus import (DynamixelBus, DynamixelError, HardwareError, MotorGroup,
                                        MotorModel, OperatingMode, XM430_W350, XSeries)

from rover_shovel.shovel_types import ActuatorError, Fault, JointReading

#: Hardware error bits to shovel faults, most severe first.
HARDWARE_FAULTS = (
    (HardwareError.OVERLOAD, Fault.STALL),
    (HardwareError.ELECTRICAL_SHOCK, Fault.OVERCURRENT),
    (HardwareError.OVERHEATING, Fault.OVERCURRENT),
    (HardwareError.MOTOR_ENCODER, Fault.SENSOR_RANGE),
    (HardwareError.INPUT_VOLTAGE, Fault.COMMUNICATION),
)


def fault_of(errors: HardwareError) -> Fault:
    """Return the shovel fault for a set of Dynamixel hardware error bits."""
    for flag, fault in HARDWARE_FAULTS:
        if flag in errors:
            return fault
    return Fault.COMMUNICATION


class DynamixelJointActuator:
    """
    shovel_joint on one Dynamixel servo.

    :param bus: the (not yet opened, or open) bus of the servo.
    :param servo_id: its id.
    :param zero_ticks: servo position (counts) at joint angle 0.
    :param direction: +1 or -1 between joint angle and servo position.
    :param current_unit: ampere per Present Current count.
    :param model: the motor model (units, model number).
    """

    def __init__(self, bus: DynamixelBus, *, servo_id: int, zero_ticks: int, direction: int,
                 current_unit: Optional[float] = None,
                 model: MotorModel = XM430_W350) -> None:
        if direction not in (1, -1):
            raise ValueError(f'direction must be 1 or -1, got {direction}')
        if current_unit is not None:
            model = replace(model, current_unit=current_unit)
        self._bus = bus
        self._id = servo_id
        self._model = model
        self._direction = direction
        self._zero = zero_ticks * model.position_unit
        self._group = MotorGroup(bus, [servo_id], OperatingMode.POSITION, model=model)
        self._device_fault: Optional[Tuple[Fault, str]] = None

    def connect(self) -> None:
        """
        Open the bus if needed and bring the servo up holding its present position.

        :raises ActuatorError: the port, the servo or its model is wrong; nothing moved.
        """
        try:
            if not self._bus.is_open:
                self._bus.connect()
            model = self._bus.ping(self._id)
            if model != self._model.model_number:
                raise ActuatorError(f'servo {self._id} is model {model}, expected '
                                    f'{self._model.name} ({self._model.model_number})')
            self._bus.write(self._id, XSeries.TORQUE_ENABLE, 0)
            self._bus.write(self._id, XSeries.OPERATING_MODE, int(OperatingMode.POSITION))
            present = self._bus.read(self._id, XSeries.PRESENT_POSITION)
            self._bus.write(self._id, XSeries.GOAL_POSITION, present)
            self._bus.write(self._id, XSeries.TORQUE_ENABLE, 1)
        except DynamixelError as err:
            raise ActuatorError(f'shovel servo {self._id} on {self._bus.port_name}: {err}') \
                from err

    def read(self, now: float) -> JointReading:
        """Read position, velocity, current; on an alert read the hardware error too."""
        try:
            state = self._group.read_state()[0]
            if state.alert:
                errors = self._group.hardware_errors()[self._id]
                if errors:
                    self._device_fault = (fault_of(errors), f'servo {self._id} hardware '
                                                            f'error: {errors.describe()}')
        except DynamixelError as err:
            raise ActuatorError(f'shovel servo {self._id}: {err}') from err
        d = self._direction
        return JointReading(now, d * (state.position - self._zero), d * state.velocity,
                            d * state.current, self._device_fault)

    def command(self, angle: float, now: float) -> None:
        """Send the goal position of ``angle`` (rad)."""
        try:
            self._group.write_positions([self._zero + self._direction * angle])
        except (DynamixelError, OverflowError) as err:
            raise ActuatorError(f'shovel servo {self._id}: goal {angle!r} rad: {err}') \
                from err

    def reset_fault(self) -> None:
        """Reboot the servo to clear its hardware error, then open it again."""
        if self._device_fault is None:
            return
        try:
            self._bus.reboot(self._id)
        except DynamixelError as err:
            raise ActuatorError(f'shovel servo {self._id}: reboot failed: {err}') from err
        self._device_fault = None
        self.connect()

    def close(self) -> None:
        """Close the bus; the servo keeps torque on and holds its last goal."""
        self._bus.close()
