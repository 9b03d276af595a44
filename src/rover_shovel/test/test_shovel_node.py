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
The shovel node in-process on the fake backend, with small real servers for the rest.

A ``fake_rover`` node stands in for the drive (``drive_distance`` action, latched
``drive/status``, ``odom``) and the cameras (``capture`` action writing real products into
the same product store), so these tests exercise the shovel's real action clients.
"""

import json
import math
from pathlib import Path
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')

from action_msgs.msg import GoalStatus  # noqa: E402, I100
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.action import ActionClient, ActionServer, CancelResponse  # noqa: E402
from rclpy.callback_groups import ReentrantCallbackGroup  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rover_common.product_store import ProductKind, ProductStore  # noqa: E402
from rover_common.rover_node import COMMAND_QOS, LATCHED_QOS  # noqa: E402
from rover_interfaces.action import (CaptureImage, CollectSample, DriveDistance,  # noqa: E402
                                     MoveShovel)
from rover_interfaces.msg import DriveStatus, ShovelState  # noqa: E402
from rover_shovel.shovel_node import ShovelNode, status_from_msg, status_to_msg  # noqa: E402
from rover_shovel.shovel_types import (Activity, DrivePermission, Fault,  # noqa: E402
                                       ShovelStatus)
from sensor_msgs.msg import JointState  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

BUDGET = 50_000_000


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def wait_future(future, timeout: float = 30.0):
    assert wait_for(future.done, timeout), 'no answer in time'
    return future.result()


class FakeRover(Node):
    """The drive and camera servers the shovel uses, minimal but real."""

    def __init__(self, product_dir: Path) -> None:
        super().__init__('fake_rover')
        group = ReentrantCallbackGroup()
        self.store = ProductStore(product_dir, budget_bytes=BUDGET)
        self.moving = False
        self.estop = False
        self.drive_goals = []
        self.permission_at_goal = []
        self.drive_canceled = 0
        self.captures = []
        self.states = []
        self.joint_states = []
        self.status_pub = self.create_publisher(DriveStatus, 'drive/status', LATCHED_QOS)
        self.odom_pub = self.create_publisher(Odometry, 'odom', COMMAND_QOS)
        self.create_subscription(ShovelState, 'shovel/state', self.states.append, LATCHED_QOS,
                                 callback_group=group)
        self.create_subscription(JointState, 'joint_states', self.joint_states.append, 10,
                                 callback_group=group)
        self.drive_server = ActionServer(
            self, DriveDistance, 'drive_distance', execute_callback=self._drive,
            cancel_callback=lambda goal_handle: CancelResponse.ACCEPT, callback_group=group)
        self.capture_server = ActionServer(
            self, CaptureImage, 'capture', execute_callback=self._capture,
            callback_group=group)
        self.create_timer(0.1, self._publish_status, callback_group=group)

    def _publish_status(self) -> None:
        self.status_pub.publish(DriveStatus(stopped=not self.moving, estop_latched=self.estop,
                                            estop_reason='test e-stop' if self.estop else ''))
        odom = Odometry()
        odom.header.frame_id = 'odom'
        odom.pose.pose.position.x = 3.25
        odom.pose.pose.orientation.w = 1.0
        self.odom_pub.publish(odom)

    def _drive(self, goal_handle):
        goal = goal_handle.request
        self.drive_goals.append((goal.distance, goal.speed))
        self.permission_at_goal.append(self.states[-1].drive_permission if self.states else None)
        travelled, dt = 0.0, 0.05
        self.moving = True
        try:
            while abs(travelled) < abs(goal.distance):
                if goal_handle.is_cancel_requested:
                    self.drive_canceled += 1
                    goal_handle.canceled()
                    return DriveDistance.Result(error_code=DriveDistance.Result.ERROR_CANCELED,
                                                message='canceled',
                                                distance_travelled=travelled)
                time.sleep(dt)
                travelled += math.copysign(goal.speed * dt, goal.distance)
                goal_handle.publish_feedback(DriveDistance.Feedback(
                    distance_travelled=travelled,
                    progress=abs(travelled / goal.distance)))
        finally:
            self.moving = False
        goal_handle.succeed()
        return DriveDistance.Result(error_code=DriveDistance.Result.ERROR_NONE,
                                    distance_travelled=travelled)

    def _capture(self, goal_handle):
        goal = goal_handle.request
        self.captures.append(goal.command_id)
        ids = []
        for side in ('left', 'right'):
            data = b'\xff\xd8\xff\xe0' + side.encode() * 100 + b'\xff\xd9'
            product = self.store.put(data, kind=ProductKind.IMAGE, suffix='.jpg',
                                     stamp=time.time(), camera=side,
                                     metadata={'command_id': goal.command_id})
            ids.append(product.id)
        goal_handle.succeed()
        return CaptureImage.Result(error_code=CaptureImage.Result.ERROR_NONE, product_ids=ids)


class Harness:
    """The shovel node, the fake rover and a client, spun by one executor in a thread."""

    def __init__(self, product_dir: Path) -> None:
        overrides = [
            Parameter('backend', value='fake'),
            Parameter('product_dir', value=str(product_dir)),
            Parameter('product_budget_bytes', value=BUDGET),
            # a brisk joint so a whole sequence takes seconds
            Parameter('max_velocity', value=2.0), Parameter('max_acceleration', value=8.0),
            Parameter('lift_velocity', value=0.4), Parameter('fill_min_samples', value=3),
            Parameter('hold_settle', value=0.1), Parameter('fake_current_noise', value=0.0),
        ]
        self.node = ShovelNode(parameter_overrides=overrides)
        self.rover = FakeRover(product_dir)
        self.client = Node('shovel_test_client')
        self.move = ActionClient(self.client, MoveShovel, 'shovel/move')
        self.collect = ActionClient(self.client, CollectSample, 'shovel/collect_sample')
        self.stow = self.client.create_client(Trigger, 'shovel/stow')
        self.clear_fault = self.client.create_client(Trigger, 'shovel/clear_fault')
        self.executor = MultiThreadedExecutor(num_threads=8)
        for node in (self.node, self.rover, self.client):
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        assert self.move.wait_for_server(timeout_sec=10.0)
        assert self.collect.wait_for_server(timeout_sec=10.0)
        assert self.stow.wait_for_service(timeout_sec=10.0)
        assert wait_for(lambda: self.node._drive.ready() and self.node._cameras.ready())

    def send(self, client, goal, feedback=None):
        """Send a goal; return (goal handle or None if rejected, result future)."""
        handle = wait_future(client.send_goal_async(goal, feedback_callback=feedback))
        if not handle.accepted:
            return None, None
        return handle, handle.get_result_async()

    def last_state(self) -> ShovelStatus:
        return status_from_msg(self.rover.states[-1])

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=5.0)
        self.move.destroy()
        self.collect.destroy()
        self.node.stop_motion()
        self.node.release()
        self.node.destroy_node()
        self.rover.store.close()
        self.rover.destroy_node()
        self.client.destroy_node()


@pytest.fixture(scope='module')
def harness(tmp_path_factory):
    rclpy.init()
    h = Harness(tmp_path_factory.mktemp('products'))
    yield h
    h.close()
    rclpy.try_shutdown()


@pytest.fixture(autouse=True)
def stowed(harness):
    """Every test starts with the shovel stowed and no e-stop."""
    harness.rover.estop = False
    assert wait_for(lambda: harness.node._controller.estop_reason() is None)
    response = wait_future(harness.stow.call_async(Trigger.Request()))
    assert response.success, response.message
    assert wait_for(lambda: harness.rover.states and harness.last_state().pose == 'stowed')


def test_state_is_latched_with_drive_permission_and_joint_states_flow(harness):
    late = Node('late_joiner')
    received = []
    late.create_subscription(ShovelState, 'shovel/state', received.append, LATCHED_QOS)
    harness.executor.add_node(late)
    try:
        assert wait_for(lambda: received)
        assert received[0].drive_permission == ShovelState.DRIVE_ALLOWED
        assert received[0].pose == 'stowed'
    finally:
        harness.executor.remove_node(late)
        late.destroy_node()
    assert wait_for(lambda: harness.rover.joint_states)
    assert list(harness.rover.joint_states[-1].name) == ['shovel_joint']


def test_full_collect_sample_produces_evidence_with_two_images(harness):
    phases = []
    handle, result_future = harness.send(
        harness.collect, CollectSample.Goal(dig_distance=0.01, command_id='tc-77'),
        feedback=lambda msg: phases.append(msg.feedback.phase))
    response = wait_future(result_future, 60.0)
    result = response.result
    assert response.status == GoalStatus.STATUS_SUCCEEDED, result.message
    assert result.error_code == CollectSample.Result.ERROR_NONE
    assert result.final_phase == CollectSample.Feedback.PHASE_DONE
    # every phase reported in order in the feedback
    seen = [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]
    assert seen == [CollectSample.Feedback.PHASE_CHECK_PRECONDITIONS,
                    CollectSample.Feedback.PHASE_UNSTOW, CollectSample.Feedback.PHASE_LOWER,
                    CollectSample.Feedback.PHASE_DIG, CollectSample.Feedback.PHASE_LIFT,
                    CollectSample.Feedback.PHASE_CAPTURE, CollectSample.Feedback.PHASE_HOLD]
    # the evidence product and its two images, on disk
    store = harness.rover.store
    assert len(result.image_product_ids) == 2
    for image_id in result.image_product_ids:
        assert store.path(image_id).is_file()
    doc = json.loads(store.read(result.evidence_product_id))
    assert doc['image_product_ids'] == list(result.image_product_ids)
    assert doc['command_ids'][0] == 'tc-77' and 'tc-77/capture' in doc['command_ids']
    assert len(doc['command_ids']) == 3  # plus the drive_distance goal id
    assert doc['rover_pose']['x'] == pytest.approx(3.25)
    assert harness.rover.drive_goals[-1] == pytest.approx((-0.01, 0.02))
    # the drive heard CREEP_ONLY before the creep goal arrived
    assert harness.rover.permission_at_goal[-1] == ShovelState.DRIVE_CREEP_ONLY
    assert harness.rover.captures[-1] == 'tc-77/capture'
    assert math.isfinite(result.fill_estimate_kg)
    assert wait_for(lambda: harness.last_state().activity == Activity.HOLDING)


def test_cancel_mid_dig_leaves_the_shovel_stowed_and_the_rover_stopped(harness):
    canceled_before = harness.rover.drive_canceled
    phases = []
    handle, result_future = harness.send(
        harness.collect, CollectSample.Goal(dig_distance=0.2),
        feedback=lambda msg: phases.append(msg.feedback.phase))
    assert wait_for(lambda: CollectSample.Feedback.PHASE_DIG in phases and
                    harness.rover.moving, 30.0)
    time.sleep(0.3)
    wait_future(handle.cancel_goal_async())
    response = wait_future(result_future, 30.0)
    assert response.status == GoalStatus.STATUS_CANCELED
    assert response.result.error_code == CollectSample.Result.ERROR_CANCELED
    assert response.result.final_phase == CollectSample.Feedback.PHASE_DIG
    assert harness.rover.drive_canceled == canceled_before + 1
    assert not harness.rover.moving
    assert wait_for(lambda: harness.last_state().pose == 'stowed')
    state = harness.last_state()
    assert state.drive_permission == DrivePermission.ALLOWED and state.fault == Fault.NONE


def test_move_reports_feedback_and_reaches_the_pose(harness):
    feedback = []
    _, result_future = harness.send(harness.move, MoveShovel.Goal(named_pose='ready'),
                                    feedback=lambda msg: feedback.append(msg.feedback))
    response = wait_future(result_future)
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert response.result.final_angle == pytest.approx(1.2, abs=0.03)
    assert feedback and feedback[-1].progress > 0.5
    assert wait_for(lambda: harness.last_state().pose == 'ready')
    assert harness.last_state().drive_permission == DrivePermission.FORBIDDEN


@pytest.mark.parametrize('goal', [
    MoveShovel.Goal(named_pose='scoop'), MoveShovel.Goal(target_angle=2.5),
    MoveShovel.Goal(named_pose='dig', max_velocity=50.0),
])
def test_bad_move_goals_are_rejected(harness, goal):
    handle, _ = harness.send(harness.move, goal)
    assert handle is None


@pytest.mark.parametrize('goal', [
    CollectSample.Goal(dig_distance=5.0), CollectSample.Goal(dig_distance=-1.0),
    CollectSample.Goal(command_id='x' * 80),
])
def test_bad_sample_goals_are_rejected(harness, goal):
    handle, _ = harness.send(harness.collect, goal)
    assert handle is None
    assert harness.node._last_rejected.startswith('collect_sample: ')


def test_a_new_goal_preempts_the_running_one(harness):
    slow_dig = MoveShovel.Goal(named_pose='dig', max_velocity=0.3)
    _, first_result = harness.send(harness.move, slow_dig)
    time.sleep(0.5)
    _, second_result = harness.send(harness.move, MoveShovel.Goal(named_pose='travel'))
    first_response = wait_future(first_result)
    assert first_response.status == GoalStatus.STATUS_ABORTED
    assert first_response.result.error_code == MoveShovel.Result.ERROR_PREEMPTED
    assert wait_future(second_result).status == GoalStatus.STATUS_SUCCEEDED


def test_estop_aborts_a_move_and_holds(harness):
    _, result_future = harness.send(harness.move, MoveShovel.Goal(named_pose='dig',
                                                                  max_velocity=0.3))
    time.sleep(0.5)
    harness.rover.estop = True
    response = wait_future(result_future)
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.error_code == MoveShovel.Result.ERROR_ESTOP
    held = harness.last_state().angle
    time.sleep(0.5)
    assert harness.last_state().angle == pytest.approx(held, abs=0.02)


def test_stow_and_clear_fault_services(harness):
    response = wait_future(harness.clear_fault.call_async(Trigger.Request()))
    assert response.success and response.message == 'no fault latched'
    harness.send(harness.move, MoveShovel.Goal(named_pose='travel'))
    assert wait_for(lambda: harness.last_state().pose == 'travel')
    response = wait_future(harness.stow.call_async(Trigger.Request()))
    assert response.success
    assert wait_for(lambda: harness.last_state().pose == 'stowed')


def test_a_bad_parameter_is_refused_and_changes_nothing(harness):
    results = harness.node.set_parameters([Parameter('pose_dig', value=3.5)])
    assert not results[0].successful
    results = harness.node.set_parameters([Parameter('pose_travel', value=0.6)])
    assert not results[0].successful and 'pose_travel' in results[0].reason
    assert harness.node.get_parameter('pose_travel').value == 0.2
    results = harness.node.set_parameters([Parameter('backend', value='hardware')])
    assert not results[0].successful
    assert harness.node.set_parameters([Parameter('hold_settle', value=0.2)])[0].successful


def test_status_conversion_round_trip():
    status = ShovelStatus(12.5, 1.0, -0.2, -0.05, 1.2, 'hold', Activity.HOLDING,
                          DrivePermission.FORBIDDEN, Fault.STALL, 'jammed')
    assert status_from_msg(status_to_msg(status)) == status
