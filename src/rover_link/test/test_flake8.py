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

from pathlib import Path

import ament_flake8
from ament_flake8.main import main_with_errors
import pytest

PACKAGE = Path(__file__).resolve().parents[1]
AMENT_CONFIG = Path(ament_flake8.__file__).parent / 'configuration' / 'ament_flake8.ini'


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8(tmp_path):
    # ament's own configuration, checked in one process: flake8's worker pool forks, and a fork
    # after rclpy's DDS threads have started (node tests run earlier in the session) deadlocks.
    config = tmp_path / 'flake8.ini'
    config.write_text(AMENT_CONFIG.read_text() + 'jobs = 1\n')
    rc, errors = main_with_errors(argv=['--config', str(config), str(PACKAGE)])
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + '\n'.join(errors)
