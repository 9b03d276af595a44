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
run_until_stopped as every node's main(), on a real process.

A small RoverNode prints a marker at each shutdown step; the test signals the process and
reads the order back: motion stopped first, then devices released, then the node destroyed,
exit code 0. Start-up errors the user must fix exit 1 with one fatal line; a callback that
raises still gets the motion stopped and exits non-zero.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Tuple

import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')

import rover_common  # noqa: E402, I100

PROBE = textwrap.dedent('''
    import sys
    import time
    from rover_common.param_spec import ParamSpec, ParamTable
    from rover_common.rover_node import RoverNode, run_until_stopped


    class NotConfigured(Exception):
        """A start-up error the user must fix."""


    class Probe(RoverNode):
        def __init__(self):
            super().__init__('probe', ParamTable([ParamSpec('rate', 10, 'rate', 'Hz', 1, 100)]))
            if sys.argv[1] == 'bad_start':
                raise NotConfigured('calibration file missing')
            if sys.argv[1] == 'failing_callback':
                self.create_timer(0.2, self.fail)
            print('ready', flush=True)

        def fail(self):
            raise RuntimeError('callback failed')

        def stop_motion(self):
            print('stop_motion', flush=True)

        def release(self):
            print('release', flush=True)
            if sys.argv[1] == 'hanging_teardown':
                time.sleep(30.0)

        def destroy_node(self):
            print('destroyed', flush=True)
            if sys.argv[1] == 'slow_destroy':
                time.sleep(30.0)  # as a DDS writer lingering for a vanished subscriber
            super().destroy_node()


    run_until_stopped(Probe, name='probe', startup_errors=(NotConfigured,))
    print('returned', flush=True)
    if sys.argv[1] == 'late_echo':
        time.sleep(1.0)  # the echo of the stop signal arrives after the teardown
''')

#: Markers of a clean shutdown, in the order they must appear.
SHUTDOWN_STEPS = ['stop_motion', 'release', 'destroyed']


def start_probe(tmp_path, case: str, ignore_sigint: bool = False) -> subprocess.Popen:
    """Start the probe node from the same rover_common the test imported."""
    script = tmp_path / 'probe.py'
    script.write_text(PROBE)
    package_root = os.path.dirname(os.path.dirname(rover_common.__file__))
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (package_root, env.get('PYTHONPATH')) if p)

    def ignore():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen([sys.executable, str(script), case], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=ignore if ignore_sigint else None)


def wait_for_line(process: subprocess.Popen, wanted: str) -> None:
    """Read output lines until ``wanted`` (the probe is up) or the end."""
    for line in process.stdout:
        if line.strip() == wanted:
            return
    pytest.fail(f'probe ended before printing {wanted!r}')


def markers(output: str):
    """Return the shutdown markers in the order printed."""
    return [line.strip() for line in output.splitlines() if line.strip() in SHUTDOWN_STEPS]


def stop_probe(tmp_path, case: str, steps, *, ignore_sigint: bool = False,
               timeout: float = 10.0) -> Tuple[str, int]:
    """
    Start the probe, wait until it is up, then play ``steps``; return output and exit code.

    A step is a signal to send, a line to wait for (consumed from the output) or a pause (s).
    """
    process = start_probe(tmp_path, case, ignore_sigint)
    try:
        wait_for_line(process, 'ready')
        for step in steps:
            if isinstance(step, str):
                wait_for_line(process, step)
            elif isinstance(step, float):
                time.sleep(step)
            else:
                process.send_signal(step)
        output, _ = process.communicate(timeout=timeout)
    finally:
        process.kill()
    return output, process.returncode


@pytest.mark.parametrize('signum, ignore_sigint', [
    (signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)])
def test_signal_stops_motion_first_then_releases_and_exits_zero(tmp_path, signum,
                                                                ignore_sigint):
    output, code = stop_probe(tmp_path, 'run', [signum], ignore_sigint=ignore_sigint)
    assert markers(output) == SHUTDOWN_STEPS, output
    assert f'{signal.Signals(signum).name}: stopped, shutting down' in output
    assert code == 0, output


def test_ctrl_c_delivered_twice_as_under_ros2_launch_is_one_clean_stop(tmp_path):
    # A terminal's Ctrl-C reaches the node and ros2 launch forwards its own SIGINT at once.
    output, code = stop_probe(tmp_path, 'run', [signal.SIGINT, signal.SIGINT])
    assert markers(output) == SHUTDOWN_STEPS, output
    assert code == 0, output


def test_an_echo_after_the_teardown_does_not_turn_a_clean_exit_into_death(tmp_path):
    _, code = stop_probe(tmp_path, 'late_echo', [signal.SIGINT, 'returned', signal.SIGINT])
    assert code == 0


def test_a_later_signal_ends_a_hanging_teardown(tmp_path):
    # 3.2 s: past the repeat grace (3 s)
    _, code = stop_probe(tmp_path, 'hanging_teardown',
                         [signal.SIGINT, 'release', 3.2, signal.SIGTERM])
    assert code == -signal.SIGTERM


def test_startup_error_is_one_fatal_line_and_exit_code_one(tmp_path):
    process = start_probe(tmp_path, 'bad_start')
    output, _ = process.communicate(timeout=10.0)
    assert process.returncode == 1, output
    assert 'cannot start: calibration file missing' in output
    assert 'Traceback' not in output
    assert markers(output) == []


def test_callback_failure_still_stops_motion_and_exits_non_zero(tmp_path):
    process = start_probe(tmp_path, 'failing_callback')
    output, _ = process.communicate(timeout=10.0)
    assert markers(output) == SHUTDOWN_STEPS, output
    assert 'callback failed' in output
    assert process.returncode != 0


def test_a_slow_ros_teardown_is_cut_short_after_motion_and_devices_are_safe(tmp_path):
    started = time.monotonic()
    output, code = stop_probe(tmp_path, 'slow_destroy', [signal.SIGTERM], timeout=20.0)
    assert markers(output) == SHUTDOWN_STEPS, output
    assert 'exiting without waiting for it' in output
    assert code == 0
    assert time.monotonic() - started < 15.0, 'the 30 s destroy was not cut short'
