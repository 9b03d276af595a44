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
Value types of the shovel core: enums, the joint reading, the shovel state and job results.

The enum values are the constants of ``rover_interfaces`` (ShovelState, MoveShovel,
CollectSample), so the node converts by ``int()``; a test parses the interface files and
fails if the two drift apart.
"""

from dataclasses import dataclass
import enum
from typing import Optional, Tuple

#: Joint names and pose names users rely on (docs/interfaces.md).
JOINT_NAME = 'shovel_joint'


class NamedPose(str, enum.Enum):
    """The named shovel poses (MoveShovel POSE_ constants); each is a parameter in rad."""

    STOWED = 'stowed'
    TRAVEL = 'travel'
    READY = 'ready'
    DIG = 'dig'
    HOLD = 'hold'
    DUMP = 'dump'


class DrivePermission(enum.IntEnum):
    """What the shovel allows the drive (ShovelState DRIVE_ constants)."""

    ALLOWED = 0
    CREEP_ONLY = 1
    FORBIDDEN = 2


class Fault(enum.IntEnum):
    """Latched shovel faults (ShovelState FAULT_ constants)."""

    NONE = 0
    STALL = 1
    OVERCURRENT = 2
    POSITION_ERROR = 3
    SENSOR_RANGE = 4
    COMMUNICATION = 5


class Activity(enum.IntEnum):
    """What the shovel is doing (ShovelState ACTIVITY_ constants)."""

    IDLE = 0
    MOVING = 1
    COLLECTING = 2
    HOLDING = 3


class Phase(enum.IntEnum):
    """Phases of the sample sequence (CollectSample.Feedback PHASE_ constants)."""

    CHECK_PRECONDITIONS = 0
    UNSTOW = 1
    LOWER = 2
    DIG = 3
    LIFT = 4
    CAPTURE = 5
    HOLD = 6
    DUMP = 7
    STOW = 8
    DONE = 9
    SAFING = 10


class MoveError(enum.IntEnum):
    """Outcome of a joint move (MoveShovel.Result ERROR_ constants)."""

    NONE = 0
    CANCELED = 1
    PREEMPTED = 2
    TIMEOUT = 3
    FAULT = 4
    INVALID_GOAL = 5
    ESTOP = 6


class SampleError(enum.IntEnum):
    """Outcome of a sample collection (CollectSample.Result ERROR_ constants)."""

    NONE = 0
    CANCELED = 1
    PREEMPTED = 2
    TIMEOUT = 3
    FAULT = 4
    PRECONDITION = 5
    DRIVE = 6
    CAPTURE = 7
    INVALID_GOAL = 8
    ESTOP = 9


class GoalRejected(ValueError):
    """A move or sample request was refused before anything moved; the message says why."""


class ActuatorError(RuntimeError):
    """The joint actuator could not be read or commanded (timeout, checksum, lost link)."""


@dataclass(frozen=True)
class JointReading:
    """
    One measurement of shovel_joint from the backend.

    ``current`` is signed (A): positive drives the joint positive (lowering). While the motor
    lifts a load against lunar gravity the current is negative; NaN when the backend measures
    none (Gazebo): the fill estimate and the current checks then do not run.
    ``hardware_fault`` is set when the device itself reports an error (e.g. the Dynamixel
    hardware error status): the fault kind and a reason.
    """

    stamp: float
    angle: float
    velocity: float
    current: float
    hardware_fault: Optional[Tuple[Fault, str]] = None


@dataclass(frozen=True)
class ShovelStatus:
    """The ShovelState equivalent: what the shovel is, does, and permits the drive."""

    stamp: float
    angle: float
    velocity: float
    current: float
    target_angle: float
    pose: str
    activity: Activity
    drive_permission: DrivePermission
    fault: Fault
    fault_reason: str


@dataclass(frozen=True)
class MoveResult:
    """Result of a joint move (MoveShovel.Result)."""

    error: MoveError
    message: str
    final_angle: float


@dataclass(frozen=True)
class SampleResult:
    """Result of a sample collection (CollectSample.Result)."""

    error: SampleError
    message: str
    final_phase: Phase
    evidence_product_id: str = ''
    image_product_ids: Tuple[str, ...] = ()
    fill_estimate_kg: float = float('nan')
    fill_estimate_sigma_kg: float = float('nan')


@dataclass(frozen=True)
class JobFeedback:
    """Feedback of a running job; ``phase`` is None for a plain move."""

    progress: float
    angle: float
    current: float
    phase: Optional[Phase] = None


@dataclass(frozen=True)
class SampleRequest:
    """
    A request to collect a sample (CollectSample goal).

    :param dig_distance: creep distance while digging (m, > 0); 0 uses the configured default.
    :param dump_after: dump the sample and stow after the evidence is captured.
    :param command_id: id of the command that asked for it (kept in the evidence).
    """

    dig_distance: float = 0.0
    dump_after: bool = False
    command_id: str = ''


@dataclass
class JobView:
    """
    What a caller can see of a job: running or done, its feedback and its result.

    ``phases`` lists every phase a sample job has entered so far, in order, so a caller
    that polls slower than the control loop still reports each phase.
    """

    job_id: int
    kind: str
    feedback: JobFeedback
    result: Optional[object] = None
    phases: Tuple[Phase, ...] = ()

    @property
    def done(self) -> bool:
        """Return True once the job has a result."""
        return self.result is not None
