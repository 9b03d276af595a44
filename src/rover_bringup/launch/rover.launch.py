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
Bring up the whole rover: description, drive, shovel, cameras, lander bridge, health.

    ros2 launch rover_bringup rover.launch.py                    # fake hardware (default)
    ros2 launch rover_bringup rover.launch.py mode:=hardware     # real motor bus and cameras
    ros2 launch rover_bringup rover.launch.py mode:=gazebo       # started by sim.launch.py

One argument, ``mode``, selects the backends of every node (through ``config/<mode>.yaml``) and
the plugin block of the xacro description. ``use_sim_time`` follows the mode (true in gazebo).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction
from launch.conditions import IfCondition
from launch.substitutions import (Command, EqualsSubstitution, FindExecutable,
                                  LaunchConfiguration, PathJoinSubstitution)
from launch_ros.actions import Node, PushROSNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Return the rover bringup description."""
    mode = LaunchConfiguration('mode')
    namespace = LaunchConfiguration('namespace')
    use_bridge = LaunchConfiguration('use_bridge')
    use_cameras = LaunchConfiguration('use_cameras')
    use_rviz = LaunchConfiguration('rviz')
    product_dir = LaunchConfiguration('product_dir')
    params_file = LaunchConfiguration('params_file')
    log_level = LaunchConfiguration('log_level')

    use_sim_time = ParameterValue(EqualsSubstitution(mode, 'gazebo'), value_type=bool)
    robot_description = ParameterValue(
        Command([FindExecutable(name='xacro'), ' ',
                 PathJoinSubstitution([FindPackageShare('rover_description'), 'urdf',
                                       'rover.urdf.xacro']),
                 ' mode:=', mode]),
        value_type=str)
    common = {'use_sim_time': use_sim_time}
    # Namespaced TF: relative tf topics, so a namespace moves TF along with everything else.
    tf_remaps = [('/tf', 'tf'), ('/tf_static', 'tf_static')]
    ros_args = ['--log-level', log_level]

    return LaunchDescription([
        DeclareLaunchArgument('mode', default_value='fake',
                              choices=['hardware', 'gazebo', 'fake'],
                              description='Backends of every node and plugin block of the '
                                          'description: real hardware, Gazebo Harmonic, or '
                                          'in-process fake hardware.'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace of every node, topic, action and TF '
                                          'topic of this rover.'),
        DeclareLaunchArgument('use_bridge', default_value='true', choices=['true', 'false'],
                              description='Start the lander bridge (telecommands up, '
                                          'telemetry and files down).'),
        DeclareLaunchArgument('use_cameras', default_value='true', choices=['true', 'false'],
                              description='Start the camera node (both side cameras).'),
        DeclareLaunchArgument('rviz', default_value='false', choices=['true', 'false'],
                              description='Start RViz with the rover view.'),
        DeclareLaunchArgument('product_dir', default_value='~/.ros/rover_products',
                              description='Directory of the on-board product store '
                                          '(captures, evidence), shared by cameras, shovel '
                                          'and lander bridge.'),
        DeclareLaunchArgument('params_file',
                              default_value=[PathJoinSubstitution([
                                  FindPackageShare('rover_bringup'), 'config', mode]),
                                  '.yaml'],
                              description='Parameter file of the nodes; defaults to '
                                          'config/<mode>.yaml of rover_bringup.'),
        DeclareLaunchArgument('log_level', default_value='info',
                              choices=['debug', 'info', 'warn', 'error'],
                              description='Log level of the rover nodes.'),
        GroupAction([
            PushROSNamespace(namespace),
            Node(package='robot_state_publisher', executable='robot_state_publisher',
                 parameters=[common, {'robot_description': robot_description}],
                 remappings=tf_remaps, output='screen'),
            Node(package='rover_drive', executable='drive_node', name='drive',
                 parameters=[params_file, common], remappings=tf_remaps,
                 ros_arguments=ros_args, output='screen'),
            Node(package='rover_shovel', executable='shovel_node', name='shovel',
                 parameters=[params_file, common, {'product_dir': product_dir}],
                 remappings=tf_remaps, ros_arguments=ros_args, output='screen'),
            Node(package='rover_cams', executable='camera_node', name='cameras',
                 parameters=[params_file, common, {'product_dir': product_dir}],
                 remappings=tf_remaps, ros_arguments=ros_args, output='screen',
                 condition=IfCondition(use_cameras)),
            Node(package='rover_lander_bridge', executable='lander_bridge_node',
                 name='lander_bridge',
                 parameters=[params_file, common, {'product_dir': product_dir}],
                 remappings=tf_remaps, ros_arguments=ros_args, output='screen',
                 # A bridge whose loop died has already stopped the rover; bring the link
                 # back rather than leave the rover deaf.
                 respawn=True, respawn_delay=2.0,
                 condition=IfCondition(use_bridge)),
            Node(package='diagnostic_aggregator', executable='aggregator_node',
                 name='diagnostic_aggregator',
                 parameters=[PathJoinSubstitution([FindPackageShare('rover_bringup'), 'config',
                                                   'diagnostics.yaml']), common],
                 output='screen'),
            Node(package='rviz2', executable='rviz2', name='rviz',
                 arguments=['-d', PathJoinSubstitution([FindPackageShare('rover_bringup'),
                                                        'rviz', 'rover.rviz'])],
                 parameters=[common], remappings=tf_remaps,
                 condition=IfCondition(use_rviz)),
        ]),
    ])
