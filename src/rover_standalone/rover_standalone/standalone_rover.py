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
The standalone rover: drive, shovel and cameras in fake mode in one process, without ROS.

:class:`StandaloneRover` wires the ROS-free cores the ROS nodes use (``DriveController``,
``ShovelController``, ``CameraRig``) around one product store, steps them in one loop, and
implements the lander bridge's :class:`~rover_lander_bridge.rover_port.RoverPort`, so the
bridge commands it exactly as it commands the ROS nodes. It also implements the shovel's
drive and camera ports on the drive core and the camera rig (the shovel creeps the rover
while it digs and photographs the sample). ``rover-standalone`` (:func:`main`) runs it behind
the bridge on a UDP or serial link: the ground tool can then operate a simulated rover over
an emulated lander link on any machine.

Time: the cores run on a simulated clock advanced by a fixed step (``1 / control_rate``);
``time_scale`` > 1 runs it faster than the wall clock (tests, quick demos). Product stamps
and telemetry stamps stay UTC wall time.
"""

import argparse
from concurrent.futures import Future, ThreadPoolExecutor
import logging
import math
from pathlib import Path
import signal
import sys
import threading
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from rover_cams.rig import CameraRig, CaptureFailed, InvalidCaptureRequest
from rover_common.health import Level, worst
from rover_common.param_spec import ParameterError, ParamValue
from rover_common.product_store import ProductStore
from rover_drive.backends.factory import create_backend
from rover_drive.bounded_moves import GoalRejected as DriveGoalRejected
from rover_drive.drive_controller import DriveController, FaultClearError
from rover_drive.parameters import DRIVE_PARAMETERS
from rover_lander_bridge.params import TABLE
from rover_lander_bridge.product_slot import ProductSlot
from rover_lander_bridge.rover_port import (Completion, DRIVE_ERRORS, error_code_of,
                                            RoverTelemetry, SAMPLE_ERRORS, SHOVEL_ERRORS,
                                            shovel_pose_code)
from rover_lander_bridge.runner import BridgeStack
from rover_link.protocol import Camera, ErrorCode, FaultTarget, ShovelPose
from rover_link.security import KeyFileError
from rover_link.telemetry import CaptureResult, MobilityHk, MotionResult, SampleResult, ShovelHk
from rover_link.transports import TransportError
from rover_shovel.backends import fake_actuator
from rover_shovel.config import PARAMS as SHOVEL_PARAMETERS, ShovelConfig
from rover_shovel.controller import ShovelController
from rover_shovel.ports import (CaptureJob, DriveJob, DriveSnapshot, JobState, PortError,
                                RoverPose)
from rover_shovel.shovel_types import GoalRejected as ShovelGoalRejected, SampleRequest

_LOGGER = logging.getLogger(__name__)
#: Exit code of rover-standalone for a bad command line, key file or link address.
EXIT_USAGE = 3
#: Exit code of rover-standalone when the bridge loop could not go on (rover stopped first).
EXIT_LOOP_FAILED = 4
_CAMERA_NAMES = {Camera.LEFT: 'left', Camera.RIGHT: 'right', Camera.BOTH: 'both'}


def _pose(x: float, y: float, yaw: float, stamp: float) -> RoverPose:
    return RoverPose(x, y, 0.0, 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0),
                     stamp=stamp)


class _CoreDrivePort:
    """The shovel's DrivePort on the drive core (creep moves, status, pose)."""

    def __init__(self, rover: 'StandaloneRover') -> None:
        self._rover = rover
        self._move: Optional[int] = None

    def snapshot(self) -> Optional[DriveSnapshot]:
        rover = self._rover
        status, odom = rover.drive.status, rover.drive.odometry
        reason = status.estop_reason if status.estop_latched else status.fault_reason
        return DriveSnapshot(stamp=rover.now, stopped=status.stopped,
                             estop_latched=status.estop_latched,
                             fault_latched=status.fault_latched, reason=reason,
                             pose=_pose(odom.pose.x, odom.pose.y, odom.pose.yaw, rover.now))

    def ready(self) -> bool:
        return True

    def start_creep(self, distance: float, speed: float) -> None:
        try:
            self._move = self._rover.drive.start_drive_distance(distance, speed,
                                                                now=self._rover.now)
        except DriveGoalRejected as err:
            raise PortError(f'creep refused by the drive: {err.reason}') from err

    def creep_status(self) -> DriveJob:
        if self._move is None:
            return DriveJob(JobState.IDLE)
        progress = self._rover.drive.move_progress(self._move)
        if not progress.done:
            return DriveJob(JobState.RUNNING, '', progress.achieved)
        state = JobState.SUCCEEDED if progress.error == 0 else (
            JobState.CANCELED if progress.error == 1 else JobState.FAILED)
        return DriveJob(state, progress.message, progress.achieved)

    def stop(self) -> None:
        if self._move is not None:
            self._rover.drive.cancel_move(self._move, now=self._rover.now)


