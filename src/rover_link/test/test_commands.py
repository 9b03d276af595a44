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

"""The command codec is exact both ways, and every bad argument is refused with its reason."""

import math
import struct

import pytest
from rover_link import commands as cmd
from rover_link.protocol import (Camera, ErrorCode, FaultTarget, FunctionId, HkSet, ShovelPose,
                                 Variant)

EVERY_COMMAND = [
    cmd.Ping(),
    cmd.Drive(1.0, 0.05),
    cmd.Drive(-0.25, 0.1),
    cmd.Turn(math.pi / 2, 0.3),
    cmd.Turn(-0.1, 0.05),
    cmd.Stop(),
    cmd.EStop(),
    cmd.Release(),
    cmd.MoveShovel(ShovelPose.DIG, 0.0, 0.0),
    cmd.MoveShovel(ShovelPose.ANGLE, 1.2, 0.5),
    cmd.StowShovel(),
    cmd.CollectSample(0.1, True),
    cmd.CollectSample(),
    cmd.Capture(Camera.LEFT, 90, 320),
    cmd.Capture(),
    cmd.ListProducts(True, 10),
    cmd.DownlinkProduct('img-20261124T120000123Z-left-3f2a', Variant.THUMBNAIL),
    cmd.DownlinkProduct('evd-20261124T120000123Z-00ff', Variant.FULL),
    cmd.ClearFault(FaultTarget.SHOVEL),
    cmd.HkEnable((HkSet.MOBILITY, HkSet.LINK)),
    cmd.HkDisable((HkSet.SYSTEM,)),
    cmd.HkOneShot(tuple(HkSet)),
    cmd.HkSetInterval(((HkSet.MOBILITY, 0.5), (HkSet.SHOVEL, 30.0))),
    cmd.TimeSetRate(4),
    cmd.TimeSetRate(cmd.TIME_REPORTS_OFF),
    cmd.TimeReportNow(),
]


@pytest.mark.parametrize('command', EVERY_COMMAND, ids=repr)
def test_every_command_round_trips_and_validates(command):
    service, subtype, data = cmd.encode(command)
    assert cmd.decode(service, subtype, data) == command
    cmd.validate(command, cmd.CommandLimits())


def test_every_function_id_has_a_command():
    functions = {cmd.function_of(c) for c in EVERY_COMMAND if cmd.encode(c)[0] == 8}
    assert functions == set(FunctionId)


@pytest.mark.parametrize('service, subtype, data, code', [
    (2, 1, b'', ErrorCode.ILLEGAL_SERVICE),
    (200, 1, b'', ErrorCode.ILLEGAL_SERVICE),
    (17, 3, b'', ErrorCode.ILLEGAL_SUBTYPE),
    (8, 2, b'\x01', ErrorCode.ILLEGAL_SUBTYPE),
    (3, 9, b'\x01\x01', ErrorCode.ILLEGAL_SUBTYPE),
    (9, 2, b'', ErrorCode.ILLEGAL_SUBTYPE),
    (8, 1, b'\x63', ErrorCode.ILLEGAL_FUNCTION),
    (8, 1, b'', ErrorCode.BAD_ARGUMENT_LENGTH),
    (17, 1, b'\x00', ErrorCode.BAD_ARGUMENT_LENGTH),
    (8, 1, b'\x01' + struct.pack('>d', 1.0), ErrorCode.BAD_ARGUMENT_LENGTH),
    (8, 1, b'\x01' + struct.pack('>ddB', 1.0, 0.1, 0), ErrorCode.BAD_ARGUMENT_LENGTH),
    (8, 1, b'\x03\x00', ErrorCode.BAD_ARGUMENT_LENGTH),
    (8, 1, b'\x0b\x00\x05abc', ErrorCode.BAD_ARGUMENT_LENGTH),
    (8, 1, b'\x0b\x00\x02abc', ErrorCode.BAD_ARGUMENT_LENGTH),
    (8, 1, b'\x0b\x00\x02\xff\xfe', ErrorCode.BAD_ARGUMENT_LENGTH),
    (3, 5, b'\x02\x01', ErrorCode.BAD_ARGUMENT_LENGTH),
    (3, 31, b'\x01\x01\x00', ErrorCode.BAD_ARGUMENT_LENGTH),
    (9, 1, b'', ErrorCode.BAD_ARGUMENT_LENGTH),
    (8, 1, b'\x06\x09' + struct.pack('>dd', 0.0, 0.0), ErrorCode.ARGUMENT_OUT_OF_RANGE),
    (8, 1, b'\x09\x03\x00\x00\x00', ErrorCode.ARGUMENT_OUT_OF_RANGE),
    (8, 1, b'\x08' + struct.pack('>dB', 0.1, 2), ErrorCode.ARGUMENT_OUT_OF_RANGE),
    (8, 1, b'\x0c\x07', ErrorCode.ARGUMENT_OUT_OF_RANGE),
    (8, 1, b'\x0b\x02\x01a', ErrorCode.ARGUMENT_OUT_OF_RANGE),
    (3, 27, b'\x01\x09', ErrorCode.ARGUMENT_OUT_OF_RANGE),
])
def test_malformed_application_data_is_refused_with_its_code(service, subtype, data, code):
    with pytest.raises(cmd.CommandError) as info:
        cmd.decode(service, subtype, data)
    assert info.value.code is code
    assert info.value.reason


