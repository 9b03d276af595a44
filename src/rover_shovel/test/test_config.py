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

"""The shovel parameter table: defaults, ranges and the cross-checks that keep it sane."""

import math

import pytest
from rover_common.param_spec import ParameterError

from rover_shovel.config import PARAMS, ShovelConfig, TIMED_PHASES
from rover_shovel.shovel_types import NamedPose, Phase


def test_defaults_build_a_config_with_poses_inside_the_limits():
    config = ShovelConfig.from_overrides()
    for pose in NamedPose:
        assert config.lower_limit <= config.pose_angle(pose) <= config.upper_limit
    assert config.pose_angle(NamedPose.STOWED) == 0.0
    assert config.upper_limit == 2.0


def test_every_timed_phase_has_a_timeout_and_done_has_none():
    config = ShovelConfig.from_overrides(timeout_lift=7.5)
    assert config.phase_timeout(Phase.LIFT) == 7.5
    for phase in TIMED_PHASES:
        assert 0.0 < config.phase_timeout(phase) < math.inf
    assert config.phase_timeout(Phase.DONE) == math.inf


@pytest.mark.parametrize('overrides, words', [
    ({'pose_dig': 2.5}, 'pose_dig'),
    ({'lower_limit': 1.0, 'upper_limit': 0.5}, 'lower_limit'),
    ({'pose_travel': 0.5}, 'pose_travel'),
    ({'pose_dig': 0.9}, 'pose_dig'),
    ({'pose_dump': 0.55}, 'pose_dump .* must tip it down'),       # mouth still up
    ({'pose_hold': 1.7}, 'pose_hold .* must keep the mouth up'),    # mouth down: spills
    ({'spill_angle': 0.7}, 'spill_angle'),
    ({'pose_dump': 1.94}, 'dumping at dig depth would scoop again'),
    ({'lift_velocity': 1.0}, 'lift_velocity'),
    ({'stall_current': 0.7}, 'overcurrent_limit'),
    ({'dig_distance': 0.5}, 'dig_distance'),
    ({'dig_max_distance': 1.0}, 'timeout_dig'),
    ({'hold_settle': 20.0}, 'timeout_hold'),
    ({'servo_direction': 0}, 'servo_direction'),
    ({'backend': 'mock'}, 'hardware, gazebo, fake'),
    ({'max_velocity': -1.0}, 'max_velocity'),
    ({'evidence_camera': 'front'}, 'left, right, both'),
])
def test_inconsistent_values_are_refused_with_a_reason(overrides, words):
    with pytest.raises(ParameterError, match=words):
        ShovelConfig.from_overrides(**overrides)


def test_read_only_parameters_are_refused_after_start_up():
    reason = PARAMS.check_changes(PARAMS.defaults(), {'backend': 'hardware'})
    assert 'read-only' in reason
    assert PARAMS.check_changes(PARAMS.defaults(), {'max_velocity': 0.3}) is None


def test_every_parameter_says_what_it_is():
    for spec in PARAMS:
        assert len(spec.description) > 15, spec.name
