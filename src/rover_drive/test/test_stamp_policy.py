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

"""Stamp policy: unstamped, stale, future, tolerance clamp."""

import math

import pytest
from rover_drive.stamp_policy import StampPolicy, StampVerdict

POLICY = StampPolicy(future_tolerance=0.25)


def test_unstamped_takes_receive_time():
    for stamp in (None, 0.0):
        check = POLICY.check(stamp, 100.0, 0.5)
        assert check.verdict == StampVerdict.ACCEPTED and check.effective_time == 100.0


def test_fresh_stamp_keeps_its_time():
    check = POLICY.check(99.8, 100.0, 0.5)
    assert check.verdict == StampVerdict.ACCEPTED
    assert check.effective_time == 99.8
    assert check.age == pytest.approx(0.2)


def test_stamp_older_than_timeout_is_stale():
    assert POLICY.check(99.4, 100.0, 0.5).verdict == StampVerdict.STALE
    assert POLICY.check(99.4, 100.0, 1.0).verdict == StampVerdict.ACCEPTED


def test_future_stamp_beyond_tolerance_is_refused():
    assert POLICY.check(100.3, 100.0, 0.5).verdict == StampVerdict.FUTURE


def test_future_stamp_within_tolerance_is_clamped_to_now():
    check = POLICY.check(100.2, 100.0, 0.5)
    assert check.verdict == StampVerdict.ACCEPTED and check.effective_time == 100.0


def test_non_finite_stamp_is_stale():
    assert POLICY.check(math.nan, 100.0, 0.5).verdict == StampVerdict.STALE


def test_negative_tolerance_refused():
    with pytest.raises(ValueError):
        StampPolicy(future_tolerance=-0.1)
