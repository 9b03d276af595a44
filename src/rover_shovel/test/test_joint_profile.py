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

"""The joint setpoint never exceeds its speed, acceleration or position limits."""

from hypothesis import given, settings, strategies as st
import pytest

from rover_shovel.joint_profile import JointProfile

DT = 0.05


def run(profile: JointProfile, *, max_velocity: float, max_acceleration: float,
        steps: int = 100000):
    """Step to rest; return the (position, velocity) trace."""
    trace = []
    while not profile.at_target and steps > 0:
        sp = profile.step(DT)
        trace.append((sp.position, sp.velocity))
        steps -= 1
    return trace


@settings(max_examples=200, deadline=None)
@given(start=st.floats(0.0, 2.0), target=st.floats(0.0, 2.0), vmax=st.floats(0.05, 2.0),
       amax=st.floats(0.1, 5.0))
def test_rest_to_rest_moves_respect_limits_and_land_without_overshoot(start, target, vmax,
                                                                      amax):
    profile = JointProfile(start, lower=0.0, upper=2.0)
    profile.move_to(target, max_velocity=vmax, max_acceleration=amax)
    trace = run(profile, max_velocity=vmax, max_acceleration=amax)
    previous = 0.0
    direction = 1.0 if target >= start else -1.0
    for position, velocity in trace:
        assert abs(velocity) <= vmax + 1e-9
        assert abs(velocity - previous) <= amax * DT * (1 + 1e-9)
        assert (position - target) * direction <= 1e-12
        previous = velocity
    assert profile.setpoint.position == target
    planned = profile.planned_duration(start, target, vmax, amax)
    assert len(trace) * DT <= planned + 3 * DT


def test_targets_beyond_the_limits_are_clamped():
    profile = JointProfile(1.0, lower=0.0, upper=2.0)
    profile.move_to(5.0, max_velocity=1.0, max_acceleration=2.0)
    assert profile.target == 2.0
    run(profile, max_velocity=1.0, max_acceleration=2.0)
    assert profile.setpoint.position == 2.0


def test_stop_brakes_within_the_acceleration_limit():
    profile = JointProfile(0.0, lower=0.0, upper=2.0)
    profile.move_to(2.0, max_velocity=0.6, max_acceleration=2.0)
    for _ in range(10):
        profile.step(DT)
    moving = profile.setpoint
    assert moving.velocity == pytest.approx(0.6)
    profile.stop()
    previous = moving.velocity
    while not profile.at_target:
        sp = profile.step(DT)
        assert abs(sp.velocity - previous) <= 2.0 * DT + 1e-9
        previous = sp.velocity
    # braking distance v^2 / 2a = 0.09 rad, give or take a step
    assert profile.setpoint.position - moving.position == pytest.approx(0.09, abs=0.04)


def test_hold_stops_at_once():
    profile = JointProfile(0.0, lower=0.0, upper=2.0)
    profile.move_to(2.0, max_velocity=0.6, max_acceleration=2.0)
    for _ in range(5):
        profile.step(DT)
    profile.hold(0.3)
    assert profile.at_target and profile.setpoint.position == 0.3
    assert profile.step(DT).position == 0.3


def test_reversal_mid_move_stays_within_limits():
    profile = JointProfile(0.0, lower=0.0, upper=2.0)
    profile.move_to(1.5, max_velocity=0.6, max_acceleration=1.0)
    for _ in range(20):
        profile.step(DT)
    previous = profile.setpoint.velocity
    profile.move_to(0.4, max_velocity=0.6, max_acceleration=1.0)
    while not profile.at_target:
        sp = profile.step(DT)
        assert abs(sp.velocity - previous) <= 1.0 * DT + 1e-9
        assert 0.0 <= sp.position <= 2.0
        previous = sp.velocity
    assert profile.setpoint.position == 0.4


@pytest.mark.parametrize('kwargs', [
    {'max_velocity': 0.0, 'max_acceleration': 1.0},
    {'max_velocity': 1.0, 'max_acceleration': -1.0},
    {'max_velocity': float('nan'), 'max_acceleration': 1.0},
])
def test_bad_limits_are_refused(kwargs):
    profile = JointProfile(0.0, lower=0.0, upper=2.0)
    with pytest.raises(ValueError):
        profile.move_to(1.0, **kwargs)
    assert profile.target == 0.0
