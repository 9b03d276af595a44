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
The drive node as a real process: SIGINT or SIGTERM stops the wheels, then the process exits.

Each case starts ``python -m rover_drive.drive_node`` on the gazebo backend (its wheel
commands are ROS messages one can watch), drives it with a steady cmd_vel stream that keeps
running through the signal, and checks: the wheels were moving, a zero wheel command on
``sim/front_left_wheel_joint/cmd_vel`` follows the signal and is the last word, and the process
exits well before ``ros2 launch`` would escalate (SIGTERM after 5 s) with code 0 (or 128 +
the signal). One case starts the node with SIGINT inherited *ignored*, as a background job of
a non-interactive shell (``ros2 launch ... &`` in a script) does.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')

from geometry_msgs.msg import TwistStamped  # noqa: E402, I100
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rover_common.rover_node import COMMAND_QOS  # noqa: E402
import rover_drive.drive_node  # noqa: E402
from std_msgs.msg import Float64  # noqa: E402

#: Longest accepted time from the signal to the process's exit (s); ros2 launch escalates
#: to SIGTERM after 5 s. The node takes about 0.2 s; the margin is for a loaded machine.
EXIT_BOUND = 2.0
WHEEL_TOPIC = 'sim/front_left_wheel_joint/cmd_vel'


def start_drive(ignore_sigint: bool) -> subprocess.Popen:
    """Start the drive node from the same rover_drive the test imported."""
    package_root = os.path.dirname(os.path.dirname(rover_drive.drive_node.__file__))
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (package_root, env.get('PYTHONPATH')) if p)
    env['PYTHONUNBUFFERED'] = '1'

    def ignore():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [sys.executable, '-m', 'rover_drive.drive_node', '--ros-args',
         '-p', 'backend:=gazebo', '-p', 'interlock_enabled:=false'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=ignore if ignore_sigint else None)


class WheelWatcher:
    """Records the front-left wheel commands and streams cmd_vel at 20 Hz."""

    def __init__(self) -> None:
        self.node = Node('drive_shutdown_probe')
        self.wheel = []  # (monotonic receive time, rad/s)
        self.node.create_subscription(Float64, WHEEL_TOPIC, self._on_wheel, COMMAND_QOS)
        self._cmd = self.node.create_publisher(TwistStamped, 'cmd_vel', COMMAND_QOS)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self._spinner.start()
        self._streaming = threading.Event()
        self._streamer = threading.Thread(target=self._stream, daemon=True)

    def _on_wheel(self, msg: Float64) -> None:
        self.wheel.append((time.monotonic(), msg.data))

    def _stream(self) -> None:
        while self._streaming.is_set():
            msg = TwistStamped()
            msg.header.stamp = self.node.get_clock().now().to_msg()
            msg.twist.linear.x = 0.1
            self._cmd.publish(msg)
            time.sleep(0.05)

    def start_streaming(self) -> None:
        self._streaming.set()
        self._streamer.start()

    def close(self) -> None:
        self._streaming.clear()
        self._streamer.join(timeout=1.0)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def watcher():
    rclpy.init()
    w = WheelWatcher()
    yield w
    w.close()
    rclpy.try_shutdown()


@pytest.mark.parametrize('signum,ignore_sigint', [
    (signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=['sigint', 'sigint-inherited-ignored', 'sigterm'])
def test_signal_stops_the_wheels_and_the_process_exits(watcher, signum, ignore_sigint):
    process = start_drive(ignore_sigint)
    try:
        assert wait_for(lambda: watcher.wheel or process.poll() is not None, 20.0), \
            'the drive node published no wheel command'
        assert process.poll() is None, 'the drive node ended before the test'
        watcher.start_streaming()
        assert wait_for(lambda: any(v > 0.0 for _, v in watcher.wheel), 5.0), \
            'cmd_vel did not move the wheels'
        signalled = time.monotonic()
        process.send_signal(signum)
        try:
            code = process.wait(timeout=EXIT_BOUND + 3.0)
        except subprocess.TimeoutExpired:
            pytest.fail(f'drive node still running {EXIT_BOUND + 3.0} s after {signum.name}')
        took = time.monotonic() - signalled
        output = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert took < EXIT_BOUND, f'exit took {took:.2f} s after {signum.name}'
    assert code in (0, 128 + signum), f'exit code {code} after {signum.name}:\n{output}'
    time.sleep(0.3)  # let the last wheel messages arrive
    after = [v for t, v in watcher.wheel if t >= signalled]
    assert 0.0 in after, f'no zero wheel command after {signum.name}:\n{output}'
    assert watcher.wheel[-1][1] == 0.0, f'the last wheel command was {watcher.wheel[-1][1]}'
    assert f'{signum.name}: stopped, shutting down' in output
