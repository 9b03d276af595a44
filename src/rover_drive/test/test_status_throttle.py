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

"""When drive/status is published: at once on a change that matters, else at the rate."""

import dataclasses

import pytest
from rover_drive.drive_controller import Mode
from rover_drive.status_throttle import StatusThrottle


def test_first_status_goes_out_then_only_at_the_heartbeat_rate(rig):
    throttle = StatusThrottle()
    status = rig.step()
    assert throttle.due(status, 10.0, rate=5.0)
    assert not throttle.due(status, 10.05, rate=5.0)
    assert not throttle.due(status, 10.19, rate=5.0)
    assert throttle.due(status, 10.21, rate=5.0)
    assert not throttle.due(status, 10.3, rate=5.0)


@pytest.mark.parametrize('change', [
    {'mode': Mode.ESTOP}, {'estop_latched': True}, {'fault_latched': True},
    {'fault_reason': 'motor 2 overload'}, {'stopped': False}])
def test_a_change_that_matters_goes_out_at_once(rig, change):
    throttle = StatusThrottle()
    status = rig.step()
    assert throttle.due(status, 1.0, rate=1.0)
    assert throttle.due(dataclasses.replace(status, **change), 1.01, rate=1.0)
    assert not throttle.due(dataclasses.replace(status, **change), 1.02, rate=1.0)


def test_measured_values_alone_wait_for_the_heartbeat(rig):
    throttle = StatusThrottle()
    status = rig.step()
    assert throttle.due(status, 1.0, rate=1.0)
    assert not throttle.due(dataclasses.replace(status, measured_linear=0.05), 1.5, rate=1.0)


def test_a_clock_that_jumps_back_publishes_at_once(rig):
    throttle = StatusThrottle()
    status = rig.step()
    assert throttle.due(status, 100.0, rate=1.0)
    assert throttle.due(status, 3.0, rate=1.0)
    assert not throttle.due(status, 3.5, rate=1.0)


def test_rate_must_be_positive(rig):
    with pytest.raises(ValueError, match='rate'):
        StatusThrottle().due(rig.step(), 1.0, rate=0.0)
