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

"""Build the wheel backend that the ``backend`` parameter names."""

from typing import Callable, Mapping, Optional, Sequence

from rover_common.param_spec import ParamValue
from rover_drive.backends.base import WheelBackend
from rover_drive.backends.dynamixel import DynamixelWheels
from rover_drive.backends.fake import FakeWheels
from rover_drive.backends.gazebo import GazeboWheels
from rover_drive.skid_steer import SkidSteerGeometry


def create_backend(values: Mapping[str, ParamValue], *,
                   gazebo_publish: Optional[Callable[[Sequence[float]], None]] = None
                   ) -> WheelBackend:
    """
    Return the backend named by ``values['backend']``, configured from the drive parameters.

    :param values: validated drive parameters.
    :param gazebo_publish: required for ``gazebo``: sends the four wheel commands.
    :raises ValueError: an unknown backend, or gazebo without a publisher.
    """
    name = values['backend']
    if name == 'fake':
        geometry = SkidSteerGeometry(values['wheel_radius'], values['track'],
                                     values['icr_factor'])
        return FakeWheels(geometry, time_constant=values['fake_time_constant'],
                          slip=values['fake_slip'], noise=values['fake_noise'],
                          seed=values['fake_seed'])
    if name == 'hardware':
        return DynamixelWheels(values['serial_port'], baudrate=values['baudrate'],
                               motor_ids=list(values['motor_ids']),
                               directions=list(values['motor_directions']),
                               max_wheel_speed=values['max_wheel_speed'],
                               bus_watchdog=values['bus_watchdog'])
    if name == 'gazebo':
        if gazebo_publish is None:
            raise ValueError('the gazebo backend needs a publisher for the wheel commands')
        return GazeboWheels(gazebo_publish, feedback_timeout=values['feedback_timeout'])
    raise ValueError(f'unknown backend {name!r}; known: fake, gazebo, hardware')
