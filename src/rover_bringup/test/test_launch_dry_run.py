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
Dry runs of the launch files: every argument, file and substitution resolves, no process starts.

``sim.launch.py`` and ``rover.launch.py mode:=hardware`` must resolve even where Gazebo or the
hardware is absent: the walk below visits every action with a real LaunchContext (arguments,
conditions, includes, groups), performs the substitutions of every process it would start
(parameter files, the xacro command, executables in packages) and starts none of them.
Packages that are not installed here are collected; each must be an exec_depend of
rover_bringup, so rosdep installs it on a rover or in the Docker image.
"""

from pathlib import Path

import pytest

launch_ros = pytest.importorskip('launch_ros', reason='launch_ros (ROS 2 Jazzy) is not installed')

from ament_index_python.packages import (get_package_share_directory,  # noqa: E402, I100
                                         PackageNotFoundError)
from catkin_pkg.package import parse_package  # noqa: E402
from launch import LaunchContext  # noqa: E402
from launch.actions import ExecuteProcess  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from launch_ros.actions import Node  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1]
EXEC_DEPENDS = {d.name for d in parse_package(str(PACKAGE / 'package.xml')).exec_depends}


def _launch_file(name: str) -> str:
    try:
        return str(Path(get_package_share_directory('rover_bringup')) / 'launch' / name)
    except PackageNotFoundError:
        return str(PACKAGE / 'launch' / name)


def dry_run(name: str, arguments: dict):
    """Resolve a launch file; return (processes, missing package names)."""
    context = LaunchContext()
    context.launch_configurations.update(arguments)
    processes, missing = [], set()

    def walk(entity):
        condition = getattr(entity, 'condition', None)
        if condition is not None and not condition.evaluate(context):
            return
        try:
            if isinstance(entity, ExecuteProcess):
                if isinstance(entity, Node):
                    # What Node.execute does before starting the process (launch_ros, Jazzy).
                    entity._perform_substitutions(context)
                    arguments = {}
                    if entity._Node__node_name is not None:
                        arguments['name'] = f'__node:={entity._Node__expanded_node_name}'
                    if entity._Node__expanded_node_namespace:
                        arguments['ns'] = f'__ns:={entity._Node__expanded_node_namespace}'
                    context.extend_locals({'ros_specific_arguments': arguments})
                entity.prepare(context)
                processes.append(entity)
                return
            children = entity.visit(context)
        except PackageNotFoundError as error:
            missing.add(str(error).split("'")[1] if "'" in str(error) else str(error))
            return
        for child in children or []:
            walk(child)

    walk(PythonLaunchDescriptionSource(_launch_file(name)).get_launch_description(context))
    return processes, missing


def _executables(processes):
    return {Path(p.process_details['cmd'][0]).name for p in processes}


def test_rover_launch_hardware_resolves():
    processes, missing = dry_run('rover.launch.py', {'mode': 'hardware'})
    assert missing <= EXEC_DEPENDS, f'undeclared packages: {missing - EXEC_DEPENDS}'
    names = _executables(processes)
    for executable in ('drive_node', 'shovel_node', 'camera_node', 'lander_bridge_node',
                       'robot_state_publisher'):
        assert executable in names, f'{executable} not started; started: {sorted(names)}'
    description = next(p for p in processes if p.node_executable == 'robot_state_publisher')
    parameter_files = [Path(path).read_text() for path, is_file
                       in description._Node__expanded_parameter_arguments if is_file]
    assert any('shovel_joint' in text for text in parameter_files), \
        'robot_description must be the expanded xacro'


def test_rover_launch_switches_leave_out_nodes():
    processes, _ = dry_run('rover.launch.py', {'mode': 'fake', 'use_bridge': 'false',
                                               'use_cameras': 'false'})
    names = _executables(processes)
    assert 'lander_bridge_node' not in names and 'camera_node' not in names
    assert 'drive_node' in names


def test_rover_launch_refuses_an_unknown_mode():
    with pytest.raises(Exception, match='mars'):
        dry_run('rover.launch.py', {'mode': 'mars'})


def test_sim_launch_resolves_without_gazebo():
    processes, missing = dry_run('sim.launch.py', {'headless': 'true'})
    assert missing <= EXEC_DEPENDS, f'undeclared packages: {missing - EXEC_DEPENDS}'
    names = _executables(processes)
    assert 'drive_node' in names, 'sim.launch.py must include rover.launch.py mode:=gazebo'
    if 'ros_gz_sim' not in missing:
        assert {'create', 'parameter_bridge'} <= names


def test_teleop_launch_resolves():
    processes, missing = dry_run('teleop.launch.py', {})
    assert missing <= EXEC_DEPENDS
    if not missing:
        assert {'joy_node', 'teleop_node'} <= _executables(processes)
