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

"""Tests of the declarative parameter tables: every refusal names a reason and changes nothing."""

import pytest

from rover_common.health import HealthReport, Level, worst
from rover_common.param_spec import ParameterError, ParamSpec, ParamTable


def _table() -> ParamTable:
    def accel_below_max(values):
        if values['accel'] > values['max_accel']:
            return 'accel must not exceed max_accel'
        return None
    return ParamTable([
        ParamSpec('accel', 0.5, 'acceleration', 'm/s^2', 0.0, 10.0),
        ParamSpec('max_accel', 1.0, 'hard limit', 'm/s^2', 0.0, 10.0, read_only=True),
        ParamSpec('backend', 'fake', 'wheel backend', choices=('fake', 'gazebo', 'hardware')),
        ParamSpec('rate', 20, 'loop rate', 'Hz', 1, 100),
        ParamSpec('publish_tf', True, 'publish odom->base_link'),
        ParamSpec('poses', [0.0, 1.0], 'angles', 'rad', -2.0, 2.0),
    ], cross_check=accel_below_max)


def test_defaults_pass_and_are_returned():
    table = _table()
    assert table.defaults()['backend'] == 'fake'
    assert table.check_changes(table.defaults(), {}) is None


@pytest.mark.parametrize('changes, fragment', [
    ({'accel': 11.0}, '<= 10.0'),
    ({'accel': -0.1}, '>= 0.0'),
    ({'accel': float('nan')}, 'finite'),
    ({'accel': 'fast'}, 'type float'),
    ({'rate': 2.5}, 'type int'),
    ({'rate': True}, 'type int'),
    ({'publish_tf': 1}, 'type bool'),
    ({'backend': 'mars'}, 'one of fake, gazebo, hardware'),
    ({'poses': [0.0, 3.0]}, '<= 2.0'),
    ({'poses': 1.0}, 'must be a list'),
    ({'accel': 2.0}, 'accel must not exceed max_accel'),
    ({'max_accel': 2.0}, 'read-only'),
    ({'nope': 1}, 'unknown parameter'),
])
def test_bad_changes_are_refused_with_reason(changes, fragment):
    table = _table()
    current = table.defaults()
    reason = table.check_changes(current, changes)
    assert reason is not None and fragment in reason
    assert current == table.defaults(), 'a refused change must not touch the values in force'


def test_int_is_accepted_for_float_and_read_only_at_startup():
    table = _table()
    assert table.check_changes(table.defaults(), {'accel': 1}) is None
    values = table.validated({'max_accel': 5.0, 'accel': 2.0})
    assert values['max_accel'] == 5.0 and values['accel'] == 2.0


def test_validated_raises_on_bad_override():
    with pytest.raises(ParameterError, match='one of'):
        _table().validated({'backend': 'x'})


def test_cross_check_sees_the_whole_set():
    table = _table()
    assert table.check_changes(table.defaults(), {'accel': 2.0}) is not None
    assert table.check_changes(table.defaults(), {'accel': 2.0, 'max_accel': 3.0},
                               at_startup=True) is None


def test_bad_spec_default_and_duplicates_refused():
    with pytest.raises(ParameterError, match='default of x'):
        ParamSpec('x', 5.0, 'bad', min_value=0.0, max_value=1.0)
    with pytest.raises(ParameterError, match='duplicate'):
        ParamTable([ParamSpec('a', 1, 'a'), ParamSpec('a', 2, 'a')])
    with pytest.raises(KeyError, match='known: a'):
        ParamTable([ParamSpec('a', 1, 'a')])['b']


def test_full_description_names_the_unit():
    assert _table()['accel'].full_description == 'acceleration [m/s^2]'


def test_worst_level():
    reports = [HealthReport('a', Level.OK, 'fine'), HealthReport('b', Level.WARN, 'hot')]
    assert worst(reports) == Level.WARN
    assert worst([]) == Level.OK


def test_a_markdown_row_says_type_default_unit_range_and_read_only():
    spec = ParamSpec('rate', 2.0, 'How often', 'Hz', 0.5, 10.0, read_only=True)
    assert spec.markdown_row() == \
        '| `rate` | double | `2.0` | Hz | 0.5 .. 10 | How often (read-only) |'
    choice = ParamSpec('mode', 'fake', 'Which backend', choices=('fake', 'hardware'))
    assert choice.markdown_row() == \
        "| `mode` | string | `'fake'` |  | one of fake, hardware | Which backend |"
    flag = ParamSpec('on', False, 'Switch')
    assert flag.markdown_row() == '| `on` | bool | `false` |  |  | Switch |'
