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

"""Key files, MACs, the persisted anti-replay state (two copies) and the ground's counter."""

import hashlib
import json
import os
import sqlite3

import pytest
from rover_link.security import (ArsnCounter, generate_key_file, KeyFileError, load_key, MacEngine,
                                 ReplayError, ReplayGuard, ReplayPersistError, UplinkLocked)


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


def test_derived_keys_differ_per_purpose_and_never_verify_the_master_mac(key):
    mac = MacEngine({7: key})
    derived = mac.derive(7, b'rover sa-management', as_spi=9)
    again = MacEngine({7: key}).derive(7, b'rover sa-management', as_spi=9)
    other = mac.derive(7, b'rover other purpose', as_spi=9)
    data = b'reset the window'
    assert derived.spis == (9,)
    assert derived.tag(9, data) == again.tag(9, data)
    assert derived.tag(9, data) != other.tag(9, data)
    assert not MacEngine({9: key}).verify(9, data, derived.tag(9, data))


def test_ground_counter_can_be_moved_to_a_floor_the_rover_confirmed(tmp_path):
    counter = ArsnCounter(tmp_path / 'ground.sqlite3', 1, clock=lambda: 0.0)
    counter.take()
    counter.reset_to(5_000)
    assert counter.last() == 5_000 and counter.take()[0] == 5_001
    counter.reset_to(10)
    assert counter.take()[0] == 11
    with pytest.raises(ValueError, match='ARSN must be'):
        counter.reset_to(-1)
    assert counter.take()[0] == 12
    counter.close()


# -- the two copies of the replay state ----------------------------------------------------


def _guard(tmp_path, **kwargs) -> ReplayGuard:
    """Open the guard as the bridge does: window file in the state dir, floor file elsewhere."""
    return ReplayGuard(tmp_path / 'state' / 'replay.sqlite3', window=8,
                       floor_path=tmp_path / 'keys' / 'uplink.key.replay-floor', **kwargs)


def _used(tmp_path) -> ReplayGuard:
    """Accept ARSNs 100..119 (window 8: 112..119 kept, floor 119), persist, close."""
    guard = _guard(tmp_path)
    for arsn in range(100, 120):
        guard.accept(1, arsn)
    guard.persist()
    guard.close()
    return guard


def _lose(path) -> None:
    """Delete a file as a fault would, with its sqlite companions."""
    for suffix in ('', '-wal', '-shm', '-journal'):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _window_file(tmp_path):
    return tmp_path / 'state' / 'replay.sqlite3'


def _floor_file(tmp_path):
    return tmp_path / 'keys' / 'uplink.key.replay-floor'


def test_a_first_boot_starts_unlocked_and_writes_both_copies(tmp_path):
    guard = _guard(tmp_path)
    assert not guard.locked and guard.lock_reason == '' and guard.floor(1) is None
    guard.check(1, 0)
    assert _window_file(tmp_path).exists() and _floor_file(tmp_path).exists()
    assert oct(_floor_file(tmp_path).stat().st_mode & 0o777) == '0o600'
    guard.close()


def test_the_floor_file_is_checksummed_json_replaced_whole(tmp_path):
    guard = _used(tmp_path)
    document = json.loads(_floor_file(tmp_path).read_text())
    assert document['floors'] == {'1': 119} and document['challenge'] == guard.challenge.hex()
    body = {k: v for k, v in document.items() if k != 'sha256'}
    canonical = json.dumps(body, sort_keys=True, separators=(',', ':')).encode()
    assert document['sha256'] == hashlib.sha256(canonical).hexdigest()
    assert not list(_floor_file(tmp_path).parent.glob('*.tmp'))


@pytest.mark.parametrize('damage', ['deleted', 'truncated to 0 bytes', 'garbage'])
def test_a_lost_window_file_keeps_the_floor_of_the_second_copy(tmp_path, damage):
    _used(tmp_path)
    window = _window_file(tmp_path)
    if damage == 'deleted':
        _lose(window)
    elif damage == 'garbage':
        window.write_bytes(os.urandom(8192))
    else:
        window.write_bytes(b'')
    guard = _guard(tmp_path)
    assert not guard.locked and guard.floor(1) == 119
    for arsn in (100, 115, 119):
        with pytest.raises(ReplayError, match='at or below the floor 119'):
            guard.check(1, arsn)
    guard.accept(1, 120)
    guard.persist()
    if damage == 'garbage':
        assert len(guard.moved_aside) == 1 and guard.moved_aside[0].exists()
    guard.close()
    reopened = _guard(tmp_path)
    with pytest.raises(ReplayError):
        reopened.check(1, 120)
    reopened.check(1, 121)
    reopened.close()


