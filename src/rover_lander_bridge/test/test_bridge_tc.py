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

"""Every telecommand through the bridge: its dispatch, results and verification reports."""

import math

from conftest import Rig
import pytest
from rover_ground.ground import EventReport, Housekeeping, PingReply, Result, TimeItem
from rover_lander_bridge.bridge import BridgeConfig
from rover_link import commands as cmd
from rover_link.protocol import (AckFlag, Camera, ErrorCode, EventId, FaultTarget, HkSet,
                                 ShovelPose, VerificationSubtype as V)
from rover_link.telemetry import CaptureResult, MotionResult, SampleResult

SUCCESS = [V.ACCEPTANCE_SUCCESS, V.START_SUCCESS, V.COMPLETION_SUCCESS]


def subtypes(rig, request_id):
    return [r.subtype for r in rig.status(request_id).reports]


def test_ping_is_accepted_started_answered_and_completed(rig):
    request_id = rig.send(cmd.Ping())
    assert subtypes(rig, request_id) == SUCCESS
    assert any(isinstance(i, PingReply) for i in rig.items)
    assert rig.port.calls == []


@pytest.mark.parametrize('command, call, args, result', [
    (cmd.Drive(1.0, 0.05), 'drive_distance', (1.0, 0.05), MotionResult(0.998)),
    (cmd.Turn(-math.pi / 2, 0.2), 'turn', (-math.pi / 2, 0.2), MotionResult(-1.56)),
    (cmd.MoveShovel(ShovelPose.READY, 0.0, 0.3), 'move_shovel', (ShovelPose.READY, 0.0, 0.3),
     MotionResult(0.7)),
    (cmd.MoveShovel(ShovelPose.ANGLE, 1.1, 0.0), 'move_shovel', (ShovelPose.ANGLE, 1.1, 0.0),
     MotionResult(1.1)),
    (cmd.StowShovel(), 'stow_shovel', (), None),
    (cmd.CollectSample(0.1, False), 'collect_sample', (0.1, False),
     SampleResult('evd-1', ('img-1', 'img-2'), 0.05, 0.01)),
    (cmd.Capture(Camera.BOTH, 85, 320), 'capture', (Camera.BOTH, 85, 320),
     CaptureResult(('img-1', 'img-2'), ('thm-1', 'thm-2'))),
])
def test_port_operations_report_start_progress_result_and_completion(rig, command, call, args,
                                                                     result):
    request_id = rig.send(command)
    assert rig.port.names() == [call]
    assert rig.port.calls[0][1][:len(args)] == args
    assert subtypes(rig, request_id) == [V.ACCEPTANCE_SUCCESS, V.START_SUCCESS]
    done = rig.port.last(call)
    for fraction in (0.1, 0.3, 0.35, 0.6, 0.9):
        done.progress(fraction)
    rig.tick()
    done.succeed(result)
    rig.tick()
    status = rig.status(request_id)
    assert subtypes(rig, request_id) == [V.ACCEPTANCE_SUCCESS, V.START_SUCCESS] + \
        [V.PROGRESS_SUCCESS] * 3 + [V.COMPLETION_SUCCESS]
    assert [r.step for r in status.reports if r.step is not None] == [1, 2, 3]
    assert status.result == result
    assert status.finished and status.completed


def test_commands_to_the_rover_carry_a_command_id_for_the_catalog(rig):
    rig.send(cmd.CollectSample())
    rig.send(cmd.Capture())
    ids = [rig.port.calls[0][1][2], rig.port.calls[1][1][3]]
    assert all(i.startswith('tc-') for i in ids) and ids[0] != ids[1]


def test_phase_progress_is_reported_once_per_phase(rig):
    request_id = rig.send(cmd.CollectSample())
    done = rig.port.last('collect_sample')
    for phase in (0, 1, 1, 2, 3, 3, 3, 4):
        done.progress(phase / 10, step=phase)
    rig.tick()
    steps = [r.step for r in rig.status(request_id).reports if r.subtype is V.PROGRESS_SUCCESS]
    assert steps == [1, 2, 3, 4]


@pytest.mark.parametrize('command, call, args', [
    (cmd.Stop(), 'stop', ()),
    (cmd.EStop(), 'set_estop', (True, 'ground e-stop')),
    (cmd.Release(), 'set_estop', (False, 'ground release')),
    (cmd.ClearFault(FaultTarget.DRIVE), 'clear_fault', (FaultTarget.DRIVE,)),
])
def test_quick_port_commands_complete(rig, command, call, args):
    request_id = rig.send(command)
    assert rig.port.calls == [(call, args)]
    rig.tick()
    assert subtypes(rig, request_id) == SUCCESS


