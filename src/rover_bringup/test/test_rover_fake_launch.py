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
End-to-end launch test of the real ``rover.launch.py mode:=fake``.

Every rover node comes up; ``odom`` moves after ``cmd_vel``; a ``cmd_vel`` publisher that stops
leads to a stop; ``drive_distance`` succeeds; ``collect_sample`` returns an evidence product
whose images exist; and no node exits with an error at shutdown.
"""

import json
from pathlib import Path
import tempfile
import time
import unittest

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')
launch_testing = pytest.importorskip('launch_testing',
                                     reason='launch_testing (ROS 2 Jazzy) is not installed')

from ament_index_python.packages import get_package_share_directory  # noqa: E402, I100
from geometry_msgs.msg import TwistStamped  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rover_common.rover_node import LATCHED_QOS  # noqa: E402
from rover_interfaces.action import CollectSample, DriveDistance  # noqa: E402
from rover_interfaces.msg import DriveStatus  # noqa: E402

PRODUCTS = Path(tempfile.mkdtemp(prefix='rover_e2e_products_'))
EXPECTED_NODES = {'drive', 'shovel', 'cameras', 'lander_bridge', 'robot_state_publisher'}


@pytest.mark.launch_test
def generate_test_description():
    """Launch the fake rover exactly as a user would."""
    rover = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(
            Path(get_package_share_directory('rover_bringup')) / 'launch' / 'rover.launch.py')),
        launch_arguments={'mode': 'fake', 'product_dir': str(PRODUCTS)}.items())
    return LaunchDescription([rover, launch_testing.actions.ReadyToTest()])


class TestFakeRover(unittest.TestCase):
    """Drive the fake rover through its public interface."""

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('e2e_probe')
        cls.odom = []
        cls.status = []
        cls.node.create_subscription(Odometry, 'odom', cls.odom.append, 10)
        cls.node.create_subscription(DriveStatus, 'drive/status', cls.status.append,
                                     LATCHED_QOS)

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.try_shutdown()

    def spin_until(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return predicate()

    def wait_future(self, future, timeout: float):
        self.assertTrue(self.spin_until(future.done, timeout), 'no answer in time')
        return future.result()

    def test_1_every_node_comes_up(self):
        up = self.spin_until(
            lambda: EXPECTED_NODES <= set(self.node.get_node_names()), timeout=30.0)
        self.assertTrue(up, f'missing nodes: {EXPECTED_NODES - set(self.node.get_node_names())}')

    def test_2_odom_moves_after_cmd_vel_and_stops_when_the_stream_ends(self):
        self.assertTrue(self.spin_until(lambda: self.odom, 20.0), 'no odom')
        start_x = self.odom[-1].pose.pose.position.x
        publisher = self.node.create_publisher(TwistStamped, 'cmd_vel', 10)
        command = TwistStamped()
        command.header.frame_id = 'base_link'
        command.twist.linear.x = 0.08
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            command.header.stamp = self.node.get_clock().now().to_msg()
            publisher.publish(command)
            rclpy.spin_once(self.node, timeout_sec=0.1)
        moved = self.odom[-1].pose.pose.position.x - start_x
        self.assertGreater(moved, 0.05, 'odom did not follow cmd_vel')
        self.node.destroy_publisher(publisher)
        stopped_at = time.monotonic()
        stopped = self.spin_until(
            lambda: abs(self.odom[-1].twist.twist.linear.x) < 1e-3, timeout=3.0)
        self.assertTrue(stopped, 'rover kept moving after the cmd_vel stream ended')
        self.assertLess(time.monotonic() - stopped_at, 3.0)

    def test_3_drive_distance_succeeds(self):
        client = ActionClient(self.node, DriveDistance, 'drive_distance')
        self.assertTrue(client.wait_for_server(timeout_sec=10.0))
        goal = DriveDistance.Goal(distance=0.3, speed=0.1)
        handle = self.wait_future(client.send_goal_async(goal), 10.0)
        self.assertTrue(handle.accepted)
        result = self.wait_future(handle.get_result_async(), 30.0).result
        self.assertEqual(result.error_code, DriveDistance.Result.ERROR_NONE, result.message)
        self.assertAlmostEqual(result.distance_travelled, 0.3, delta=0.03)

    def test_4_collect_sample_returns_evidence_with_images(self):
        client = ActionClient(self.node, CollectSample, 'shovel/collect_sample')
        self.assertTrue(client.wait_for_server(timeout_sec=10.0))
        phases = []
        handle = self.wait_future(client.send_goal_async(
            CollectSample.Goal(command_id='e2e-1'),
            feedback_callback=lambda f: phases.append(f.feedback.phase)), 10.0)
        self.assertTrue(handle.accepted)
        result = self.wait_future(handle.get_result_async(), 120.0).result
        self.assertEqual(result.error_code, CollectSample.Result.ERROR_NONE, result.message)
        self.assertTrue(result.evidence_product_id)
        self.assertIn(CollectSample.Feedback.PHASE_DIG, phases)
        self.assertGreaterEqual(len(result.image_product_ids), 2)
        evidence_files = [p for p in PRODUCTS.rglob('*') if result.evidence_product_id in p.name]
        self.assertTrue(evidence_files, 'the evidence product is not on disk')
        evidence = json.loads(evidence_files[0].read_text())
        self.assertIn('e2e-1', json.dumps(evidence))
        for image_id in result.image_product_ids:
            self.assertTrue([p for p in PRODUCTS.rglob('*') if image_id in p.name],
                            f'image {image_id} is not on disk')


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """No node exits with an error."""

    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(
            proc_info, allowable_exit_codes=[0, -2, -15])
