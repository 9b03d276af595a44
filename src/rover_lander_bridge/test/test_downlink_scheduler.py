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

"""The downlink budget is kept, and urgent packets go before routine ones before files."""

from collections import deque

import pytest
from rover_lander_bridge.downlink import DownlinkScheduler, TokenBucket


class ListSource:
    """A packet source over a list (what the TM store and CFDP sources look like)."""

    def __init__(self, tag: int, count: int, size: int) -> None:
        self.packets = deque(bytes([tag]) * size for _ in range(count))

    def peek(self):
        return self.packets[0] if self.packets else None

    def pop(self):
        return self.packets.popleft()


def scheduler(rate_bps=80_000.0, burst=2000, frame=1000, overhead=28):
    return DownlinkScheduler(rate_bps=rate_bps, burst_bytes=burst, max_frame_bytes=frame,
                             frame_overhead_bytes=overhead, now=0.0)


def test_bytes_on_the_link_never_exceed_rate_times_time_plus_burst():
    sched = scheduler()
    sources = [ListSource(1, 10000, 100)]
    sent, now = 0, 0.0
    for _ in range(1000):
        now += 0.01
        sent += sum(len(f) + 28 for f in sched.frames(now, sources))
        assert sent <= 10_000 * now + 2000
    assert sent >= 10_000 * now * 0.9


def test_urgent_before_routine_before_files_and_nothing_overtakes():
    sched = scheduler(burst=100_000, frame=1000)
    urgent, routine, files = ListSource(1, 5, 50), ListSource(2, 5, 50), ListSource(3, 5, 900)
    frames = sched.frames(0.0, [urgent, routine, files])
    order = [b for frame in frames for b in frame[::50]]
    tags = [t for t in order if t in (1, 2)]
    assert tags == [1] * 5 + [2] * 5
    assert frames[0][:250] == b'\x01' * 250
    assert all(len(f) <= 1000 for f in frames)


def test_a_packet_that_does_not_fit_waits_instead_of_being_overtaken():
    sched = scheduler(burst=1100, frame=1000, overhead=0)
    urgent = ListSource(1, 1, 900)
    routine = ListSource(2, 10, 50)
    first = sched.frames(0.0, [urgent, routine])
    assert first[0][:900] == b'\x01' * 900
    assert all(set(f[900:]) <= {2} for f in first)


def test_an_oversize_packet_goes_alone_when_the_bucket_is_full():
    sched = scheduler(burst=1100, frame=1000, overhead=0)
    big = ListSource(1, 1, 1500)
    assert sched.frames(0.0, [big]) == [b'\x01' * 1500]
    assert sched.frames(0.01, [ListSource(2, 1, 50)]) == []


def test_budget_changes_apply_at_run_time():
    sched = scheduler(rate_bps=8000.0, burst=1100, frame=1000, overhead=0)
    sched.frames(0.0, [ListSource(1, 100, 100)])
    sched.configure(rate_bps=800_000.0, burst_bytes=5000, max_frame_bytes=1000,
                    frame_overhead_bytes=0, now=0.0)
    assert sum(map(len, sched.frames(0.1, [ListSource(1, 100, 100)]))) == 5000


@pytest.mark.parametrize('kwargs, fragment', [
    ({'burst': 500}, 'burst_bytes'),
    ({'frame': 10}, 'max_frame_bytes'),
    ({'rate_bps': 0.0}, 'rate_bps'),
])
def test_bad_budgets_are_refused(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        scheduler(**kwargs)


def test_token_bucket_starts_full_and_refills_at_the_rate():
    bucket = TokenBucket(8000.0, 500, now=0.0)
    assert bucket.tokens(0.0) == 500 and bucket.full
    bucket.consume(800)
    assert bucket.tokens(0.0) == -300
    assert bucket.tokens(0.3) == pytest.approx(0.0)
    assert bucket.tokens(10.0) == 500
