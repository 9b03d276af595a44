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
"""rclpy tests of the drive node on the fake backend (skipped where ROS 2 is missing)."""

import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')

from action_msgs.msg import GoalStatus  # noqa: E402, I100
from geometry_msgs.msg import Twist, TwistStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rover_common.rover_node import LATCHED_QOS  # noqa: E402
from rover_drive.drive_node import DriveNode  # noqa: E402
from rover_interfaces.action import DriveDistance, Turn  # noqa: E402
from rover_interfaces.msg import DriveStatus, ShovelState  # noqa: E402
from rover_interfaces.srv import EStop  # noqa: E402


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class Harness:
    """The drive node and a test node spun by one executor in a background thread."""

    def __init__(self, **overrides):
        overrides.setdefault('interlock_enabled', False)
        self.drive = DriveNode(parameter_overrides=[Parameter(k, value=v)
                                                    for k, v in overrides.items()])
        self.probe = Node('drive_test_probe')
        self.odom = []
        self.status = []
        self.probe.create_subscription(Odometry, 'odom', self.odom.append, 10)
        self.probe.create_subscription(DriveStatus, 'drive/status', self.status.append,
                                       LATCHED_QOS)
        self.cmd = self.probe.create_publisher(TwistStamped, 'cmd_vel', 10)
        self.executor = MultiThreadedExecutor(num_threads=6)
        self.executor.add_node(self.drive)
        self.executor.add_node(self.probe)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def send(self, linear, angular=0.0):
        msg = TwistStamped()
        msg.header.stamp = self.probe.get_clock().now().to_msg()
        msg.twist.linear.x = linear
        msg.twist.angular.z = angular
        self.cmd.publish(msg)

    def call(self, future, timeout=5.0):
        assert wait_for(future.done, timeout), 'no answer in time'
        return future.result()

    def close(self):
        self.drive.stop_motion()
        self.executor.shutdown(timeout_sec=2.0)
        self.drive.release()
        self.drive.destroy_node()
        self.probe.destroy_node()


@pytest.fixture
def harness():
    rclpy.init()
    h = Harness()
    yield h
    h.close()
    rclpy.try_shutdown()


def test_cmd_vel_moves_the_fake_rover_and_odom_follows(harness):
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        harness.send(0.1)
        time.sleep(0.05)
    assert harness.odom, 'no odom received'
    assert harness.odom[-1].pose.pose.position.x > 0.15
    assert harness.odom[-1].twist.twist.linear.x == pytest.approx(0.1, abs=0.01)
    assert harness.odom[-1].header.frame_id == 'odom'
    assert harness.odom[-1].child_frame_id == 'base_link'


def test_stopped_publisher_stops_within_timeout_plus_one_period(harness):
    for _ in range(30):
        harness.send(0.1)
        time.sleep(0.05)
    last_sent = time.monotonic()
    controller = harness.drive.controller
    assert controller.status.commanded_linear == pytest.approx(0.1)
    # 0.5 s timeout + one 50 ms period (+ 50 ms scheduling slack) until the ramp starts
    assert wait_for(lambda: controller.status.commanded_linear < 0.1, 0.5 + 0.05 + 0.05 + 1.0)
    started = time.monotonic() - last_sent
    assert started <= 0.5 + 0.05 + 0.05
    # and the ramp reaches zero within linear_decel's 0.2 s (+ one period)
    assert wait_for(lambda: controller.status.commanded_linear == 0.0, 0.25 + 0.05)
    assert controller.status.watchdog_stops == 1


def test_wrong_parameter_set_is_refused_and_changes_nothing(harness):
    node = harness.drive
    results = node.set_parameters([Parameter('max_linear', value=5.0)])
    assert not results[0].successful
    result = node.set_parameters_atomically([Parameter('creep_speed', value=0.09),
                                             Parameter('max_linear', value=0.05)])
    assert not result.successful and 'creep_speed' in result.reason
    assert node.get_parameter('creep_speed').value == 0.02
    results = node.set_parameters([Parameter('backend', value='hardware')])
    assert not results[0].successful
    assert node.get_parameter('max_linear').value == 0.1
    assert node.controller.params['max_linear'] == 0.1
    results = node.set_parameters([Parameter('max_linear', value=0.05)])
    assert results[0].successful
    assert node.controller.params['max_linear'] == 0.05


def test_drive_distance_succeeds_with_feedback(harness):
    client = ActionClient(harness.probe, DriveDistance, 'drive_distance')
    assert client.wait_for_server(timeout_sec=5.0)
    feedback = []
    goal = DriveDistance.Goal(distance=0.3, speed=0.1)
    handle = harness.call(client.send_goal_async(goal, feedback_callback=feedback.append))
    assert handle.accepted
    result = harness.call(handle.get_result_async(), timeout=15.0)
    assert result.status == GoalStatus.STATUS_SUCCEEDED
    assert result.result.error_code == DriveDistance.Result.ERROR_NONE
    assert result.result.distance_travelled == pytest.approx(0.3, abs=0.01)
    assert feedback and 0.0 <= feedback[-1].feedback.progress <= 1.0


