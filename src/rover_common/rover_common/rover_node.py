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
RoverNode: the rclpy base class that gives every rover node its parameters and diagnostics.

It declares each :class:`~rover_common.param_spec.ParamSpec` with a descriptor (range, unit,
read-only), validates proposed values in the on-set callback with the same pure checks the
core tests use, commits in the post-set callback, and publishes ROS-free health reports on
``/diagnostics``. Subclasses read ``self.params`` and override ``on_parameters_changed``.
"""

from typing import Dict, Iterable, Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)

from rover_common.health import HealthReport
from rover_common.param_spec import ParamSpec, ParamTable, ParamValue

#: Latched state (status, link state): late joiners get the last value.
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         history=HistoryPolicy.KEEP_LAST)
#: Commands: reliable, a short queue.
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                         history=HistoryPolicy.KEEP_LAST)


def descriptor_for(spec: ParamSpec) -> ParameterDescriptor:
    """Return the ROS descriptor of one spec: description with unit, range, read-only."""
    descriptor = ParameterDescriptor(description=spec.full_description,
                                     read_only=spec.read_only)
    if spec.choices:
        descriptor.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    numeric = spec.default if not isinstance(spec.default, (list, tuple)) else None
    if spec.min_value is not None and spec.max_value is not None and numeric is not None:
        if isinstance(numeric, float):
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(spec.min_value), to_value=float(spec.max_value), step=0.0)]
        elif isinstance(numeric, int) and not isinstance(numeric, bool):
            descriptor.integer_range = [IntegerRange(
                from_value=int(spec.min_value), to_value=int(spec.max_value), step=1)]
    elif spec.min_value is not None or spec.max_value is not None:
        bounds = []
        if spec.min_value is not None:
            bounds.append(f'>= {spec.min_value}')
        if spec.max_value is not None:
            bounds.append(f'<= {spec.max_value}')
        descriptor.additional_constraints = ' and '.join(bounds)
    return descriptor


def health_to_msg(report: HealthReport, hardware_id: str) -> DiagnosticStatus:
    """Convert a ROS-free health report into a DiagnosticStatus."""
    return DiagnosticStatus(
        level=bytes([int(report.level)]), name=report.name, message=report.message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in report.values.items()])


class RoverNode(Node):
    """
    A node whose parameters come from a ParamTable and whose health goes to /diagnostics.

    :param node_name: default node name (launch files may rename it).
    :param table: the node's parameter table.
    """

    def __init__(self, node_name: str, table: ParamTable, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._table = table
        values: Dict[str, ParamValue] = {}
        for spec in table:
            param = self.declare_parameter(spec.name, spec.default, descriptor_for(spec))
            values[spec.name] = param.value
        reason = table.check_changes(table.defaults(), values, at_startup=True)
        if reason is not None:
            raise ValueError(f'{self.get_name()}: invalid start-up parameters: {reason}')
        self._params = values
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._post_set_parameters)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)

    @property
    def params(self) -> Mapping[str, ParamValue]:
        """Return the parameter values in force (read-only view)."""
        return dict(self._params)

    def on_parameters_changed(self, changed: Mapping[str, ParamValue]) -> None:
        """Apply committed parameter changes; subclasses reconfigure their core here."""

    def publish_health(self, reports: Iterable[HealthReport]) -> None:
        """Publish the reports on /diagnostics, named after this node."""
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        prefix = self.get_fully_qualified_name().lstrip('/')
        msg.status = [health_to_msg(HealthReport(f'{prefix}: {r.name}', r.level, r.message,
                                                 r.values), prefix) for r in reports]
        self._diagnostics_pub.publish(msg)

    def _on_set_parameters(self, params: 'list[Parameter]') -> SetParametersResult:
        changes = {p.name: p.value for p in params if p.name in self._params}
        reason = self._table.check_changes(self._params, changes)
        if reason is not None:
            self.get_logger().warning(f'parameter change refused: {reason}')
            return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _post_set_parameters(self, params: 'list[Parameter]') -> None:
        changes = {p.name: p.value for p in params if p.name in self._params}
        if not changes:
            return
        self._params.update(changes)
        self.on_parameters_changed(changes)
