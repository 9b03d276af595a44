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
Health reports from the ROS-free cores, turned into ``/diagnostics`` by the node layer.

Levels match ``diagnostic_msgs/DiagnosticStatus`` so the conversion is a copy.
"""

from dataclasses import dataclass, field
import enum
from typing import Dict, List


class Level(enum.IntEnum):
    """Severity, with the numeric values of diagnostic_msgs/DiagnosticStatus."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


@dataclass(frozen=True)
class HealthReport:
    """
    One named status of a component (``drive: wheels``, ``camera_left``, ``link``).

    ``values`` are key/value strings shown by rqt_robot_monitor; keep them short.
    """

    name: str
    level: Level
    message: str
    values: Dict[str, str] = field(default_factory=dict)


def worst(reports: List[HealthReport]) -> Level:
    """Return the most severe level among ``reports`` (OK for none)."""
    return max((r.level for r in reports), default=Level.OK)
