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

"""Corrupt state files are moved aside and replaced; unusable ones are reported, not moved."""

import os
import sqlite3

import pytest
from rover_common.state_db import move_aside, open_state_db, StateDbUnavailable

SCHEMA = 'CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT);'


def _filled(path):
    opened = open_state_db(path, SCHEMA)
    opened.conn.execute("INSERT INTO t (v) VALUES ('kept')")
    opened.conn.close()


def test_a_healthy_file_keeps_its_rows(tmp_path):
    path = tmp_path / 'state.sqlite3'
    _filled(path)
    opened = open_state_db(path, SCHEMA)
    assert opened.moved_aside is None
    assert opened.conn.execute('SELECT v FROM t').fetchall() == [('kept',)]


def test_a_garbage_file_is_moved_aside_byte_for_byte_and_replaced(tmp_path):
    path = tmp_path / 'state.sqlite3'
    garbage = os.urandom(4096)
    path.write_bytes(garbage)
    opened = open_state_db(path, SCHEMA)
    assert opened.moved_aside is not None
    assert opened.moved_aside.read_bytes() == garbage
    assert opened.moved_aside.name.startswith('state.sqlite3.corrupt-')
    assert opened.conn.execute('SELECT count(*) FROM t').fetchone() == (0,)


def test_a_damaged_page_is_found_by_quick_check(tmp_path):
    path = tmp_path / 'state.sqlite3'
    opened = open_state_db(path, SCHEMA)
    opened.conn.execute('PRAGMA journal_mode = DELETE')
    opened.conn.executemany('INSERT INTO t (v) VALUES (?)', [('x' * 500,)] * 50)
    opened.conn.close()
    data = bytearray(path.read_bytes())
    data[4096:8192] = b'\xff' * 4096   # page 2 destroyed, file header intact
    path.write_bytes(bytes(data))
    again = open_state_db(path, SCHEMA)
    assert again.moved_aside is not None
    assert again.moved_aside.read_bytes() == bytes(data)


def test_a_locked_file_is_unavailable_and_left_alone(tmp_path):
    path = tmp_path / 'state.sqlite3'
    _filled(path)
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute('PRAGMA journal_mode = DELETE')
    holder.execute('BEGIN EXCLUSIVE')
    try:
        with pytest.raises(StateDbUnavailable, match='state.sqlite3'):
            open_state_db(path, SCHEMA, busy_timeout_s=0.05)
    finally:
        holder.rollback()
        holder.close()
    assert list(tmp_path.glob('*.corrupt-*')) == []
    assert open_state_db(path, SCHEMA).conn.execute('SELECT v FROM t').fetchall() == [
        ('kept',)]


def test_an_unwritable_directory_is_unavailable(tmp_path):
    blocker = tmp_path / 'not_a_dir'
    blocker.write_text('a file where a directory should be')
    with pytest.raises(StateDbUnavailable, match='directory'):
        open_state_db(blocker / 'state.sqlite3', SCHEMA)


def test_move_aside_never_overwrites_an_earlier_copy(tmp_path):
    path = tmp_path / 'state.sqlite3'
    path.write_bytes(b'first')
    first = move_aside(path)
    path.write_bytes(b'second')
    second = move_aside(path)
    assert first != second
    assert (first.read_bytes(), second.read_bytes()) == (b'first', b'second')


def test_a_bad_synchronous_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match='synchronous'):
        open_state_db(tmp_path / 'x.sqlite3', SCHEMA, synchronous='SOMETIMES')
