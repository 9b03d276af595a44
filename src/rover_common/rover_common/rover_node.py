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

:func:`run_until_stopped` is every rover node's ``main()``: whatever ends the node (Ctrl-C,
``ros2 launch``'s SIGINT/SIGTERM, a failing callback), it first stops what the node moves,
while the ROS context is still valid, then releases devices and tears down.
"""

import math
import os
import threading
from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple, TypeVar

from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from rclpy.signals import SignalHandlerOptions

from rover_common.health import HealthReport
from rover_common.param_spec import ParamSpec, ParamTable, ParamValue
from rover_common.stop_signals import BackgroundSpin, StopSignals

#: Latched state (status, link state): late joiners get the last value.
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         history=HistoryPolicy.KEEP_LAST)
#: Commands: reliable, a short queue.
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                         history=HistoryPolicy.KEEP_LAST)


def seconds_to_stamp(seconds: float) -> TimeMsg:
    """Return the builtin_interfaces/Time of ``seconds`` (epoch or sim time), to the ns."""
    sec = math.floor(seconds)
    return TimeMsg(sec=int(sec), nanosec=min(999_999_999, int(round((seconds - sec) * 1e9))))


def stamp_to_seconds(stamp: TimeMsg) -> float:
    """Return the seconds of a builtin_interfaces/Time."""
    return stamp.sec + stamp.nanosec * 1e-9


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

    def stop_motion(self) -> None:
        """
        Stop everything this node moves and keep it stopped; must not raise.

        Called first at shutdown, while messages can still be sent (a Gazebo joint command
        is one). Nodes that move nothing keep this default.
        """

    def release(self) -> None:
        """Release devices, links and stores before the node is destroyed (default: none)."""

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


RoverNodeT = TypeVar('RoverNodeT', bound=RoverNode)

#: Longest time (s) for destroying the ROS entities once motion is stopped and devices are
#: released; ros2 launch escalates to SIGTERM 5 s after its SIGINT.
TEARDOWN_BOUND_S = 2.0


def _exit_after_slow_teardown(name: str, code: int) -> None:
    """End a process whose ROS teardown hangs; its motion and devices are already safe."""
    get_logger(name).warning(f'ROS teardown still running after {TEARDOWN_BOUND_S} s '
                             '(DDS writer linger); exiting without waiting for it')
    os._exit(code)


def run_until_stopped(make_node: Callable[[], RoverNodeT], *, name: str,
                      args: Optional[Sequence[str]] = None, threads: int = 4,
                      startup_errors: Tuple[type, ...] = ()) -> None:
    """
    Run a rover node until SIGINT/SIGTERM or its executor ends; stop its motion first.

    SIGINT and SIGTERM only set an event (see :mod:`rover_common.stop_signals` for why not
    rclpy's handler or KeyboardInterrupt); the main thread waits on it while the executor
    spins in a thread, so the stop starts at once and goes out while the context is valid.
    Exit code 0 after a signal, also when a terminal's Ctrl-C and ``ros2 launch`` deliver it
    twice; a repeat three seconds or more later ends a hanging teardown, and destroying the
    ROS entities is bounded by :data:`TEARDOWN_BOUND_S`. A callback's exception is raised
    again after the stop.

    :param make_node: builds the node (after ``rclpy.init``).
    :param name: logger name for start-up failures.
    :param threads: executor threads (timers, action goals, client callbacks).
    :param startup_errors: construction failures that are the user's to fix (a bad key
        file, a missing calibration): logged as one fatal line and exit code 1.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = StopSignals().install()
    node: Optional[RoverNodeT] = None
    executor = MultiThreadedExecutor(num_threads=threads)
    spinner = BackgroundSpin(executor.spin, stop, expected=(ExternalShutdownException,))
    failure: Optional[BaseException] = None
    try:
        try:
            node = make_node()
        except startup_errors as err:
            get_logger(name).fatal(f'cannot start: {err}')
            raise SystemExit(1) from err
        executor.add_node(node)
        spinner.start()
        stop.wait()
    finally:
        if node is not None:
            node.stop_motion()
            if stop.received is not None:
                node.get_logger().info(f'{stop.received.name}: stopped, shutting down')
        stop.allow_forced_exit()
        executor.shutdown(timeout_sec=1.0)
        failure = spinner.join(timeout=1.0)
        if node is not None:
            node.release()
        # Motion is stopped and devices released: the rest must not outlast ros2 launch's
        # 5 s escalation. Deleting a DDS writer can block for its linger time (CycloneDDS:
        # 1 s) per publisher whose subscribers vanish at the same moment; the Gazebo run
        # measured 5 s and more for the drive when the whole simulation stopped together.
        bound = threading.Timer(TEARDOWN_BOUND_S, _exit_after_slow_teardown,
                                (name, 1 if failure is not None else 0))
        bound.daemon = True
        bound.start()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        bound.cancel()
        # ros2 launch's echo of a terminal's Ctrl-C can arrive after a fast teardown, while
        # the interpreter exits; it must not turn a clean exit into death by signal.
        stop.ignore_from_now()
    if failure is not None:
        raise failure
