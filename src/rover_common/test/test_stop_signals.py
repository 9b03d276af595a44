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

"""SIGINT/SIGTERM as a stop request: handlers installed over any inherited disposition."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import rover_common.stop_signals
from rover_common.stop_signals import BackgroundSpin, STOP_SIGNALS, StopSignals


@pytest.fixture
def saved_handlers():
    """Give the test process its SIGINT/SIGTERM handlers back whatever a test did."""
    saved = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    yield saved
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize('signum', STOP_SIGNALS)
def test_signal_requests_the_stop_and_is_remembered(saved_handlers, signum):
    stop = StopSignals().install()
    assert not stop.stop_requested and stop.received is None
    os.kill(os.getpid(), signum)
    assert stop.stop_requested
    assert stop.received == signum
    os.kill(os.getpid(), signal.SIGTERM if signum == signal.SIGINT else signal.SIGINT)
    assert stop.received == signum, 'the first signal is the one reported'


def test_inherited_ignored_sigint_is_overridden(saved_handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = StopSignals().install()
    os.kill(os.getpid(), signal.SIGINT)
    assert stop.received == signal.SIGINT


def test_wait_returns_at_once_on_a_signal_sent_while_waiting(saved_handlers):
    stop = StopSignals(poll_interval=10.0).install()
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    stop.wait()
    timer.join()
    assert stop.received == signal.SIGTERM
    assert time.monotonic() - started < 5.0, 'the signal did not interrupt the wait'


def test_request_stop_from_another_thread_ends_the_wait(saved_handlers):
    stop = StopSignals(poll_interval=0.05).install()
    threading.Timer(0.05, stop.request_stop).start()
    stop.wait()
    assert stop.stop_requested and stop.received is None


def test_an_echo_of_the_stop_signal_is_the_same_stop(saved_handlers):
    # A terminal's Ctrl-C reaches every process of the group and ros2 launch forwards it
    # again: the node must survive the echo and finish its teardown.
    stop = StopSignals(repeat_grace=5.0).install()
    os.kill(os.getpid(), signal.SIGINT)
    stop.allow_forced_exit()
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.received == signal.SIGINT


REPEAT_SCRIPT = """
import os, signal, sys, time
from rover_common.stop_signals import StopSignals
stop = StopSignals(repeat_grace=0.2).install()
os.kill(os.getpid(), signal.SIGINT)
if sys.argv[1] == 'allowed':
    stop.allow_forced_exit()
time.sleep(0.3)
os.kill(os.getpid(), signal.SIGINT)
time.sleep(0.5)
print('survived', flush=True)
"""


@pytest.mark.parametrize('allowed, survives', [(True, False), (False, True)])
def test_a_late_repeat_ends_the_process_once_forced_exit_is_allowed(allowed, survives):
    package_root = os.path.dirname(os.path.dirname(rover_common.stop_signals.__file__))
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (package_root, env.get('PYTHONPATH')) if p)
    result = subprocess.run(
        [sys.executable, '-c', REPEAT_SCRIPT, 'allowed' if allowed else 'not_yet'],
        env=env, capture_output=True, text=True, timeout=30)
    if survives:
        assert result.returncode == 0 and 'survived' in result.stdout, result.stderr
    else:
        assert result.returncode == -signal.SIGINT and 'survived' not in result.stdout


def test_ignore_from_now_ignores_both_signals(saved_handlers):
    stop = StopSignals().install()
    stop.ignore_from_now()
    os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)
    assert all(signal.getsignal(s) == signal.SIG_IGN for s in STOP_SIGNALS)
    assert not stop.stop_requested


def test_repeat_grace_must_not_be_negative():
    with pytest.raises(ValueError, match='repeat_grace'):
        StopSignals(repeat_grace=-1.0)


def test_poll_interval_must_be_positive():
    with pytest.raises(ValueError, match='poll_interval'):
        StopSignals(poll_interval=0.0)


class SpinFailed(Exception):
    """A failure inside the spin."""


class ShutDownElsewhere(Exception):
    """Stands for rclpy's ExternalShutdownException."""


def test_background_spin_end_requests_the_stop_and_hands_over_its_failure():
    stop = StopSignals(poll_interval=0.05)

    def failing_spin():
        raise SpinFailed('callback raised')

    spin = BackgroundSpin(failing_spin, stop, expected=(ShutDownElsewhere,))
    spin.start()
    stop.wait()
    failure = spin.join(timeout=1.0)
    assert isinstance(failure, SpinFailed)
    assert stop.received is None


def test_background_spin_expected_end_is_no_failure():
    stop = StopSignals(poll_interval=0.05)

    def shut_down_elsewhere():
        raise ShutDownElsewhere()

    spin = BackgroundSpin(shut_down_elsewhere, stop, expected=(ShutDownElsewhere,))
    spin.start()
    stop.wait()
    assert spin.join(timeout=1.0) is None


def test_background_spin_keeps_spinning_until_released_and_join_of_unstarted_is_safe():
    stop = StopSignals(poll_interval=0.05)
    release = threading.Event()
    spin = BackgroundSpin(release.wait, stop)
    assert spin.join(timeout=0.1) is None  # never started: nothing to wait for
    spin.start()
    time.sleep(0.1)
    assert not stop.stop_requested
    release.set()
    stop.wait()
    assert spin.join(timeout=1.0) is None
