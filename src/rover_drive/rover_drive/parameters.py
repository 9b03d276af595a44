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
The parameters of the ``drive`` node: one ROS-free table (names, defaults, units, ranges).

The node declares them with descriptors from this table; :class:`DriveController` takes the
same values as a dict (``DRIVE_PARAMETERS.validated({...})``), so a bad value is refused with
the same reason in the node and in a ROS-free process. Defaults are for the ~5 kg rover:
wheels of 0.075 m radius on a 0.265 m track (as in rover_description's URDF), 10 cm/s top
speed (Rashid / CubeRover class).
"""

import math
from typing import Mapping, Optional

from rover_common.param_spec import ParamSpec, ParamTable, ParamValue

BACKENDS = ('fake', 'gazebo', 'hardware')

_SPECS = (
    ParamSpec('backend', 'fake', 'where wheel commands go: fake (in-process model), gazebo '
              '(ros_gz bridge topics) or hardware (Dynamixel bus)', choices=BACKENDS,
              read_only=True),
    ParamSpec('control_rate', 20.0, 'rate of the control and safety loop', 'Hz', 5.0, 100.0,
              read_only=True),
    # geometry
    ParamSpec('wheel_radius', 0.075, 'wheel radius (rover_description: wheel_radius)', 'm',
              0.01, 0.5),
    ParamSpec('track', 0.265, 'distance between left and right wheel contact lines '
              '(rover_description: 2 * wheel_y)', 'm', 0.05, 2.0),
    ParamSpec('icr_factor', 1.5, 'effective track / track of the skid-steer model (>= 1; '
              'tune from a measured spin: multiply by odometry yaw / true yaw)', '', 1.0, 5.0),
    # limits
    ParamSpec('max_linear', 0.1, 'top forward/backward speed', 'm/s', 0.001, 1.0),
    ParamSpec('max_angular', 0.5, 'top yaw rate', 'rad/s', 0.001, 3.0),
    ParamSpec('linear_accel', 0.2, 'linear acceleration limit', 'm/s^2', 0.01, 5.0),
    ParamSpec('linear_decel', 0.5, 'linear deceleration limit (watchdog and interlock '
              'stops ramp at this rate)', 'm/s^2', 0.01, 5.0),
    ParamSpec('angular_accel', 1.0, 'angular acceleration limit', 'rad/s^2', 0.01, 20.0),
    ParamSpec('angular_decel', 2.5, 'angular deceleration limit', 'rad/s^2', 0.01, 20.0),
    ParamSpec('max_wheel_speed', 3.0, 'per-wheel angular speed limit (commands are scaled '
              'together, keeping the curvature)', 'rad/s', 0.1, 50.0),
    # command sources
    ParamSpec('cmd_timeout', 0.5, 'validity of a cmd_vel (teleop) command', 's', 0.05, 10.0),
    ParamSpec('ground_cmd_timeout', 1.0, 'validity of a ground (lander bridge) velocity '
              'command', 's', 0.05, 30.0),
    ParamSpec('nav_cmd_timeout', 0.5, 'validity of a cmd_vel_nav (autonomy) command', 's',
              0.05, 10.0),
    ParamSpec('future_tolerance', 0.25, 'largest accepted lead of a command stamp over the '
              'rover clock; further ahead is refused as clock skew', 's', 0.0, 5.0),
    ParamSpec('cmd_vel_stamped', True, 'cmd_vel and cmd_vel_nav are TwistStamped (Jazzy '
              'convention); false for plain Twist', read_only=True),
    # interlock
    ParamSpec('interlock_enabled', True, 'obey the shovel interlock (shovel/state); false '
              'only for bench tests without a shovel'),
    ParamSpec('creep_speed', 0.02, 'wheel rim-speed limit while the shovel allows creep only',
              'm/s', 0.001, 0.2),
    # bounded moves
    ParamSpec('max_move_distance', 5.0, 'largest |distance| of a drive_distance goal', 'm',
              0.01, 100.0),
    ParamSpec('max_move_angle', 2.0 * math.pi, 'largest |angle| of a turn goal', 'rad',
              0.01, 4.0 * math.pi),
    ParamSpec('distance_tolerance', 0.005, 'a drive_distance goal is reached within this',
              'm', 0.0005, 0.1),
    ParamSpec('angle_tolerance', 0.01, 'a turn goal is reached within this', 'rad',
              0.001, 0.2),
    ParamSpec('heading_gain', 1.0, 'yaw-rate correction per rad of heading error while '
              'driving a distance', '1/s', 0.0, 10.0),
    ParamSpec('move_timeout_factor', 2.0, 'a move times out after this many times its '
              'nominal duration ...', '', 1.0, 10.0),
    ParamSpec('move_timeout_margin', 5.0, '... plus this margin', 's', 0.0, 600.0),
    # odometry and output
    ParamSpec('wheel_noise', 1e-4, "odometry: variance of a side's travel per metre "
              'travelled', 'm^2/m', 0.0, 1.0),
    ParamSpec('twist_variance_linear', 1e-4, 'odometry: variance of the linear speed',
              'm^2/s^2', 0.0, 1.0),
    ParamSpec('twist_variance_angular', 1e-3, 'odometry: variance of the yaw rate',
              'rad^2/s^2', 0.0, 1.0),
    ParamSpec('publish_tf', True, 'publish the odom -> base_link transform'),
    ParamSpec('odom_frame', 'odom', 'frame of the odometry', read_only=True),
    ParamSpec('base_frame', 'base_link', 'frame of the rover body', read_only=True),
    ParamSpec('status_rate', 5.0, 'drive/status heartbeat rate (changes of mode, source, '
              'e-stop, fault or interlock are published at once)', 'Hz', 0.1, 50.0),
    ParamSpec('backend_error_limit', 5, 'consecutive wheel I/O errors that latch a fault',
              '', 1, 100),
    ParamSpec('stopped_speed', 0.02, 'wheels slower than this count as at rest', 'rad/s',
              0.0001, 1.0),
    # hardware backend
    ParamSpec('serial_port', '/dev/ttyUSB0', 'hardware: Dynamixel bus device',
              read_only=True),
    ParamSpec('baudrate', 1000000, 'hardware: bus baud rate', 'bit/s', 9600, 4500000,
              read_only=True),
    ParamSpec('motor_ids', [1, 2, 3, 4], 'hardware: motor id of each wheel (front left, '
              'front right, rear left, rear right)', '', 0, 252, read_only=True),
    ParamSpec('motor_directions', [1, -1, 1, -1], 'hardware: +1/-1 per wheel, -1 for '
              'motors mounted mirrored', '', -1, 1, read_only=True),
    ParamSpec('bus_watchdog', 0.5, 'hardware: motors stop by themselves after this long '
              'without a packet (0 disables)', 's', 0.0, 2.54, read_only=True),
    # gazebo backend
    ParamSpec('feedback_timeout', 0.5, 'gazebo: oldest acceptable sim/joint_states', 's',
              0.05, 10.0, read_only=True),
    # fake backend
    ParamSpec('fake_time_constant', 0.1, 'fake: wheel velocity lag', 's', 0.001, 5.0,
              read_only=True),
    ParamSpec('fake_slip', 0.0, 'fake: fraction of wheel travel lost to slip', '', 0.0, 0.9,
              read_only=True),
    ParamSpec('fake_noise', 0.0, 'fake: encoder noise (standard deviation)', 'rad', 0.0, 1.0,
              read_only=True),
    ParamSpec('fake_seed', 0, 'fake: random seed of the noise', '', 0, 2 ** 31 - 1,
              read_only=True),
)


def cross_check(values: Mapping[str, ParamValue]) -> Optional[str]:
    """Return why a complete set of drive parameters is inconsistent, or None."""
    radius = values['wheel_radius']
    rim = values['max_wheel_speed'] * radius
    if values['max_linear'] > rim + 1e-9:
        return (f'max_linear {values["max_linear"]} m/s needs max_wheel_speed >= '
                f'{values["max_linear"] / radius:.3f} rad/s with wheel_radius {radius} m')
    spin_rim = 0.5 * values['max_angular'] * values['track'] * values['icr_factor']
    if spin_rim > rim + 1e-9:
        return (f'max_angular {values["max_angular"]} rad/s needs max_wheel_speed >= '
                f'{spin_rim / radius:.3f} rad/s with this track and icr_factor')
    if values['creep_speed'] > values['max_linear']:
        return (f'creep_speed {values["creep_speed"]} m/s must not exceed max_linear '
                f'{values["max_linear"]} m/s')
    if values['linear_decel'] < values['linear_accel']:
        return 'linear_decel must be >= linear_accel (stops are never softer than starts)'
    if values['angular_decel'] < values['angular_accel']:
        return 'angular_decel must be >= angular_accel (stops are never softer than starts)'
    for name in ('motor_ids', 'motor_directions'):
        if len(values[name]) != 4:
            return f'{name} needs 4 entries (front left, front right, rear left, rear right)'
    if len(set(values['motor_ids'])) != 4:
        return f'motor_ids must be distinct, got {list(values["motor_ids"])}'
    if any(d not in (1, -1) for d in values['motor_directions']):
        return f'motor_directions must be 1 or -1, got {list(values["motor_directions"])}'
    return None


#: The drive parameter table.
DRIVE_PARAMETERS = ParamTable(_SPECS, cross_check=cross_check)