class _CoreCameraPort:
    """The shovel's CameraPort on the camera rig (captures run on the capture thread)."""

    def __init__(self, rover: 'StandaloneRover') -> None:
        self._rover = rover
        self._future: Optional[Future] = None
        self._command_id = ''

    def ready(self) -> bool:
        return True

    def start_capture(self, camera: str, command_id: str) -> None:
        self._command_id = command_id
        self._future = self._rover.submit_capture(camera, 0, 0, command_id)

    def capture_status(self) -> CaptureJob:
        future = self._future
        if future is None:
            return CaptureJob(JobState.IDLE)
        if not future.done():
            return CaptureJob(JobState.RUNNING, command_id=self._command_id)
        if future.cancelled():
            return CaptureJob(JobState.CANCELED, 'canceled', command_id=self._command_id)
        error = future.exception()
        if error is not None:
            return CaptureJob(JobState.FAILED, str(error), command_id=self._command_id)
        ids = tuple(c.image.id for c in future.result())
        return CaptureJob(JobState.SUCCEEDED, '', ids, self._command_id)

    def cancel_capture(self) -> None:
        if self._future is not None:
            self._future.cancel()


class _Operation:
    """One bridge request being executed by a core: how to poll it and how to report it."""

    def __init__(self, poll: Callable[[], bool], done: Completion) -> None:
        self.poll = poll
        self.done = done


