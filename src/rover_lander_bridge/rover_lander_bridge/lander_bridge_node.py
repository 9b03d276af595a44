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
The ``lander_bridge`` node: the rover's end of the lander link on ROS 2.

The ROS-free bridge (:mod:`rover_lander_bridge.bridge`, run by
:class:`~rover_lander_bridge.runner.BridgeStack` in its own thread on the UDP or serial
transport) dispatches ground telecommands to :class:`RosRoverPort`: action clients of
``drive_distance``, ``turn``, ``shovel/move``, ``shovel/collect_sample`` and ``capture``;
service clients of ``estop``, ``shovel/stow``, ``shovel/clear_fault`` and
``drive/clear_fault``. Action feedback becomes ST[1] progress reports and results become
completion reports. Subscriptions to ``odom``, ``drive/status``, ``shovel/state`` and
``/diagnostics`` feed housekeeping. The node publishes ``lander_bridge/link_status``
(latched) and its health on ``/diagnostics``. Callbacks only store; the bridge thread
decides.
"""

import math
import queue
import threading
import time
from typing import Callable, Dict, List, Optional

from action_msgs.msg import GoalStatus
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.action import ActionClient
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rover_common.health import HealthReport, Level
from rover_common.param_spec import ParamValue
from rover_common.product_store import StoreError
from rover_common.rover_node import COMMAND_QOS, LATCHED_QOS, RoverNode, run_until_stopped
from rover_interfaces.action import CaptureImage, CollectSample, DriveDistance, MoveShovel, Turn
from rover_interfaces.msg import DriveStatus, LinkStatus, ShovelState
from rover_interfaces.srv import EStop
from rover_lander_bridge.bridge import LinkSnapshot
from rover_lander_bridge.params import bridge_config, TABLE
from rover_lander_bridge.rover_port import (CAPTURE_ERRORS, Completion, DRIVE_ERRORS,
                                            error_code_of, PortEvent, PortEventKind,
                                            RoverTelemetry, SAMPLE_ERRORS, SHOVEL_ERRORS,
                                            shovel_pose_code)
from rover_lander_bridge.runner import BridgeLoopFailed, BridgeStack
from rover_link.protocol import Camera, ErrorCode, FaultTarget, LinkState, ShovelPose
from rover_link.security import KeyFileError
from rover_link.telemetry import CaptureResult, MobilityHk, MotionResult, SampleResult, ShovelHk
from rover_link.transports import TransportError
from std_srvs.srv import Trigger

_TRANSPORTS = {'udp': LinkStatus.TRANSPORT_UDP, 'serial': LinkStatus.TRANSPORT_SERIAL}
_HEALTH = {LinkState.UP: Level.OK, LinkState.DOWN: Level.WARN, LinkState.SAFED: Level.ERROR}
#: Period of the timer that sends the goals the bridge asked for (s).
WORK_PERIOD = 0.02


# -- conversions (message <-> core) ----------------------------------------------------------

def link_status_to_msg(snapshot: LinkSnapshot, transport: int, stamp: TimeMsg) -> LinkStatus:
    """Return the LinkStatus message of a bridge snapshot."""
    msg = LinkStatus()
    msg.header.stamp = stamp
    msg.state = int(snapshot.state)
    msg.transport = transport
    msg.seconds_since_contact = float(snapshot.seconds_since_contact)
    msg.tc_accepted = snapshot.tc_accepted
    msg.tc_rejected = snapshot.tc_rejected
    msg.tc_auth_failures = snapshot.tc_auth_failures
    msg.tc_replays = snapshot.tc_replays
    msg.tc_malformed = snapshot.tc_malformed
    msg.tm_backlog = snapshot.tm_backlog
    msg.tm_sent = snapshot.tm_sent
    msg.files_pending = snapshot.files_pending
    msg.bytes_downlinked = snapshot.bytes_downlinked
    return msg


def mobility_from_msgs(status: Optional[DriveStatus], odom: Optional[Odometry]) -> MobilityHk:
    """Return housekeeping set 1 from the latest drive status and odometry (NaN if unknown)."""
    unknown = MobilityHk.unknown()
    x = y = yaw = math.nan
    if odom is not None:
        pose = odom.pose.pose
        x, y = pose.position.x, pose.position.y
        q = pose.orientation
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
    if status is None:
        return MobilityHk(x, y, yaw, unknown.linear, unknown.angular, unknown.mode,
                          unknown.estop, unknown.fault, unknown.stopped)
    return MobilityHk(x, y, yaw, status.measured_linear, status.measured_angular,
                      status.mode, status.estop_latched, status.fault_latched, status.stopped)


def shovel_from_msg(state: Optional[ShovelState]) -> ShovelHk:
    """Return housekeeping set 2 from the latest shovel state (unknown if none yet)."""
    if state is None:
        return ShovelHk.unknown()
    return ShovelHk(state.angle, state.current, state.target_angle, state.activity,
                    state.drive_permission, state.fault, shovel_pose_code(state.pose))


# -- the rover port on ROS ----------------------------------------------------------------

class _Goals:
    """The live goal handles of one action client, so stop/hold can cancel them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: Dict[int, object] = {}

    def add(self, key: int, handle) -> None:
        with self._lock:
            self._handles[key] = handle

    def remove(self, key: int) -> None:
        with self._lock:
            self._handles.pop(key, None)

    def handles(self) -> List:
        with self._lock:
            return list(self._handles.values())


