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
The ``gazebo`` backend: shovel_joint through the ros_gz bridge topics, without ROS here.

The node subscribes ``sim/joint_states`` and calls :meth:`BridgedJointActuator.feed` with the
shovel_joint entry; commands go out through the ``publish`` callable the node provides
(``std_msgs/Float64`` on ``sim/shovel_joint/cmd_pos``). A joint state older than
``state_timeout`` is a failed read.

The current is reported as NaN, not measured: gz-sim 8's JointStatePublisher fills the effort
from the JointForce component, which its Physics system never writes, so the bridged effort
reads 0 N*m whatever the load (measured: 0.0 while the scoop lifts against gravity). A false
0 A would make the fill estimate a confident negative mass; NaN makes it "not measured", and
the stall and overcurrent checks (which need a current) leave the position-error check alone
to catch a jammed joint.
"""

import math
import threading
from typing import Callable, Optional, Tuple

from rover_shovel.shovel_types import ActuatorError, JointReading


class BridgedJointActuator:
    """
    shovel_joint in Gazebo, fed by the node.

    :param publish: sends a position command (rad) to the simulator.
    :param state_timeout: a joint state older than this (s) makes ``read`` fail.
    """

    def __init__(self, publish: Callable[[float], None], *, state_timeout: float) -> None:
        if state_timeout <= 0.0:
            raise ValueError(f'state_timeout must be > 0 s, got {state_timeout}')
        self._publish = publish
        self._timeout = state_timeout
        self._lock = threading.Lock()
        self._state: Optional[Tuple[float, float, float]] = None

    def feed(self, stamp: float, position: float, velocity: float) -> None:
        """Record a joint state received at ``stamp`` (controller clock); NaN if absent."""
        with self._lock:
            self._state = (stamp, position, velocity)

    def read(self, now: float) -> JointReading:
        """Return the latest joint state; ActuatorError when none is fresh."""
        with self._lock:
            state = self._state
        if state is None:
            raise ActuatorError('no shovel_joint state received on sim/joint_states yet')
        stamp, position, velocity = state
        if now - stamp > self._timeout:
            raise ActuatorError(f'sim/joint_states is {now - stamp:.2f} s old')
        velocity = velocity if math.isfinite(velocity) else 0.0
        return JointReading(now, position, velocity, math.nan)

    def command(self, angle: float, now: float) -> None:
        """Publish the position command."""
        if not math.isfinite(angle):
            raise ActuatorError(f'refused non-finite command {angle!r}')
        self._publish(angle)

    def reset_fault(self) -> None:
        """Do nothing: the simulated joint has no device error to reset."""

    def close(self) -> None:
        """Nothing to release; the node destroys its publisher."""