class StandaloneRover:
    """
    Drive, shovel and cameras (fake backends) stepped together; the bridge's rover port.

    :param products: the product store captures and evidence go to, or the slot that stands
        in for it while it is unavailable (captures and samples then fail with the reason).
    :param drive_params: drive parameter overrides (the backend is always fake).
    :param shovel_params: shovel parameter overrides (the backend is always fake).
    :param seed: seed of the fake cameras.
    :param image_size: (width, height) of the fake camera frames.
    :param now: start time of the simulated clock (s).
    """

    def __init__(self, products: Union[ProductStore, ProductSlot], *,
                 drive_params: Optional[Mapping[str, ParamValue]] = None,
                 shovel_params: Optional[Mapping[str, ParamValue]] = None, seed: int = 0,
                 image_size: Tuple[int, int] = (1280, 720), now: float = 0.0) -> None:
        self._lock = threading.RLock()
        self.now = now
        drive_values = DRIVE_PARAMETERS.validated(dict(drive_params or {}, backend='fake'))
        shovel_values = SHOVEL_PARAMETERS.validated(dict(shovel_params or {}, backend='fake'))
        self.period = 1.0 / float(drive_values['control_rate'])
        self.products = products
        self.drive = DriveController(drive_values, create_backend(drive_values), now=now)
        self.rig = CameraRig.fake(products, width=image_size[0], height=image_size[1],
                                  seed=seed)
        self._captures = ThreadPoolExecutor(max_workers=1, thread_name_prefix='capture')
        self.shovel = ShovelController(
            ShovelConfig.from_params(shovel_values),
            fake_actuator(shovel_values, start_time=now), _CoreDrivePort(self),
            _CoreCameraPort(self), products)
        self._operations: List[_Operation] = []
        self.shovel.step(now)
        self.drive.set_shovel_permission(int(self.shovel.status.drive_permission))
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()

    # -- the loop ----------------------------------------------------------------------

    def step(self) -> None:
        """Advance the simulated clock by one period and step every core."""
        with self._lock:
            self.now += self.period
            self.drive.set_shovel_permission(int(self.shovel.status.drive_permission))
            self.drive.step(self.now)
            self.shovel.step(self.now)
            self._operations = [op for op in self._operations if not op.poll()]

    def start(self, time_scale: float = 1.0) -> 'StandaloneRover':
        """Step in a thread, ``time_scale`` simulated seconds per wall second."""
        if not time_scale > 0.0:
            raise ValueError(f'time_scale must be > 0, got {time_scale}')
        self._thread = threading.Thread(target=self._run, args=(time_scale,),
                                        name='standalone-rover', daemon=True)
        self._thread.start()
        return self

    def _run(self, time_scale: float) -> None:
        wall_period = self.period / time_scale
        next_step = time.monotonic()
        while not self._stop.is_set():
            self.step()
            next_step += wall_period
            delay = next_step - time.monotonic()
            if delay > 0.0:
                self._stop.wait(delay)
            elif delay < -1.0:
                next_step = time.monotonic()

    def close(self) -> None:
        """Stop the loop, stop the wheels, hold the shovel, release the devices."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        with self._lock:
            self.drive.stop()
            self.shovel.shutdown(self.now)
            self._captures.shutdown(wait=True, cancel_futures=True)
            self.rig.close()
            self.drive.close()

    def submit_capture(self, camera: str, quality: int, width: int,
                       command_id: str) -> Future:
        """Run a capture on the capture thread; return its future (list of captures)."""
        odom = self.drive.odometry
        pose = _pose(odom.pose.x, odom.pose.y, odom.pose.yaw, self.now).as_dict()
        return self._captures.submit(self.rig.capture, camera, quality=quality,
                                     thumbnail_width=width, command_id=command_id, pose=pose)

    # -- RoverPort -----------------------------------------------------------------------

    def drive_distance(self, distance: float, speed: float, done: Completion) -> None:
        """Start a bounded straight move."""
        with self._lock:
            self._start_move(lambda: self.drive.start_drive_distance(distance, speed,
                                                                     now=self.now), done)

    def turn(self, angle: float, rate: float, done: Completion) -> None:
        """Start a turn in place."""
        with self._lock:
            self._start_move(lambda: self.drive.start_turn(angle, rate, now=self.now), done)

    def stop(self, done: Completion) -> None:
        """End the running move; the drive ramps to rest."""
        with self._lock:
            self.drive.cancel_move(now=self.now)
        done.succeed()

    def set_estop(self, engage: bool, reason: str, done: Completion) -> None:
        """Latch or release the e-stop: zero to the wheels inside the call, the shovel holds."""
        with self._lock:
            if engage:
                self.drive.engage_estop(reason, now=self.now)
            else:
                self.drive.release_estop(now=self.now)
        done.succeed()

    def move_shovel(self, pose: ShovelPose, angle: float, max_velocity: float,
                    done: Completion) -> None:
        """Start a shovel move to a named pose or an angle."""
        target = angle if pose is ShovelPose.ANGLE else pose.ros_name
        with self._lock:
            self._start_shovel_job(lambda: self.shovel.move_to(target,
                                                               max_velocity=max_velocity),
                                   done)

    def stow_shovel(self, done: Completion) -> None:
        """Start the stow move."""
        with self._lock:
            self._start_shovel_job(self.shovel.stow, done)

    def hold_shovel(self, done: Completion) -> None:
        """End the shovel's job and hold the joint where it is."""
        with self._lock:
            self.shovel.cancel()
            self.shovel.hold()
        done.succeed()

    def collect_sample(self, dig_distance: float, dump_after: bool, command_id: str,
                       done: Completion) -> None:
        """Start the sample sequence."""
        request = SampleRequest(dig_distance, dump_after, command_id)
        with self._lock:
            self._start_shovel_job(lambda: self.shovel.start_collect_sample(request), done,
                                   sample=True)

    def capture(self, camera: Camera, jpeg_quality: int, thumbnail_width: int,
                command_id: str, done: Completion) -> None:
        """Capture stills into the product store on the capture thread."""
        with self._lock:
            future = self.submit_capture(_CAMERA_NAMES[Camera(camera)], jpeg_quality,
                                         thumbnail_width, command_id)

            def poll() -> bool:
                if not future.done():
                    return False
                error = future.exception()
                if isinstance(error, InvalidCaptureRequest):
                    done.fail(ErrorCode.ARGUMENT_OUT_OF_RANGE, str(error))
                elif isinstance(error, CaptureFailed):
                    done.fail(ErrorCode.EXECUTION_FAILED, str(error))
                elif error is not None:
                    done.fail(ErrorCode.EXECUTION_FAILED, f'capture failed: {error}')
                else:
                    captures = future.result()
                    done.succeed(CaptureResult(tuple(c.image.id for c in captures),
                                               tuple(c.thumbnail.id for c in captures)))
                return True

            self._operations.append(_Operation(poll, done))

    def clear_fault(self, target: FaultTarget, done: Completion) -> None:
        """Clear the drive's and/or the shovel's latched fault."""
        problems = []
        with self._lock:
            if target in (FaultTarget.DRIVE, FaultTarget.ALL):
                try:
                    self.drive.clear_fault(now=self.now)
                except FaultClearError as err:
                    problems.append(f'drive: {err}')
            if target in (FaultTarget.SHOVEL, FaultTarget.ALL):
                reason = self.shovel.clear_fault(self.now)
                if reason is not None:
                    problems.append(f'shovel: {reason}')
        if problems:
            done.fail(ErrorCode.FAULT, '; '.join(problems))
        else:
            done.succeed()

    def telemetry(self) -> RoverTelemetry:
        """Return the cores' latest state."""
        with self._lock:
            status, odom, shovel = self.drive.status, self.drive.odometry, self.shovel.status
            health = self.drive.health(self.now) + self.shovel.health()
        mobility = MobilityHk(odom.pose.x, odom.pose.y, odom.pose.yaw, status.measured_linear,
                              status.measured_angular, int(status.mode), status.estop_latched,
                              status.fault_latched, status.stopped)
        shovel_hk = ShovelHk(shovel.angle, shovel.current, shovel.target_angle,
                             int(shovel.activity), int(shovel.drive_permission),
                             int(shovel.fault), shovel_pose_code(shovel.pose))
        return RoverTelemetry(mobility, shovel_hk, status.fault_reason, shovel.fault_reason,
                              diagnostics_level=int(worst(health)),
                              diagnostics_errors=sum(r.level >= Level.ERROR for r in health))

    # -- internals -----------------------------------------------------------------------

    def _start_move(self, start: Callable[[], int], done: Completion) -> None:
        try:
            move_id = start()
        except DriveGoalRejected as err:
            done.fail(error_code_of(DRIVE_ERRORS, err.error_code), err.reason)
            return

        def poll() -> bool:
            progress = self.drive.move_progress(move_id)
            if not progress.done:
                done.progress(progress.progress)
                return False
            if progress.error == 0:
                done.succeed(MotionResult(progress.achieved))
            else:
                done.fail(error_code_of(DRIVE_ERRORS, progress.error), progress.message)
            return True

        self._operations.append(_Operation(poll, done))

    def _start_shovel_job(self, start: Callable[[], int], done: Completion, *,
                          sample: bool = False) -> None:
        try:
            job_id = start()
        except ShovelGoalRejected as err:
            done.fail(ErrorCode.ARGUMENT_OUT_OF_RANGE, str(err))
            return

        def poll() -> bool:
            view = self.shovel.job(job_id)
            if view.result is None:
                done.progress(view.feedback.progress,
                              int(view.feedback.phase) if view.feedback.phase is not None
                              else None)
                return False
            result = view.result
            if int(result.error) != 0:
                table = SAMPLE_ERRORS if sample else SHOVEL_ERRORS
                done.fail(error_code_of(table, result.error), result.message)
            elif sample:
                done.succeed(SampleResult(result.evidence_product_id,
                                          tuple(result.image_product_ids),
                                          result.fill_estimate_kg,
                                          result.fill_estimate_sigma_kg))
            else:
                done.succeed(MotionResult(result.final_angle))
            return True

        self._operations.append(_Operation(poll, done))


