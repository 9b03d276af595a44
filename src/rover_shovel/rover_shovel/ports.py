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
The ports through which the shovel core uses the rest of the rover: joint, drive, cameras.

Every port is asynchronous and polled: the core *starts* an operation, then asks for its
status on each control step, and never blocks. So the same core runs under ROS (the node
implements the drive and camera ports with action clients on ``drive_distance`` and
``capture`` and a subscription to ``drive/status``) and in the standalone no-ROS rover (the
lander bridge implements them on the drive core and the camera rig). Implementations must
not raise from the polling methods; a start that cannot be done raises :class:`PortError`.

Times are on the controller's clock: the ``now`` passed to ``ShovelController.step``.
"""

from dataclasses import dataclass
import enum
from typing import Any, Mapping, Optional, Protocol, Tuple

from rover_shovel.shovel_types import JointReading


class PortError(RuntimeError):
    """An operation could not be started through a port (server absent, goal refused)."""


class JobState(enum.Enum):
    """State of an operation started through a port."""

    IDLE = 'idle'            # nothing started (or the last result was already consumed)
    RUNNING = 'running'      # accepted or still waiting for acceptance
    SUCCEEDED = 'succeeded'
    FAILED = 'failed'        # refused, aborted, or the server vanished
    CANCELED = 'canceled'


@dataclass(frozen=True)
class RoverPose:
    """Rover pose in a world-fixed frame (``odom`` by default): position (m), quaternion."""

    x: float
    y: float
    z: float
    qx: float
    qy: float
    qz: float
    qw: float
    frame_id: str = 'odom'
    stamp: float = 0.0

    def as_dict(self) -> dict:
        """Return the pose in the product-store metadata layout (docs/interfaces.md)."""
        return {'x': self.x, 'y': self.y, 'z': self.z, 'qx': self.qx, 'qy': self.qy,
                'qz': self.qz, 'qw': self.qw, 'frame_id': self.frame_id, 'stamp': self.stamp}


@dataclass(frozen=True)
class DriveSnapshot:
    """
    What the shovel needs to know of the drive (from ``drive/status`` and ``odom``).

    :param stamp: when this snapshot was received, on the controller's clock.
    :param stopped: the wheels are commanded to, and measured at, rest.
    :param estop_latched: the drive's e-stop is latched: the shovel holds still.
    :param fault_latched: the drive has a latched fault: no sample can start.
    :param reason: the drive's e-stop or fault reason, for messages.
    :param pose: the latest rover pose, or None when unknown.
    """

    stamp: float
    stopped: bool
    estop_latched: bool
    fault_latched: bool
    reason: str = ''
    pose: Optional[RoverPose] = None


@dataclass(frozen=True)
class DriveJob:
    """Status of the creep drive: state, message, distance so far, and its command id."""

    state: JobState
    message: str = ''
    distance_travelled: float = 0.0
    command_id: str = ''


@dataclass(frozen=True)
class CaptureJob:
    """Status of an evidence capture: state, message, stored image ids, its command id."""

    state: JobState
    message: str = ''
    product_ids: Tuple[str, ...] = ()
    command_id: str = ''


class JointActuator(Protocol):
    """
    The shovel_joint servo (hardware, gazebo or fake backend), in position mode.

    ``read`` raises :class:`rover_shovel.shovel_types.ActuatorError` when the joint cannot be read
    (the controller counts those and latches COMMUNICATION after ``comm_error_limit``).
    """

    def read(self, now: float) -> JointReading:
        """Return the measured joint state at ``now``."""

    def command(self, angle: float, now: float) -> None:
        """Send a position setpoint (rad); raises ActuatorError when it cannot be sent."""

    def reset_fault(self) -> None:
        """Clear the device's own latched error (e.g. reboot a Dynamixel), if it has one."""

    def close(self) -> None:
        """Hold still and release the device."""


class DrivePort(Protocol):
    """The drive as seen by the shovel: status, and one creep move at a time."""

    def snapshot(self) -> Optional[DriveSnapshot]:
        """Return the latest drive status, or None when none has been received."""

    def ready(self) -> bool:
        """Return True when a creep move can be started (the drive server is there)."""

    def start_creep(self, distance: float, speed: float) -> None:
        """
        Start a straight move of ``distance`` m (signed, base_link x) at ``speed`` m/s.

        :raises PortError: it cannot be started (no server); nothing moves.
        """

    def creep_status(self) -> DriveJob:
        """Return the status of the last creep move (IDLE if none)."""

    def stop(self) -> None:
        """Cancel the creep move if one runs; the rover stops. Idempotent, never raises."""


class CameraPort(Protocol):
    """The cameras as seen by the shovel: one still capture at a time."""

    def ready(self) -> bool:
        """Return True when a capture can be started (the capture server is there)."""

    def start_capture(self, camera: str, command_id: str) -> None:
        """
        Start a capture from ``left``, ``right`` or ``both``; ``command_id`` is catalogued.

        :raises PortError: it cannot be started.
        """

    def capture_status(self) -> CaptureJob:
        """Return the status of the last capture (IDLE if none)."""

    def cancel_capture(self) -> None:
        """Cancel a running capture. Idempotent, never raises."""


class StoredProduct(Protocol):
    """What the core reads back of a stored product (``rover_common`` Product)."""

    id: str  # noqa: A003 (the product store's field name)


class ProductSink(Protocol):
    """Where evidence goes: ``rover_common.product_store.ProductStore`` implements it."""

    def put(self, data: bytes, *, kind: Any, suffix: str, stamp: float, camera: str = '',
            metadata: Optional[Mapping[str, Any]] = None,
            related_id: str = '') -> StoredProduct:
        """Store ``data`` atomically and return the product (raises StoreError)."""

    def get(self, product_id: str) -> StoredProduct:
        """Return a stored product (raises UnknownProduct)."""