def test_drive_distance_cancel_stops_the_rover(harness):
    client = ActionClient(harness.probe, DriveDistance, 'drive_distance')
    assert client.wait_for_server(timeout_sec=5.0)
    handle = harness.call(client.send_goal_async(DriveDistance.Goal(distance=2.0, speed=0.1)))
    time.sleep(1.0)
    harness.call(handle.cancel_goal_async())
    result = harness.call(handle.get_result_async())
    assert result.status == GoalStatus.STATUS_CANCELED
    assert result.result.error_code == DriveDistance.Result.ERROR_CANCELED
    assert 0.0 < result.result.distance_travelled < 0.2
    assert wait_for(lambda: harness.drive.controller.status.stopped, 1.0)


def test_out_of_range_goals_are_rejected(harness):
    client = ActionClient(harness.probe, DriveDistance, 'drive_distance')
    assert client.wait_for_server(timeout_sec=5.0)
    for goal in (DriveDistance.Goal(distance=50.0, speed=0.1),
                 DriveDistance.Goal(distance=1.0, speed=1.0),
                 DriveDistance.Goal(distance=1.0, speed=0.0)):
        handle = harness.call(client.send_goal_async(goal))
        assert not handle.accepted
    turn = ActionClient(harness.probe, Turn, 'turn')
    assert turn.wait_for_server(timeout_sec=5.0)
    handle = harness.call(turn.send_goal_async(Turn.Goal(angle=20.0, angular_speed=0.3)))
    assert not handle.accepted


def test_new_goal_aborts_the_running_one_and_turn_succeeds(harness):
    drive = ActionClient(harness.probe, DriveDistance, 'drive_distance')
    turn = ActionClient(harness.probe, Turn, 'turn')
    assert drive.wait_for_server(timeout_sec=5.0) and turn.wait_for_server(timeout_sec=5.0)
    first = harness.call(drive.send_goal_async(DriveDistance.Goal(distance=2.0, speed=0.1)))
    time.sleep(0.5)
    second = harness.call(turn.send_goal_async(Turn.Goal(angle=0.5, angular_speed=0.5)))
    first_result = harness.call(first.get_result_async())
    assert first_result.status == GoalStatus.STATUS_ABORTED
    assert first_result.result.error_code == DriveDistance.Result.ERROR_PREEMPTED
    second_result = harness.call(second.get_result_async(), timeout=15.0)
    assert second_result.status == GoalStatus.STATUS_SUCCEEDED
    assert second_result.result.angle_turned == pytest.approx(0.5, abs=0.03)


def test_estop_service_latches_and_releases(harness):
    client = harness.probe.create_client(EStop, 'estop')
    assert client.wait_for_service(timeout_sec=5.0)
    answer = harness.call(client.call_async(EStop.Request(engage=True, reason='test')))
    assert answer.success
    assert wait_for(lambda: harness.status and harness.status[-1].estop_latched, 2.0)
    assert harness.status[-1].mode == DriveStatus.MODE_ESTOP
    for _ in range(10):
        harness.send(0.1)
        time.sleep(0.05)
    assert harness.drive.controller.status.commanded_linear == 0.0
    answer = harness.call(client.call_async(EStop.Request(engage=False)))
    assert answer.success
    assert wait_for(lambda: not harness.status[-1].estop_latched, 2.0)


def test_shovel_state_drives_the_interlock():
    rclpy.init()
    h = Harness(interlock_enabled=True)
    try:
        for _ in range(10):
            h.send(0.1)
            time.sleep(0.05)
        assert h.drive.controller.status.interlock == DriveStatus.INTERLOCK_BLOCKED
        assert h.drive.controller.odometry.pose.x == 0.0
        pub = h.probe.create_publisher(ShovelState, 'shovel/state', LATCHED_QOS)
        pub.publish(ShovelState(drive_permission=ShovelState.DRIVE_CREEP_ONLY))
        assert wait_for(lambda: h.drive.controller.status.interlock ==
                        DriveStatus.INTERLOCK_CREEP_ONLY, 2.0)
        for _ in range(30):
            h.send(0.1)
            time.sleep(0.05)
        assert h.drive.controller.status.commanded_linear == pytest.approx(0.02)
    finally:
        h.close()
        rclpy.try_shutdown()


def test_wrong_cmd_vel_type_is_reported(harness):
    wrong = harness.probe.create_publisher(Twist, 'cmd_vel', 10)
    assert wrong is not None
    assert wait_for(lambda: harness.drive.count_publishers('cmd_vel') >= 2, 3.0)
    harness.drive._check_publisher_types()
    assert any(info.topic_type == 'geometry_msgs/msg/Twist'
               for _, info in harness.drive._twist_types.reported)
