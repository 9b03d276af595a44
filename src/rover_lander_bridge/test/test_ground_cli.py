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

"""The ground tool: command lines become the right telecommands, bad ones are refused."""

import io
import math
import os

import pytest
from rover_lander_bridge import commands as cmd
from rover_lander_bridge.ground import CommandStatus, Verification
from rover_lander_bridge.ground_cli import (exit_code, main, parse_command, Printer,
                                            UsageError)
from rover_lander_bridge.protocol import (AckFlag, Camera, ErrorCode, FaultTarget, HkSet,
                                          ShovelPose, Variant, VerificationSubtype as V)
from spacepackets.ecss.req_id import RequestId


@pytest.mark.parametrize('line, command', [
    ('ping', cmd.Ping()),
    ('drive 1.0', cmd.Drive(1.0, 0.05)),
    ('drive -0.5 0.1', cmd.Drive(-0.5, 0.1)),
    ('turn 90deg', cmd.Turn(math.pi / 2, 0.2)),
    ('turn -1.2 0.3', cmd.Turn(-1.2, 0.3)),
    ('stop', cmd.Stop()),
    ('estop', cmd.EStop()),
    ('release', cmd.Release()),
    ('shovel dig', cmd.MoveShovel(ShovelPose.DIG, 0.0, 0.0)),
    ('shovel 1.1 0.3', cmd.MoveShovel(ShovelPose.ANGLE, 1.1, 0.3)),
    ('stow', cmd.StowShovel()),
    ('sample', cmd.CollectSample(0.0, False)),
    ('sample 0.15 dump', cmd.CollectSample(0.15, True)),
    ('capture', cmd.Capture(Camera.BOTH, 0, 0)),
    ('capture left 80 256', cmd.Capture(Camera.LEFT, 80, 256)),
    ('products', cmd.ListProducts(False, 0)),
    ('products pending 5', cmd.ListProducts(True, 5)),
    ('downlink img-1', cmd.DownlinkProduct('img-1', Variant.FULL)),
    ('downlink img-1 thumbnail', cmd.DownlinkProduct('img-1', Variant.THUMBNAIL)),
    ('clear-fault shovel', cmd.ClearFault(FaultTarget.SHOVEL)),
    ('clear-fault', cmd.ClearFault(FaultTarget.ALL)),
    ('hk mobility link', cmd.HkOneShot((HkSet.MOBILITY, HkSet.LINK))),
    ('hk-enable system', cmd.HkEnable((HkSet.SYSTEM,))),
    ('hk-disable shovel', cmd.HkDisable((HkSet.SHOVEL,))),
    ('hk-rate mobility 0.5', cmd.HkSetInterval(((HkSet.MOBILITY, 0.5),))),
    ('time', cmd.TimeReportNow()),
    ('time-rate 3', cmd.TimeSetRate(3)),
    ('time-rate off', cmd.TimeSetRate(cmd.TIME_REPORTS_OFF)),
])
def test_command_lines_become_telecommands(line, command):
    assert parse_command(line.split()) == command


@pytest.mark.parametrize('line, fragment', [
    ('', 'empty'),
    ('fly 3', 'unknown command'),
    ('drive', 'usage'),
    ('drive far', 'number'),
    ('drive nan', 'finite'),
    ('turn 1 2 3', 'usage'),
    ('shovel sideways', 'shovel pose'),
    ('capture top', 'camera'),
    ('downlink img-1 huge', 'variant'),
    ('hk', 'at least one'),
    ('hk-rate galaxy 1', 'housekeeping set'),
    ('time-rate soon', 'integer'),
    ('stop now', 'usage'),
])
def test_bad_command_lines_are_refused_with_a_reason(line, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_command(line.split())


def _status(*subtypes, ack=AckFlag.ALL):
    status = CommandStatus(cmd.Ping(), ack, 0.0)
    request_id = RequestId.empty()
    for subtype in subtypes:
        failed = subtype % 2 == 0
        status.reports.append(Verification(request_id, subtype, 0.0,
                                           code=ErrorCode.TIMEOUT if failed else None))
    return status


def test_exit_codes_follow_the_verification_reports():
    assert exit_code(None) == 2
    assert exit_code(_status(V.ACCEPTANCE_SUCCESS, V.START_SUCCESS)) == 2
    assert exit_code(_status(V.ACCEPTANCE_SUCCESS, V.START_SUCCESS,
                             V.COMPLETION_SUCCESS)) == 0
    assert exit_code(_status(V.ACCEPTANCE_FAILURE)) == 1
    assert exit_code(_status(V.ACCEPTANCE_SUCCESS, V.START_SUCCESS,
                             V.COMPLETION_FAILURE)) == 1
    assert exit_code(_status(V.ACCEPTANCE_SUCCESS, ack=AckFlag.ACCEPTANCE)) == 0


def test_printer_names_the_command_and_the_failure_reason():
    out = io.StringIO()
    printer = Printer(out, tty=False)
    request_id = RequestId.empty()
    printer.remember(request_id, cmd.Drive(1.0, 0.05))
    printer.item(Verification(request_id, V.COMPLETION_FAILURE, 0.0,
                              code=ErrorCode.INTERLOCK, reason='shovel not stowed'))
    assert 'drive 1 m at 0.05 m/s: FAILED: INTERLOCK: shovel not stowed' in out.getvalue()


def test_keygen_writes_a_private_key_and_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / 'uplink.key'
    assert main(['keygen', str(path)]) == 0
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    assert main(['keygen', str(path)]) == 3


def test_send_without_a_key_is_a_usage_error(capsys):
    assert main(['send', 'ping']) == 3
    assert '--key is required' in capsys.readouterr().out


def test_send_with_a_bad_command_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / 'uplink.key'
    main(['keygen', str(path)])
    assert main(['--key', str(path), 'send', 'drive', 'far']) == 3
