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
Start the cameras node alone (bench tests of the cameras, a camera-only rover process).

    ros2 launch rover_cams cameras.launch.py                          # synthetic scene
    ros2 launch rover_cams cameras.launch.py backend:=hardware left_device:=/dev/video0
    ros2 launch rover_cams cameras.launch.py backend:=hardware left_device:=clip.avi \
        cameras:="['left']" loop_video:=true

The whole rover starts it from rover_bringup's rover.launch.py instead.
"""

from typing import List

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node, PushROSNamespace
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description() -> LaunchDescription:
    """Return the launch description: arguments, then the node in its namespace."""
    arguments = [
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the node and its topics.'),
        DeclareLaunchArgument('backend', default_value='fake',
                              choices=['fake', 'hardware', 'gazebo'],
                              description='Frame source of both cameras.'),
        DeclareLaunchArgument('cameras', default_value="['left', 'right']",
                              description='Cameras to run (YAML list of left, right).'),
        DeclareLaunchArgument('left_device', default_value='/dev/video0',
                              description='Hardware: V4L2 device, video file or URL (left).'),
        DeclareLaunchArgument('right_device', default_value='/dev/video2',
                              description='Hardware: V4L2 device, video file or URL (right).'),
        DeclareLaunchArgument('loop_video', default_value='false', choices=['true', 'false'],
                              description='Hardware: rewind video files at their end.'),
        DeclareLaunchArgument('stream_rate', default_value='5.0',
                              description='Stream rate per camera, Hz.'),
        DeclareLaunchArgument('product_dir', default_value='~/.ros/rover_products',
                              description='Directory of the on-board product store.'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              choices=['true', 'false'],
                              description='Use /clock (true with the gazebo backend).'),
    ]

    def value(name: str, value_type) -> ParameterValue:
        return ParameterValue(LaunchConfiguration(name), value_type=value_type)

    node = Node(package='rover_cams', executable='camera_node', name='cameras',
                output='screen',
                parameters=[{
                    'backend': LaunchConfiguration('backend'),
                    'cameras': value('cameras', List[str]),
                    'left_device': LaunchConfiguration('left_device'),
                    'right_device': LaunchConfiguration('right_device'),
                    'loop_video': value('loop_video', bool),
                    'stream_rate': value('stream_rate', float),
                    'product_dir': LaunchConfiguration('product_dir'),
                    'use_sim_time': value('use_sim_time', bool),
                }])
    return LaunchDescription(arguments + [
        GroupAction([PushROSNamespace(LaunchConfiguration('namespace')), node]),
    ])
