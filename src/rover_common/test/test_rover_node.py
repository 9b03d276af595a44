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
"""rclpy tests of RoverNode: descriptors carry ranges and units, bad sets change nothing."""

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402, I100
from rclpy.parameter import Parameter  # noqa: E402

from rover_common.health import HealthReport, Level  # noqa: E402
from rover_common.param_spec import ParamSpec, ParamTable  # noqa: E402
from rover_common.rover_node import RoverNode, seconds_to_stamp, stamp_to_seconds  # noqa: E402


def _table() -> ParamTable:
    def accel_below_max(values):
        return 'accel must not exceed max_accel' if values['accel'] > values['max_accel'] \
            else None
    return ParamTable([
        ParamSpec('accel', 0.5, 'acceleration', 'm/s^2', 0.0, 10.0),
        ParamSpec('max_accel', 1.0, 'hard limit', 'm/s^2', 0.0, 10.0, read_only=True),
        ParamSpec('backend', 'fake', 'backend', choices=('fake', 'gazebo')),
        ParamSpec('rate', 20, 'loop rate', 'Hz', 1, 100),
    ], cross_check=accel_below_max)


class _Probe(RoverNode):
    """A RoverNode that records the committed changes."""

    def __init__(self, **kwargs):
        super().__init__('probe', _table(), **kwargs)
        self.changes = []

    def on_parameters_changed(self, changed):
        self.changes.append(dict(changed))


@pytest.fixture
def node():
    rclpy.init()
    probe = _Probe(parameter_overrides=[Parameter('accel', value=0.8)])
    yield probe
    probe.destroy_node()
    rclpy.try_shutdown()


def test_descriptors_carry_range_unit_and_read_only(node):
    accel, max_accel, rate = node.describe_parameters(['accel', 'max_accel', 'rate'])
    assert accel.description == 'acceleration [m/s^2]'
    assert accel.floating_point_range[0].to_value == 10.0
    assert max_accel.read_only
    assert rate.integer_range[0].from_value == 1
    assert node.params['accel'] == 0.8


def test_good_set_commits_and_notifies(node):
    result = node.set_parameters([Parameter('accel', value=0.9)])[0]
    assert result.successful
    assert node.params['accel'] == 0.9
    assert node.changes == [{'accel': 0.9}]


@pytest.mark.parametrize('name, value', [
    ('accel', 2.0),           # cross check: above max_accel
    ('backend', 'mars'),      # not a choice
    ('rate', 500),            # out of range
])
def test_bad_set_is_refused_and_changes_nothing(node, name, value):
    before = node.params
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful and result.reason
    assert node.params == before
    assert node.get_parameter(name).value == before[name]
    assert node.changes == []


def test_health_is_published_on_diagnostics(node):
    received = []
    listener = rclpy.create_node('diagnostics_listener')
    listener.create_subscription(DiagnosticArray, '/diagnostics', received.append, 10)
    executor = rclpy.executors.SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(listener)
    deadline = node.get_clock().now().nanoseconds + 5_000_000_000
    while not received and node.get_clock().now().nanoseconds < deadline:
        node.publish_health([HealthReport('loop', Level.WARN, 'late', {'period': '0.06'})])
        executor.spin_once(timeout_sec=0.1)
    listener.destroy_node()
    assert received, 'no DiagnosticArray arrived within 5 s'
    status = received[0].status[0]
    assert status.name == 'probe: loop' and status.level == bytes([1])
    assert status.values[0].key == 'period'


def test_stamp_conversions_are_symmetric_to_the_nanosecond():
    stamp = seconds_to_stamp(1795521600.25)
    assert (stamp.sec, stamp.nanosec) == (1795521600, 250_000_000)
    assert stamp_to_seconds(stamp) == pytest.approx(1795521600.25)
    assert seconds_to_stamp(12.9999999999).nanosec <= 999_999_999