def test_port_failure_gives_a_completion_failure_with_code_and_reason(rig):
    request_id = rig.send(cmd.Drive(2.0, 0.1))
    rig.port.last('drive_distance').fail(ErrorCode.INTERLOCK, 'shovel forbids driving')
    rig.port.last('drive_distance').succeed(MotionResult(2.0))
    rig.tick()
    status = rig.status(request_id)
    assert subtypes(rig, request_id) == [V.ACCEPTANCE_SUCCESS, V.START_SUCCESS,
                                         V.COMPLETION_FAILURE]
    assert status.failure.code is ErrorCode.INTERLOCK
    assert status.failure.reason == 'shovel forbids driving'
    assert status.result is None


def test_a_command_without_completion_times_out_and_the_rover_is_stopped(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=BridgeConfig(command_timeout_margin=5.0,
                                                 link_timeout=60.0, safing_timeout=120.0))
    request_id = rig.send(cmd.Drive(1.0, 0.1))
    rig.tick(24.0)
    assert rig.status(request_id).failure is None
    rig.tick(1.5)
    assert rig.status(request_id).failure.code is ErrorCode.TIMEOUT
    assert rig.port.names() == ['drive_distance', 'stop']
    rig.bridge.close()


def test_housekeeping_commands_change_what_is_reported(rig):
    rig.send(cmd.HkDisable(tuple(HkSet)))
    rig.items.clear()
    rig.tick(5.0)
    rig.send(cmd.Ping(), ack=AckFlag.NONE)
    rig.tick(5.0)
    assert not [i for i in rig.items if isinstance(i, Housekeeping)]
    request_id = rig.send(cmd.HkOneShot((HkSet.SHOVEL, HkSet.LINK)))
    assert subtypes(rig, request_id) == SUCCESS
    sids = [i.sid for i in rig.items if isinstance(i, Housekeeping)]
    assert sids == [HkSet.SHOVEL, HkSet.LINK]
    rig.items.clear()
    rig.send(cmd.HkSetInterval(((HkSet.MOBILITY, 0.5),)))
    rig.send(cmd.HkEnable((HkSet.MOBILITY,)))
    for _ in range(20):
        rig.tick(0.1)
    reports = [i for i in rig.items if isinstance(i, Housekeeping)]
    assert {r.sid for r in reports} == {HkSet.MOBILITY}
    assert 4 <= len(reports) <= 6


def test_time_reports_on_request_and_periodically(rig):
    rig.send(cmd.TimeReportNow())
    times = [i for i in rig.items if isinstance(i, TimeItem)]
    assert len(times) == 1 and abs(times[0].report.utc - (rig.now + 1.8e9)) < 0.1
    rig.send(cmd.TimeSetRate(1))
    for _ in range(50):
        rig.tick(0.1)
    assert 3 <= len([i for i in rig.items if isinstance(i, TimeItem)]) - 1 <= 4


def test_products_and_downlink_without_a_store_fail_with_a_reason(rig):
    listing = rig.send(cmd.ListProducts())
    downlink = rig.send(cmd.DownlinkProduct('img-1'))
    assert rig.status(listing).failure.code is ErrorCode.UNAVAILABLE
    assert rig.status(downlink).failure.subtype is V.START_FAILURE


def test_success_reports_follow_the_ack_flags_failures_always_come(rig):
    quiet = rig.send(cmd.Ping(), ack=AckFlag.NONE)
    assert subtypes(rig, quiet) == []
    assert rig.status(quiet).finished is False
    only_completion = rig.send(cmd.Drive(1.0, 0.05), ack=AckFlag.COMPLETION)
    rig.port.last('drive_distance').succeed(MotionResult(1.0))
    rig.tick()
    assert subtypes(rig, only_completion) == [V.COMPLETION_SUCCESS]
    refused = rig.send(cmd.Drive(50.0, 0.05), ack=AckFlag.NONE)
    assert subtypes(rig, refused) == [V.ACCEPTANCE_FAILURE]


def test_fault_and_estop_edges_become_events(rig):
    rig.port.mobility = rig.port.mobility.__class__(0, 0, 0, 0, 0, 5, True, True, True)
    rig.tick()
    rig.port.shovel = rig.port.shovel.__class__(0, 0, 0, 0, 2, 1, 0)
    rig.tick()
    events = [i.event.event_id for i in rig.items if isinstance(i, EventReport)]
    assert EventId.ESTOP_ENGAGED in events
    assert events.count(EventId.ROVER_FAULT) == 2
    texts = [i.text for i in rig.items if isinstance(i, EventReport)]
    assert any('drive motor stall' in t for t in texts)


def test_results_of_a_restarted_bridge_are_not_confused_with_old_ones(rig):
    first = rig.send(cmd.Drive(1.0, 0.05))
    rig.restart_bridge()
    rig.port.completions[0].succeed(MotionResult(1.0))
    rig.tick()
    assert V.COMPLETION_SUCCESS not in subtypes(rig, first)
    assert not [i for i in rig.items if isinstance(i, Result)]
