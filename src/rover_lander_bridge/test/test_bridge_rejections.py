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

"""Forged, replayed, truncated and malformed frames: refused, counted, reported, never run."""

import os
import struct

from rover_ground.ground import EventReport
from rover_link import commands as cmd
from rover_link.framing import protect
from rover_link.protocol import (APID_ROVER, ErrorCode, EventId, RejectReason,
                                 VerificationSubtype as V)
from rover_link.security import MacEngine
from rover_link.telemetry import Event
from spacepackets.ecss.tc import PusTc


def events(rig, event_id):
    return [i.event for i in rig.items
            if isinstance(i, EventReport) and i.event.event_id is event_id]


def rejection(event: Event):
    count, total, reason = struct.unpack('>IIH', event.aux)
    return count, total, RejectReason(reason)


def drive_frame(rig, distance=1.0):
    frame, request_id = rig.ground.command(cmd.Drive(distance, 0.05), rig.now)
    return frame, request_id


def raw_tc(rig, service, subtype, data, *, seq=77):
    packet = bytes(PusTc(service=service, message_subtype=subtype, app_data=data,
                         apid=APID_ROVER, seq_count=seq).pack())
    return rig.ground.protect_packet(packet), packet


def test_bad_mac_is_refused_counted_and_reported_but_not_answered(rig):
    frame, request_id = drive_frame(rig)
    forged = bytearray(frame)
    forged[-1] ^= 0x01
    rig.uplink([bytes(forged)])
    snap = rig.bridge.snapshot()
    assert rig.port.calls == []
    assert (snap.tc_auth_failures, snap.tc_rejected) == (1, 1)
    assert rig.status(request_id).reports == []
    assert rejection(events(rig, EventId.TC_AUTH_FAILURE)[0]) == (1, 1, RejectReason.BAD_MAC)


def test_frame_under_a_foreign_key_is_a_forgery(rig):
    attacker = MacEngine({1: os.urandom(32)})
    packet = bytes(PusTc(service=8, message_subtype=1, app_data=b'\x04', apid=APID_ROVER,
                         seq_count=1).pack())
    rig.uplink([protect(attacker, 1, 2 ** 40, packet)])
    assert rig.port.calls == []
    assert rig.bridge.snapshot().tc_auth_failures == 1


def test_replayed_frame_runs_once(rig):
    frame, request_id = drive_frame(rig)
    rig.uplink([frame])
    rig.uplink([frame])
    rig.uplink([frame, frame])
    assert rig.port.names() == ['drive_distance']
    assert rig.bridge.snapshot().tc_replays == 3
    assert [r.subtype for r in rig.status(request_id).reports] == [V.ACCEPTANCE_SUCCESS,
                                                                   V.START_SUCCESS]
    rig.tick(1.0)
    counts = [rejection(e) for e in events(rig, EventId.TC_REPLAY)]
    assert sum(c for c, _, _ in counts) == 3 and counts[-1][1] == 3


def test_replay_after_a_bridge_restart_is_refused(rig):
    frame, _ = drive_frame(rig)
    rig.uplink([frame])
    rig.restart_bridge()
    rig.uplink([frame])
    assert rig.port.names() == ['drive_distance']
    assert rig.bridge.snapshot().tc_replays == 1


def test_truncated_and_padded_frames_are_malformed(rig):
    frame, request_id = drive_frame(rig)
    rig.uplink([frame[:-3], frame[:12], frame + b'\x00', b''])
    snap = rig.bridge.snapshot()
    assert rig.port.calls == []
    assert snap.tc_malformed == 4 and snap.tc_rejected == 4
    reasons = {rejection(e)[2] for e in events(rig, EventId.TC_MALFORMED)}
    assert reasons <= {RejectReason.TRUNCATED, RejectReason.LENGTH_MISMATCH}
    rig.uplink([frame])
    assert rig.port.names() == ['drive_distance']


def test_bad_crc_in_an_authenticated_frame_gets_an_acceptance_failure(rig):
    _, packet = raw_tc(rig, 8, 1, b'\x03')
    broken = bytearray(packet)
    broken[-1] ^= 0xFF
    rig.uplink([rig.ground.protect_packet(bytes(broken))])
    reports = [i for i in rig.items if getattr(i, 'subtype', None) is V.ACCEPTANCE_FAILURE]
    assert [r.code for r in reports] == [ErrorCode.BAD_CRC]
    assert reports[0].request_id.tc_psc.seq_count == 77
    assert rig.port.calls == []
    assert rig.bridge.snapshot().tc_malformed == 1


def test_unknown_service_gets_an_acceptance_failure_naming_the_served_ones(rig):
    frame, _ = raw_tc(rig, 200, 1, b'')
    rig.uplink([frame])
    report = [i for i in rig.items if getattr(i, 'subtype', None) is V.ACCEPTANCE_FAILURE][0]
    assert report.code is ErrorCode.ILLEGAL_SERVICE
    assert 'services: 3, 8, 9, 17' in report.reason


def test_wrong_argument_length_gets_an_acceptance_failure(rig):
    frame, _ = raw_tc(rig, 8, 1, b'\x01' + struct.pack('>d', 1.0))
    rig.uplink([frame])
    report = [i for i in rig.items if getattr(i, 'subtype', None) is V.ACCEPTANCE_FAILURE][0]
    assert report.code is ErrorCode.BAD_ARGUMENT_LENGTH
    assert rig.port.calls == []


def test_out_of_range_argument_is_refused_before_anything_moves(rig):
    request_id = rig.send(cmd.Drive(100.0, 0.05))
    status = rig.status(request_id)
    assert [r.subtype for r in status.reports] == [V.ACCEPTANCE_FAILURE]
    assert status.failure.code is ErrorCode.ARGUMENT_OUT_OF_RANGE
    assert 'distance' in status.failure.reason and '100' in status.failure.reason
    assert rig.port.calls == []
    assert rig.bridge.snapshot().tc_rejected == 1


def test_tc_without_secondary_header_is_a_bad_packet(rig):
    packet = bytearray(PusTc(service=17, message_subtype=1, apid=APID_ROVER).pack())
    packet[0] &= ~0x08
    rig.uplink([rig.ground.protect_packet(bytes(packet))])
    report = [i for i in rig.items if getattr(i, 'subtype', None) is V.ACCEPTANCE_FAILURE][0]
    assert report.code is ErrorCode.BAD_PACKET


def test_unknown_apid_is_malformed(rig):
    packet = bytes(PusTc(service=17, message_subtype=1, apid=0x123).pack())
    rig.uplink([rig.ground.protect_packet(packet)])
    assert rig.bridge.snapshot().tc_malformed == 1
    assert events(rig, EventId.TC_MALFORMED)


def test_a_flood_of_forgeries_is_reported_in_few_events(rig):
    frame, _ = drive_frame(rig)
    forged = bytearray(frame)
    forged[20] ^= 0x10
    rig.uplink([bytes(forged)] * 500)
    rig.tick(0.5)
    rig.uplink([bytes(forged)] * 500)
    rig.tick(1.0)
    reported = [rejection(e) for e in events(rig, EventId.TC_AUTH_FAILURE)]
    assert len(reported) <= 3
    assert sum(c for c, _, _ in reported) == 1000
    assert reported[-1][1] == 1000
    assert rig.bridge.snapshot().tc_auth_failures == 1000


def test_refused_frames_are_not_contact(rig):
    frame, _ = drive_frame(rig)
    forged = bytearray(frame)
    forged[-2] ^= 0x01
    before = rig.bridge.link.last_contact
    rig.uplink([bytes(forged)], advance=3.0)
    assert rig.bridge.link.last_contact == before
