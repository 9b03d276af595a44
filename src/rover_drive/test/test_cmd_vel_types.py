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

"""Publishers of the wrong twist type on cmd_vel are reported once each, with the fix."""

from rover_drive.cmd_vel_types import PublisherInfo, TwistTypeMonitor

STAMPED = PublisherInfo('/', 'teleop_new', 'geometry_msgs/msg/TwistStamped')
UNSTAMPED = PublisherInfo('/rover', 'teleop_old', 'geometry_msgs/msg/Twist')


def test_wrong_type_is_reported_once_with_the_fix():
    monitor = TwistTypeMonitor(stamped=True)
    messages = monitor.check('/cmd_vel', [STAMPED, UNSTAMPED])
    assert len(messages) == 1
    assert '/rover/teleop_old publishes geometry_msgs/msg/Twist on /cmd_vel' in messages[0]
    assert 'stamped:=true' in messages[0] and 'cmd_vel_stamped:=false' in messages[0]
    assert monitor.check('/cmd_vel', [STAMPED, UNSTAMPED]) == []
    assert monitor.reported == {('/cmd_vel', UNSTAMPED)}


def test_each_topic_and_publisher_is_its_own_report():
    monitor = TwistTypeMonitor(stamped=True)
    other = PublisherInfo('/', 'joy_teleop', 'geometry_msgs/msg/Twist')
    assert len(monitor.check('/cmd_vel', [UNSTAMPED])) == 1
    assert len(monitor.check('/cmd_vel_nav', [UNSTAMPED])) == 1
    assert len(monitor.check('/cmd_vel', [UNSTAMPED, other])) == 1


def test_unstamped_drive_reports_stamped_publishers():
    monitor = TwistTypeMonitor(stamped=False)
    assert monitor.check('/cmd_vel', [UNSTAMPED]) == []
    messages = monitor.check('/cmd_vel', [STAMPED])
    assert len(messages) == 1
    assert '/teleop_new publishes geometry_msgs/msg/TwistStamped' in messages[0]
    assert 'stamped:=false' in messages[0] and 'cmd_vel_stamped:=true' in messages[0]
