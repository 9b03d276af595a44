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
The shovel's parameter table (one source for ROS and the standalone rover) and its config.

Angles are joint angles of ``shovel_joint`` in rad: 0 is stowed against the back panel,
positive lowers the shovel towards the ground (docs/interfaces.md). The named poses, the joint
limits and the geometry constants follow ``rover_description``'s URDF: limits 0.0 .. 2.0 rad;
the scoop is open at the far end of its arm, so its mouth faces (-sin q, 0, cos q) in
base_link: up when stowed, backwards at pi/2, down beyond (where a sample spills out); the rim
meets flat ground near 1.75 rad and is 3 cm deep at 2.0 rad. So ``hold`` keeps the mouth well
up, ``dump`` tips it down past ``spill_angle`` without reaching the dig depth, and ``dig`` puts
the rim in the regolith (test_description_geometry.py checks all of it against the URDF).
"""

from dataclasses import dataclass, fields
import math
from typing import Mapping, Optional

from rover_common.param_spec import ParamSpec, ParamTable, ParamValue

from rover_shovel.shovel_types import NamedPose, Phase

BACKENDS = ('hardware', 'gazebo', 'fake')
CAMERAS = ('left', 'right', 'both')

#: Phases that have their own timeout parameter ``timeout_<phase>``.
TIMED_PHASES = (Phase.CHECK_PRECONDITIONS, Phase.UNSTOW, Phase.LOWER, Phase.DIG, Phase.LIFT,
                Phase.CAPTURE, Phase.HOLD, Phase.DUMP, Phase.STOW, Phase.SAFING)


def _timeout_spec(phase: Phase, default: float, what: str) -> ParamSpec:
    return ParamSpec(f'timeout_{phase.name.lower()}', default,
                     f'Longest time the {phase.name.lower()} phase of collect_sample may take '
                     f'({what}); beyond it the sequence ends safe with ERROR_TIMEOUT',
                     's', 0.1, 600.0)


SPECS = (
    ParamSpec('backend', 'fake', 'Joint backend: hardware (Dynamixel bus), gazebo (ros_gz '
              'bridge topics) or fake (in-process joint model)', choices=BACKENDS,
              read_only=True),
    ParamSpec('control_rate', 20.0, 'Rate of the joint control and fault-detection loop', 'Hz',
              5.0, 100.0, read_only=True),
    ParamSpec('state_publish_rate', 5.0, 'Heartbeat rate of shovel/state; a change of '
              'activity, pose, fault or drive permission publishes at once', 'Hz', 0.5, 50.0),
    # Joint limits and motion.
    ParamSpec('lower_limit', 0.0, 'Lower joint limit (stowed against the back panel)', 'rad',
              -math.pi, math.pi),
    ParamSpec('upper_limit', 2.0, 'Upper joint limit (shovel lowest)', 'rad', -math.pi, math.pi),
    ParamSpec('max_velocity', 0.6, 'Joint speed limit of every move', 'rad/s', 0.01, 5.0),
    ParamSpec('max_acceleration', 2.0, 'Joint acceleration limit of every move', 'rad/s^2',
              0.05, 50.0),
    ParamSpec('lift_velocity', 0.25, 'Joint speed of the lift phase, slow and steady so the '
              'fill estimate sees a constant-velocity lift', 'rad/s', 0.01, 5.0),
    ParamSpec('arrival_tolerance', 0.03, 'A move has arrived when the measured angle is this '
              'close to its target', 'rad', 0.001, 0.5),
    ParamSpec('move_timeout_margin', 5.0, 'A move times out after 1.5 times its planned '
              'duration plus this margin', 's', 0.5, 120.0),
    ParamSpec('pose_stowed', 0.0, 'Named pose stowed: against the back panel', 'rad',
              -math.pi, math.pi),
    ParamSpec('pose_travel', 0.2, 'Named pose travel: clear of the panel, safe to drive', 'rad',
              -math.pi, math.pi),
    ParamSpec('pose_ready', 1.2, 'Named pose ready: scoop just above the ground, before '
              'digging', 'rad', -math.pi, math.pi),
    ParamSpec('pose_dig', 1.95, 'Named pose dig: rim about 2.5 cm deep in the regolith, mouth '
              'leading backwards (the rim meets flat ground near 1.75 rad)', 'rad',
              -math.pi, math.pi),
    ParamSpec('pose_hold', 0.8, 'Named pose hold: scoop raised, mouth about 45 degrees up so '
              'the sample stays in, in view of the cameras', 'rad', -math.pi, math.pi),
    ParamSpec('pose_dump', 1.8, 'Named pose dump: mouth tipped down past spill_angle so the '
              'sample falls out, shallower than pose_dig so it does not scoop again', 'rad',
              -math.pi, math.pi),
    ParamSpec('spill_angle', 1.65, "Scoop geometry: beyond this angle the scoop's mouth faces "
              'down (level at pi/2) and the sample falls out; pose_hold must be below it and '
              'pose_dump beyond it (the fake backend spills its sample here)', 'rad',
              -math.pi, math.pi, read_only=True),
    ParamSpec('drive_allowed_max_angle', 0.35, 'Stowed/travel range: the drive is ALLOWED '
              'while the angle and the target are at most this', 'rad', -math.pi, math.pi),
    # Fault detection.
    ParamSpec('stall_current', 0.35, 'Stall: |current| above this while the joint is not '
              'moving, for stall_time (0.35 A is 0.62 N*m, near the 0.8 N*m the shovel drive '
              'is rated for)', 'A', 0.01, 20.0),
    ParamSpec('stall_velocity', 0.05, 'Stall: the joint counts as not moving below this speed',
              'rad/s', 0.001, 1.0),
    ParamSpec('stall_time', 0.5, 'Stall: how long the stall condition must last', 's',
              0.01, 10.0),
    ParamSpec('overcurrent_limit', 0.6, 'Overcurrent: |current| above this for '
              'overcurrent_time, moving or not (beyond what the rated drive should draw)', 'A',
              0.01, 50.0),
    ParamSpec('overcurrent_time', 0.1, 'Overcurrent: how long the current must exceed the '
              'limit', 's', 0.0, 10.0),
    ParamSpec('position_error_tolerance', 0.2, 'Position error: |measured - setpoint| above '
              'this for position_error_time', 'rad', 0.005, 2.0),
    ParamSpec('position_error_time', 0.5, 'Position error: how long it must last', 's',
              0.01, 10.0),
    ParamSpec('sensor_margin', 0.15, 'Sensor range: a measured angle further than this '
              'outside the joint limits (or not finite) is a sensor fault', 'rad', 0.0, 1.0),
    ParamSpec('comm_error_limit', 5, 'Communication: this many failed reads in a row latch a '
              'fault', '', 1, 1000),
    # Sample sequence.
    ParamSpec('dig_distance', 0.10, 'Default creep distance while digging (the rover backs '
              'into the soil, shovel first)', 'm', 0.005, 2.0),
    ParamSpec('dig_max_distance', 0.30, 'Largest creep distance a collect_sample goal may ask',
              'm', 0.005, 2.0),
    ParamSpec('creep_speed', 0.02, "Drive speed while digging (within the drive's creep "
              'limit)', 'm/s', 0.001, 0.2),
    ParamSpec('drive_status_timeout', 2.0, 'drive/status older than this counts as unknown: '
              'no sample may start and a running one ends safe', 's', 0.1, 60.0),
    ParamSpec('evidence_camera', 'both', 'Cameras that photograph the collected sample',
              choices=CAMERAS),
    ParamSpec('hold_settle', 0.5, 'Time the shovel rests in the hold pose before the sequence '
              'reports done', 's', 0.0, 30.0),
    ParamSpec('dump_dwell', 2.0, 'Time the shovel rests in the dump pose so the regolith '
              'falls out', 's', 0.0, 60.0),
    _timeout_spec(Phase.CHECK_PRECONDITIONS, 5.0, 'waiting for a stopped rover and servers'),
    _timeout_spec(Phase.UNSTOW, 15.0, 'move to ready'),
    _timeout_spec(Phase.LOWER, 10.0, 'move to dig'),
    _timeout_spec(Phase.DIG, 30.0, 'creep drive'),
    _timeout_spec(Phase.LIFT, 15.0, 'slow move to hold'),
    _timeout_spec(Phase.CAPTURE, 20.0, 'images and evidence package'),
    _timeout_spec(Phase.HOLD, 10.0, 'settle in hold'),
    _timeout_spec(Phase.DUMP, 15.0, 'move to dump and dwell'),
    _timeout_spec(Phase.STOW, 15.0, 'move to stowed'),
    _timeout_spec(Phase.SAFING, 20.0, 'stop the rover, move to the safe pose'),
    # Fill estimate (see rover_shovel.fill).
    ParamSpec('gravity', 1.62, 'Gravity at the surface (Moon 1.62)', 'm/s^2', 0.1, 30.0),
    ParamSpec('horizontal_angle', 0.95, 'Joint angle at which the line from the joint axis '
              'to the regolith centroid is horizontal (its gravity torque largest); the '
              'sample lies in the corner of the back wall and the bottom of the scoop',
              'rad', -math.pi, math.pi),
    ParamSpec('torque_constant', 1.78, 'Motor torque per ampere at the joint (k_t, incl. '
              'gearing)', 'N*m/A', 0.01, 100.0),
    ParamSpec('torque_constant_rel_sigma', 0.05, 'Relative 1-sigma uncertainty of '
              'torque_constant', '', 0.0, 1.0),
    ParamSpec('sample_lever_arm', 0.11, 'Distance from the joint axis to the centroid of the '
              'regolith in the scoop', 'm', 0.01, 1.0),
    ParamSpec('empty_lift_friction_current', 0.05, 'Lift current of the empty shovel due to '
              'friction (ground calibration)', 'A', 0.0, 5.0),
    ParamSpec('empty_lift_gravity_current', 0.035, 'Lift current of the empty shovel due to '
              'its own weight with its centre of mass level with the joint axis (ground '
              'calibration)', 'A', 0.0, 5.0),
    ParamSpec('empty_horizontal_angle', 1.23, "Joint angle at which the empty shovel's centre "
              'of mass is level with the joint axis (ground calibration, with '
              'empty_lift_gravity_current)', 'rad', -math.pi, math.pi),
    ParamSpec('baseline_current_sigma', 0.005, '1-sigma uncertainty of the empty-shovel '
              'baseline (friction drift with temperature)', 'A', 0.0, 1.0),
    ParamSpec('fill_min_cos', 0.5, 'Only lift samples with cos(angle - horizontal_angle) at '
              'least this are used (the lever arm must be long)', '', 0.05, 1.0),
    ParamSpec('fill_min_samples', 5, 'Fewest steady-lift samples for a fill estimate', '',
              1, 10000),
    # Product store (shared with the cameras).
    ParamSpec('product_dir', '~/.ros/rover_products', 'Directory of the on-board product '
              'store (shared with the cameras node)', read_only=True),
    ParamSpec('product_budget_bytes', 2_000_000_000, 'Disk budget of the product store', 'B',
              1_000_000, 1_000_000_000_000, read_only=True),
    # Hardware backend (Dynamixel Protocol 2.0).
    ParamSpec('serial_port', '/dev/ttyUSB0', 'Serial device of the Dynamixel bus',
              read_only=True),
    ParamSpec('baud_rate', 1_000_000, 'Baud rate of the Dynamixel bus', 'bit/s', 9600,
              4_500_000, read_only=True),
    ParamSpec('servo_id', 5, 'Dynamixel id of the shovel servo', '', 0, 252, read_only=True),
    ParamSpec('servo_zero_ticks', 2048, 'Servo position (ticks) at joint angle 0', '', 0, 4095,
              read_only=True),
    ParamSpec('servo_direction', 1, 'Sign between servo ticks and joint angle (1 or -1)', '',
              -1, 1, read_only=True),
    ParamSpec('servo_current_unit', 0.00269, 'Ampere per unit of Present Current (XM430: '
              '2.69 mA)', 'A', 0.0001, 0.1, read_only=True),
    # Gazebo backend.
    ParamSpec('sim_state_timeout', 0.5, 'sim/joint_states older than this is a lost link', 's',
              0.05, 10.0),
    # Fake backend.
    ParamSpec('fake_seed', 1, "Seed of the fake joint's current noise and sample mass", '',
              0, 2**31 - 1, read_only=True),
    ParamSpec('fake_sample_mass', 0.15, 'Mean regolith mass the fake scoop picks up', 'kg',
              0.0, 2.0, read_only=True),
    ParamSpec('fake_ground_angle', 1.75, 'Joint angle at which the fake blade touches the '
              'regolith (flat ground in rover_description)', 'rad', -math.pi, math.pi,
              read_only=True),
    ParamSpec('fake_soil_stiffness', 1.0, 'Torque per rad of fake penetration into the '
              'regolith', 'N*m/rad', 0.0, 100.0, read_only=True),
    ParamSpec('fake_current_noise', 0.003, '1-sigma noise of the fake current', 'A', 0.0, 1.0,
              read_only=True),
)


def _cross_check(v: Mapping[str, ParamValue]) -> Optional[str]:
    lower, upper = v['lower_limit'], v['upper_limit']
    if not lower < upper:
        return f'lower_limit ({lower}) must be below upper_limit ({upper})'
    for pose in NamedPose:
        angle = v[f'pose_{pose.value}']
        if not lower <= angle <= upper:
            return f'pose_{pose.value} ({angle}) must be within [{lower}, {upper}] rad'
    allowed = v['drive_allowed_max_angle']
    if not (v['pose_stowed'] <= allowed and v['pose_travel'] <= allowed):
        return 'pose_stowed and pose_travel must be within drive_allowed_max_angle'
    if not v['pose_dig'] > max(allowed, v['pose_ready'], v['pose_hold']):
        return 'pose_dig must be lower (larger) than pose_ready, pose_hold and the travel range'
    spill = v['spill_angle']
    if not v['pose_hold'] < spill < v['pose_dump']:
        return (f'pose_hold ({v["pose_hold"]}) must keep the mouth up, below spill_angle '
                f'({spill}), and pose_dump ({v["pose_dump"]}) must tip it down, beyond it')
    if not v['pose_dump'] < v['pose_dig'] - v['arrival_tolerance']:
        return ('pose_dump must be shallower than pose_dig (by more than arrival_tolerance): '
                'dumping at dig depth would scoop again')
    if v['lift_velocity'] > v['max_velocity']:
        return 'lift_velocity must not exceed max_velocity'
    if v['overcurrent_limit'] <= v['stall_current']:
        return 'overcurrent_limit must be above stall_current'
    if v['dig_distance'] > v['dig_max_distance']:
        return 'dig_distance must not exceed dig_max_distance'
    if v['timeout_dig'] < v['dig_max_distance'] / v['creep_speed']:
        return ('timeout_dig must allow dig_max_distance at creep_speed '
                f'({v["dig_max_distance"] / v["creep_speed"]:.1f} s)')
    if v['timeout_hold'] <= v['hold_settle'] or v['timeout_dump'] <= v['dump_dwell']:
        return 'timeout_hold and timeout_dump must exceed hold_settle and dump_dwell'
    if v['servo_direction'] == 0:
        return 'servo_direction must be 1 or -1'
    return None


PARAMS = ParamTable(SPECS, cross_check=_cross_check)


@dataclass(frozen=True)
class ShovelConfig:
    """The values the ROS-free controller uses; built from the parameter table."""

    lower_limit: float
    upper_limit: float
    max_velocity: float
    max_acceleration: float
    lift_velocity: float
    arrival_tolerance: float
    move_timeout_margin: float
    pose_stowed: float
    pose_travel: float
    pose_ready: float
    pose_dig: float
    pose_hold: float
    pose_dump: float
    drive_allowed_max_angle: float
    stall_current: float
    stall_velocity: float
    stall_time: float
    overcurrent_limit: float
    overcurrent_time: float
    position_error_tolerance: float
    position_error_time: float
    sensor_margin: float
    comm_error_limit: int
    dig_distance: float
    dig_max_distance: float
    creep_speed: float
    drive_status_timeout: float
    evidence_camera: str
    hold_settle: float
    dump_dwell: float
    timeout_check_preconditions: float
    timeout_unstow: float
    timeout_lower: float
    timeout_dig: float
    timeout_lift: float
    timeout_capture: float
    timeout_hold: float
    timeout_dump: float
    timeout_stow: float
    timeout_safing: float
    gravity: float
    horizontal_angle: float
    torque_constant: float
    torque_constant_rel_sigma: float
    sample_lever_arm: float
    empty_lift_friction_current: float
    empty_lift_gravity_current: float
    empty_horizontal_angle: float
    baseline_current_sigma: float
    fill_min_cos: float
    fill_min_samples: int

    @classmethod
    def from_params(cls, values: Mapping[str, ParamValue]) -> 'ShovelConfig':
        """Return the config from a complete, already validated parameter set."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})

    @classmethod
    def from_overrides(cls, **overrides: ParamValue) -> 'ShovelConfig':
        """Validate ``overrides`` against the table (ParameterError) and return the config."""
        return cls.from_params(PARAMS.validated(overrides))

    def pose_angle(self, pose: NamedPose) -> float:
        """Return the joint angle of a named pose (rad)."""
        return getattr(self, f'pose_{pose.value}')

    def phase_timeout(self, phase: Phase) -> float:
        """Return the timeout of a sequence phase (s); DONE has none (infinite)."""
        if phase not in TIMED_PHASES:
            return math.inf
        return getattr(self, f'timeout_{phase.name.lower()}')
