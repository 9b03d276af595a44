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
from rover_lander_bridge import commands as cmd
from rover_lander_bridge.protocol import (Camera, ErrorCode, FaultTarget, FunctionId, HkSet,
                                          ShovelPose, Variant)

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
