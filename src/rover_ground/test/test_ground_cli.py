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
from pathlib import Path
import re
import socket
import subprocess
import sys

import pytest
from rover_ground.ground import CommandStatus, DownlinkCounters, RefusedFrame, Verification
from rover_ground.ground_cli import (build_parser, exit_code, main, open_session, parse_command,
                                     Printer, UsageError)
from rover_link import commands as cmd
from rover_link.downlink_auth import derive_downlink_mac
from rover_link.framing import protect_downlink
from rover_link.protocol import (AckFlag, APID_ROVER, Camera, ErrorCode, FaultTarget, HkSet,
                                 RejectReason, ShovelPose, Variant, VerificationSubtype as V)
from rover_link.security import generate_key_file, load_key, MacEngine
from rover_link.telemetry import TmFactory
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
    ('drive 1 1e-300', 'speed 1e-300 m/s is below min_drive_speed 0.005 m/s'),
    ('drive 10', 'above max_drive_distance 5 m'),
    ('drive 0.001', 'below min_drive_distance'),
    ('drive 5 0.005', 'above max_command_duration 600 s'),
    ('turn 1 0.001', 'below min_turn_rate'),
    ('turn 720deg', 'above max_turn_angle'),
    ('shovel 1.0 1e-9', 'below min_shovel_velocity'),
    ('sample 1e-300', 'below min_dig_distance'),
    ('capture left 80 99999', 'above max_thumbnail_width 1280 px'),
    ('capture left 1000', 'above max_jpeg_quality'),
    ('products 300', 'above max_list_count 64'),
    ('products -1', 'below min_list_count'),
    ('time-rate 300', 'above max_time_exponent 16'),
    ('time-rate -1', 'below min_time_exponent'),
    ('hk-rate link 1e12', 'above max_hk_interval'),
    ('hk-rate link 0.01', 'below min_hk_interval'),
    ('downlink ../etc/passwd', 'product id'),
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


#: No heartbeat pings, and a short wait: a test sees every frame the tool sends.
QUIET = ['--heartbeat', '0', '--timeout', '0.5']


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / 'uplink.key'
    assert main(['keygen', str(path)]) == 0
    return path


