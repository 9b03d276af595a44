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
Run the rover in the Gazebo Harmonic lunar world.

    ros2 launch rover_bringup sim.launch.py                  # headless server, no GUI
    ros2 launch rover_bringup sim.launch.py headless:=false  # with the Gazebo GUI

Starts gz-sim with rover_description's lunar world, spawns the rover from the
``robot_description`` topic, bridges clock, joints, cameras and IMU with ros_gz_bridge (the
YAML of rover_description), then ``rover.launch.py mode:=gazebo``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, PushROSNamespace
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Return the simulation description."""
    headless = LaunchConfiguration('headless')
    world = LaunchConfiguration('world')
    namespace = LaunchConfiguration('namespace')
    use_rviz = LaunchConfiguration('rviz')
    use_bridge = LaunchConfiguration('use_bridge')
    spawn_z = LaunchConfiguration('spawn_z')
    product_dir = LaunchConfiguration('product_dir')

    gz_launch = PathJoinSubstitution([FindPackageShare('ros_gz_sim'), 'launch',
                                      'gz_sim.launch.py'])

    def gazebo(extra_args: str, condition) -> IncludeLaunchDescription:
        return IncludeLaunchDescription(
            PythonLaunchDescriptionSource(gz_launch),
            launch_arguments={'gz_args': [world, extra_args],
                              'on_exit_shutdown': 'true'}.items(),
            condition=condition)

    return LaunchDescription([
        DeclareLaunchArgument('headless', default_value='true', choices=['true', 'false'],
                              description='Run only the Gazebo server, rendering cameras '
                                          'off-screen (no GUI, no display needed).'),
        DeclareLaunchArgument('world',
                              default_value=PathJoinSubstitution([
                                  FindPackageShare('rover_description'), 'worlds',
                                  'lunar.sdf']),
                              description='SDF world to load.'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of the rover nodes and topics.'),
        DeclareLaunchArgument('rviz', default_value='false', choices=['true', 'false'],
                              description='Start RViz with the rover view.'),
        DeclareLaunchArgument('use_bridge', default_value='true', choices=['true', 'false'],
                              description='Start the lander bridge.'),
        DeclareLaunchArgument('product_dir', default_value='~/.ros/rover_products',
                              description='On-board product store (captures, evidence).'),
        DeclareLaunchArgument('spawn_z', default_value='0.2',
                              description='Height above the world origin at which the rover '
                                          'is spawned (m).'),
        gazebo(' -r -s --headless-rendering', IfCondition(headless)),
        gazebo(' -r', UnlessCondition(headless)),
        GroupAction([
            PushROSNamespace(namespace),
            Node(package='ros_gz_sim', executable='create',
                 arguments=['-topic', 'robot_description', '-name', 'rover',
                            '-z', spawn_z],
                 output='screen'),
            Node(package='ros_gz_bridge', executable='parameter_bridge', name='gz_bridge',
                 parameters=[{'config_file': PathJoinSubstitution([
                     FindPackageShare('rover_description'), 'config', 'gz_bridge.yaml']),
                     'use_sim_time': True}],
                 output='screen'),
        ]),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution([
                FindPackageShare('rover_bringup'), 'launch', 'rover.launch.py'])),
            launch_arguments={'mode': 'gazebo', 'namespace': namespace, 'rviz': use_rviz,
                              'use_bridge': use_bridge, 'product_dir': product_dir}.items()),
    ])
