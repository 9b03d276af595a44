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

"""Shared helpers of the drive core tests: a controller on the fake wheels, simulated time."""

import pytest
from rover_drive.backends.fake import FakeWheels
from rover_drive.drive_controller import DriveController
from rover_drive.parameters import DRIVE_PARAMETERS
from rover_drive.skid_steer import SkidSteerGeometry

PERIOD = 0.05


class Rig:
    """A DriveController on FakeWheels, stepped on simulated time."""

    def __init__(self, **params):
        params.setdefault('interlock_enabled', False)
        slip = params.pop('slip', 0.0)
        noise = params.pop('noise', 0.0)
        time_constant = params.pop('time_constant', 0.05)
        values = DRIVE_PARAMETERS.validated(params)
        self.geometry = SkidSteerGeometry(values['wheel_radius'], values['track'],
                                          values['icr_factor'])
        self.wheels = FakeWheels(self.geometry, time_constant=time_constant, slip=slip,
                                 noise=noise, seed=1)
        self.now = 0.0
        self.controller = DriveController(params, self.wheels, now=self.now)

    def step(self, count=1, command=None):
        """Advance ``count`` periods; ``command(now)`` runs before each step."""
        status = None
        for _ in range(count):
            self.now += PERIOD
            if command is not None:
                command(self.now)
            status = self.controller.step(self.now)
        return status

    def run_move(self, move_id, limit_s=60.0):
        """Step until the move is done; return its final progress."""
        for _ in range(int(limit_s / PERIOD)):
            self.step()
            progress = self.controller.move_progress(move_id)
            if progress.done:
                return progress
        raise AssertionError(f'move {move_id} did not finish in {limit_s} s')


@pytest.fixture
def rig():
    return Rig()
