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

"""Skid-steer kinematics: round trips, curvature-keeping saturation, geometry checks."""

import math

from hypothesis import given, strategies as st
import pytest
from rover_drive.skid_steer import saturate_wheels, SkidSteerGeometry

GEOMETRY = SkidSteerGeometry(0.06, 0.26, 1.5)
speeds = st.floats(-1.0, 1.0, allow_nan=False)


@given(speeds, speeds)
def test_body_wheels_round_trip(linear, angular):
    wheels = GEOMETRY.body_to_wheels(linear, angular)
    back = GEOMETRY.wheels_to_body(wheels)
    assert back == pytest.approx((linear, angular), abs=1e-12)


def test_straight_and_spin_wheel_speeds():
    assert GEOMETRY.body_to_wheels(0.06, 0.0) == pytest.approx((1.0, 1.0, 1.0, 1.0))
    left, right, rear_left, rear_right = GEOMETRY.body_to_wheels(0.0, 1.0)
    # counter-clockwise: left wheels backwards, right forwards, by w * track_eff / 2 / r
    assert right == pytest.approx(0.5 * 0.26 * 1.5 / 0.06)
    assert left == -right and rear_left == left and rear_right == right


def test_icr_factor_widens_the_effective_track():
    plain = SkidSteerGeometry(0.06, 0.26, 1.0).body_to_wheels(0.0, 1.0)
    skid = GEOMETRY.body_to_wheels(0.0, 1.0)
    assert skid[1] == pytest.approx(1.5 * plain[1])


@given(speeds, speeds, st.floats(0.1, 5.0))
def test_saturation_keeps_curvature_and_limit(linear, angular, limit):
    wheels = GEOMETRY.body_to_wheels(linear, angular)
    saturated, factor = saturate_wheels(wheels, limit)
    assert max(abs(w) for w in saturated) <= limit + 1e-9
    assert 0.0 < factor <= 1.0
    v, w = GEOMETRY.wheels_to_body(saturated)
    assert v == pytest.approx(linear * factor, abs=1e-9)
    assert w == pytest.approx(angular * factor, abs=1e-9)


def test_saturation_leaves_slow_commands_alone():
    wheels = (1.0, -0.5, 1.0, -0.5)
    assert saturate_wheels(wheels, 3.0) == (wheels, 1.0)


def test_rim_speed_scale():
    assert GEOMETRY.rim_speed_scale(0.01, 0.0, 0.02) == 1.0
    assert GEOMETRY.rim_speed_scale(0.04, 0.0, 0.02) == pytest.approx(0.5)
    peak = 0.5 * 0.2 * 0.39
    assert GEOMETRY.rim_speed_scale(0.0, 0.2, 0.02) == pytest.approx(0.02 / peak)


@pytest.mark.parametrize('radius, track, icr', [
    (0.0, 0.26, 1.5), (0.06, -1.0, 1.5), (0.06, 0.26, 0.9), (math.nan, 0.26, 1.5)])
def test_invalid_geometry_is_refused(radius, track, icr):
    with pytest.raises(ValueError):
        SkidSteerGeometry(radius, track, icr)
