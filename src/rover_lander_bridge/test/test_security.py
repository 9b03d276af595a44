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

"""Key files, MACs, the persisted anti-replay window and the ground's ARSN counter."""

import os

import pytest
from rover_lander_bridge.security import (ArsnCounter, generate_key_file, KeyFileError,
                                          load_key, MacEngine, ReplayError, ReplayGuard)


def test_generated_key_file_loads_and_is_private(tmp_path):
    path = tmp_path / 'uplink.key'
    generate_key_file(path)
    assert oct(path.stat().st_mode & 0o777) == '0o600'
    assert len(load_key(path)) == 32
    with pytest.raises(KeyFileError, match='refusing to overwrite'):
        generate_key_file(path)


@pytest.mark.parametrize('content, mode, fragment', [
    ('00' * 32, 0o644, 'chmod 600'),
    ('zz' * 32, 0o600, 'hex digits'),
    ('00' * 16, 0o600, 'expected 32'),
])
def test_bad_key_files_are_refused(tmp_path, content, mode, fragment):
    path = tmp_path / 'bad.key'
    path.write_text(content)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match=fragment):
        load_key(path)


def test_missing_key_file_says_how_to_make_one(tmp_path):
    with pytest.raises(KeyFileError, match='keygen'):
        load_key(tmp_path / 'absent.key')


def test_mac_detects_every_single_bit_flip(key):
    mac = MacEngine({7: key})
    data = bytes(range(40))
    tag = mac.tag(7, data)
    assert mac.verify(7, data, tag)
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not mac.verify(7, bytes(flipped), tag)
    assert not mac.verify(8, data, tag)
    assert not MacEngine({7: os.urandom(32)}).verify(7, data, tag)


def test_replay_window_refuses_repeats_and_old_frames_but_tolerates_reordering(tmp_path):
    guard = ReplayGuard(tmp_path / 'replay.sqlite3', window=4)
    for arsn in (10, 12, 11, 14):
        guard.accept(1, arsn)
    with pytest.raises(ReplayError, match='accepted before'):
        guard.accept(1, 12)
    guard.accept(1, 13)
    with pytest.raises(ReplayError, match='older than'):
        guard.accept(1, 10)
    with pytest.raises(ReplayError, match='older than'):
        guard.accept(1, 9)
    guard.accept(2, 1)
    guard.close()


def test_replay_window_survives_a_restart(tmp_path):
    path = tmp_path / 'replay.sqlite3'
    guard = ReplayGuard(path, window=8)
    for arsn in range(100, 120):
        guard.accept(1, arsn)
    guard.persist()
    guard.close()
    reopened = ReplayGuard(path, window=8)
    for arsn in (100, 111, 119):
        with pytest.raises(ReplayError):
            reopened.check(1, arsn)
    reopened.check(1, 120)
    reopened.close()


def test_unpersisted_arsns_are_not_durable(tmp_path):
    """The bridge must persist before executing: this is what happens if it did not."""
    path = tmp_path / 'replay.sqlite3'
    guard = ReplayGuard(path)
    guard.accept(1, 5)
    reopened = ReplayGuard(path)
    reopened.check(1, 5)
    reopened.close()
    guard.close()


def test_full_64_bit_arsns_round_trip_through_sqlite(tmp_path):
    path = tmp_path / 'replay.sqlite3'
    guard = ReplayGuard(path, window=2)
    for arsn in (0, 2 ** 63, 2 ** 64 - 2):
        guard.accept(1, arsn)
    guard.close()
    reopened = ReplayGuard(path, window=2)
    with pytest.raises(ReplayError):
        reopened.check(1, 2 ** 64 - 2)
    with pytest.raises(ReplayError, match='older'):
        reopened.check(1, 5)
    reopened.check(1, 2 ** 64 - 1)
    reopened.close()


def test_ground_counter_persists_and_follows_the_clock(tmp_path):
    path = tmp_path / 'ground.sqlite3'
    counter = ArsnCounter(path, 1, clock=lambda: 0.0)
    first = [counter.take() for _ in range(3)]
    assert [a for a, _ in first] == [1, 2, 3]
    assert [s for _, s in first] == [0, 1, 2]
    counter.close()
    again = ArsnCounter(path, 1, clock=lambda: 0.0)
    assert again.take() == (4, 3)
    again.close()
    fresh = ArsnCounter(tmp_path / 'lost-state.sqlite3', 1, clock=lambda: 1000.0)
    assert fresh.take()[0] == 1_000_000
    fresh.close()
