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

"""Command arbitration: priorities, per-source timeouts, expiry reported once."""

import pytest
from rover_drive.arbitration import CommandArbiter, Source

TIMEOUTS = {Source.GROUND: 1.0, Source.TELEOP: 0.5, Source.AUTONOMY: 0.3}


def test_higher_priority_wins_while_fresh():
    arbiter = CommandArbiter(TIMEOUTS)
    arbiter.offer(Source.AUTONOMY, 0.05, 0.0, 0.0)
    arbiter.offer(Source.TELEOP, 0.02, 0.1, 0.0)
    command, _ = arbiter.select(0.1)
    assert command.source == Source.TELEOP and command.linear == 0.02
    arbiter.offer(Source.GROUND, -0.01, 0.0, 0.1)
    assert arbiter.select(0.2)[0].source == Source.GROUND


def test_lower_source_takes_over_when_higher_expires():
    arbiter = CommandArbiter(TIMEOUTS)
    arbiter.offer(Source.TELEOP, 0.02, 0.0, 0.0)
    arbiter.offer(Source.AUTONOMY, 0.05, 0.0, 0.4)
    command, expired = arbiter.select(0.6)
    assert expired == [Source.TELEOP]
    assert command.source == Source.AUTONOMY


def test_each_source_has_its_own_timeout():
    arbiter = CommandArbiter(TIMEOUTS)
    arbiter.offer(Source.GROUND, 0.01, 0.0, 0.0)
    arbiter.offer(Source.AUTONOMY, 0.01, 0.0, 0.0)
    command, expired = arbiter.select(0.4)
    assert expired == [Source.AUTONOMY] and command.source == Source.GROUND
    command, expired = arbiter.select(1.01)
    assert expired == [Source.GROUND] and command is None
    # reported once
    assert arbiter.select(1.2) == (None, [])


def test_clear_drops_commands():
    arbiter = CommandArbiter(TIMEOUTS)
    arbiter.offer(Source.TELEOP, 0.02, 0.0, 0.0)
    arbiter.clear()
    assert arbiter.select(0.1) == (None, [])


def test_estop_is_not_a_command_source():
    arbiter = CommandArbiter(TIMEOUTS)
    with pytest.raises(ValueError):
        arbiter.offer(Source.ESTOP, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        arbiter.set_timeout(Source.TELEOP, 0.0)
