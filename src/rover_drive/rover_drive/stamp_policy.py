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
Stamp policy for velocity commands that may cross delayed links and skewed clocks.

A command is valid from its *effective time* until that time plus its source's timeout:

* unstamped commands (``stamp`` None or 0.0, e.g. a plain ``Twist``) take the receive time;
* a stamp older than the source timeout at receipt is **stale** and refused: it was already
  expired when it arrived (a delayed or replayed command must not move the rover);
* a stamp more than ``future_tolerance`` ahead of the rover clock is **future** and refused:
  the sender's clock is skewed and its commands could otherwise stay valid too long;
* a stamp in the future within the tolerance is clamped to the receive time, so clock skew
  never extends how long a command stays valid.

The stamps must be on the rover clock (ROS time; sim time under Gazebo). A ground tool whose
clock is not synchronised should send unstamped commands or let the lander bridge stamp them.
"""

from dataclasses import dataclass
import enum
import math
from typing import Optional


class StampVerdict(enum.Enum):
    """Outcome of a stamp check."""

    ACCEPTED = 'accepted'
    STALE = 'stale'
    FUTURE = 'future'


@dataclass(frozen=True)
class StampCheck:
    """A verdict, the effective time of an accepted command, and the stamp's age (s)."""

    verdict: StampVerdict
    effective_time: float
    age: float


class StampPolicy:
    """
    Classify command stamps against the rover clock.

    :param future_tolerance: largest accepted lead of a stamp over the clock (s), >= 0.
    """

    def __init__(self, *, future_tolerance: float) -> None:
        if not (math.isfinite(future_tolerance) and future_tolerance >= 0.0):
            raise ValueError(f'future_tolerance must be >= 0 s, got {future_tolerance!r}')
        self.future_tolerance = future_tolerance

    def check(self, stamp: Optional[float], now: float, timeout: float) -> StampCheck:
        """
        Return the verdict for a command stamped ``stamp`` received at ``now``.

        :param stamp: the command's stamp (s), None or 0.0 when unstamped.
        :param now: the receive time on the rover clock (s).
        :param timeout: the timeout of the command's source (s).
        """
        if stamp is None or stamp == 0.0:
            return StampCheck(StampVerdict.ACCEPTED, now, 0.0)
        if not math.isfinite(stamp):
            return StampCheck(StampVerdict.STALE, now, math.inf)
        age = now - stamp
        if age > timeout:
            return StampCheck(StampVerdict.STALE, stamp, age)
        if -age > self.future_tolerance:
            return StampCheck(StampVerdict.FUTURE, stamp, age)
        return StampCheck(StampVerdict.ACCEPTED, min(stamp, now), age)
