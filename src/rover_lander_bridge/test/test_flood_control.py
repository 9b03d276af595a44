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
Flood control: a flood of authenticated but refused TCs costs a bounded number of reports.

Refusal reports (TM[1,2]) come out of a token bucket and are summed up beyond it; they travel
behind the reports of accepted commands, so a ping sent after a flood is answered in the
first downlink frame. Simulated time; the frames are real authenticated uplink frames.
"""

import struct

from conftest import Rig
from rover_ground.ground import EventReport, Housekeeping, PingReply, Verification
from rover_lander_bridge.bridge import BridgeConfig
from rover_lander_bridge.params import bridge_config, TABLE
from rover_link import commands as cmd
from rover_link.protocol import EventId, HkSet, VerificationSubtype as V

#: A link slow enough that one tick sends about one 1 kB frame.
SLOW = BridgeConfig(link_timeout=30.0, safing_timeout=60.0, downlink_rate_bps=20000.0,
                    burst_bytes=1100)


def refused_frames(rig, count):
    """Return ``count`` authenticated DRIVE frames whose distance is out of range."""
    return [rig.ground.command(cmd.Drive(50.0, 0.05), rig.now)[0] for _ in range(count)]


def refusals(items):
    return [i for i in items if isinstance(i, Verification) and i.subtype is V.ACCEPTANCE_FAILURE]


def suppressed_counts(items):
    return [struct.unpack('>I', i.event.aux)[0] for i in items if isinstance(i, EventReport)
            and i.event.event_id is EventId.TC_REFUSALS_SUPPRESSED]


def test_refusal_reports_are_budgeted_and_the_rest_summed_up(rig):
    config = rig.config
    rig.uplink(refused_frames(rig, 100))
    assert len(refusals(rig.items)) == config.refusal_report_burst
    assert suppressed_counts(rig.items) == [100 - config.refusal_report_burst]
    snapshot = rig.bridge.snapshot()
    assert snapshot.tc_rejected == 100, 'every refusal is counted, reported or not'
    assert snapshot.refusals_suppressed == 80
    rig.items.clear()
    rig.tick(1.0)
    rig.uplink(refused_frames(rig, 10))
    assert len(refusals(rig.items)) == int(config.refusal_report_rate * 1.0), \
        'the bucket refills at refusal_report_rate'
    assert suppressed_counts(rig.items) == [5]
    rig.send(cmd.HkOneShot((HkSet.LINK,)))
    link = [i.values for i in rig.items if isinstance(i, Housekeeping)][-1]
    assert link.refusals_suppressed == 85 and link.tc_rejected == 110


def test_a_ping_after_a_flood_is_answered_in_the_first_frame(tmp_path, mac):
    rig = Rig(tmp_path, mac, config=SLOW)
    rig.send(cmd.Ping())
    rig.pump(2.0)
    rig.items.clear()
    flood = refused_frames(rig, 300)
    ping, request_id = rig.ground.command(cmd.Ping(), rig.now)
    rig.uplink(flood + [ping])
    first_frame = rig.items
    assert any(isinstance(i, PingReply) for i in first_frame)
    answered = [i.subtype for i in first_frame
                if isinstance(i, Verification) and i.request_id == request_id]
    assert answered == [V.ACCEPTANCE_SUCCESS, V.START_SUCCESS, V.COMPLETION_SUCCESS]
    assert rig.bridge.snapshot().tm_backlog > 0, 'refusal reports were still queued'
    rig.pump(5.0)
    assert len(refusals(rig.items)) == SLOW.refusal_report_burst, \
        'the queued refusal reports follow; no more than the budget was queued'
    rig.bridge.close()


def test_the_refusal_budget_comes_from_the_parameters():
    config = bridge_config(TABLE.validated({'refusal_report_rate': 2.5,
                                            'refusal_report_burst': 7,
                                            'hk_fault_interval': 12.0}))
    assert (config.refusal_report_rate, config.refusal_report_burst) == (2.5, 7)
    assert config.hk_intervals[HkSet.FAULT] == 12.0
