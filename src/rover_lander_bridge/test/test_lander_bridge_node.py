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
"""rclpy tests of the lander_bridge node: TCs over UDP become goals, reports come back."""

import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')

from rclpy.action import ActionServer, CancelResponse, GoalResponse  # noqa: E402, I100
from rclpy.callback_groups import ReentrantCallbackGroup  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rover_common.rover_node import LATCHED_QOS  # noqa: E402
from rover_ground.ground import GroundStation  # noqa: E402
from rover_ground.ground_cli import GroundSession  # noqa: E402
from rover_interfaces.action import DriveDistance  # noqa: E402
from rover_interfaces.msg import LinkStatus  # noqa: E402
from rover_lander_bridge.lander_bridge_node import LanderBridgeNode  # noqa: E402
from rover_link import commands as cmd  # noqa: E402
from rover_link.protocol import ErrorCode  # noqa: E402
from rover_link.security import ArsnCounter, generate_key_file, load_key, MacEngine  # noqa: E402
from rover_link.telemetry import MotionResult  # noqa: E402
from rover_link.transports import free_udp_port, UdpTransport  # noqa: E402


class FakeDrive(Node):
    """A drive_distance server that moves 10 % per 50 ms, and honours cancel."""

    def __init__(self) -> None:
        super().__init__('fake_drive')
        self.canceled = threading.Event()
        self.goals = []
        self._server = ActionServer(
            self, DriveDistance, 'drive_distance', execute_callback=self._execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            cancel_callback=lambda handle: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup())

    def _execute(self, handle):
        self.goals.append(handle.request)
        result = DriveDistance.Result()
        for i in range(1, 11):
            if handle.is_cancel_requested:
                self.canceled.set()
                handle.canceled()
                result.error_code = DriveDistance.Result.ERROR_CANCELED
                result.message = 'canceled'
                return result
            time.sleep(0.05 if handle.request.distance < 2.0 else 1.0)
            feedback = DriveDistance.Feedback()
            feedback.distance_travelled = handle.request.distance * i / 10
            feedback.progress = i / 10
            handle.publish_feedback(feedback)
        handle.succeed()
        result.distance_travelled = handle.request.distance
        return result


@pytest.fixture
def stack(tmp_path):
    rclpy.init()
    key = tmp_path / 'uplink.key'
    generate_key_file(key)
    bridge_port, ground_port = free_udp_port(), free_udp_port()
    node = LanderBridgeNode(parameter_overrides=[
        Parameter('key_file', value=str(key)),
        Parameter('state_dir', value=str(tmp_path / 'state')),
        Parameter('product_dir', value=str(tmp_path / 'products')),
        Parameter('udp_local_host', value='127.0.0.1'),
        Parameter('udp_local_port', value=bridge_port),
        Parameter('udp_remote_port', value=ground_port),
        Parameter('link_timeout', value=1.0),
        Parameter('safing_timeout', value=2.0)])
    drive = FakeDrive()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    executor.add_node(drive)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    station = GroundStation(mac=MacEngine({1: load_key(key)}), spi=1,
                            counter=ArsnCounter(tmp_path / 'ground.sqlite3', 1))
    transport = UdpTransport(('127.0.0.1', ground_port), ('127.0.0.1', bridge_port))
    session = GroundSession(station, transport, heartbeat=0.3)
    yield node, drive, session
    transport.close()
    executor.shutdown()
    node.release()
    node.destroy_node()
    drive.destroy_node()
    rclpy.try_shutdown()


def test_link_status_is_latched_and_counts_the_telecommands(stack):
    node, _, session = stack
    assert session.wait(session.send(cmd.Ping()), 5.0).completed
    listener = rclpy.create_node('link_listener')
    received = []
    listener.create_subscription(LinkStatus, 'lander_bridge/link_status', received.append,
                                 LATCHED_QOS)
    end = time.monotonic() + 5.0
    while time.monotonic() < end and not any(m.tc_accepted >= 1 for m in received):
        rclpy.spin_once(listener, timeout_sec=0.1)
        session.pump(0.05)
    listener.destroy_node()
    assert received, 'no LinkStatus received'
    last = received[-1]
    assert last.state == LinkStatus.STATE_UP and last.transport == LinkStatus.TRANSPORT_UDP
    assert last.tc_accepted >= 1 and last.tc_auth_failures == 0


def test_drive_telecommand_becomes_a_goal_and_its_result_a_completion_report(stack):
    _, drive, session = stack
    status = session.wait(session.send(cmd.Drive(1.0, 0.05)), 10.0)
    assert status.completed, status.failure
    assert status.result == MotionResult(1.0)
    assert drive.goals[0].distance == pytest.approx(1.0)
    assert drive.goals[0].speed == pytest.approx(0.05)
    assert any(r.step for r in status.reports)


def test_telecommand_to_an_absent_server_fails_with_unavailable(stack):
    _, _, session = stack
    status = session.wait(session.send(cmd.Turn(1.0, 0.2)), 10.0)
    assert status.failure is not None and status.failure.code is ErrorCode.UNAVAILABLE
    assert 'turn' in status.failure.reason


def test_link_loss_cancels_the_drive_goal_and_safes_the_rover(stack):
    node, drive, session = stack
    session.send(cmd.Drive(3.0, 0.05))
    session.pump(0.5)
    assert drive.goals, 'the drive goal was not sent'
    session.heartbeat = None
    assert drive.canceled.wait(5.0), 'the link hold did not cancel the drive goal'
    deadline = time.monotonic() + 5.0
    while node._stack.bridge.snapshot().state.name != 'SAFED' \
            and time.monotonic() < deadline:
        session.pump(0.1)
    assert node._stack.bridge.snapshot().state.name == 'SAFED'


def test_parameters_have_ranges_and_bad_sets_are_refused(stack):
    node, _, _ = stack
    descriptor = node.describe_parameter('safing_timeout')
    assert descriptor.floating_point_range[0].to_value == 86400.0
    assert node.describe_parameter('key_file').read_only
    result = node.set_parameters([Parameter('safing_timeout', value=0.5)])[0]
    assert not result.successful and 'safing_timeout' in result.reason
    assert node.get_parameter('safing_timeout').value == 2.0
