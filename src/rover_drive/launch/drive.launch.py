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

"""Start the drive node alone, with its parameter file and a backend switch."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Return the drive node with config/drive.yaml and the launch arguments applied."""
    backend = LaunchConfiguration('backend')
    interlock_enabled = LaunchConfiguration('interlock_enabled')
    use_sim_time = LaunchConfiguration('use_sim_time')
    params = PathJoinSubstitution([FindPackageShare('rover_drive'), 'config', 'drive.yaml'])
    return LaunchDescription([
        DeclareLaunchArgument('backend', default_value='fake',
                              choices=['fake', 'gazebo', 'hardware'],
                              description='where the wheel commands go'),
        DeclareLaunchArgument('interlock_enabled', default_value='true',
                              choices=['true', 'false'],
                              description='obey the shovel interlock (false: bench tests '
                                          'without a shovel node)'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              choices=['true', 'false'],
                              description='use /clock (Gazebo)'),
        Node(package='rover_drive', executable='drive_node', name='drive', output='screen',
             parameters=[params, {'backend': backend,
                                  'interlock_enabled': interlock_enabled,
                                  'use_sim_time': use_sim_time}]),
    ])