@pytest.mark.parametrize('command, fragment', [
    (cmd.Drive(5.01, 0.05), 'distance'),
    (cmd.Drive(0.0, 0.05), 'distance'),
    (cmd.Drive(1.0, 0.0), 'speed'),
    (cmd.Drive(1.0, 0.2), 'speed'),
    (cmd.Drive(1.0, -0.05), 'speed'),
    (cmd.Drive(math.nan, 0.05), 'finite'),
    (cmd.Drive(1.0, math.inf), 'finite'),
    (cmd.Turn(7.0, 0.1), 'angle'),
    (cmd.Turn(0.0, 0.1), 'angle'),
    (cmd.Turn(1.0, 0.6), 'rate'),
    (cmd.MoveShovel(ShovelPose.ANGLE, 2.5, 0.0), 'shovel angle'),
    (cmd.MoveShovel(ShovelPose.ANGLE, -0.1, 0.0), 'shovel angle'),
    (cmd.MoveShovel(ShovelPose.DIG, 0.0, 0.7), 'max_velocity'),
    (cmd.CollectSample(0.5, False), 'dig_distance'),
    (cmd.CollectSample(-0.1, False), 'dig_distance'),
    (cmd.Capture(Camera.BOTH, 101, 0), 'jpeg_quality'),
    (cmd.Capture(Camera.BOTH, 0, 8), 'thumbnail_width'),
    (cmd.Capture(Camera.BOTH, 0, 4000), 'thumbnail_width'),
    (cmd.ListProducts(False, 200), 'max_count'),
    (cmd.DownlinkProduct('../etc/passwd', Variant.FULL), 'product id'),
    (cmd.DownlinkProduct('', Variant.FULL), 'product id'),
    (cmd.HkEnable(()), 'at least one'),
    (cmd.HkEnable((HkSet.LINK, HkSet.LINK)), 'repeated'),
    (cmd.HkSetInterval(((HkSet.LINK, 0.01),)), 'interval'),
    (cmd.HkSetInterval(((HkSet.LINK, 7200.0),)), 'interval'),
    (cmd.TimeSetRate(17), 'exponent'),
])
def test_out_of_range_arguments_are_refused_naming_the_argument(command, fragment):
    service, subtype, data = cmd.encode(command)
    decoded = cmd.decode(service, subtype, data)
    with pytest.raises(cmd.CommandError) as info:
        cmd.validate(decoded, cmd.CommandLimits())
    assert info.value.code is ErrorCode.ARGUMENT_OUT_OF_RANGE
    assert fragment in info.value.reason