@pytest.fixture
def relay():
    """Return a real UDP socket standing for the lander relay: what the tool sends lands here."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    sock.settimeout(0.3)
    yield sock
    sock.close()


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _link_args(tmp_path, key_file, relay):
    return ['--key', str(key_file), '--state', str(tmp_path / 'state.sqlite3'),
            '--local', f'127.0.0.1:{_free_udp_port()}',
            '--remote', f'127.0.0.1:{relay.getsockname()[1]}', *QUIET]


def _assert_nothing_arrives(relay):
    with pytest.raises(socket.timeout):
        relay.recv(65536)


@pytest.mark.parametrize('words', [
    ['capture', 'left', '80', '99999'],
    ['products', '300'],
    ['time-rate', '300'],
    ['drive', '1', '1e-300'],
    ['hk-rate', 'link', '1e12'],
])
def test_out_of_range_arguments_exit_3_with_one_line_and_send_nothing(tmp_path, key_file,
                                                                      relay, capsys, words):
    assert main([*_link_args(tmp_path, key_file, relay), 'send', *words]) == 3
    out = capsys.readouterr()
    assert len(out.out.strip().splitlines()) == 1 and 'Traceback' not in out.err
    _assert_nothing_arrives(relay)


def test_a_script_is_checked_whole_before_anything_is_sent(tmp_path, key_file, relay, capsys):
    script = tmp_path / 'plan.txt'
    script.write_text('ping\nwait 0\ndrive 1.0 0.05\ncapture left 80 99999\n')
    assert main([*_link_args(tmp_path, key_file, relay), 'run', str(script)]) == 3
    assert 'line 4: capture: thumbnail_width 99999 px is above' in capsys.readouterr().out
    _assert_nothing_arrives(relay)


@pytest.mark.parametrize('line', ['wait soon', 'wait -1', 'wait 1 2', 'drive "1.0'])
def test_bad_script_lines_are_usage_errors(tmp_path, key_file, relay, capsys, line):
    script = tmp_path / 'plan.txt'
    script.write_text(line + '\n')
    assert main([*_link_args(tmp_path, key_file, relay), 'run', str(script)]) == 3
    assert 'line 1:' in capsys.readouterr().out


def test_a_missing_script_is_a_usage_error(tmp_path, key_file, relay, capsys):
    args = [*_link_args(tmp_path, key_file, relay), 'run', str(tmp_path / 'absent.txt')]
    assert main(args) == 3
    assert 'cannot read script' in capsys.readouterr().out


@pytest.mark.parametrize('argv', [
    ['--bogus', 'send', 'ping'],
    [],
    ['send'],
    ['--spi', '70000', 'send', 'ping'],
    ['--spi', 'one', 'send', 'ping'],
    ['--remote', '127.0.0.1:99999', 'send', 'ping'],
    ['--local', 'nowhere', 'send', 'ping'],
    ['--timeout', 'nan', 'send', 'ping'],
    ['--timeout', '0', 'send', 'ping'],
    ['--heartbeat', '-1', 'send', 'ping'],
    ['--cfdp-timer', 'inf', 'send', 'ping'],
    ['monitor', '--duration', '-5'],
], ids=' '.join)
def test_argument_errors_exit_3_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith('rover-ground')


def _console_entry():
    """Return the module and function setup.py registers as the rover-ground script."""
    setup = (Path(__file__).resolve().parents[1] / 'setup.py').read_text()
    module, function = re.search(r"'rover-ground = ([\w.]+):(\w+)'", setup).groups()
    return f'import sys; from {module} import {function}; sys.exit({function}())'


@pytest.mark.parametrize('args', [
    ['send', 'capture', 'left', '80', '99999'],
    ['--spi', '70000', 'send', 'ping'],
], ids=' '.join)
def test_the_console_entry_exits_3_without_a_traceback(tmp_path, key_file, args):
    run = subprocess.run([sys.executable, '-c', _console_entry(), '--key', str(key_file),
                          '--state', str(tmp_path / 'state.sqlite3'), *args],
                         capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert run.returncode == 3, run.stderr
    assert 'Traceback' not in run.stderr + run.stdout
    assert len((run.stdout + run.stderr).strip().splitlines()) == 1


def test_a_frame_of_one_rover_ground_session_is_refused_in_the_next(tmp_path):
    """Each `send` is a process of its own: the downlink window must live in --state."""
    key = tmp_path / 'uplink.key'
    generate_key_file(key)
    mac = MacEngine({1: load_key(key)})
    packet = TmFactory(APID_ROVER, 0).packet(17, 2, b'', 1.8e9)
    frame = protect_downlink(derive_downlink_mac(mac, 1), 1, 1 << 60, packet)
    args = build_parser().parse_args(
        ['--key', str(key), '--state', str(tmp_path / 'ground.sqlite3'),
         '--local', '127.0.0.1:1', '--remote', '127.0.0.1:9', 'monitor'])
    refusals = []
    for _ in range(2):
        session = open_session(args, Printer(io.StringIO(), tty=False))
        try:
            items = session.station.handle_frame(frame, 0.0)
        finally:
            session.transport.close()
        refusals.append([i.reason for i in items if isinstance(i, RefusedFrame)])
    assert refusals == [[], [RejectReason.REPLAY]]


def test_the_console_prints_refusals_with_their_totals_at_most_once_a_second():
    out = io.StringIO()
    printer = Printer(out, tty=False)
    for count in range(1, 101):
        printer.item(RefusedFrame(RejectReason.BAD_MAC, 'downlink MAC check failed',
                                  DownlinkCounters(frames_accepted=7, forged_frames=count,
                                                   forged_file_pdus=2 * count)))
    printer.item(RefusedFrame(RejectReason.REPLAY, 'DSN 5 of SPI 1 was accepted before',
                              DownlinkCounters(forged_frames=100, replayed_frames=1)))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert 'REFUSED downlink frame (BAD_MAC: downlink MAC check failed)' in lines[0]
    assert '7 frames authenticated, refused 1 forged (carrying 2 file PDUs)' in lines[0]
    assert 'REPLAY' in lines[1] and '100 forged' in lines[1] and '1 replayed' in lines[1]
