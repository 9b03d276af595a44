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
The rover in the real Gazebo Harmonic lunar world: ``sim.launch.py`` headless.

Drives 0.5 m with ``drive_distance``, compares wheel odometry with Gazebo's ground-truth pose,
and receives frames from both cameras. Skipped, with the reason, where Gazebo Harmonic or
ros_gz is not installed.
"""

import math
import os
import shutil
import signal
import subprocess
import time

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')

from ament_index_python.packages import (get_package_share_directory,  # noqa: E402, I100
                                         PackageNotFoundError)
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from rover_interfaces.action import DriveDistance  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402


def _gazebo_missing() -> str:
    """Return why the simulation cannot run here, or '' when it can."""
    if shutil.which('gz') is None:
        return 'Gazebo Harmonic (gz) is not installed'
    for package in ('ros_gz_sim', 'ros_gz_bridge'):
        try:
            get_package_share_directory(package)
        except PackageNotFoundError:
            return f'{package} (ros_gz) is not installed'
    return ''


pytestmark = pytest.mark.skipif(bool(_gazebo_missing()), reason=_gazebo_missing() or 'n/a')


@pytest.fixture(scope='module')
def simulation():
    """Start ``sim.launch.py`` headless as a user would; stop it with SIGINT afterwards."""
    launch = subprocess.Popen(
        ['ros2', 'launch', 'rover_bringup', 'sim.launch.py', 'headless:=true',
         'use_bridge:=false'],
        start_new_session=True, env=dict(os.environ))
    rclpy.init()
    node = rclpy.create_node('sim_probe', parameter_overrides=[
        rclpy.parameter.Parameter('use_sim_time', value=True)])
    yield launch, node
    node.destroy_node()
    rclpy.try_shutdown()
    os.killpg(launch.pid, signal.SIGINT)
    try:
        launch.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(launch.pid, signal.SIGKILL)


def _spin_until(node, predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        rclpy.spin_once(node, timeout_sec=0.05)
    return predicate()


def test_drive_half_a_metre_with_odometry_matching_ground_truth_and_both_cameras(simulation):
    launch, node = simulation
    odom, truth, left, right = [], [], [], []
    node.create_subscription(Odometry, 'odom', odom.append, 10)
    node.create_subscription(Odometry, 'sim/ground_truth/odom', truth.append, 10)
    node.create_subscription(Image, 'camera_left/image_raw', left.append,
                             qos_profile_sensor_data)
    node.create_subscription(Image, 'camera_right/image_raw', right.append,
                             qos_profile_sensor_data)
    assert _spin_until(node, lambda: left and right, 180.0), \
        f'frames: left {len(left)}, right {len(right)}'
    assert left[-1].header.frame_id == 'camera_left_optical_frame'
    assert right[-1].header.frame_id == 'camera_right_optical_frame'
    assert _spin_until(node, lambda: odom and truth, 60.0)
    start = truth[-1].pose.pose.position
    client = ActionClient(node, DriveDistance, 'drive_distance')
    assert client.wait_for_server(timeout_sec=30.0)
    goal_future = client.send_goal_async(DriveDistance.Goal(distance=0.5, speed=0.1))
    assert _spin_until(node, goal_future.done, 30.0)
    handle = goal_future.result()
    assert handle.accepted
    result_future = handle.get_result_async()
    assert _spin_until(node, result_future.done, 240.0), 'drive did not finish'
    result = result_future.result().result
    assert result.error_code == DriveDistance.Result.ERROR_NONE, result.message
    _spin_until(node, lambda: False, 1.0)
    end = truth[-1].pose.pose.position
    travelled = math.hypot(end.x - start.x, end.y - start.y)
    # Skid steer on low-friction regolith slips: odometry within 15 % of ground truth.
    assert travelled == pytest.approx(0.5, abs=0.075)
    assert result.distance_travelled == pytest.approx(travelled, abs=0.075)
    assert launch.poll() is None, 'the simulation exited early'
