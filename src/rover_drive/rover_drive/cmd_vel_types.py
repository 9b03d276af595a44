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
Spot publishers that send the wrong twist type on the drive's command topics.

ROS silently drops the connection between a ``Twist`` publisher and a ``TwistStamped``
subscription (and the reverse): the operator sees a teleop that runs and a rover that does
not move. The node lists the publishers of each command topic from the graph and hands them
here; each offending publisher is reported once, with the fix.
"""

from dataclasses import dataclass
from typing import Iterable, List, Set, Tuple

#: The message type the drive subscribes, by ``cmd_vel_stamped``.
TWIST_TYPES = {True: 'geometry_msgs/msg/TwistStamped', False: 'geometry_msgs/msg/Twist'}


@dataclass(frozen=True)
class PublisherInfo:
    """One publisher of a topic, as the ROS graph reports it."""

    node_namespace: str
    node_name: str
    topic_type: str


class TwistTypeMonitor:
    """
    Remember which wrong-type publishers were reported.

    :param stamped: whether the drive subscribes TwistStamped (``cmd_vel_stamped``).
    """

    def __init__(self, stamped: bool) -> None:
        self.stamped = stamped
        self.expected = TWIST_TYPES[stamped]
        self._reported: Set[Tuple[str, PublisherInfo]] = set()

    @property
    def reported(self) -> Set[Tuple[str, PublisherInfo]]:
        """Return the (topic, publisher) pairs reported so far."""
        return set(self._reported)

    def check(self, topic: str, publishers: Iterable[PublisherInfo]) -> List[str]:
        """Return one error message per publisher of ``topic`` not yet reported."""
        messages = []
        for info in publishers:
            key = (topic, info)
            if info.topic_type == self.expected or key in self._reported:
                continue
            self._reported.add(key)
            name = f'{info.node_namespace.rstrip("/")}/{info.node_name}'
            messages.append(
                f'!!! {name} publishes {info.topic_type} on {topic}, but this drive '
                f'subscribes {self.expected}: those commands are IGNORED and the rover will '
                f'not move. Make the publisher send {self.expected} (teleop_twist_keyboard: '
                f'--ros-args -p stamped:={str(self.stamped).lower()}) or start the drive '
                f'with cmd_vel_stamped:={str(not self.stamped).lower()}. !!!')
        return messages
