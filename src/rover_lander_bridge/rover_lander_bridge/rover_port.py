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
The rover port: what the bridge core asks the rover to do, and how the rover answers.

The bridge core never knows whether it drives ROS actions or in-process cores. It calls a
:class:`RoverPort` to *start* an operation and hands it a :class:`Completion`; the port
reports progress and exactly one outcome through that handle, from any thread, whenever the
operation gets there. The handle only queues :class:`PortEvent` values; the bridge turns them
into ST[1] progress and completion reports on its own thread, in its own time. Two ports
exist: the ROS node's (action and service clients, ``lander_bridge_node.py``) and the
standalone rover's (ROS-free cores in fake mode, :mod:`rover_standalone.standalone_rover`).
"""

from dataclasses import dataclass
import enum
import math
import threading
from typing import Callable, Optional, Protocol

from rover_link.protocol import Camera, ErrorCode, FaultTarget, ShovelPose
from rover_link.telemetry import CommandResult, MobilityHk, ShovelHk


class PortEventKind(enum.Enum):
    """What a port reported about an operation."""

    PROGRESS = 'progress'
    SUCCEEDED = 'succeeded'
    FAILED = 'failed'


@dataclass(frozen=True)
class PortEvent:
    """One report of a port about the operation ``key``."""

    key: int
    kind: PortEventKind
    fraction: float = 0.0
    step: Optional[int] = None
    result: Optional[CommandResult] = None
    code: ErrorCode = ErrorCode.EXECUTION_FAILED
    reason: str = ''


class Completion:
    """
    The handle a port reports one operation through; thread-safe, first outcome wins.

    :param key: the bridge's id of the operation.
    :param sink: where events go (the bridge's thread-safe queue).
    """

    def __init__(self, key: int, sink: Callable[[PortEvent], None]) -> None:
        self._key = key
        self._sink = sink
        self._lock = threading.Lock()
        self._done = False

    @property
    def key(self) -> int:
        """Return the bridge's id of the operation."""
        return self._key

    @property
    def done(self) -> bool:
        """Return True once an outcome was reported."""
        return self._done

    def progress(self, fraction: float, step: Optional[int] = None) -> None:
        """
        Report progress: ``fraction`` of the whole in [0, 1], or a named ``step`` (a phase).

        Ignored after the outcome; the bridge decides which progress becomes a report.
        """
        if not math.isfinite(fraction):
            fraction = 0.0
        with self._lock:
            if self._done:
                return
        self._sink(PortEvent(self._key, PortEventKind.PROGRESS,
                             fraction=min(max(fraction, 0.0), 1.0), step=step))

    def succeed(self, result: Optional[CommandResult] = None) -> None:
        """Report success, with the operation's result if it has one."""
        if self._close():
            self._sink(PortEvent(self._key, PortEventKind.SUCCEEDED, fraction=1.0,
                                 result=result))

    def fail(self, code: ErrorCode, reason: str) -> None:
        """Report failure with the ST[1] error code and a reason the operator can act on."""
        if self._close():
            self._sink(PortEvent(self._key, PortEventKind.FAILED, code=ErrorCode(code),
                                 reason=reason))

    def _close(self) -> bool:
        with self._lock:
            if self._done:
                return False
            self._done = True
            return True


@dataclass(frozen=True)
class RoverTelemetry:
    """What the port knows about the rover now, for housekeeping and fault events."""

    mobility: MobilityHk
    shovel: ShovelHk
    drive_fault_reason: str = ''
    shovel_fault_reason: str = ''
    diagnostics_level: int = 0
    diagnostics_errors: int = 0


class RoverPort(Protocol):
    """
    The operations the bridge dispatches telecommands to.

    Every start method returns at once; the outcome comes later through ``done``. A method
    must not raise for a rover-side refusal: it reports ``done.fail(code, reason)`` instead.
    """

    def drive_distance(self, distance: float, speed: float, done: Completion) -> None:
        """Drive straight ``distance`` m (signed) at ``speed`` m/s."""

    def turn(self, angle: float, rate: float, done: Completion) -> None:
        """Turn in place by ``angle`` rad (CCW +) at ``rate`` rad/s."""

    def stop(self, done: Completion) -> None:
        """End any move and bring the wheels to rest at the drive's normal deceleration."""

    def set_estop(self, engage: bool, reason: str, done: Completion) -> None:
        """
        Latch (True) or release (False) the drive's emergency stop.

        Latching must reach the drive at once, not at the port's next timer or the drive's
        next step: the drive core then writes zero to the wheels inside the call and refuses
        every command until the release. Link-loss safing relies on it.
        """

    def move_shovel(self, pose: ShovelPose, angle: float, max_velocity: float,
                    done: Completion) -> None:
        """Move the shovel to a named pose, or to ``angle`` rad when ``pose`` is ANGLE."""

    def stow_shovel(self, done: Completion) -> None:
        """Stow the shovel."""

    def hold_shovel(self, done: Completion) -> None:
        """Stop the shovel where it is and hold it (link hold and link-loss safing)."""

    def collect_sample(self, dig_distance: float, dump_after: bool, command_id: str,
                       done: Completion) -> None:
        """Run the sample sequence; ``dig_distance`` 0 uses the rover's default."""

    def capture(self, camera: Camera, jpeg_quality: int, thumbnail_width: int,
                command_id: str, done: Completion) -> None:
        """Capture stills with thumbnails into the product store."""

    def clear_fault(self, target: FaultTarget, done: Completion) -> None:
        """Clear the latched fault of the drive, the shovel or both."""

    def telemetry(self) -> RoverTelemetry:
        """Return the latest known state (non-blocking)."""


#: ST[1] codes of the ``error_code`` values of DriveDistance/Turn results (rover_drive
#: MoveError has the same values).
DRIVE_ERRORS = {1: ErrorCode.CANCELED, 2: ErrorCode.PREEMPTED, 3: ErrorCode.TIMEOUT,
                4: ErrorCode.ESTOP_LATCHED, 5: ErrorCode.FAULT, 6: ErrorCode.INTERLOCK,
                7: ErrorCode.ARGUMENT_OUT_OF_RANGE}
#: ST[1] codes of MoveShovel result error codes (rover_shovel MoveError).
SHOVEL_ERRORS = {1: ErrorCode.CANCELED, 2: ErrorCode.PREEMPTED, 3: ErrorCode.TIMEOUT,
                 4: ErrorCode.FAULT, 5: ErrorCode.ARGUMENT_OUT_OF_RANGE,
                 6: ErrorCode.ESTOP_LATCHED}
#: ST[1] codes of CollectSample result error codes (rover_shovel SampleError).
SAMPLE_ERRORS = {1: ErrorCode.CANCELED, 2: ErrorCode.PREEMPTED, 3: ErrorCode.TIMEOUT,
                 4: ErrorCode.FAULT, 5: ErrorCode.EXECUTION_FAILED,
                 6: ErrorCode.EXECUTION_FAILED, 7: ErrorCode.EXECUTION_FAILED,
                 8: ErrorCode.ARGUMENT_OUT_OF_RANGE, 9: ErrorCode.ESTOP_LATCHED}
#: ST[1] codes of CaptureImage result error codes.
CAPTURE_ERRORS = {1: ErrorCode.ARGUMENT_OUT_OF_RANGE, 2: ErrorCode.EXECUTION_FAILED,
                  3: ErrorCode.STORE_ERROR, 4: ErrorCode.CANCELED}


def error_code_of(table: dict, value: int) -> ErrorCode:
    """Return the ST[1] code of an action's error code (EXECUTION_FAILED if unknown)."""
    return table.get(int(value), ErrorCode.EXECUTION_FAILED)


def shovel_pose_code(name: str) -> int:
    """Return the ShovelPose value of a named pose ('' or unknown: ANGLE, i.e. between)."""
    try:
        return int(ShovelPose[name.upper()]) if name else int(ShovelPose.ANGLE)
    except KeyError:
        return int(ShovelPose.ANGLE)
