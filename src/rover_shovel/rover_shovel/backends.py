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
Build the ROS-free joint backends from a validated parameter set.

The node and the standalone rover both call these, so ``fake`` and ``hardware`` behave the
same with or without ROS. The ``gazebo`` backend needs the node's topics and is built there
(:class:`rover_shovel.sim_joint.BridgedJointActuator`).
"""

from typing import Mapping, TYPE_CHECKING

from rover_common.param_spec import ParamValue

from rover_shovel.fake_joint import FakeJointActuator, FakeJointParams

if TYPE_CHECKING:
    from rover_shovel.dynamixel_joint import DynamixelJointActuator


def fake_params(values: Mapping[str, ParamValue]) -> FakeJointParams:
    """Return the fake joint's physics from the shovel parameters (the fill model's truth)."""
    return FakeJointParams(
        torque_constant=values['torque_constant'], gravity=values['gravity'],
        horizontal_angle=values['horizontal_angle'],
        sample_lever_arm=values['sample_lever_arm'],
        empty_friction_current=values['empty_lift_friction_current'],
        empty_gravity_current=values['empty_lift_gravity_current'],
        empty_horizontal_angle=values['empty_horizontal_angle'],
        ground_angle=values['fake_ground_angle'],
        soil_stiffness=values['fake_soil_stiffness'], spill_angle=values['spill_angle'],
        # The scoop fills once it has arrived at the dig pose (the dig depth).
        bite_angle=values['pose_dig'] - values['arrival_tolerance'],
        sample_mass=values['fake_sample_mass'], current_noise=values['fake_current_noise'],
        seed=values['fake_seed'])


def fake_actuator(values: Mapping[str, ParamValue], *, start_time: float) -> FakeJointActuator:
    """Return the fake joint, starting stowed at ``start_time`` on the controller clock."""
    return FakeJointActuator(fake_params(values), initial_angle=values['pose_stowed'],
                             start_time=start_time)


def hardware_actuator(values: Mapping[str, ParamValue]) -> 'DynamixelJointActuator':
    """
    Return the Dynamixel backend, opened and holding its present position.

    dynamixel-sdk and pyserial are imported here, not at module load, so the fake and
    gazebo backends run on a machine without them.

    :raises ActuatorError: the serial port or the servo is not there or not right.
    """
    from rover_common.dynamixel_bus import DynamixelBus
    from rover_shovel.dynamixel_joint import DynamixelJointActuator
    bus = DynamixelBus(values['serial_port'], baudrate=values['baud_rate'])
    actuator = DynamixelJointActuator(
        bus, servo_id=values['servo_id'], zero_ticks=values['servo_zero_ticks'],
        direction=values['servo_direction'], current_unit=values['servo_current_unit'])
    actuator.connect()
    return actuator