def test_limits_are_the_rovers_not_the_senders():
    tight = cmd.CommandLimits(max_drive_distance=0.5)
    with pytest.raises(cmd.CommandError):
        cmd.validate(cmd.Drive(1.0, 0.05), tight)
    cmd.validate(cmd.Drive(0.5, 0.05), tight)


def test_there_is_no_velocity_command():
    names = {type(c).__name__.lower() for c in EVERY_COMMAND}
    assert not any('velocity' in n or 'twist' in n for n in names)


LIMITS = cmd.CommandLimits()

#: (command from one argument value, floor field, ceiling field, 0 means default)
BOUNDS = [
    (lambda v: cmd.Drive(v, 0.05), 'min_drive_distance', 'max_drive_distance', False),
    (lambda v: cmd.Drive(-v, 0.05), 'min_drive_distance', 'max_drive_distance', False),
    (lambda v: cmd.Drive(1.0, v), 'min_drive_speed', 'max_drive_speed', False),
    (lambda v: cmd.Turn(v, 0.2), 'min_turn_angle', 'max_turn_angle', False),
    (lambda v: cmd.Turn(-v, 0.2), 'min_turn_angle', 'max_turn_angle', False),
    (lambda v: cmd.Turn(1.0, v), 'min_turn_rate', 'max_turn_rate', False),
    (lambda v: cmd.MoveShovel(ShovelPose.ANGLE, v, 0.0), 'shovel_min_angle',
     'shovel_max_angle', False),
    (lambda v: cmd.MoveShovel(ShovelPose.DIG, 0.0, v), 'min_shovel_velocity',
     'max_shovel_velocity', True),
    (lambda v: cmd.CollectSample(v), 'min_dig_distance', 'max_dig_distance', True),
    (lambda v: cmd.Capture(Camera.LEFT, v, 0), 'min_jpeg_quality', 'max_jpeg_quality', True),
    (lambda v: cmd.Capture(Camera.LEFT, 0, v), 'min_thumbnail_width', 'max_thumbnail_width',
     True),
    (lambda v: cmd.ListProducts(False, v), 'min_list_count', 'max_list_count', True),
    (lambda v: cmd.HkSetInterval(((HkSet.LINK, v),)), 'min_hk_interval', 'max_hk_interval',
     False),
    (lambda v: cmd.TimeSetRate(v), 'min_time_exponent', 'max_time_exponent', False),
]


def _outside(value, direction):
    """Return the nearest value beyond ``value`` (ints step by one, floats by one ulp)."""
    if isinstance(value, int):
        return value + direction
    return math.nextafter(value, direction * math.inf)


def _refusal(command):
    with pytest.raises(cmd.CommandError) as info:
        cmd.validate(command, LIMITS)
    assert info.value.code is ErrorCode.ARGUMENT_OUT_OF_RANGE
    assert len(info.value.reason.encode()) <= 96, info.value.reason
    return info.value.reason


@pytest.mark.parametrize('make, low, high, zero_is_default', BOUNDS,
                         ids=[f'{b[1]}..{b[2]}' for b in BOUNDS])
def test_every_limit_refuses_just_outside_and_accepts_its_own_value(make, low, high,
                                                                    zero_is_default):
    floor, ceiling = getattr(LIMITS, low), getattr(LIMITS, high)
    cmd.validate(make(floor), LIMITS)
    cmd.validate(make(ceiling), LIMITS)
    below = _outside(floor, -1)
    if zero_is_default and below == 0:
        below = -1
    above = _outside(ceiling, +1)
    reason = _refusal(make(below))
    assert low in reason and cmd._show(below) in reason
    reason = _refusal(make(above))
    assert high in reason and cmd._show(above) in reason
    if zero_is_default:
        cmd.validate(make(0), LIMITS)


def test_every_numeric_argument_has_a_floor_and_a_ceiling():
    floors = {b[1] for b in BOUNDS}
    ceilings = {b[2] for b in BOUNDS}
    fields = set(vars(LIMITS))
    assert {f for f in fields if f.startswith('min_')} | {'shovel_min_angle'} == floors
    assert {f for f in fields if f.startswith('max_')} - {'max_command_duration'} \
        | {'shovel_max_angle'} == ceilings


