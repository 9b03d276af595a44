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

"""The standalone cameras launch file builds, declares its arguments and starts camera_node."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip('launch_ros', reason='launch_ros (ROS 2 Jazzy) is not installed')

from launch.actions import DeclareLaunchArgument, GroupAction  # noqa: E402, I100
from launch_ros.actions import Node  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[1] / 'launch' / 'cameras.launch.py'


def _description():
    spec = importlib.util.spec_from_file_location('cameras_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def test_arguments_are_declared_with_descriptions():
    arguments = {a.name: a for a in _description().entities
                 if isinstance(a, DeclareLaunchArgument)}
    assert {'backend', 'cameras', 'left_device', 'right_device', 'stream_rate',
            'product_dir', 'namespace', 'use_sim_time'} <= set(arguments)
    assert arguments['backend'].choices == ['fake', 'hardware', 'gazebo']
    assert all(a.description for a in arguments.values())


def test_starts_the_camera_node():
    groups = [e for e in _description().entities if isinstance(e, GroupAction)]
    nodes = [a for g in groups for a in g.get_sub_entities() if isinstance(a, Node)]
    assert len(nodes) == 1
    assert nodes[0].node_package == 'rover_cams' and nodes[0].node_executable == 'camera_node'