def test_a_lost_floor_file_alone_keeps_the_window_and_is_written_again(tmp_path):
    _used(tmp_path)
    _lose(_floor_file(tmp_path))
    guard = _guard(tmp_path)
    assert not guard.locked and guard.floor(1) == 119
    with pytest.raises(ReplayError, match='accepted before'):
        guard.check(1, 115)
    with pytest.raises(ReplayError, match='older than'):
        guard.check(1, 111)
    assert json.loads(_floor_file(tmp_path).read_text())['floors'] == {'1': 119}
    guard.close()


def test_a_corrupt_floor_file_is_moved_aside_never_trusted(tmp_path):
    _used(tmp_path)
    floor = _floor_file(tmp_path)
    floor.write_text(floor.read_text().replace('119', '1'))
    guard = _guard(tmp_path)
    assert not guard.locked and guard.floor(1) == 119
    assert [p.name.split('.corrupt-')[0] for p in guard.moved_aside] == [floor.name]
    assert guard.moved_aside[0].read_text().count('"1": 1') == 1
    guard.close()


def test_both_copies_corrupt_after_use_lock_the_uplink(tmp_path):
    _used(tmp_path)
    _window_file(tmp_path).write_bytes(os.urandom(8192))
    _floor_file(tmp_path).write_bytes(b'{"format": "rover-replay-floor/1"')
    guard = _guard(tmp_path)
    assert guard.locked and 'replay state lost' in guard.lock_reason
    assert len(guard.moved_aside) == 2 and all(p.exists() for p in guard.moved_aside)
    for arsn in (0, 120, 2 ** 64 - 1):
        with pytest.raises(UplinkLocked, match='SA-management window reset'):
            guard.accept(1, arsn)
    guard.close()
    again = _guard(tmp_path)
    assert again.locked, 'the lock itself is persisted'
    again.close()


def test_both_copies_deleted_lock_once_the_owner_knows_of_an_earlier_boot(tmp_path):
    _used(tmp_path)
    _lose(_window_file(tmp_path))
    _lose(_floor_file(tmp_path))
    guard = _guard(tmp_path)
    assert not guard.locked, 'without a witness this is a first boot'
    guard.expect_existing('the bridge started 1 time(s) before')
    assert guard.locked and 'started 1 time(s) before' in guard.lock_reason
    with pytest.raises(UplinkLocked):
        guard.check(1, 100)
    guard.close()
    again = _guard(tmp_path)
    assert again.locked, 'persisted: no witness needed at the next start'
    again.close()


def test_a_window_file_from_before_the_floor_file_is_adopted(tmp_path):
    window = _window_file(tmp_path)
    window.parent.mkdir()
    old = sqlite3.connect(str(window))
    old.execute('CREATE TABLE accepted_arsn (spi INTEGER NOT NULL, arsn INTEGER NOT NULL, '
                'PRIMARY KEY (spi, arsn))')
    old.executemany('INSERT INTO accepted_arsn VALUES (1, ?)',
                    [(arsn - (1 << 63),) for arsn in range(100, 120)])
    old.commit()
    old.close()
    guard = _guard(tmp_path)
    assert not guard.locked and guard.floor(1) == 119
    with pytest.raises(ReplayError, match='older than'):
        guard.check(1, 105)
    guard.close()
    assert json.loads(_floor_file(tmp_path).read_text())['floors'] == {'1': 119}


def test_a_witness_after_use_changes_nothing(tmp_path):
    _used(tmp_path)
    guard = _guard(tmp_path)
    guard.expect_existing('the bridge started 5 time(s) before')
    assert not guard.locked and guard.floor(1) == 119
    guard.close()


def test_two_copies_of_one_generation_that_disagree_lock_the_uplink(tmp_path):
    _used(tmp_path)
    floor = _floor_file(tmp_path)
    document = json.loads(floor.read_text())
    body = {k: v for k, v in document.items() if k != 'sha256'}
    body['challenge'] = '00' * 16
    canonical = json.dumps(body, sort_keys=True, separators=(',', ':')).encode()
    floor.write_text(json.dumps(dict(body, sha256=hashlib.sha256(canonical).hexdigest())))
    guard = _guard(tmp_path)
    assert guard.locked and 'disagree' in guard.lock_reason
    assert guard.moved_aside and 'disagreeing' in guard.moved_aside[0].name
    guard.close()


