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
Fuzzing the uplink: no frame makes the bridge raise, every frame is counted once.

Four generators: raw bytes, mutations of a valid frame, authenticated frames around random
packets, and authenticated well-formed TCs with random service, subtype and data. The
invariant is the same for all: ``accepted + rejected + cfdp == frames``, and whatever reaches
the rover respects the limits. ``benchmarks/bridge_fuzz.py`` runs the same over 1 M frames.
"""

import math
import os
from pathlib import Path
import tempfile

from conftest import FakePort
from hypothesis import given, HealthCheck, settings, strategies as st
import pytest
from rover_ground.ground import GroundStation
from rover_lander_bridge.bridge import BridgeConfig, LanderBridge
from rover_lander_bridge.tm_store import TmStore
from rover_link.commands import CommandLimits, Drive
from rover_link.framing import protect
from rover_link.protocol import APID_CFDP, APID_ROVER
from rover_link.security import ArsnCounter, MacEngine, ReplayGuard
from spacepackets.ecss.tc import PusTc

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
LIMITS = CommandLimits()


class Target:
    """One bridge for a whole fuzz test, with its running frame count."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix='bridge-fuzz-'))
        self.mac = MacEngine({1: os.urandom(32)})
        self.port = FakePort()
        self.bridge = LanderBridge(
            BridgeConfig(), self.port, mac=self.mac,
            replay=ReplayGuard(self.dir / 'replay.sqlite3', synchronous='OFF'),
            tm_store=TmStore(self.dir / 'tm.sqlite3'), now=0.0)
        self.ground = GroundStation(mac=self.mac, spi=1,
                                    counter=ArsnCounter(self.dir / 'ground.sqlite3', 1))
        self.frames = 0
        self.now = 0.0
        self.valid, _ = self.ground.command(Drive(1.0, 0.05), 0.0)

    def feed(self, frames) -> None:
        self.now += 0.001
        self.bridge.handle_frames(frames, self.now)
        self.frames += len(frames)
        if self.frames % 50 == 0:
            self.bridge.tick(self.now)
        snap = self.bridge.status(self.now)
        assert snap.tc_accepted + snap.tc_rejected + snap.cfdp_pdus_received == self.frames
        for name, args in self.port.calls:
            check_call(name, args)


def check_call(name, args):
    """Whatever reached the rover is inside the limits."""
    if name == 'drive_distance':
        distance, speed = args
        assert 0 < abs(distance) <= LIMITS.max_drive_distance and 0 < speed <= 0.1
    elif name == 'turn':
        angle, rate = args
        assert 0 < abs(angle) <= LIMITS.max_turn_angle and 0 < rate <= LIMITS.max_turn_rate
    elif name == 'collect_sample':
        assert 0 <= args[0] <= LIMITS.max_dig_distance
    elif name == 'move_shovel':
        assert all(math.isfinite(a) for a in args[1:])


@pytest.fixture(scope='module')
def target():
    return Target()


@FUZZ
@given(frames=st.lists(st.binary(max_size=300), min_size=1, max_size=8))
def test_random_bytes(target, frames):
    target.feed(frames)


@FUZZ
@given(data=st.data())
def test_mutated_valid_frames(target, data):
    frame = bytearray(target.valid)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(['flip', 'cut', 'insert', 'delete']))
        index = data.draw(st.integers(0, max(len(frame) - 1, 0)))
        if kind == 'flip' and frame:
            frame[index] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == 'cut':
            del frame[index:]
        elif kind == 'insert':
            frame[index:index] = data.draw(st.binary(min_size=1, max_size=4))
        elif frame:
            del frame[index]
    calls = len(target.port.calls)
    target.feed([bytes(frame)])
    if bytes(frame) != target.valid:
        assert len(target.port.calls) == calls


@FUZZ
@given(packet=st.binary(min_size=7, max_size=200), apid=st.sampled_from([APID_ROVER,
                                                                         APID_CFDP, 0x7FF]))
def test_authenticated_random_packets(target, packet, apid):
    body = bytearray(packet)
    body[0] = 0x18 | (apid >> 8) | (body[0] & 0x08)
    body[1] = apid & 0xFF
    length = len(body) - 7
    body[4:6] = length.to_bytes(2, 'big')
    target.feed([target.ground.protect_packet(bytes(body))])


@FUZZ
@given(service=st.integers(0, 255), subtype=st.integers(0, 255),
       data=st.one_of(st.binary(max_size=40),
                      st.builds(lambda f, rest: bytes([f]) + rest, st.integers(0, 14),
                                st.binary(max_size=24))),
       ack=st.integers(0, 15))
def test_authenticated_well_formed_tcs(target, service, subtype, data, ack):
    tc = PusTc(service=service, message_subtype=subtype, app_data=data, apid=APID_ROVER,
               ack_flags=ack)
    target.feed([target.ground.protect_packet(bytes(tc.pack()))])


@FUZZ
@given(distance=st.floats(allow_nan=True, allow_infinity=True),
       speed=st.floats(allow_nan=True, allow_infinity=True))
def test_any_drive_arguments_never_exceed_the_limits(target, distance, speed):
    frame, _ = target.ground.command(Drive(distance, speed), target.now)
    target.feed([frame])


def test_forged_frames_never_execute(target, mac):
    attacker = GroundStation(mac=mac, spi=1, counter=ArsnCounter(
        target.dir / 'attacker.sqlite3', 1))
    calls = len(target.port.calls)
    frames = [attacker.command(Drive(1.0, 0.05), 0.0)[0] for _ in range(20)]
    frames += [protect(MacEngine({2: os.urandom(32)}), 2, 1,
                       bytes(PusTc(service=17, message_subtype=1).pack()))]
    target.feed(frames)
    assert len(target.port.calls) == calls