def test_a_drive_at_1e_300_m_s_is_refused_on_the_wire():
    service, subtype, data = cmd.encode(cmd.Drive(1.0, 1e-300))
    reason = _refusal(cmd.decode(service, subtype, data))
    assert reason == 'speed 1e-300 m/s is below min_drive_speed 0.005 m/s'


@pytest.mark.parametrize('command', [
    cmd.Drive(math.nan, 0.05), cmd.Drive(1.0, math.inf), cmd.Drive(-math.inf, 0.05),
    cmd.Turn(math.nan, 0.1), cmd.Turn(1.0, math.nan),
    cmd.MoveShovel(ShovelPose.ANGLE, math.inf, 0.0), cmd.MoveShovel(ShovelPose.DIG, 0.0, math.nan),
    cmd.MoveShovel(ShovelPose.DIG, math.nan, 0.0),
    cmd.CollectSample(math.nan), cmd.HkSetInterval(((HkSet.LINK, math.nan),)),
    cmd.HkSetInterval(((HkSet.LINK, math.inf),)),
], ids=repr)
def test_nan_and_inf_are_refused(command):
    assert 'finite' in _refusal(command)


def _speed_for_deadline(distance, deadline):
    """Return the speed whose DRIVE deadline is exactly ``deadline`` under LIMITS."""
    return 2.0 * distance / (deadline - LIMITS.command_timeout_margin)


def test_a_drive_whose_deadline_exceeds_max_command_duration_is_refused():
    assert LIMITS.max_command_duration == 600.0
    # 5 m at 0.005 m/s: each argument is inside its limits, but the deadline is 2030 s.
    reason = _refusal(cmd.Drive(5.0, 0.005))
    assert reason == 'DRIVE deadline 2030 s is above max_command_duration 600 s'
    edge = _speed_for_deadline(5.0, LIMITS.max_command_duration)
    cmd.validate(cmd.Drive(5.0, math.nextafter(edge, 1.0)), LIMITS)
    assert 'max_command_duration' in _refusal(cmd.Drive(-5.0, math.nextafter(edge, 0.0)))


def test_a_turn_whose_deadline_exceeds_max_command_duration_is_refused():
    # A full turn at the 0.01 rad/s floor: 2 x 628 s + 30 s.
    reason = _refusal(cmd.Turn(2.0 * math.pi, 0.01))
    assert reason == 'TURN deadline 1287 s is above max_command_duration 600 s'
    cmd.validate(cmd.Turn(math.pi, 0.02), LIMITS)


def test_the_deadline_limit_is_the_rovers():
    generous = cmd.CommandLimits(max_command_duration=3000.0)
    cmd.validate(cmd.Drive(5.0, 0.005), generous)
    assert cmd.motion_timeout(cmd.Drive(5.0, 0.005), 30.0) == pytest.approx(2030.0)
    assert cmd.motion_timeout(cmd.Turn(-1.0, 0.5), 10.0) == pytest.approx(14.0)
    assert cmd.motion_timeout(cmd.CollectSample(), 30.0) is None


@pytest.mark.parametrize('changes, fragment', [
    ({'min_drive_speed': 0.2}, 'min_drive_speed'),
    ({'min_drive_speed': 0.0}, 'min_drive_speed must be > 0'),
    ({'max_turn_rate': math.nan}, 'finite'),
    ({'shovel_min_angle': 2.5}, 'shovel_min_angle'),
    ({'max_list_count': 256}, 'max_list_count'),
    ({'max_thumbnail_width': 70000}, 'max_thumbnail_width'),
    ({'max_time_exponent': 255}, 'max_time_exponent'),
    ({'min_time_exponent': -1, 'max_time_exponent': 3}, 'min_time_exponent'),
    ({'command_timeout_margin': 600.0}, 'max_command_duration'),
])
def test_inconsistent_limits_are_refused_at_construction(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        cmd.CommandLimits(**changes)
