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
Start the lander bridge alone (the rest of the rover comes from rover_bringup).

Arguments: ``params_file`` (default ``config/lander_bridge.yaml`` of this package),
``key_file`` and ``transport`` override the file; ``namespace`` pushes the node into a
namespace with the rover it commands.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushROSNamespace
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Return the launch description of the lander bridge."""
    params_file = LaunchConfiguration('params_file')
    key_file = LaunchConfiguration('key_file')
    transport = LaunchConfiguration('transport')
    namespace = LaunchConfiguration('namespace')
    return LaunchDescription([
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([FindPackageShare('rover_lander_bridge'),
                                                'config', 'lander_bridge.yaml']),
            description='Parameter file of the lander_bridge node.'),
        DeclareLaunchArgument('key_file', default_value='~/.ros/lander_bridge/uplink.key',
                              description='Uplink key file (rover-ground keygen PATH).'),
        DeclareLaunchArgument('transport', default_value='udp', choices=['udp', 'serial'],
                              description='Link to the lander: UDP relay or serial umbilical.'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the rover.'),
        GroupAction([
            PushROSNamespace(namespace),
            Node(package='rover_lander_bridge', executable='lander_bridge_node',
                 name='lander_bridge', output='screen',
                 parameters=[params_file, {'key_file': key_file, 'transport': transport}]),
        ]),
    ])
