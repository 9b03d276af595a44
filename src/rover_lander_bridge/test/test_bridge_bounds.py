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

"""The bridge's bounds: endless moves are refused, deadlines capped, reasons path-free."""

import os

from conftest import Rig
import pytest
from rover_common.product_store import ProductStore
from rover_lander_bridge.bridge import BridgeConfig
from rover_link import commands as cmd
from rover_link.cfdp import CfdpConfig, FileSender
from rover_link.protocol import (Camera, CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID, ErrorCode,
                                 Variant, VerificationSubtype as V)

#: A link that neither drops nor safes during a test's simulated minutes.
PATIENT = {'link_timeout': 3600.0, 'safing_timeout': 3600.0}


def test_a_drive_at_1e_300_m_s_is_refused_and_nothing_moves(rig):
    request_id = rig.send(cmd.Drive(1.0, 1e-300))
    failure = rig.status(request_id).failure
    assert failure.subtype is V.ACCEPTANCE_FAILURE
    assert failure.code is ErrorCode.ARGUMENT_OUT_OF_RANGE
    assert failure.reason == 'speed 1e-300 m/s is below min_drive_speed 0.005 m/s'
    assert rig.port.calls == []


def test_a_drive_whose_deadline_exceeds_max_command_duration_is_refused(rig):
    # 5 m at 0.01 m/s: both inside their limits, but 2 x 500 s + 30 s > 600 s.
    request_id = rig.send(cmd.Drive(5.0, 0.01))
    failure = rig.status(request_id).failure
    assert failure.subtype is V.ACCEPTANCE_FAILURE
    assert failure.reason == 'DRIVE deadline 1030 s is above max_command_duration 600 s'
    assert rig.port.calls == []
    accepted = rig.send(cmd.Drive(5.0, 0.02))
    assert rig.status(accepted).failure is None
    assert rig.port.names() == ['drive_distance']


def test_no_deadline_is_longer_than_max_command_duration(tmp_path, mac):
    # A margin bigger than the limits': the drive would get 2 x 100 s + 500 s = 700 s.
    rig = Rig(tmp_path, mac, config=BridgeConfig(command_timeout_margin=500.0, **PATIENT))
    request_id = rig.send(cmd.Drive(5.0, 0.05))
    rig.tick(599.0)
    assert rig.status(request_id).failure is None
    rig.tick(1.5)
    failure = rig.status(request_id).failure
    assert failure.code is ErrorCode.TIMEOUT
    assert failure.reason == 'Drive did not complete in 600 s; stopped'
    assert rig.port.names() == ['drive_distance', 'stop']
    rig.bridge.close()


@pytest.fixture
def store(tmp_path):
    with ProductStore(tmp_path / 'products', budget_bytes=10 << 20) as products:
        yield products


def test_a_downlink_failure_names_the_file_relative_to_the_store(tmp_path, mac, store):
    sender = FileSender(tmp_path / 'downlink.sqlite3', local_entity_id=CFDP_ROVER_ENTITY_ID,
                        remote_entity_id=CFDP_GROUND_ENTITY_ID, config=CfdpConfig())
    rig = Rig(tmp_path, mac, config=BridgeConfig(**PATIENT), products=store, files=sender)
    image, _ = store.put_with_thumbnail(os.urandom(2000), os.urandom(100), suffix='.jpg',
                                        stamp=1.8e9, camera='left')
    os.rename(image.path, tmp_path / 'moved-away.jpg')
    request_id = rig.send(cmd.DownlinkProduct(image.id, Variant.FULL))
    failure = rig.status(request_id).failure
    assert failure.subtype is V.START_FAILURE
    assert failure.code is ErrorCode.STORE_ERROR
    assert str(tmp_path) not in failure.reason and not failure.reason.startswith('/')
    assert f'products/{image.id}.jpg' in failure.reason
    assert len(failure.reason.encode()) <= 96
    rig.bridge.close()
    sender.close()


def test_an_absolute_path_outside_the_store_reaches_the_ground_as_its_file_name(rig):
    request_id = rig.send(cmd.Capture(Camera.LEFT, 0, 0))
    rig.port.last('capture').fail(
        ErrorCode.EXECUTION_FAILED,
        "capture failed: [Errno 28] No space left on device: '/var/lib/rover/spool/left.raw'")
    rig.tick()
    failure = rig.status(request_id).failure
    assert failure.reason == \
        "capture failed: [Errno 28] No space left on device: 'left.raw'"
