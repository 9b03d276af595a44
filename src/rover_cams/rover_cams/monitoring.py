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
Stream health: achieved frame rate, dropped frames, device errors, store usage.

:class:`StreamMonitor` is fed by the stream timer (one call per tick and per outcome, with a
monotonic time passed in) and turns that into a :class:`~rover_common.health.HealthReport`
for ``/diagnostics``. :func:`store_report` does the same for the product store.
"""

import collections
from typing import Dict, Optional

from rover_common.health import HealthReport, Level
from rover_common.product_store import RecoveryReport, StoreUsage

#: Below this share of the configured rate the stream is reported as slow.
SLOW_STREAM_SHARE = 0.8
#: The product store warns above this share of its budget.
STORE_WARN_SHARE = 0.9


class StreamMonitor:
    """
    Counters and a sliding frame-rate window of one camera stream.

    :param name: report name (``camera_left``).
    :param rate_hz: configured stream rate.
    :param window_s: frame-rate and recent-error window.
    """

    def __init__(self, name: str, rate_hz: float, window_s: float = 5.0) -> None:
        self.name = name
        self.rate_hz = float(rate_hz)
        self._window = float(window_s)
        self._frames = collections.deque()
        self._started: Optional[float] = None
        self._last_tick: Optional[float] = None
        self._last_error_time: Optional[float] = None
        self.frames = 0
        self.dropped = 0
        self.device_errors = 0
        self.last_error = ''

    def reset_rate(self, rate_hz: float, now: float) -> None:
        """Change the configured rate (or resume after a pause): restart the window."""
        self.rate_hz = float(rate_hz)
        self._frames.clear()
        self._started = now
        self._last_tick = None

    def tick(self, now: float) -> None:
        """
        Record a stream timer tick; ticks the timer skipped (overrun) count as dropped.

        :param now: monotonic seconds.
        """
        if self._started is None:
            self._started = now
        if self._last_tick is not None and self.rate_hz > 0:
            missed = int((now - self._last_tick) * self.rate_hz + 0.5) - 1
            if missed > 0:
                self.dropped += missed
        self._last_tick = now

    def frame(self, now: float) -> None:
        """Record a frame published at monotonic time ``now``."""
        self.frames += 1
        self._frames.append(now)
        self._trim(now)

    def no_frame(self, now: float, reason: str) -> None:
        """Record a tick that produced no frame (the source had none in time)."""
        self.dropped += 1
        self.last_error = reason

    def device_error(self, now: float, message: str) -> None:
        """Record a device failure."""
        self.device_errors += 1
        self.last_error = message
        self._last_error_time = now

    def fps(self, now: float) -> float:
        """Return the frame rate achieved over the window ending at ``now``."""
        self._trim(now)
        if self._started is None:
            return 0.0
        span = min(self._window, now - self._started)
        return len(self._frames) / span if span > 0 else 0.0

    def report(self, now: float, *, streaming: bool,
               values: Optional[Dict[str, str]] = None) -> HealthReport:
        """Return the health of the stream at ``now`` with extra ``values`` appended."""
        fps = self.fps(now)
        shown = {'fps': f'{fps:.2f}', 'target_fps': f'{self.rate_hz:.2f}',
                 'frames': str(self.frames), 'dropped': str(self.dropped),
                 'device_errors': str(self.device_errors), 'last_error': self.last_error}
        shown.update(values or {})
        recent_error = (self._last_error_time is not None and
                        now - self._last_error_time < self._window)
        warm = self._started is not None and now - self._started >= min(self._window, 2.0)
        if not streaming:
            return HealthReport(self.name, Level.OK, 'paused', shown)
        if recent_error:
            return HealthReport(self.name, Level.ERROR, f'device error: {self.last_error}',
                                shown)
        if warm and fps < SLOW_STREAM_SHARE * self.rate_hz:
            return HealthReport(self.name, Level.WARN,
                                f'{fps:.1f} fps of {self.rate_hz:.1f} configured', shown)
        return HealthReport(self.name, Level.OK, 'streaming', shown)

    def _trim(self, now: float) -> None:
        while self._frames and self._frames[0] <= now - self._window:
            self._frames.popleft()


def store_report(usage: StoreUsage, *, recovery: Optional[RecoveryReport] = None,
                 last_error: str = '') -> HealthReport:
    """Return the health of the product store: usage against budget, last failure."""
    values = {'used_bytes': str(usage.used_bytes), 'budget_bytes': str(usage.budget_bytes),
              'used_percent': f'{100 * usage.fraction:.1f}', 'products': str(usage.count),
              'pending_downlink': str(usage.pending_count), 'last_error': last_error}
    if recovery is not None:
        values['readopted_on_open'] = str(len(recovery.readopted))
        values['quarantined_on_open'] = str(len(recovery.quarantined))
        values['lost_on_open'] = str(len(recovery.vanished))
    if last_error:
        return HealthReport('product store', Level.ERROR, last_error, values)
    if recovery is not None and (recovery.quarantined or recovery.vanished
                                 or recovery.catalog_moved_aside):
        return HealthReport('product store', Level.WARN, recovery.summary(), values)
    if usage.fraction > STORE_WARN_SHARE:
        return HealthReport('product store', Level.WARN,
                            f'{100 * usage.fraction:.0f} % of the budget used', values)
    return HealthReport('product store', Level.OK,
                        f'{usage.count} products, {usage.pending_count} to downlink', values)
