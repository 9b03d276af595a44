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
The ``drive`` node: ROS I/O around :class:`rover_drive.drive_controller.DriveController`.

Callbacks only hand messages to the controller; the control timer (its own mutually
exclusive callback group, so nothing starves it) runs ``step`` and publishes ``odom``, the
``odom -> base_link`` TF, wheel ``joint_states`` and the latched ``~/status``. Action goals
run in a reentrant group under a multi-threaded executor; one goal at a time across
``drive_distance`` and ``turn``: a new goal preempts (aborts) the running one. ``main()``
commands zero to the wheels in its ``finally``.

Topics, services, actions and parameters are listed in docs/interfaces.md (``drive``).
"""

import time
from typing import Optional

from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import TransformStamped, Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rover_common.rover_node import (COMMAND_QOS, LATCHED_QOS, RoverNode, run_until_stopped,
                                     seconds_to_stamp, stamp_to_seconds)
from rover_drive.arbitration import Source
from rover_drive.backends.base import WheelFeedback
from rover_drive.backends.factory import create_backend
from rover_drive.backends.gazebo import GazeboWheels, WHEEL_JOINTS
from rover_drive.bounded_moves import goal_outcome, GoalRejected, InvalidGoal, MoveError, \
    MoveProgress
from rover_drive.cmd_vel_types import PublisherInfo, TWIST_TYPES, TwistTypeMonitor
from rover_drive.drive_controller import CommandVerdict, DriveController, DriveStatus, \
    FaultClearError
from rover_drive.odometry import OdometryEstimate, yaw_to_quaternion
from rover_drive.parameters import DRIVE_PARAMETERS
from rover_drive.status_throttle import StatusThrottle
from rover_interfaces.action import DriveDistance, Turn
from rover_interfaces.msg import DriveStatus as DriveStatusMsg, ShovelState
from rover_interfaces.srv import EStop
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger
from tf2_ros import TransformBroadcaster

#: How often the publishers on cmd_vel are checked for the wrong message type (s).
TYPE_CHECK_PERIOD = 2.0
#: The e-stop reason latched by :meth:`DriveNode.stop_motion`.
SHUTDOWN_REASON = 'drive shutting down'


def command_stamp(stamp: TimeMsg) -> Optional[float]:
    """Return a command's stamp in seconds, None for a zero stamp (unstamped)."""
    if stamp.sec == 0 and stamp.nanosec == 0:
        return None
    return stamp_to_seconds(stamp)


def status_to_msg(status: DriveStatus) -> DriveStatusMsg:
    """Convert the core status into rover_interfaces/DriveStatus."""
    msg = DriveStatusMsg()
    msg.header.stamp = seconds_to_stamp(status.stamp)
    msg.mode = int(status.mode)
    msg.active_source = int(status.active_source)
    msg.interlock = int(status.interlock)
    msg.estop_latched = status.estop_latched
    msg.estop_reason = status.estop_reason
    msg.fault_latched = status.fault_latched
    msg.fault_reason = status.fault_reason
    msg.stopped = status.stopped
    msg.commanded_linear = status.commanded_linear
    msg.commanded_angular = status.commanded_angular
    msg.measured_linear = status.measured_linear
    msg.measured_angular = status.measured_angular
    msg.wheel_velocity_command = [float(w) for w in status.wheel_velocity_command]
    msg.rejected_stale = status.rejected_stale
    msg.rejected_future = status.rejected_future
    msg.watchdog_stops = status.watchdog_stops
    return msg


def odometry_to_msg(estimate: OdometryEstimate, odom_frame: str,
                    base_frame: str) -> Odometry:
    """Convert an odometry estimate into nav_msgs/Odometry."""
    msg = Odometry()
    msg.header.stamp = seconds_to_stamp(estimate.stamp)
    msg.header.frame_id = odom_frame
    msg.child_frame_id = base_frame
    msg.pose.pose.position.x = estimate.pose.x
    msg.pose.pose.position.y = estimate.pose.y
    q = yaw_to_quaternion(estimate.pose.yaw)
    msg.pose.pose.orientation.x, msg.pose.pose.orientation.y = q[0], q[1]
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = q[2], q[3]
    msg.pose.covariance = list(estimate.pose_covariance)
    msg.twist.twist.linear.x = estimate.linear
    msg.twist.twist.angular.z = estimate.angular
    msg.twist.covariance = list(estimate.twist_covariance)
    return msg


