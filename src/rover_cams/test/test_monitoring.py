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

"""Stream and store health reports."""

import pytest
from rover_cams.monitoring import store_report, StreamMonitor
from rover_common.health import Level
from rover_common.product_store import RecoveryReport, StoreUsage


def _stream(monitor: StreamMonitor, start: float, seconds: float, rate: float) -> float:
    t = start
    while t < start + seconds:
        monitor.tick(t)
        monitor.frame(t)
        t += 1.0 / rate
    return t


def test_fps_matches_the_rate_achieved():
    monitor = StreamMonitor('camera_left', 10.0, window_s=5.0)
    monitor.reset_rate(10.0, 0.0)
    t = _stream(monitor, 0.0, 6.0, 10.0)
    assert monitor.fps(t) == pytest.approx(10.0, rel=0.05)
    report = monitor.report(t, streaming=True)
    assert report.level is Level.OK and report.values['fps'] == '10.00'
    assert monitor.dropped == 0


def test_slow_stream_warns_and_missed_ticks_count_as_dropped():
    monitor = StreamMonitor('camera_left', 10.0)
    monitor.reset_rate(10.0, 0.0)
    t = _stream(monitor, 0.0, 6.0, 5.0)  # the timer only manages every other tick
    assert monitor.dropped >= 25
    report = monitor.report(t, streaming=True)
    assert report.level is Level.WARN and 'of 10.0 configured' in report.message


def test_no_frame_counts_dropped_and_device_error_is_an_error():
    monitor = StreamMonitor('camera_right', 5.0)
    monitor.reset_rate(5.0, 0.0)
    monitor.tick(0.0)
    monitor.no_frame(0.0, 'no frame from the simulator')
    assert monitor.dropped == 1 and monitor.last_error == 'no frame from the simulator'
    monitor.device_error(1.0, 'camera /dev/video0: no frame')
    report = monitor.report(1.5, streaming=True)
    assert report.level is Level.ERROR and 'device error' in report.message
    assert report.values['device_errors'] == '1'
    assert monitor.report(20.0, streaming=True).level is not Level.ERROR  # it ages out


def test_paused_stream_is_ok():
    monitor = StreamMonitor('camera_left', 5.0)
    report = monitor.report(100.0, streaming=False, values={'exposure_mode': 'auto'})
    assert report.level is Level.OK and report.message == 'paused'
    assert report.values['exposure_mode'] == 'auto'


def test_store_report_levels():
    usage = StoreUsage(used_bytes=100, budget_bytes=1000, count=2, pending_count=1)
    assert store_report(usage).level is Level.OK
    full = StoreUsage(used_bytes=950, budget_bytes=1000, count=2, pending_count=2)
    assert store_report(full).level is Level.WARN
    failed = store_report(usage, last_error='store full')
    assert failed.level is Level.ERROR and failed.message == 'store full'
    lost = store_report(usage, recovery=RecoveryReport(vanished=('img-x',)))
    assert lost.level is Level.WARN and lost.values['lost_on_open'] == '1'
    assert lost.message == '0 re-adopted, 0 quarantined, 1 vanished'
    readopted = store_report(usage, recovery=RecoveryReport(readopted=('img-y',)))
    assert readopted.level is Level.OK and readopted.values['readopted_on_open'] == '1'