def test_an_sa_reset_unlocks_rotates_the_challenge_and_may_lower_the_floor(tmp_path):
    _used(tmp_path)
    _lose(_window_file(tmp_path))
    _lose(_floor_file(tmp_path))
    guard = _guard(tmp_path)
    guard.expect_existing('booted before')
    challenge, epoch = guard.challenge, guard.epoch
    assert guard.reset_window(1, 50) is None
    assert not guard.locked and guard.floor(1) == 50 and guard.epoch == epoch + 1
    assert guard.challenge != challenge
    with pytest.raises(ReplayError, match='at or below the floor 50'):
        guard.check(1, 50)
    guard.accept(1, 51)
    guard.persist()
    assert guard.reset_window(1, 10) == 51
    guard.close()
    _lose(_window_file(tmp_path))
    from_file = _guard(tmp_path)
    assert not from_file.locked and from_file.floor(1) == 10
    from_file.check(1, 11)
    from_file.close()


def test_the_newest_generation_wins_over_a_higher_but_older_floor(tmp_path):
    guard = _used(tmp_path)
    stale = _floor_file(tmp_path).read_bytes()
    guard = _guard(tmp_path)
    guard.reset_window(1, 10)
    guard.close()
    _floor_file(tmp_path).write_bytes(stale)
    reopened = _guard(tmp_path)
    assert not reopened.locked and reopened.floor(1) == 10
    reopened.close()


def _block(path) -> sqlite3.Connection:
    """Hold the write lock of a sqlite file from another connection (another process)."""
    blocker = sqlite3.connect(str(path), isolation_level=None)
    blocker.execute('BEGIN IMMEDIATE')
    return blocker


def test_a_persist_under_a_locked_window_file_fails_cleanly_and_is_retried(tmp_path):
    guard = _guard(tmp_path)
    guard.accept(1, 5)
    blocker = _block(_window_file(tmp_path))
    with pytest.raises(ReplayPersistError, match='^replay.sqlite3: database is locked'):
        guard.persist()
    with pytest.raises(ReplayError, match='accepted before'):
        guard.check(1, 5)
    blocker.execute('ROLLBACK')
    blocker.close()
    guard.persist()
    guard.close()
    reopened = _guard(tmp_path)
    with pytest.raises(ReplayError):
        reopened.check(1, 5)
    reopened.close()


def test_a_floor_file_that_cannot_be_replaced_fails_the_persist(tmp_path):
    guard = _guard(tmp_path)
    floor = _floor_file(tmp_path)
    floor.unlink()
    floor.mkdir()
    guard.accept(1, 5)
    with pytest.raises(ReplayPersistError, match='^uplink.key.replay-floor: '):
        guard.persist()
    floor.rmdir()
    guard.persist()
    assert json.loads(floor.read_text())['floors'] == {'1': 5}
    guard.close()


def test_a_reset_that_cannot_be_persisted_changes_nothing(tmp_path):
    guard = _used(tmp_path)
    guard = _guard(tmp_path)
    challenge, epoch = guard.challenge, guard.epoch
    blocker = _block(_window_file(tmp_path))
    with pytest.raises(ReplayPersistError):
        guard.reset_window(1, 10)
    assert (guard.floor(1), guard.challenge, guard.epoch) == (119, challenge, epoch)
    with pytest.raises(ReplayError, match='accepted before'):
        guard.check(1, 119)
    blocker.execute('ROLLBACK')
    blocker.close()
    guard.close()
    reopened = _guard(tmp_path)
    assert reopened.floor(1) == 119 and reopened.challenge == challenge
    reopened.close()


def test_an_unopenable_window_file_refuses_everything_until_it_opens(tmp_path):
    _used(tmp_path)
    window = _window_file(tmp_path)
    _lose(window)
    window.mkdir()
    guard = _guard(tmp_path)
    assert not guard.available and guard.locked and 'unavailable' in guard.lock_reason
    with pytest.raises(UplinkLocked):
        guard.check(1, 500)
    with pytest.raises(ReplayPersistError):
        guard.reset_window(1, 10)
    assert not guard.reopen()
    window.rmdir()
    assert guard.reopen() and not guard.locked and guard.floor(1) == 119
    guard.close()