class RosRoverPort:
    """
    The bridge's rover port on the drive, shovel and camera actions and services.

    Every method returns at once. The bridge calls them from its own thread, so they only
    queue the work; :meth:`run_pending` (a node timer) sends the goals and requests from an
    executor thread, and the futures' callbacks report through the Completion.
    """

    def __init__(self, node: RoverNode, group) -> None:
        self._node = node
        self._work: 'queue.SimpleQueue[Callable[[], None]]' = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._drive_status: Optional[DriveStatus] = None
        self._odom: Optional[Odometry] = None
        self._shovel_state: Optional[ShovelState] = None
        self._diagnostics: Dict[str, int] = {}
        self._drive = ActionClient(node, DriveDistance, 'drive_distance', callback_group=group)
        self._turn = ActionClient(node, Turn, 'turn', callback_group=group)
        self._move = ActionClient(node, MoveShovel, 'shovel/move', callback_group=group)
        self._sample = ActionClient(node, CollectSample, 'shovel/collect_sample',
                                    callback_group=group)
        self._capture = ActionClient(node, CaptureImage, 'capture', callback_group=group)
        self._estop = node.create_client(EStop, 'estop', callback_group=group)
        self._stow = node.create_client(Trigger, 'shovel/stow', callback_group=group)
        self._shovel_clear = node.create_client(Trigger, 'shovel/clear_fault',
                                                callback_group=group)
        self._drive_clear = node.create_client(Trigger, 'drive/clear_fault',
                                               callback_group=group)
        self._motion_goals = _Goals()
        self._shovel_goals = _Goals()
        node.create_subscription(DriveStatus, 'drive/status', self._on_drive_status,
                                 LATCHED_QOS, callback_group=group)
        node.create_subscription(Odometry, 'odom', self._on_odom, COMMAND_QOS,
                                 callback_group=group)
        node.create_subscription(ShovelState, 'shovel/state', self._on_shovel_state,
                                 LATCHED_QOS, callback_group=group)
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10,
                                 callback_group=group)

    def run_pending(self) -> None:
        """Send what the bridge asked for since the last call (executor thread)."""
        while True:
            try:
                work = self._work.get_nowait()
            except queue.Empty:
                return
            work()

    # -- subscriptions: store only -------------------------------------------------------

    def _on_drive_status(self, msg: DriveStatus) -> None:
        with self._lock:
            self._drive_status = msg

    def _on_odom(self, msg: Odometry) -> None:
        with self._lock:
            self._odom = msg

    def _on_shovel_state(self, msg: ShovelState) -> None:
        with self._lock:
            self._shovel_state = msg

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        own = self._node.get_fully_qualified_name().lstrip('/')
        with self._lock:
            for status in msg.status:
                if not status.name.startswith(own):
                    self._diagnostics[status.name] = int.from_bytes(status.level, 'big') \
                        if isinstance(status.level, bytes) else int(status.level)

    # -- RoverPort -----------------------------------------------------------------------

    def drive_distance(self, distance: float, speed: float, done: Completion) -> None:
        """Send a drive_distance goal."""
        goal = DriveDistance.Goal(distance=float(distance), speed=float(speed))
        self._send('drive_distance', self._drive, goal, done, self._motion_goals,
                   progress=lambda fb: fb.progress,
                   finish=lambda r: MotionResult(r.distance_travelled), errors=DRIVE_ERRORS)

    def turn(self, angle: float, rate: float, done: Completion) -> None:
        """Send a turn goal."""
        goal = Turn.Goal(angle=float(angle), angular_speed=float(rate))
        self._send('turn', self._turn, goal, done, self._motion_goals,
                   progress=lambda fb: fb.progress,
                   finish=lambda r: MotionResult(r.angle_turned), errors=DRIVE_ERRORS)

    def stop(self, done: Completion) -> None:
        """Cancel the running drive and turn goals (the drive ramps to rest)."""
        self._cancel_all(self._motion_goals, done)

    def set_estop(self, engage: bool, reason: str, done: Completion) -> None:
        """
        Call the estop service now, from the bridge thread, not at the next work timer.

        Link-loss safing must not wait up to WORK_PERIOD: the drive's service callback writes
        zero to the wheels at once. rclpy's ``call_async`` is thread-safe (Jazzy).
        """
        self._call_now(self._estop, EStop.Request(engage=engage, reason=reason), done)

    def move_shovel(self, pose: ShovelPose, angle: float, max_velocity: float,
                    done: Completion) -> None:
        """Send a shovel/move goal."""
        goal = MoveShovel.Goal(named_pose=pose.ros_name, target_angle=float(angle),
                               max_velocity=float(max_velocity))
        self._send('shovel/move', self._move, goal, done, self._shovel_goals,
                   progress=lambda fb: fb.progress,
                   finish=lambda r: MotionResult(r.final_angle), errors=SHOVEL_ERRORS)

    def stow_shovel(self, done: Completion) -> None:
        """Call shovel/stow."""
        self._call(self._stow, Trigger.Request(), done)

    def hold_shovel(self, done: Completion) -> None:
        """Cancel the shovel's goals: it ends them safely and holds."""
        self._cancel_all(self._shovel_goals, done)

    def collect_sample(self, dig_distance: float, dump_after: bool, command_id: str,
                       done: Completion) -> None:
        """Send a shovel/collect_sample goal; its phases become progress steps."""
        goal = CollectSample.Goal(dig_distance=float(dig_distance), dump_after=dump_after,
                                  command_id=command_id)
        self._send('shovel/collect_sample', self._sample, goal, done, self._shovel_goals,
                   progress=lambda fb: fb.progress, step=lambda fb: int(fb.phase),
                   finish=lambda r: SampleResult(r.evidence_product_id,
                                                 tuple(r.image_product_ids),
                                                 r.fill_estimate_kg, r.fill_estimate_sigma_kg),
                   errors=SAMPLE_ERRORS)

    def capture(self, camera: Camera, jpeg_quality: int, thumbnail_width: int,
                command_id: str, done: Completion) -> None:
        """Send a capture goal."""
        goal = CaptureImage.Goal(camera=int(camera), jpeg_quality=int(jpeg_quality),
                                 thumbnail_width=int(thumbnail_width), command_id=command_id)
        self._send('capture', self._capture, goal, done, None,
                   progress=lambda fb: fb.images_done / max(fb.images_total, 1),
                   finish=lambda r: CaptureResult(tuple(r.product_ids),
                                                  tuple(r.thumbnail_ids)),
                   errors=CAPTURE_ERRORS)

    def clear_fault(self, target: FaultTarget, done: Completion) -> None:
        """Call drive/clear_fault and/or shovel/clear_fault."""
        clients = {FaultTarget.DRIVE: [self._drive_clear],
                   FaultTarget.SHOVEL: [self._shovel_clear],
                   FaultTarget.ALL: [self._drive_clear, self._shovel_clear]}[target]
        joined = _Joined(len(clients), done)
        for client in clients:
            self._call(client, Trigger.Request(), joined.part())

    def telemetry(self) -> RoverTelemetry:
        """Return the latest state the subscriptions stored."""
        with self._lock:
            status, odom, shovel = self._drive_status, self._odom, self._shovel_state
            levels = list(self._diagnostics.values())
        return RoverTelemetry(
            mobility_from_msgs(status, odom), shovel_from_msg(shovel),
            status.fault_reason if status is not None else '',
            shovel.fault_reason if shovel is not None else '',
            diagnostics_level=max(levels, default=0),
            diagnostics_errors=sum(1 for level in levels if level >= int(Level.ERROR)))

    # -- plumbing ------------------------------------------------------------------------

    def _send(self, name: str, client: ActionClient, goal, done: Completion,
              goals: Optional[_Goals], *, progress: Callable, finish: Callable, errors: dict,
              step: Optional[Callable] = None) -> None:
        self._work.put(lambda: self._send_now(name, client, goal, done, goals, progress,
                                              finish, errors, step))

    def _send_now(self, name: str, client: ActionClient, goal, done: Completion,
                  goals: Optional[_Goals], progress: Callable, finish: Callable, errors: dict,
                  step: Optional[Callable]) -> None:
        if not client.server_is_ready():
            done.fail(ErrorCode.UNAVAILABLE, f'{name} action server is not available')
            return

        def on_feedback(message) -> None:
            feedback = message.feedback
            done.progress(float(progress(feedback)),
                          step(feedback) if step is not None else None)

        def on_result(future) -> None:
            if goals is not None:
                goals.remove(done.key)
            response = future.result()
            result = response.result
            if response.status == GoalStatus.STATUS_SUCCEEDED and result.error_code == 0:
                done.succeed(finish(result))
            elif response.status == GoalStatus.STATUS_CANCELED:
                done.fail(ErrorCode.CANCELED, result.message or f'{name} goal canceled')
            else:
                done.fail(error_code_of(errors, result.error_code),
                          result.message or f'{name} ended with status {response.status}')

        def on_goal(future) -> None:
            handle = future.result()
            if not handle.accepted:
                done.fail(ErrorCode.EXECUTION_FAILED, f'{name} refused the goal')
                return
            if goals is not None:
                goals.add(done.key, handle)
            handle.get_result_async().add_done_callback(on_result)

        client.send_goal_async(goal, feedback_callback=on_feedback).add_done_callback(on_goal)

    def _call(self, client, request, done: Completion) -> None:
        self._work.put(lambda: self._call_now(client, request, done))

    def _call_now(self, client, request, done: Completion) -> None:
        if not client.service_is_ready():
            done.fail(ErrorCode.UNAVAILABLE, f'{client.srv_name} service is not available')
            return

        def on_response(future) -> None:
            response = future.result()
            if response.success:
                done.succeed()
            else:
                done.fail(ErrorCode.EXECUTION_FAILED,
                          response.message or f'{client.srv_name} refused')

        client.call_async(request).add_done_callback(on_response)

    def cancel_all(self) -> None:
        """Cancel every goal the bridge started (shutdown: nothing keeps moving for it)."""
        for handle in self._motion_goals.handles() + self._shovel_goals.handles():
            handle.cancel_goal_async().add_done_callback(_retrieve)

    def _cancel_all(self, goals: _Goals, done: Completion) -> None:
        self._work.put(lambda: self._cancel_now(goals, done))

    def _cancel_now(self, goals: _Goals, done: Completion) -> None:
        handles = goals.handles()
        if not handles:
            done.succeed()
            return
        joined = _Joined(len(handles), done)
        for handle in handles:
            part = joined.part()
            handle.cancel_goal_async().add_done_callback(lambda _f, p=part: p.succeed())


