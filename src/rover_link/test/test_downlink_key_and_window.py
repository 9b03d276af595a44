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

"""
The downlink's key and the ground's anti-replay window over its sequence numbers.

The key is HKDF of the key file's key (never the uplink key itself); the window passes link
reordering, refuses repeats and numbers older than it, and, kept in a file, survives a restart
(moved aside when corrupt, refusing the frame when locked). The bridge's sealing of every frame
and the ground's refusals are tested end to end in rover_lander_bridge's test_downlink_auth.py.
"""

import os
import sqlite3

from conftest import SPI
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
import pytest
from rover_common.state_db import StateDbUnavailable
from rover_link.downlink_auth import derive_downlink_mac, DownlinkWindow
from rover_link.security import MacEngine, ReplayError


# -- the key -------------------------------------------------------------------------------


def test_the_downlink_key_is_hkdf_of_the_key_file_key_and_not_the_uplink_key(key):
    uplink = MacEngine({SPI: key})
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b'rover downlink').derive(key)
    down = derive_downlink_mac(uplink, SPI)
    data = os.urandom(100)
    assert down.tag(SPI, data) == MacEngine({SPI: expected}).tag(SPI, data)
    assert down.tag(SPI, data) != uplink.tag(SPI, data)
    assert down.tag(SPI, data) != derive_downlink_mac(MacEngine({SPI: os.urandom(32)}),
                                                      SPI).tag(SPI, data)
    with pytest.raises(ValueError, match='no key for SPI 2'):
        derive_downlink_mac(uplink, 2)


# -- the ground's window -------------------------------------------------------------------


def test_the_window_passes_reordering_and_refuses_repeats_and_old_numbers():
    window = DownlinkWindow(size=4)
    for dsn in (10, 12, 11, 13):
        window.accept(1, dsn)
    with pytest.raises(ReplayError, match='accepted before'):
        window.accept(1, 11)
    for dsn in (15, 14):
        window.accept(1, dsn)
    with pytest.raises(ReplayError, match='older than the anti-replay window'):
        window.accept(1, 9)
    window.accept(2, 9)
    window.accept(1, 16)


def test_a_garbage_window_file_is_moved_aside_and_kept(tmp_path):
    path = tmp_path / 'ground-state.sqlite3'
    path.write_bytes(b'not a database' * 100)
    window = DownlinkWindow(path=path)
    assert window.moved_aside is not None
    assert window.moved_aside.read_bytes() == b'not a database' * 100
    window.accept(1, 5)
    window.close()
    with pytest.raises(ReplayError):
        DownlinkWindow(path=path).accept(1, 5)


def test_a_locked_window_file_refuses_the_frame_and_names_the_file(tmp_path):
    path = tmp_path / 'ground-state.sqlite3'
    window = DownlinkWindow(path=path, busy_timeout_s=0.05)
    window.accept(1, 100)
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute('BEGIN EXCLUSIVE')
    try:
        with pytest.raises(StateDbUnavailable) as info:
            window.accept(1, 200)
        assert info.value.path == path
    finally:
        holder.execute('ROLLBACK')
        holder.close()
    window.accept(1, 200)
    window.close()
    with pytest.raises(ReplayError):
        DownlinkWindow(path=path).accept(1, 200)
