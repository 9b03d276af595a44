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

"""The shovel interlock."""

import pytest
from rover_drive.interlock import DrivePermission, InterlockState, ShovelInterlock


def test_no_shovel_state_blocks():
    interlock = ShovelInterlock(enabled=True, creep_speed=0.02)
    assert interlock.state == InterlockState.BLOCKED
    assert interlock.rim_speed_limit() == 0.0
    assert 'no shovel state' in interlock.reason


@pytest.mark.parametrize('permission, state, limit', [
    (DrivePermission.ALLOWED, InterlockState.FREE, None),
    (DrivePermission.CREEP_ONLY, InterlockState.CREEP_ONLY, 0.02),
    (DrivePermission.FORBIDDEN, InterlockState.BLOCKED, 0.0)])
def test_permissions(permission, state, limit):
    interlock = ShovelInterlock(enabled=True, creep_speed=0.02)
    interlock.set_permission(int(permission))
    assert interlock.state == state
    assert interlock.rim_speed_limit() == limit


def test_unknown_permission_changes_nothing():
    interlock = ShovelInterlock(enabled=True, creep_speed=0.02)
    interlock.set_permission(0)
    with pytest.raises(ValueError, match='unknown drive permission 7'):
        interlock.set_permission(7)
    assert interlock.state == InterlockState.FREE


def test_disabled_interlock_is_free_and_says_so():
    interlock = ShovelInterlock(enabled=False, creep_speed=0.02)
    interlock.set_permission(2)
    assert interlock.state == InterlockState.FREE
    assert 'disabled' in interlock.reason


def test_creep_speed_must_be_positive():
    with pytest.raises(ValueError):
        ShovelInterlock(enabled=True, creep_speed=0.0)
