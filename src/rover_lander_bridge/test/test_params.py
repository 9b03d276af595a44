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

"""The parameter table: the shipped YAML is valid, bad sets are refused with a reason."""

from pathlib import Path

import pytest
from rover_common.param_spec import ParameterError
from rover_lander_bridge.params import bridge_config, cfdp_config, TABLE
from rover_link.protocol import HkSet
import yaml

CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'lander_bridge.yaml'


def test_shipped_yaml_names_only_known_parameters_with_valid_values():
    values = yaml.safe_load(CONFIG.read_text())['lander_bridge']['ros__parameters']
    merged = TABLE.validated(values)
    assert merged['udp_remote_port'] == 10010


def test_every_parameter_has_a_description_and_numbers_have_units():
    for spec in TABLE:
        assert len(spec.description) > 15, spec.name
        if isinstance(spec.default, float):
            assert spec.unit, spec.name


@pytest.mark.parametrize('changes, fragment', [
    ({'link_timeout': 30.0, 'safing_timeout': 10.0}, 'safing_timeout'),
    ({'shovel_min_angle': 1.0, 'shovel_max_angle': 0.5}, 'shovel_min_angle'),
    ({'burst_bytes': 512}, 'burst_bytes'),
    ({'cfdp_ack_timer': 100.0}, 'cfdp_inactivity'),
    ({'cfdp_ground_entity_id': 1}, 'entity ids'),
    ({'transport': 'carrier-pigeon'}, 'transport'),
    ({'max_drive_speed': 5.0}, 'max_drive_speed'),
    ({'max_drive_speed': 0.001}, 'max_drive_speed'),
    ({'max_turn_rate': 0.005}, 'max_turn_rate'),
    ({'max_dig_distance': 0.0}, 'max_dig_distance'),
    ({'max_command_duration': 120.0}, 'max_command_duration'),
    ({'command_timeout_margin': 900.0}, 'command_timeout_margin must be below'),
])
def test_inconsistent_sets_are_refused(changes, fragment):
    with pytest.raises(ParameterError, match=fragment):
        TABLE.validated(changes)


def test_run_time_changes_of_read_only_parameters_are_refused():
    reason = TABLE.check_changes(TABLE.defaults(), {'key_file': '/tmp/other.key'})
    assert 'read-only' in reason
    assert TABLE.check_changes(TABLE.defaults(), {'safing_timeout': 120.0}) is None


def test_values_reach_the_core_configurations():
    values = TABLE.validated({'max_drive_distance': 2.0, 'hk_link_interval': 3.0,
                              'max_frame_bytes': 512, 'burst_bytes': 1024})
    config = bridge_config(values)
    assert config.limits.max_drive_distance == 2.0
    assert config.hk_intervals[HkSet.LINK] == 3.0
    assert config.max_frame_bytes == 512
    assert cfdp_config(values).max_pdu_len == 512 - 6


def test_every_valid_parameter_set_gives_valid_limits():
    """A ceiling at its lowest allowed value is still at or above the rover's floor."""
    names = ['max_drive_distance', 'max_drive_speed', 'max_turn_angle', 'max_turn_rate',
             'max_shovel_velocity', 'max_dig_distance', 'max_command_duration']
    lowest = {name: TABLE[name].min_value for name in names}
    limits = bridge_config(TABLE.validated(lowest)).limits
    for name in names:
        assert getattr(limits, name) == lowest[name]
    assert limits.min_drive_speed <= limits.max_drive_speed


def test_the_deadline_limit_reaches_the_rover_and_holds_the_longest_fixed_deadline():
    values = TABLE.validated({'max_command_duration': 1200.0, 'command_timeout_margin': 10.0})
    config = bridge_config(values)
    assert config.limits.max_command_duration == 1200.0
    assert config.limits.command_timeout_margin == config.command_timeout_margin == 10.0
    floor = TABLE['max_command_duration'].min_value
    assert floor >= max(config.sample_timeout, config.shovel_timeout, config.capture_timeout)


INTERFACES = Path(__file__).resolve().parents[3] / 'docs' / 'interfaces.md'


@pytest.mark.skipif(not INTERFACES.exists(), reason='docs/ is not beside this source tree')
def test_the_parameter_table_in_the_docs_is_the_spec():
    """docs/interfaces.md lists every parameter exactly as the spec says (one source)."""
    text = INTERFACES.read_text()
    stale = [spec.name for spec in TABLE if spec.markdown_row() not in text]
    assert not stale, f'regenerate their rows with ParamSpec.markdown_row(): {stale}'