def _retrieve(future) -> None:
    """Take a shutdown-time future's outcome (the node may be gone before the answer)."""
    future.exception()


class _Joined:
    """Completes ``done`` once ``count`` sub-operations have; fails with the first failure."""

    def __init__(self, count: int, done: Completion) -> None:
        self._left = count
        self._done = done
        self._lock = threading.Lock()
        self._failures: List[str] = []
        self._code = ErrorCode.EXECUTION_FAILED

    def part(self) -> Completion:
        """Return a completion for one sub-operation."""
        return Completion(self._done.key, self._on_part)

    def _on_part(self, event: PortEvent) -> None:
        if event.kind is PortEventKind.PROGRESS:
            return
        with self._lock:
            self._left -= 1
            if event.kind is PortEventKind.FAILED:
                self._failures.append(event.reason)
                self._code = event.code
            finished = self._left == 0
        if finished:
            if self._failures:
                self._done.fail(self._code, '; '.join(self._failures))
            else:
                self._done.succeed()


# -- the node ----------------------------------------------------------------------------

class LanderBridgeNode(RoverNode):
    """The lander bridge on ROS 2: the core in its thread, the rover port on actions."""

    def __init__(self, **kwargs) -> None:
        super().__init__('lander_bridge', TABLE, **kwargs)
        self._group = ReentrantCallbackGroup()
        self._port = RosRoverPort(self, self._group)
        params = self.params
        self._transport = _TRANSPORTS[str(params['transport'])]
        self._stack = BridgeStack(params, self._port, clock=time.monotonic)
        self._status_pub = self.create_publisher(LinkStatus, 'lander_bridge/link_status',
                                                 LATCHED_QOS)
        self.create_timer(1.0, self._on_status_timer,
                          callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(WORK_PERIOD, self._port.run_pending,
                          callback_group=MutuallyExclusiveCallbackGroup())
        self._stack.start()
        self.get_logger().info(
            f'lander bridge up: {params["transport"]} link, key {params["key_file"]}, '
            f'state in {params["state_dir"]}, products in {params["product_dir"]}')

    def on_parameters_changed(self, changed: Dict[str, ParamValue]) -> None:
        """Hand the new tunables to the bridge thread."""
        self._stack.bridge.schedule_reconfigure(bridge_config(self.params))

    def _on_status_timer(self) -> None:
        snapshot = self._stack.bridge.snapshot()
        self._status_pub.publish(link_status_to_msg(snapshot, self._transport,
                                                    self.get_clock().now().to_msg()))
        runner = self._stack.runner
        values = {'seconds_since_contact': f'{snapshot.seconds_since_contact:.1f}',
                  'tc_accepted': str(snapshot.tc_accepted),
                  'tc_rejected': str(snapshot.tc_rejected),
                  'tc_auth_failures': str(snapshot.tc_auth_failures),
                  'tm_backlog': str(snapshot.tm_backlog),
                  'transport_errors': str(runner.transport_errors)}
        level = _HEALTH[snapshot.state]
        message = {LinkState.UP: 'link up', LinkState.DOWN: 'no contact with the ground',
                   LinkState.SAFED: 'safed after link loss: waiting for RELEASE'}[snapshot.state]
        values['loop_faults'] = str(snapshot.loop_faults)
        if runner.fatal is not None:
            self.publish_health([HealthReport('link', Level.ERROR, 'bridge loop failed', values)])
            # Raised into the executor: run_until_stopped stops the node and re-raises, so the
            # process exits non-zero and launch respawn / systemd restarts it. The runner has
            # already commanded the stop through the rover port.
            raise BridgeLoopFailed(f'the lander bridge loop failed: {runner.fatal!r}')
        if not runner.running:
            level, message = Level.ERROR, 'bridge loop stopped'
        elif runner.last_error and snapshot.state is not LinkState.UP:
            message += f' (transport: {runner.last_error})'
        self.publish_health([HealthReport('link', level, message, values)])

    def release(self) -> None:
        """Stop the bridge thread, cancel every goal it started, close the link and stores."""
        self._stack.close()
        self._port.cancel_all()


def main(args=None) -> None:
    """Run the lander_bridge node; at the end its goals are cancelled and the link closed."""
    run_until_stopped(LanderBridgeNode, name='lander_bridge', args=args,
                      startup_errors=(KeyFileError, StoreError, TransportError, ValueError))


if __name__ == '__main__':
    main()
