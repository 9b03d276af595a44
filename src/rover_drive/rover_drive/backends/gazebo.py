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
The ``gazebo`` backend: wheel commands to, and joint states from, the ros_gz bridge topics.

ROS-free: the node subscribes ``sim/joint_states`` and hands each message to
:meth:`GazeboWheels.on_joint_state`, and gives the constructor a ``publish`` callable that
sends one ``std_msgs/Float64`` (rad/s) per wheel on ``sim/<joint>/cmd_vel``. Feedback older
than ``feedback_timeout`` (receive time on the node clock) is a :class:`BackendError`, so a
stopped or paused simulator ends as a drive fault after ``backend_error_limit`` steps.
"""

import threading
from typing import Callable, Dict, Optional, Sequence

from rover_drive.backends.base import BackendError, WheelBackend, WheelFeedback
from rover_drive.skid_steer import WHEEL_COUNT

#: Wheel joint names, contract order.
WHEEL_JOINTS = ('front_left_wheel_joint', 'front_right_wheel_joint',
                'rear_left_wheel_joint', 'rear_right_wheel_joint')


class GazeboWheels(WheelBackend):
    """
    Wheels simulated by Gazebo.

    :param publish: sends the four wheel velocity commands (rad/s, contract order).
    :param feedback_timeout: oldest acceptable joint state (s).
    """

    name = 'gazebo'

    def __init__(self, publish: Callable[[Sequence[float]], None], *,
                 feedback_timeout: float) -> None:
        self._publish = publish
        self.feedback_timeout = feedback_timeout
        self._lock = threading.Lock()
        self._feedback: Optional[WheelFeedback] = None
        self._received_at: Optional[float] = None
        self.incomplete_messages = 0

    def on_joint_state(self, names: Sequence[str], positions: Sequence[float],
                       velocities: Sequence[float], received_at: float) -> bool:
        """
        Take one joint-state message; return False (and count it) if a wheel is missing.

        Other joints (the shovel) are ignored; velocities may be empty (then zero).
        """
        index = {name: i for i, name in enumerate(names)}
        if any(joint not in index for joint in WHEEL_JOINTS) or len(positions) != len(names):
            self.incomplete_messages += 1
            return False
        pos = tuple(float(positions[index[j]]) for j in WHEEL_JOINTS)
        if len(velocities) == len(names):
            vel = tuple(float(velocities[index[j]]) for j in WHEEL_JOINTS)
        else:
            vel = (0.0,) * WHEEL_COUNT
        with self._lock:
            self._feedback = WheelFeedback(pos, vel)
            self._received_at = received_at
        return True

    def read(self, now: float) -> WheelFeedback:
        """Return the latest joint state, or raise BackendError when none or too old."""
        with self._lock:
            feedback, received_at = self._feedback, self._received_at
        if feedback is None or received_at is None:
            raise BackendError('no sim/joint_states received yet')
        age = now - received_at
        if age > self.feedback_timeout:
            raise BackendError(f'sim/joint_states is {age:.2f} s old')
        return feedback

    def write(self, velocities: Sequence[float], now: float) -> None:
        """Publish the wheel commands."""
        self._publish(list(velocities))

    def stop(self) -> None:
        """Publish zero to every wheel."""
        self._publish([0.0] * WHEEL_COUNT)

    def health_values(self) -> Dict[str, str]:
        """Return the count of joint states that lacked a wheel."""
        return {'incomplete_joint_states': str(self.incomplete_messages)}
