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
The per-mode parameter files are checked against the nodes' own parameter tables.

A key that no node declares would be silently ignored by ROS (a classic: a parameter set in
YAML that does nothing), and a value out of range would stop the node at start-up on the rover.
Both are caught here, without ROS, by the same validators the nodes use.
"""

from pathlib import Path

import pytest
from rover_cams.params import CAMERA_PARAMS
from rover_drive.parameters import DRIVE_PARAMETERS
from rover_lander_bridge.params import TABLE as BRIDGE_PARAMETERS
from rover_shovel.config import PARAMS as SHOVEL_PARAMETERS
import yaml

CONFIG = Path(__file__).resolve().parents[1] / 'config'
TABLES = {'drive': DRIVE_PARAMETERS, 'shovel': SHOVEL_PARAMETERS, 'cameras': CAMERA_PARAMS,
          'lander_bridge': BRIDGE_PARAMETERS}
MODES = ('fake', 'gazebo', 'hardware')


@pytest.mark.parametrize('mode', MODES)
def test_mode_file_configures_every_node_with_valid_values(mode):
    document = yaml.safe_load((CONFIG / f'{mode}.yaml').read_text())
    nodes = {key.split('/')[-1]: value['ros__parameters'] for key, value in document.items()}
    assert set(nodes) == set(TABLES), f'{mode}.yaml must configure exactly {sorted(TABLES)}'
    for node, values in nodes.items():
        unknown = set(values) - {spec.name for spec in TABLES[node]}
        assert not unknown, f'{mode}.yaml: {node} declares no parameter {sorted(unknown)}'
        TABLES[node].validated(values)
    for node in ('drive', 'shovel', 'cameras'):
        assert nodes[node]['backend'] == mode, f'{mode}.yaml: {node} must use backend {mode}'


@pytest.mark.parametrize('mode', MODES)
def test_keys_match_nodes_in_any_namespace(mode):
    document = yaml.safe_load((CONFIG / f'{mode}.yaml').read_text())
    assert all(key.startswith('/**/') for key in document)


def test_only_development_modes_create_a_key():
    def bridge(mode):
        document = yaml.safe_load((CONFIG / f'{mode}.yaml').read_text())
        return document['/**/lander_bridge']['ros__parameters']
    assert bridge('hardware')['create_key_if_missing'] is False
    assert bridge('fake')['create_key_if_missing'] is True