# -- the program ---------------------------------------------------------------------------


def _overrides(pairs: Sequence[str]) -> Dict[str, ParamValue]:
    values: Dict[str, ParamValue] = {}
    for pair in pairs:
        name, sep, text = pair.partition('=')
        if not sep:
            raise ParameterError(f'--param expects NAME=VALUE, got {pair!r}')
        default = TABLE[name].default
        if isinstance(default, bool):
            values[name] = text.lower() in ('1', 'true', 'yes')
        elif isinstance(default, int):
            values[name] = int(text)
        elif isinstance(default, float):
            values[name] = float(text)
        else:
            values[name] = text
    return values


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of rover-standalone."""
    parser = argparse.ArgumentParser(
        prog='rover-standalone',
        description='The fake rover (drive, shovel, cameras) behind the lander bridge, '
                    'without ROS. Operate it with rover-ground.')
    parser.add_argument('--key', required=True, help='uplink key file (64 hex digits)')
    parser.add_argument('--state-dir', default='~/.rover-standalone/state',
                        help='anti-replay window, telemetry store, downlink queue')
    parser.add_argument('--product-dir', default='~/.rover-standalone/products',
                        help='the product store')
    parser.add_argument('--local', default='127.0.0.1:10017',
                        help='UDP address the bridge binds (uplink arrives here)')
    parser.add_argument('--remote', default='127.0.0.1:10010',
                        help='UDP address of the lander relay / link emulator')
    parser.add_argument('--serial', help='use this serial device instead of UDP')
    parser.add_argument('--baudrate', type=int, default=115200)
    parser.add_argument('--time-scale', type=float, default=1.0,
                        help='simulated seconds per wall second (1: real time)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the fake cameras')
    parser.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                        help='a lander_bridge parameter (docs/interfaces.md); repeatable')
    parser.add_argument('--verbose', action='store_true')
    return parser


def parameter_values(args: argparse.Namespace) -> Dict[str, ParamValue]:
    """Return the validated bridge parameters of the command line."""
    local_host, _, local_port = args.local.rpartition(':')
    remote_host, _, remote_port = args.remote.rpartition(':')
    values: Dict[str, ParamValue] = {
        'key_file': args.key, 'state_dir': args.state_dir, 'product_dir': args.product_dir,
        'udp_local_host': local_host, 'udp_local_port': int(local_port),
        'udp_remote_host': remote_host, 'udp_remote_port': int(remote_port)}
    if args.serial:
        values.update(transport='serial', serial_port=args.serial,
                      serial_baudrate=args.baudrate)
    values.update(_overrides(args.param))
    return TABLE.validated(values)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """
    Run the standalone rover until SIGINT/SIGTERM; return the exit code.

    0 after a signal; :data:`EXIT_USAGE` for a bad command line, key or link address;
    :data:`EXIT_LOOP_FAILED` when the bridge loop could not go on (the rover was stopped
    first). A product store or state file that cannot be opened is not an exit: the rover
    runs degraded and tells the ground.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format='%(asctime)s %(name)s: %(message)s')
    try:
        values = parameter_values(args)
    except (ParameterError, ValueError, KeyError) as err:
        print(f'rover-standalone: {err}', file=sys.stderr)
        return EXIT_USAGE
    products = ProductSlot(Path(str(values['product_dir'])).expanduser(),
                           budget_bytes=int(values['product_budget_bytes']),
                           retry_interval=float(values['store_retry_interval']))
    products.try_open()
    rover = StandaloneRover(products, seed=args.seed)
    stopping = threading.Event()
    failures: List[BaseException] = []

    def loop_failed(error: BaseException) -> None:
        failures.append(error)
        stopping.set()

    try:
        stack = BridgeStack(values, rover, products=products, on_fatal=loop_failed)
    except (KeyFileError, TransportError, ValueError) as err:
        print(f'rover-standalone: {err}', file=sys.stderr)
        rover.close()
        products.close()
        return EXIT_USAGE
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    rover.start(args.time_scale)
    stack.start()
    store = f'products in {products.root}' if products.store is not None else \
        f'product store {products.root} UNAVAILABLE ({products.problem}), retrying'
    print(f'rover-standalone: bridge on {args.serial or args.local}, downlink to '
          f'{args.remote}, {store}', flush=True)
    try:
        stopping.wait()
    finally:
        stack.close()
        rover.close()
        products.close()
    if failures:
        print(f'rover-standalone: the bridge loop failed ({type(failures[0]).__name__}: '
              f'{failures[0]}); the rover was stopped', file=sys.stderr)
        return EXIT_LOOP_FAILED
    return 0


if __name__ == '__main__':
    sys.exit(main())
