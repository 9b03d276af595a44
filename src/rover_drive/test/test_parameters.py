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

"""The drive parameter table: defaults valid, ranges and cross checks refuse bad sets."""

import pytest
from rover_common.param_spec import ParameterError
from rover_drive.parameters import DRIVE_PARAMETERS


def test_defaults_are_valid_and_documented():
    values = DRIVE_PARAMETERS.validated({})
    assert values['backend'] == 'fake' and values['max_linear'] == 0.1
    for spec in DRIVE_PARAMETERS:
        assert spec.description


@pytest.mark.parametrize('changes, match', [
    ({'max_linear': 0.5}, 'max_wheel_speed'),
    ({'max_angular': 3.0}, 'max_wheel_speed'),
    ({'creep_speed': 0.15, 'max_linear': 0.1}, 'creep_speed'),
    ({'linear_decel': 0.1}, 'linear_decel'),
    ({'angular_decel': 0.5}, 'angular_decel'),
    ({'motor_ids': [1, 2, 3]}, 'motor_ids'),
    ({'motor_ids': [1, 1, 2, 3]}, 'distinct'),
    ({'motor_directions': [1, 0, 1, -1]}, 'motor_directions'),
    ({'backend': 'ros2_control'}, 'backend'),
    ({'cmd_timeout': 0.0}, 'cmd_timeout'),
    ({'wheel_radius': 'big'}, 'wheel_radius'),
])
def test_bad_values_are_refused_with_a_reason(changes, match):
    with pytest.raises(ParameterError, match=match):
        DRIVE_PARAMETERS.validated(changes)


def test_read_only_parameters_only_at_startup():
    current = DRIVE_PARAMETERS.defaults()
    assert 'read-only' in DRIVE_PARAMETERS.check_changes(current, {'backend': 'hardware'})
    assert DRIVE_PARAMETERS.check_changes(current, {'backend': 'hardware'},
                                          at_startup=True) is None
