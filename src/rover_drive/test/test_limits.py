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

"""Speed limits and acceleration ramps."""

import math

import pytest
from rover_drive.limits import MotionLimits, ramp, scale_to_limits, TwistRamp

LIMITS = MotionLimits(0.1, 0.5, 0.2, 0.5, 1.0, 2.5)


def test_scale_keeps_curvature():
    linear, angular = scale_to_limits(0.3, 0.5, 0.1, 0.5)
    assert linear == pytest.approx(0.1)
    assert angular / linear == pytest.approx(0.5 / 0.3)
    assert scale_to_limits(0.05, -0.2, 0.1, 0.5) == (0.05, -0.2)
    linear, angular = scale_to_limits(-0.05, 2.0, 0.1, 0.5)
    assert angular == pytest.approx(0.5) and linear == pytest.approx(-0.0125)


def test_scale_refuses_non_finite():
    with pytest.raises(ValueError):
        scale_to_limits(math.nan, 0.0, 0.1, 0.5)
    with pytest.raises(ValueError):
        scale_to_limits(0.0, math.inf, 0.1, 0.5)


def test_ramp_accelerates_at_accel_and_brakes_at_decel():
    assert ramp(0.0, 0.1, 0.2, 0.5, 0.05) == pytest.approx(0.01)
    assert ramp(0.1, 0.0, 0.2, 0.5, 0.05) == pytest.approx(0.075)
    assert ramp(0.1, 0.05, 0.2, 0.5, 0.05) == pytest.approx(0.075)
    assert ramp(0.01, 0.0, 0.2, 0.5, 0.05) == 0.0
    assert ramp(0.1, 0.1, 0.2, 0.5, 0.05) == 0.1


def test_reversal_brakes_to_zero_first():
    value = 0.1
    history = []
    for _ in range(10):
        value = ramp(value, -0.1, 0.2, 0.5, 0.05)
        history.append(value)
    assert 0.0 in history
    first_negative = next(i for i, v in enumerate(history) if v < 0.0)
    assert history[first_negative - 1] == 0.0
    assert history[first_negative] == pytest.approx(-0.01)


def test_twist_ramp_stops_within_decel_time():
    twist = TwistRamp(LIMITS)
    twist.reset(0.1, 0.5)
    steps = 0
    while twist.twist != (0.0, 0.0):
        twist.step(0.0, 0.0, 0.05)
        steps += 1
    # 0.1 m/s at 0.5 m/s^2 and 0.5 rad/s at 2.5 rad/s^2: 0.2 s, i.e. four 50 ms steps
    assert steps == 4


def test_limits_refuse_non_positive():
    with pytest.raises(ValueError, match='linear_decel'):
        MotionLimits(0.1, 0.5, 0.2, 0.0, 1.0, 2.5)
