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
SIGINT and SIGTERM as a stop request the main thread waits for, not as an exception.

Why not Python's default (KeyboardInterrupt) or rclpy's handler:

* rclpy's handler shuts the context down before ``finally`` runs, so a zero wheel command
  that is a ROS message (the Gazebo backend) could no longer be sent;
* Python installs its KeyboardInterrupt handler only when SIGINT is at its default at start.
  A process started from a non-interactive shell's background job (a script that runs
  ``ros2 launch ... &``) inherits SIGINT *ignored*: Ctrl-C forwarded by ``ros2 launch`` then
  does nothing, and the rover kept driving until the SIGTERM/SIGKILL escalation;
* SIGTERM's default action ends the process at once, skipping every ``finally``;
* KeyboardInterrupt is raised wherever the main thread happens to be, inside executor
  internals included.

:class:`StopSignals` installs its own handlers for both signals (whatever was inherited),
which only record the signal and set an event. The main thread waits on that event while the
executor spins in another thread (:class:`BackgroundSpin`); a signal interrupts the wait at
once.

Repeated signals: Ctrl-C in a terminal reaches every process of the foreground group, and
``ros2 launch`` then forwards its own SIGINT to each node, so a node launched from a terminal
gets the same stop twice within milliseconds. Ending the process on that echo would kill it
mid-teardown (launch reports "process has died, exit code -2"). So once the motion is
stopped (:meth:`StopSignals.allow_forced_exit`), only a repeat arriving ``repeat_grace``
seconds or more after the first signal ends the process with the signal's default action: a
second, deliberate Ctrl-C, or ``ros2 launch``'s SIGTERM escalation 5 s later, still ends a
teardown that hangs. The grace is 3 s because launch's own SIGINT reached a node more than a
second after the terminal's while Gazebo loaded both cores of a small machine.
"""

import os
import signal
import threading
import time
from typing import Callable, Optional, Tuple

#: The signals that ask a node to stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """
    Turn SIGINT/SIGTERM into a stop request; install from the main thread only.

    :param poll_interval: longest wait between checks (s), a bound for the rare case where
        the kernel hands the signal to a thread other than the waiting main thread.
    :param repeat_grace: after :meth:`allow_forced_exit`, a repeated signal this long (s) or
        longer after the first ends the process; earlier repeats are the same stop.
    """

    def __init__(self, poll_interval: float = 0.1, *, repeat_grace: float = 3.0) -> None:
        if poll_interval <= 0.0:
            raise ValueError(f'poll_interval must be > 0 s, got {poll_interval}')
        if repeat_grace < 0.0:
            raise ValueError(f'repeat_grace must be >= 0 s, got {repeat_grace}')
        self._poll_interval = poll_interval
        self._repeat_grace = repeat_grace
        self._event = threading.Event()
        self._received: Optional[signal.Signals] = None
        self._first_at = 0.0
        self._forced_exit_allowed = False

    @property
    def received(self) -> Optional[signal.Signals]:
        """Return the first stop signal received, None if the stop had another cause."""
        return self._received

    @property
    def stop_requested(self) -> bool:
        """Return whether a signal or :meth:`request_stop` asked for the stop."""
        return self._event.is_set()

    def install(self) -> 'StopSignals':
        """Install the handlers (replacing inherited ignored/default dispositions)."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        return self

    def allow_forced_exit(self) -> None:
        """
        Let a deliberate repeat end the process (call once the motion is stopped).

        A repeat of a stop signal ``repeat_grace`` s or more after the first then ends the
        process with that signal's default action, even where SIGINT was inherited ignored.
        """
        self._forced_exit_allowed = True

    def ignore_from_now(self) -> None:
        """
        Ignore both signals from now on (call when the teardown is over).

        An echo of the stop signal can still arrive while the interpreter exits, and Python
        puts the default action back for its own handlers during finalisation: the echo
        would then kill a process that had finished cleanly. Ignoring is kept through exit.
        """
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def request_stop(self) -> None:
        """Ask for the stop without a signal (the executor thread ended on its own)."""
        self._event.set()

    def wait(self) -> None:
        """Block until a stop is requested."""
        while not self._event.wait(self._poll_interval):
            pass

    def _on_signal(self, signum: int, frame) -> None:
        if self._received is None:
            self._received = signal.Signals(signum)
            self._first_at = time.monotonic()
        elif (self._forced_exit_allowed
              and time.monotonic() - self._first_at >= self._repeat_grace):
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self._event.set()


class BackgroundSpin:
    """
    Run ``spin`` in a daemon thread; when it returns or fails, request the stop.

    :param spin: blocks until the work is over (an executor's ``spin``).
    :param stop: the stop request the main thread waits on.
    :param expected: exceptions that are a normal end (a context shut down elsewhere).
    """

    def __init__(self, spin: Callable[[], None], stop: StopSignals, *,
                 expected: Tuple[type, ...] = ()) -> None:
        self._spin = spin
        self._stop = stop
        self._expected = expected
        self._failure: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name='background_spin',
                                        daemon=True)

    def start(self) -> None:
        """Start spinning."""
        self._thread.start()

    def join(self, timeout: float) -> Optional[BaseException]:
        """Wait up to ``timeout`` s for the end; return the failure for the caller to raise."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return self._failure

    def _run(self) -> None:
        try:
            self._spin()
        except self._expected:
            pass
        except BaseException as exc:  # handed to the main thread by join()
            self._failure = exc
        finally:
            self._stop.request_stop()
