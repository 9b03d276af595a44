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
When each housekeeping set is due: one interval and one enable flag per set (ST[3]).

The ground changes them with TC[3,5] (enable), TC[3,6] (disable) and TC[3,31] (interval).
Due times advance by whole intervals from the last report, so a late tick does not drift the
schedule, and a long stall reports once rather than in a burst.
"""

import math
from typing import Dict, Iterable, List, Mapping

from rover_link.protocol import HkSet


class HousekeepingSchedule:
    """
    Periodic generation of the housekeeping sets.

    :param intervals: seconds between reports, per set (every set must be given).
    :param enabled: the sets generated periodically from the start.
    :param now: start time (s); the first reports are due at once.
    """

    def __init__(self, intervals: Mapping[HkSet, float], enabled: Iterable[HkSet],
                 now: float) -> None:
        missing = set(HkSet) - set(intervals)
        if missing:
            raise ValueError(f'no interval for sets {sorted(s.name for s in missing)}')
        self._interval = {HkSet(sid): _checked(sid, seconds) for sid, seconds in intervals.items()}
        self._enabled = set(enabled)
        self._due: Dict[HkSet, float] = {sid: now for sid in HkSet}

    def interval(self, sid: HkSet) -> float:
        """Return the interval of a set (s)."""
        return self._interval[sid]

    def enabled(self, sid: HkSet) -> bool:
        """Return True if the set is generated periodically."""
        return sid in self._enabled

    def set_interval(self, sid: HkSet, seconds: float, now: float) -> None:
        """Set a set's interval; the next report is due one interval from now."""
        self._interval[HkSet(sid)] = _checked(sid, seconds)
        self._due[HkSet(sid)] = now + seconds

    def enable(self, sids: Iterable[HkSet], now: float) -> None:
        """Generate these sets periodically, the first report now."""
        for sid in sids:
            if sid not in self._enabled:
                self._enabled.add(sid)
                self._due[sid] = now

    def disable(self, sids: Iterable[HkSet]) -> None:
        """Stop the periodic generation of these sets."""
        self._enabled.difference_update(sids)

    def due(self, now: float) -> List[HkSet]:
        """Return the enabled sets due at ``now`` and schedule their next report."""
        ready = []
        for sid in sorted(self._enabled):
            if now >= self._due[sid]:
                ready.append(sid)
                interval = self._interval[sid]
                missed = math.floor((now - self._due[sid]) / interval)
                self._due[sid] += (missed + 1) * interval
        return ready


def _checked(sid: HkSet, seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds > 0.0):
        raise ValueError(f'interval of {HkSet(sid).name} must be > 0 s, got {seconds}')
    return float(seconds)