def odometry_to_transform(estimate: OdometryEstimate, odom_frame: str,
                          base_frame: str) -> TransformStamped:
    """Return the odom -> base_link transform of an estimate."""
    tf = TransformStamped()
    tf.header.stamp = seconds_to_stamp(estimate.stamp)
    tf.header.frame_id = odom_frame
    tf.child_frame_id = base_frame
    tf.transform.translation.x = estimate.pose.x
    tf.transform.translation.y = estimate.pose.y
    q = yaw_to_quaternion(estimate.pose.yaw)
    tf.transform.rotation.x, tf.transform.rotation.y = q[0], q[1]
    tf.transform.rotation.z, tf.transform.rotation.w = q[2], q[3]
    return tf


def wheel_feedback_to_msg(feedback: WheelFeedback, stamp: float) -> JointState:
    """Convert measured wheel state into sensor_msgs/JointState (effort = current, A)."""
    msg = JointState()
    msg.header.stamp = seconds_to_stamp(stamp)
    msg.name = list(WHEEL_JOINTS)
    msg.position = [float(v) for v in feedback.positions]
    msg.velocity = [float(v) for v in feedback.velocities]
    if feedback.currents is not None:
        msg.effort = [float(v) for v in feedback.currents]
    return msg


class DriveNode(RoverNode):
    """The rover's drive: velocity commands and bounded moves in, wheels and odometry out."""

    def __init__(self, **kwargs) -> None:
        super().__init__('drive', DRIVE_PARAMETERS, **kwargs)
        p = self.params
        self._stamped = bool(p['cmd_vel_stamped'])
        self._safety_group = MutuallyExclusiveCallbackGroup()
        self._io_group = MutuallyExclusiveCallbackGroup()
        self._action_group = ReentrantCallbackGroup()
        self._twist_types = TwistTypeMonitor(self._stamped)
        self._status_throttle = StatusThrottle()

        self._odom_pub = self.create_publisher(Odometry, 'odom', COMMAND_QOS)
        self._joint_pub = self.create_publisher(JointState, 'joint_states', 10)
        self._status_pub = self.create_publisher(DriveStatusMsg, '~/status', LATCHED_QOS)
        self._tf = TransformBroadcaster(self)

        self._sim_pubs = []
        if p['backend'] == 'gazebo':
            self._sim_pubs = [self.create_publisher(Float64, f'sim/{joint}/cmd_vel',
                                                    COMMAND_QOS) for joint in WHEEL_JOINTS]
        backend = create_backend(p, gazebo_publish=self._publish_sim_wheels)
        self._controller = DriveController(p, backend, now=self._now())
        if isinstance(backend, GazeboWheels):
            self.create_subscription(JointState, 'sim/joint_states', self._on_sim_joints, 10,
                                     callback_group=self._io_group)
        if self._controller.status.fault_latched:
            self.get_logger().error(f'drive started faulted: '
                                    f'{self._controller.status.fault_reason}')

        twist_type = TwistStamped if self._stamped else Twist
        self._cmd_subs = [
            self.create_subscription(twist_type, 'cmd_vel',
                                     lambda m: self._on_twist(Source.TELEOP, m), COMMAND_QOS,
                                     callback_group=self._io_group),
            self.create_subscription(twist_type, 'cmd_vel_nav',
                                     lambda m: self._on_twist(Source.AUTONOMY, m),
                                     COMMAND_QOS, callback_group=self._io_group)]
        self.create_subscription(ShovelState, 'shovel/state', self._on_shovel_state,
                                 LATCHED_QOS, callback_group=self._io_group)
        self.create_service(EStop, 'estop', self._on_estop, callback_group=self._io_group)
        self.create_service(Trigger, '~/clear_fault', self._on_clear_fault,
                            callback_group=self._io_group)
        self._actions = [
            ActionServer(self, DriveDistance, 'drive_distance',
                         execute_callback=self._execute_drive_distance,
                         goal_callback=self._check_drive_distance,
                         cancel_callback=self._accept_cancel,
                         callback_group=self._action_group),
            ActionServer(self, Turn, 'turn', execute_callback=self._execute_turn,
                         goal_callback=self._check_turn,
                         cancel_callback=self._accept_cancel,
                         callback_group=self._action_group)]
        self._control_timer = self.create_timer(1.0 / p['control_rate'], self._on_control,
                                                callback_group=self._safety_group)
        self.create_timer(1.0, self._publish_diagnostics, callback_group=self._io_group)
        self.create_timer(TYPE_CHECK_PERIOD, self._check_publisher_types,
                          callback_group=self._io_group)
        self.get_logger().info(
            f'drive ready: backend {p["backend"]}, cmd_vel as {TWIST_TYPES[self._stamped]}, '
            f'{p["control_rate"]} Hz, interlock '
            f'{"on" if p["interlock_enabled"] else "OFF (bench test)"}')

    @property
    def controller(self) -> DriveController:
        """Return the drive core (tests and diagnostics)."""
        return self._controller

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ---- inputs ---------------------------------------------------------------------------
    def _on_twist(self, source: Source, msg) -> None:
        now = self._now()
        twist, stamp = (msg.twist, command_stamp(msg.header.stamp)) if self._stamped \
            else (msg, None)
        try:
            verdict = self._controller.command_velocity(source, twist.linear.x, twist.angular.z,
                                                        now=now, stamp=stamp)
        except ValueError as exc:
            self.get_logger().warning(f'{source.name.lower()} command refused: {exc}',
                                      throttle_duration_sec=1.0)
            return
        if verdict != CommandVerdict.ACCEPTED:
            self.get_logger().warning(f'{source.name.lower()} command {verdict.value}',
                                      throttle_duration_sec=1.0)

    def _on_shovel_state(self, msg: ShovelState) -> None:
        try:
            self._controller.set_shovel_permission(msg.drive_permission)
        except ValueError as exc:
            self.get_logger().error(f'shovel/state ignored: {exc}', throttle_duration_sec=5.0)

    def _on_sim_joints(self, msg: JointState) -> None:
        backend = self._controller.backend
        if isinstance(backend, GazeboWheels) and not backend.on_joint_state(
                msg.name, msg.position, msg.velocity, self._now()):
            self.get_logger().warning('sim/joint_states without all four wheel joints',
                                      throttle_duration_sec=5.0)

    def _publish_sim_wheels(self, velocities) -> None:
        if not self.context.ok():
            return  # after an external shutdown nothing can be sent any more
        for pub, value in zip(self._sim_pubs, velocities):
            pub.publish(Float64(data=float(value)))

    def _on_estop(self, request: EStop.Request, response: EStop.Response) -> EStop.Response:
        now = self._now()
        if request.engage:
            reason = request.reason or 'estop service'
            self._controller.engage_estop(reason, now=now)
            response.message = f'e-stop engaged: {reason}'
            self.get_logger().warning(response.message)
        else:
            self._controller.release_estop(now=now)
            response.message = 'e-stop released; send a new command to move'
            self.get_logger().info(response.message)
        response.success = True
        return response

    def _on_clear_fault(self, request: Trigger.Request,
                        response: Trigger.Response) -> Trigger.Response:
        try:
            response.message = self._controller.clear_fault(now=self._now())
            response.success = True
        except FaultClearError as exc:
            response.message = str(exc)
            response.success = False
        self.get_logger().info(f'clear_fault: {response.message}')
        return response

    def on_parameters_changed(self, changed) -> None:
        """Hand committed parameter changes to the core."""
        self._controller.reconfigure(changed)

    # ---- the control loop -------------------------------------------------------------------
    def _on_control(self) -> None:
        now = self._now()
        status = self._controller.step(now)
        estimate = self._controller.odometry
        p = self.params
        self._odom_pub.publish(odometry_to_msg(estimate, p['odom_frame'], p['base_frame']))
        if p['publish_tf']:
            self._tf.sendTransform(odometry_to_transform(estimate, p['odom_frame'],
                                                         p['base_frame']))
        feedback = self._controller.wheel_feedback
        if feedback is not None:
            self._joint_pub.publish(wheel_feedback_to_msg(feedback, now))
        self._publish_status(status, now)

    def _publish_status(self, status: DriveStatus, now: float) -> None:
        if self._status_throttle.due(status, now, self.params['status_rate']):
            self._status_pub.publish(status_to_msg(status))

    def _publish_diagnostics(self) -> None:
        self.publish_health(self._controller.health(self._now()))

    def _check_publisher_types(self) -> None:
        for sub in self._cmd_subs:
            publishers = [PublisherInfo(i.node_namespace, i.node_name, i.topic_type)
                          for i in self.get_publishers_info_by_topic(sub.topic_name)]
            for message in self._twist_types.check(sub.topic_name, publishers):
                self.get_logger().error(message)

    # ---- actions --------------------------------------------------------------------------
    def _check_drive_distance(self, goal: DriveDistance.Goal) -> GoalResponse:
        return self._check_goal(lambda: self._controller.check_drive_distance(
            goal.distance, goal.speed), 'drive_distance')

    def _check_turn(self, goal: Turn.Goal) -> GoalResponse:
        return self._check_goal(lambda: self._controller.check_turn(
            goal.angle, goal.angular_speed), 'turn')

    def _check_goal(self, check, name: str) -> GoalResponse:
        try:
            check()
        except InvalidGoal as exc:
            self.get_logger().warning(f'{name} goal rejected: {exc.reason}')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _accept_cancel(self, goal_handle) -> CancelResponse:
        return CancelResponse.ACCEPT

    def _execute_drive_distance(self, goal_handle) -> DriveDistance.Result:
        goal = goal_handle.request
        return self._execute(goal_handle, DriveDistance, lambda now: (
            self._controller.start_drive_distance(goal.distance, goal.speed, now=now)))

    def _execute_turn(self, goal_handle) -> Turn.Result:
        goal = goal_handle.request
        return self._execute(goal_handle, Turn, lambda now: (
            self._controller.start_turn(goal.angle, goal.angular_speed, now=now)))

    def _execute(self, goal_handle, action, start):
        """Run one bounded move to its end; exactly one of succeed/canceled/abort."""
        try:
            move_id = start(self._now())
        except GoalRejected as exc:
            self.get_logger().warning(f'goal refused: {exc.reason}')
            goal_handle.abort()
            return self._result(action, None, exc.error_code, exc.reason)
        period = 1.0 / self.params['control_rate']
        progress = self._controller.move_progress(move_id)
        while not progress.done:
            if goal_handle.is_cancel_requested:
                self._controller.cancel_move(move_id, now=self._now())
            else:
                feedback = action.Feedback()
                self._fill_achieved(action, feedback, progress.achieved)
                feedback.progress = float(progress.progress)
                goal_handle.publish_feedback(feedback)
                time.sleep(period)
            progress = self._controller.move_progress(move_id)
        # exactly one of succeed()/canceled()/abort()
        getattr(goal_handle, goal_outcome(progress.error, goal_handle.is_cancel_requested).value)()
        return self._result(action, progress, progress.error, progress.message)

    @staticmethod
    def _fill_achieved(action, msg, achieved: float) -> None:
        if action is DriveDistance:
            msg.distance_travelled = float(achieved)
        else:
            msg.angle_turned = float(achieved)

    def _result(self, action, progress: Optional[MoveProgress], error: MoveError,
                message: str):
        result = action.Result()
        result.error_code = int(error)
        result.message = message
        self._fill_achieved(action, result, progress.achieved if progress else 0.0)
        return result

    # ---- shutdown -------------------------------------------------------------------------
    def stop_motion(self) -> None:
        """
        Stop the wheels now and keep them stopped (never raises).

        Latches the e-stop ('drive shutting down'): the running goal ends (aborted), held
        commands are dropped, and a control tick still in flight commands zero, not the last
        cmd_vel again.
        """
        self._controller.engage_estop(SHUTDOWN_REASON, now=self._now())
        self._controller.stop()

    def release(self) -> None:
        """Stop the wheels (again: a tick may have run since) and close the backend."""
        self.stop_motion()
        self._controller.close()

    def destroy_node(self) -> None:
        """Destroy the action servers, then the node."""
        for server in self._actions:
            server.destroy()
        super().destroy_node()


def main(args=None) -> None:
    """Run the drive node; whatever ends it, the wheels are commanded to zero first."""
    run_until_stopped(DriveNode, name='drive', args=args, threads=6)


if __name__ == '__main__':
    main()
