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
Drive the rover with a joystick: joy + teleop_twist_joy publishing stamped ``cmd_vel``.

    ros2 launch rover_bringup teleop.launch.py
    ros2 launch rover_bringup teleop.launch.py joy_dev:=1 namespace:=rover1

The dead-man (enable) button must be held for any motion; releasing it publishes one zero
command, and the drive's command watchdog stops the rover if the stream ends. Speeds and
buttons are in ``config/teleop_joy.yaml``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushROSNamespace
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Return the joystick teleop description."""
    namespace = LaunchConfiguration('namespace')
    joy_dev = LaunchConfiguration('joy_dev')
    config = LaunchConfiguration('config')
    use_sim_time = LaunchConfiguration('use_sim_time')

    return LaunchDescription([
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the rover to drive.'),
        DeclareLaunchArgument('joy_dev', default_value='0',
                              description='Joystick device id (SDL index) for joy_node.'),
        DeclareLaunchArgument('config',
                              default_value=PathJoinSubstitution([
                                  FindPackageShare('rover_bringup'), 'config',
                                  'teleop_joy.yaml']),
                              description='teleop_twist_joy parameters: axes, scales, '
                                          'dead-man button.'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              choices=['true', 'false'],
                              description='Use /clock (true with sim.launch.py).'),
        GroupAction([
            PushROSNamespace(namespace),
            Node(package='joy', executable='joy_node', name='joy',
                 parameters=[{'device_id': joy_dev, 'deadzone': 0.1,
                              'autorepeat_rate': 20.0, 'use_sim_time': use_sim_time}]),
            Node(package='teleop_twist_joy', executable='teleop_node', name='teleop_twist_joy',
                 parameters=[config, {'use_sim_time': use_sim_time}]),
        ]),
    ])
