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

"""The core's enums must equal the constants of rover_interfaces (the node casts with int())."""

from pathlib import Path
import re

from rover_shovel.shovel_types import (Activity, DrivePermission, Fault, MoveError, NamedPose,
                                       Phase, SampleError)


def _interfaces_dir() -> Path:
    """Return rover_interfaces in the source tree, else its installed share directory."""
    source = Path(__file__).resolve().parents[2] / 'rover_interfaces'
    if (source / 'msg' / 'ShovelState.msg').is_file():
        return source
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory('rover_interfaces'))


INTERFACES = _interfaces_dir()
CONSTANT = re.compile(r'^\s*(uint8|string)\s+([A-Z0-9_]+)\s*=\s*(.+?)\s*$')


def constants(relpath: str, section: int = None) -> dict:
    """Return NAME -> value of an interface file (optionally one ``---`` section)."""
    text = (INTERFACES / relpath).read_text()
    parts = text.split('\n---\n')
    chosen = parts if section is None else [parts[section]]
    found = {}
    for part in chosen:
        for line in part.splitlines():
            match = CONSTANT.match(line)
            if match:
                kind, name, value = match.groups()
                found[name] = int(value) if kind == 'uint8' else value.strip('"')
    return found


def prefixed(table: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in table.items() if k.startswith(prefix)}


def test_shovel_state_constants():
    table = constants('msg/ShovelState.msg')
    assert prefixed(table, 'DRIVE_') == {p.name: p.value for p in DrivePermission}
    assert prefixed(table, 'FAULT_') == {f.name: f.value for f in Fault}
    assert prefixed(table, 'ACTIVITY_') == {a.name: a.value for a in Activity}


def test_collect_sample_constants():
    assert prefixed(constants('action/CollectSample.action', 2), 'PHASE_') == {
        p.name: p.value for p in Phase}
    assert prefixed(constants('action/CollectSample.action', 1), 'ERROR_') == {
        e.name: e.value for e in SampleError}


def test_move_shovel_constants():
    assert prefixed(constants('action/MoveShovel.action', 1), 'ERROR_') == {
        e.name: e.value for e in MoveError}
    assert prefixed(constants('action/MoveShovel.action', 0), 'POSE_') == {
        p.name: p.value for p in NamedPose}
