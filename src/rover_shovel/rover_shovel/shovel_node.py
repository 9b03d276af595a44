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
The ``shovel`` node: ROS adapter of :class:`rover_shovel.controller.ShovelController`.

* Action servers ``~/move`` (MoveShovel) and ``~/collect_sample`` (CollectSample): goals are
  validated by the core before they are accepted; one job owns the joint at a time (a new
  goal, or the ``~/stow`` service, preempts the running one); cancel ends in a safe pose.
* Publishes ``joint_states`` (shovel_joint, every control step), latched ``~/state``
  (ShovelState, at ``state_publish_rate`` and at once on a change of activity, pose, fault or
  drive permission: the drive's interlock input) and ``/diagnostics``.
* Services ``~/stow`` and ``~/clear_fault`` (std_srvs/Trigger).
* Uses the drive through ``drive/status`` (DriveStatus), ``odom`` and the ``drive_distance``
  action, and the cameras through the ``capture`` action: the port classes below implement
  the core's asynchronous, polled ports with action clients.

Callbacks store, the control timer decides: it steps the core under one lock in its own
mutually exclusive group; action execution waits on the control steps in a reentrant group.
"""

import math
from pathlib import Path
import threading
from typing import Callable, Dict, Optional, Tuple, Union
import uuid

from action_msgs.msg import GoalStatus
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.qos import qos_profile_sensor_data
from rover_common.health import HealthReport, Level
from rover_common.param_spec import ParamValue
from rover_common.product_store import ProductStore, StoreError
from rover_common.rover_node import (COMMAND_QOS, LATCHED_QOS, RoverNode, run_until_stopped,
                                     seconds_to_stamp)
from rover_interfaces.action import CaptureImage, CollectSample, DriveDistance, MoveShovel
from rover_interfaces.msg import DriveStatus, ShovelState
from rover_shovel.backends import fake_actuator, hardware_actuator
from rover_shovel.config import PARAMS, ShovelConfig
from rover_shovel.controller import ShovelController
from rover_shovel.ports import (CaptureJob, DriveJob, DriveSnapshot, JobState, JointActuator,
                                PortError, RoverPose)
from rover_shovel.shovel_types import (Activity, DrivePermission, Fault, GoalRejected,
                                       JobFeedback, JOINT_NAME, MoveError, MoveResult, Phase,
                                       SampleError, SampleRequest, SampleResult, ShovelStatus)
from rover_shovel.sim_joint import BridgedJointActuator
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

#: Feedback is published on a phase change and at most this often otherwise (s).
FEEDBACK_PERIOD = 0.2
#: Longest wait of an action execution for the next control step (s).
STEP_WAIT = 0.5
_CAMERAS = {'left': CaptureImage.Goal.CAMERA_LEFT, 'right': CaptureImage.Goal.CAMERA_RIGHT,
            'both': CaptureImage.Goal.CAMERA_BOTH}


# -- message <-> core conversions ----------------------------------------------------------

def status_to_msg(status: ShovelStatus) -> ShovelState:
    """Return the ShovelState message of a core status."""
    msg = ShovelState(angle=float(status.angle), velocity=float(status.velocity),
                      current=float(status.current), target_angle=float(status.target_angle),
                      pose=status.pose, activity=int(status.activity),
                      drive_permission=int(status.drive_permission), fault=int(status.fault),
                      fault_reason=status.fault_reason)
    msg.header.stamp = seconds_to_stamp(status.stamp)
    return msg


def status_from_msg(msg: ShovelState) -> ShovelStatus:
    """Return the core status of a ShovelState message (for users of the topic)."""
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    return ShovelStatus(stamp, msg.angle, msg.velocity, msg.current, msg.target_angle,
                        msg.pose, Activity(msg.activity), DrivePermission(msg.drive_permission),
                        Fault(msg.fault), msg.fault_reason)


def snapshot_from_msg(msg: DriveStatus, received: float,
                      pose: Optional[RoverPose]) -> DriveSnapshot:
    """Return the drive snapshot of a DriveStatus received at ``received`` (node clock)."""
    reason = msg.estop_reason if msg.estop_latched else msg.fault_reason
    return DriveSnapshot(received, bool(msg.stopped), bool(msg.estop_latched),
                         bool(msg.fault_latched), reason, pose)


def pose_from_odom(msg: Odometry) -> RoverPose:
    """Return the rover pose of an Odometry message."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    return RoverPose(p.x, p.y, p.z, q.x, q.y, q.z, q.w, msg.header.frame_id or 'odom', stamp)


def move_target_from_goal(goal: MoveShovel.Goal) -> Union[str, float]:
    """Return the core target of a MoveShovel goal: the pose name, or the angle."""
    return goal.named_pose if goal.named_pose else float(goal.target_angle)


def sample_request_from_goal(goal: CollectSample.Goal) -> SampleRequest:
    """Return the core request of a CollectSample goal."""
    return SampleRequest(float(goal.dig_distance), bool(goal.dump_after), goal.command_id)


def move_result_to_msg(result: MoveResult) -> MoveShovel.Result:
    """Return the MoveShovel result of a core move result."""
    return MoveShovel.Result(error_code=int(result.error), message=result.message,
                             final_angle=float(result.final_angle))


def sample_result_to_msg(result: SampleResult) -> CollectSample.Result:
    """Return the CollectSample result of a core sample result."""
    return CollectSample.Result(
        error_code=int(result.error), message=result.message,
        final_phase=int(result.final_phase), evidence_product_id=result.evidence_product_id,
        image_product_ids=list(result.image_product_ids),
        fill_estimate_kg=float(result.fill_estimate_kg),
        fill_estimate_sigma_kg=float(result.fill_estimate_sigma_kg))


def move_feedback_to_msg(feedback: JobFeedback) -> MoveShovel.Feedback:
    """Return the MoveShovel feedback of a core job feedback."""
    return MoveShovel.Feedback(angle=float(feedback.angle), progress=float(feedback.progress))


def sample_feedback_to_msg(feedback: JobFeedback) -> CollectSample.Feedback:
    """Return the CollectSample feedback of a core job feedback."""
    phase = feedback.phase if feedback.phase is not None else Phase.CHECK_PRECONDITIONS
    return CollectSample.Feedback(phase=int(phase), progress=float(feedback.progress),
                                  shovel_angle=float(feedback.angle),
                                  motor_current=float(feedback.current))


def goal_uuid(goal_handle) -> str:
    """Return the goal id of an action goal handle as a UUID string."""
    return str(uuid.UUID(bytes=bytes(bytearray(goal_handle.goal_id.uuid))))


# -- ports on action clients ---------------------------------------------------------------

class _ActionJob:
    """One goal sent through an ActionClient, followed by callbacks; state under a lock."""

    def __init__(self, client: ActionClient, what: str) -> None:
        self._client = client
        self._what = what
        self._lock = threading.Lock()
        self._generation = 0
        self._state = JobState.IDLE
        self._message = ''
        self._command_id = ''
        self._result = None
        self._feedback = None
        self._goal_handle = None
        self._stop_requested = False

    def ready(self) -> bool:
        """Return True when the action server is there."""
        return self._client.server_is_ready()

    def start(self, goal) -> None:
        """Send ``goal``; an older goal's late callbacks are ignored from now on."""
        if not self._client.server_is_ready():
            raise PortError(f'the {self._what} action server is not available')
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._state, self._message, self._command_id = JobState.RUNNING, '', ''
            self._result = self._feedback = self._goal_handle = None
            self._stop_requested = False
        future = self._client.send_goal_async(
            goal, feedback_callback=lambda msg: self._on_feedback(generation, msg))
        future.add_done_callback(lambda f: self._on_goal_response(generation, f))

    def stop(self) -> None:
        """Cancel the goal now, or as soon as the server accepts it."""
        with self._lock:
            self._stop_requested = True
            handle = self._goal_handle if self._state == JobState.RUNNING else None
        if handle is not None:
            handle.cancel_goal_async()

    def view(self) -> Tuple[JobState, str, str, object, object]:
        """Return state, message, goal id, result and last feedback."""
        with self._lock:
            return (self._state, self._message, self._command_id, self._result,
                    self._feedback)

    def _on_feedback(self, generation: int, msg) -> None:
        with self._lock:
            if generation == self._generation:
                self._feedback = msg.feedback

    def _on_goal_response(self, generation: int, future) -> None:
        handle = future.result()
        with self._lock:
            current = generation == self._generation
            if current and not handle.accepted:
                self._state = JobState.FAILED
                self._message = f'the {self._what} server rejected the goal'
                return
            if current:
                self._goal_handle = handle
                self._command_id = goal_uuid(handle)
            cancel = not current or self._stop_requested
        if not handle.accepted:
            return
        if cancel:
            handle.cancel_goal_async()
        handle.get_result_async().add_done_callback(
            lambda f: self._on_result(generation, f))

    def _on_result(self, generation: int, future) -> None:
        response = future.result()
        with self._lock:
            if generation != self._generation:
                return
            self._result = response.result
            message = getattr(response.result, 'message', '')
            if response.status == GoalStatus.STATUS_SUCCEEDED:
                self._state = JobState.SUCCEEDED
            elif response.status == GoalStatus.STATUS_CANCELED:
                self._state, self._message = JobState.CANCELED, message or 'canceled'
            else:
                self._state = JobState.FAILED
                self._message = (f'{self._what} ended with status {response.status}, '
                                 f'error {getattr(response.result, "error_code", "?")}: '
                                 f'{message}')


class RosDrivePort:
    """DrivePort on ``drive/status``, ``odom`` and the ``drive_distance`` action."""

    def __init__(self, node: RoverNode, group, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._status: Optional[Tuple[DriveStatus, float]] = None
        self._pose: Optional[RoverPose] = None
        node.create_subscription(DriveStatus, 'drive/status', self._on_status, LATCHED_QOS,
                                 callback_group=group)
        node.create_subscription(Odometry, 'odom', self._on_odom, COMMAND_QOS,
                                 callback_group=group)
        self.client = ActionClient(node, DriveDistance, 'drive_distance', callback_group=group)
        self._job = _ActionJob(self.client, 'drive_distance')

    def _on_status(self, msg: DriveStatus) -> None:
        with self._lock:
            self._status = (msg, self._now())

    def _on_odom(self, msg: Odometry) -> None:
        with self._lock:
            self._pose = pose_from_odom(msg)

    def snapshot(self) -> Optional[DriveSnapshot]:
        """Return the latest drive status with the latest pose."""
        with self._lock:
            if self._status is None:
                return None
            msg, received = self._status
            return snapshot_from_msg(msg, received, self._pose)

    def ready(self) -> bool:
        """Return True when the drive_distance server is there."""
        return self._job.ready()

    def start_creep(self, distance: float, speed: float) -> None:
        """Send a drive_distance goal."""
        self._job.start(DriveDistance.Goal(distance=float(distance), speed=float(speed)))

    def creep_status(self) -> DriveJob:
        """Return the creep's state, distance so far and goal id."""
        state, message, command_id, result, feedback = self._job.view()
        travelled = 0.0
        if result is not None:
            travelled = result.distance_travelled
        elif feedback is not None:
            travelled = feedback.distance_travelled
        return DriveJob(state, message, travelled, command_id)

    def stop(self) -> None:
        """Cancel the creep goal."""
        self._job.stop()


class RosCameraPort:
    """CameraPort on the ``capture`` action."""

    def __init__(self, node: RoverNode, group) -> None:
        self.client = ActionClient(node, CaptureImage, 'capture', callback_group=group)
        self._job = _ActionJob(self.client, 'capture')

    def ready(self) -> bool:
        """Return True when the capture server is there."""
        return self._job.ready()

    def start_capture(self, camera: str, command_id: str) -> None:
        """Send a capture goal."""
        if camera not in _CAMERAS:
            raise PortError(f'camera must be one of {", ".join(_CAMERAS)}, got {camera!r}')
        self._job.start(CaptureImage.Goal(camera=_CAMERAS[camera], command_id=command_id))

    def capture_status(self) -> CaptureJob:
        """Return the capture's state and, once done, the stored image ids."""
        state, message, command_id, result, _ = self._job.view()
        ids = tuple(result.product_ids) if result is not None else ()
        if state == JobState.SUCCEEDED and result.error_code != CaptureImage.Result.ERROR_NONE:
            state, message = JobState.FAILED, result.message
        return CaptureJob(state, message, ids, command_id)

    def cancel_capture(self) -> None:
        """Cancel the capture goal."""
        self._job.stop()


# -- the node ------------------------------------------------------------------------------

class ShovelNode(RoverNode):
    """The shovel: joint, interlock, sample collection, as actions, topics and services."""

    def __init__(self, **kwargs) -> None:
        super().__init__('shovel', PARAMS, **kwargs)
        params = self.params
        self._lock = threading.RLock()
        self._stepped = threading.Condition()
        self._control_group = MutuallyExclusiveCallbackGroup()
        self._action_group = ReentrantCallbackGroup()
        self._io_group = ReentrantCallbackGroup()
        self._goal_jobs: Dict[str, Union[int, str]] = {}
        self._last_rejected = ''
        self._last_state: Optional[Tuple] = None
        self._last_state_time = -math.inf
        self._state_period = 1.0 / params['state_publish_rate']
        self._torque_constant = params['torque_constant']
        self._store = ProductStore(Path(str(params['product_dir'])).expanduser(),
                                   budget_bytes=int(params['product_budget_bytes']))
        self._joint_pub = self.create_publisher(JointState, 'joint_states', 10)
        self._state_pub = self.create_publisher(ShovelState, '~/state', LATCHED_QOS)
        self._drive = RosDrivePort(self, self._io_group, self._now)
        self._cameras = RosCameraPort(self, self._io_group)
        actuator = self._make_actuator(params)
        self._controller = ShovelController(ShovelConfig.from_params(params), actuator,
                                            self._drive, self._cameras, self._store)
        self._move_server = ActionServer(
            self, MoveShovel, '~/move', execute_callback=self._execute_move,
            goal_callback=self._on_move_goal, handle_accepted_callback=self._accept_move,
            cancel_callback=self._on_cancel, callback_group=self._action_group)
        self._sample_server = ActionServer(
            self, CollectSample, '~/collect_sample', execute_callback=self._execute_sample,
            goal_callback=self._on_sample_goal, handle_accepted_callback=self._accept_sample,
            cancel_callback=self._on_cancel, callback_group=self._action_group)
        self.create_service(Trigger, '~/stow', self._on_stow, callback_group=self._io_group)
        self.create_service(Trigger, '~/clear_fault', self._on_clear_fault,
                            callback_group=self._io_group)
        self._control_timer = self.create_timer(1.0 / params['control_rate'], self._on_control,
                                                callback_group=self._control_group)
        self.create_timer(1.0, self._publish_diagnostics, callback_group=self._io_group)
        self.get_logger().info(f'shovel ready: backend {params["backend"]}, products in '
                               f'{self._store.root}')

    # -- setup -------------------------------------------------------------------------

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _make_actuator(self, params) -> JointActuator:
        backend = params['backend']
        if backend == 'fake':
            return fake_actuator(params, start_time=self._now())
        if backend == 'hardware':
            return hardware_actuator(params)
        publisher = self.create_publisher(Float64, 'sim/shovel_joint/cmd_pos', 10)
        actuator = BridgedJointActuator(lambda angle: publisher.publish(Float64(data=angle)),
                                        state_timeout=params['sim_state_timeout'])
        self._sim_joint = actuator
        self.create_subscription(JointState, 'sim/joint_states', self._on_sim_joints,
                                 qos_profile_sensor_data, callback_group=self._io_group)
        return actuator

    def _on_sim_joints(self, msg: JointState) -> None:
        if JOINT_NAME not in msg.name:
            return
        i = list(msg.name).index(JOINT_NAME)

        def entry(values) -> float:
            return float(values[i]) if i < len(values) else math.nan
        self._sim_joint.feed(self._now(), entry(msg.position), entry(msg.velocity))

    def on_parameters_changed(self, changed: Dict[str, ParamValue]) -> None:
        """Reconfigure the core with the committed values."""
        params = self.params
        with self._lock:
            self._controller.configure(ShovelConfig.from_params(params))
        self._state_period = 1.0 / params['state_publish_rate']
        self._torque_constant = params['torque_constant']

    # -- control loop --------------------------------------------------------------------

    def _on_control(self) -> None:
        now = self._now()
        with self._lock:
            status = self._controller.step(now)
        self._publish_joint_state(status)
        key = (status.activity, status.pose, status.fault, status.drive_permission)
        if key != self._last_state or now - self._last_state_time >= self._state_period:
            self._state_pub.publish(status_to_msg(status))
            self._last_state, self._last_state_time = key, now
        with self._stepped:
            self._stepped.notify_all()

    def _publish_joint_state(self, status: ShovelStatus) -> None:
        msg = JointState(name=[JOINT_NAME], position=[float(status.angle)],
                         velocity=[float(status.velocity)],
                         effort=[float(status.current) * self._torque_constant])
        msg.header.stamp = seconds_to_stamp(status.stamp)
        self._joint_pub.publish(msg)

    def _publish_diagnostics(self) -> None:
        with self._lock:
            reports = self._controller.health()
        try:
            usage = self._store.usage()
        except StoreError as err:
            reports.append(HealthReport('product store', Level.ERROR, str(err)))
        else:
            level = Level.WARN if usage.fraction > 0.9 else Level.OK
            reports.append(HealthReport('product store', level,
                                        f'{usage.fraction:.0%} of the budget used',
                                        {'pending': str(usage.pending_count)}))
        reports.append(HealthReport('goals', Level.OK, 'accepting goals',
                                    {'last_rejected_goal': self._last_rejected or '-'}))
        self.publish_health(reports)

    def _reject(self, what: str, err: GoalRejected) -> GoalResponse:
        self._last_rejected = f'{what}: {err}'
        self.get_logger().warning(f'{what} goal rejected: {err}')
        return GoalResponse.REJECT

    def stop_motion(self) -> None:
        """End every job, stop the creep and hold the joint (called from main's finally)."""
        with self._lock:
            problem = self._controller.shutdown(self._now())
        if problem is not None:
            self.get_logger().error(problem)

    # -- actions -------------------------------------------------------------------------

    def _on_move_goal(self, goal: MoveShovel.Goal) -> GoalResponse:
        try:
            with self._lock:
                self._controller.resolve_target(move_target_from_goal(goal))
                self._controller.check_velocity(goal.max_velocity)
        except GoalRejected as err:
            return self._reject('move', err)
        return GoalResponse.ACCEPT

    def _on_sample_goal(self, goal: CollectSample.Goal) -> GoalResponse:
        try:
            with self._lock:
                self._controller.resolve_sample(sample_request_from_goal(goal))
        except GoalRejected as err:
            return self._reject('collect_sample', err)
        return GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle: ServerGoalHandle) -> CancelResponse:
        return CancelResponse.ACCEPT

    def _accept_move(self, goal_handle: ServerGoalHandle) -> None:
        goal = goal_handle.request
        self._start_job(goal_handle, lambda: self._controller.move_to(
            move_target_from_goal(goal), max_velocity=goal.max_velocity))

    def _accept_sample(self, goal_handle: ServerGoalHandle) -> None:
        request = sample_request_from_goal(goal_handle.request)
        if not request.command_id:
            request = SampleRequest(request.dig_distance, request.dump_after,
                                    f'goal-{goal_uuid(goal_handle)}')
        self._start_job(goal_handle, lambda: self._controller.start_collect_sample(request))

    def _start_job(self, goal_handle: ServerGoalHandle, start: Callable[[], int]) -> None:
        """Start the core job of an accepted goal (preempting the running one), then run it."""
        with self._lock:
            try:
                self._goal_jobs[goal_uuid(goal_handle)] = start()
            except GoalRejected as err:  # the parameters changed since the goal was checked
                self._goal_jobs[goal_uuid(goal_handle)] = str(err)
        goal_handle.execute()

    def _follow(self, goal_handle: ServerGoalHandle, publish: Callable[[JobFeedback], None]):
        """Follow the goal's job to its result, forwarding cancel and feedback."""
        with self._lock:
            entry = self._goal_jobs.pop(goal_uuid(goal_handle))
        if isinstance(entry, str):
            return entry
        reported, last_time = 0, -math.inf
        while True:
            with self._lock:
                if goal_handle.is_cancel_requested:
                    self._controller.cancel(entry)
                view = self._controller.job(entry)
            fb = view.feedback
            new = view.phases[reported:]
            # every phase entered since the last poll gets its feedback, however short it was
            for phase in new[:-1]:
                publish(JobFeedback(fb.progress, fb.angle, fb.current, phase))
            now = self._now()
            if new or now - last_time >= FEEDBACK_PERIOD:
                if not view.done or (new and fb.phase == Phase.SAFING):
                    publish(fb)
                reported, last_time = len(view.phases), now
            if view.done:
                return view.result
            with self._stepped:
                self._stepped.wait(STEP_WAIT)

    def _finish(self, goal_handle: ServerGoalHandle, ok: bool, canceled: bool) -> None:
        if ok:
            goal_handle.succeed()
        elif canceled and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()

    def _execute_move(self, goal_handle: ServerGoalHandle) -> MoveShovel.Result:
        outcome = self._follow(goal_handle, lambda fb: goal_handle.publish_feedback(
            move_feedback_to_msg(fb)))
        if isinstance(outcome, str):
            goal_handle.abort()
            return MoveShovel.Result(error_code=MoveShovel.Result.ERROR_INVALID_GOAL,
                                     message=outcome, final_angle=math.nan)
        self._finish(goal_handle, outcome.error == MoveError.NONE,
                     outcome.error == MoveError.CANCELED)
        return move_result_to_msg(outcome)

    def _execute_sample(self, goal_handle: ServerGoalHandle) -> CollectSample.Result:
        outcome = self._follow(goal_handle, lambda fb: goal_handle.publish_feedback(
            sample_feedback_to_msg(fb)))
        if isinstance(outcome, str):
            goal_handle.abort()
            return CollectSample.Result(
                error_code=CollectSample.Result.ERROR_INVALID_GOAL, message=outcome,
                final_phase=int(Phase.CHECK_PRECONDITIONS), fill_estimate_kg=math.nan,
                fill_estimate_sigma_kg=math.nan)
        if outcome.error == SampleError.NONE:
            self.get_logger().info(f'sample collected: evidence {outcome.evidence_product_id}')
        else:
            self.get_logger().warning(f'collect_sample ended: {outcome.message}')
        self._finish(goal_handle, outcome.error == SampleError.NONE,
                     outcome.error == SampleError.CANCELED)
        return sample_result_to_msg(outcome)

    # -- services ------------------------------------------------------------------------

    def _on_stow(self, request: Trigger.Request, response: Trigger.Response
                 ) -> Trigger.Response:
        with self._lock:
            fault, reason = self._controller.fault()
            estop = self._controller.estop_reason()
            if fault != Fault.NONE:
                response.success = False
                response.message = f'fault {fault.name} latched ({reason}); clear it first'
                return response
            if estop is not None:
                response.success = False
                response.message = f'drive e-stop latched ({estop}); the shovel holds'
                return response
            job = self._controller.stow()
        response.success = True
        response.message = f'stowing (job {job})'
        return response

    def _on_clear_fault(self, request: Trigger.Request, response: Trigger.Response
                        ) -> Trigger.Response:
        with self._lock:
            fault, _ = self._controller.fault()
            reason = self._controller.clear_fault(self._now())
        response.success = reason is None
        response.message = (reason if reason is not None else
                            f'fault {fault.name} cleared' if fault != Fault.NONE else
                            'no fault latched')
        if reason is None and fault != Fault.NONE:
            self.get_logger().info(response.message)
        return response

    # -- teardown ------------------------------------------------------------------------

    def release(self) -> None:
        """Close the product store (the evidence already written is committed)."""
        self._store.close()

    def destroy_node(self) -> None:
        """Destroy the action servers and clients, then the node."""
        self._move_server.destroy()
        self._sample_server.destroy()
        self._drive.client.destroy()
        self._cameras.client.destroy()
        super().destroy_node()


def main(args=None) -> None:
    """Run the shovel node; whatever ends it, the creep is stopped and the joint held first."""
    # threads: the control timer, one per following action goal (a preempted one finishing
    # while its successor runs), and the subscriptions, services and client callbacks
    run_until_stopped(ShovelNode, name='shovel', args=args, threads=6,
                      startup_errors=(StoreError,))


if __name__ == '__main__':
    main()
