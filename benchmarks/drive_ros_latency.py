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
Benchmark of the drive node on a real ROS 2: cmd_vel -> wheel command latency and loop jitter.

Runs the ``drive`` node (gazebo backend, so wheel commands are ROS messages one can time) and
a probe node in one process under a multi-threaded executor, and prints:

- latency from publishing a ``TwistStamped`` on ``cmd_vel`` to receiving the first non-zero
  ``std_msgs/Float64`` on ``sim/front_left_wheel_joint/cmd_vel`` (p50/p99/max), against a bare
  rclpy publisher -> subscriber pair (``std_msgs/Float64``) timed in the same run; the
  drive's figure includes the wait for its next control tick (up to one period, 50 ms). Each
  command is sent at a random phase of the control period (uniform over one period after
  the previous stop is seen), otherwise every send lands just after a tick and the figure
  is always one full period;
- of that, the part spent after the control tick that applied the command (tick start ->
  wheel command received), and how many ticks started between send and wheel command (1:
  the next tick applied it; 2 only when the send falls just before a tick);
- the control loop's period jitter at the default 20 Hz (p50/p99/max of |period - 50 ms|).

Where rclpy is missing it prints why and exits 0.

    source /opt/ros/jazzy/setup.bash
    python3 benchmarks/drive_ros_latency.py [--trials 40] [--seconds 10]
"""

import argparse
import bisect
import random
import statistics
import sys
import threading
import time

try:
    import rclpy
except ImportError:
    print('drive_ros_latency: skipped: rclpy (ROS 2 Jazzy) is not installed; '
          'source /opt/ros/jazzy/setup.bash and run again')
    sys.exit(0)

from geometry_msgs.msg import TwistStamped  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rover_drive.drive_node import DriveNode  # noqa: E402
from std_msgs.msg import Float64  # noqa: E402

PERIOD = 0.05


class TimedDriveNode(DriveNode):
    """The drive node, recording when each control tick starts."""

    def __init__(self, **kwargs) -> None:
        self.ticks = []
        super().__init__(**kwargs)

    def _on_control(self) -> None:
        self.ticks.append(time.perf_counter())
        super()._on_control()


class Probe(Node):
    """Publishes commands and times what comes back."""

    def __init__(self) -> None:
        super().__init__('drive_latency_probe')
        self.cmd = self.create_publisher(TwistStamped, 'cmd_vel', 10)
        self.wheel_event = threading.Event()
        self.wheel_time = 0.0
        self.wheel_value = 0.0
        self.create_subscription(Float64, 'sim/front_left_wheel_joint/cmd_vel',
                                 self._on_wheel, 10)
        self.echo_pub = self.create_publisher(Float64, 'bench_echo', 10)
        self.echo_event = threading.Event()
        self.echo_time = 0.0
        self.create_subscription(Float64, 'bench_echo', self._on_echo, 10)

    def _on_wheel(self, msg: Float64) -> None:
        self.wheel_value = msg.data
        if msg.data > 0.0 and not self.wheel_event.is_set():
            self.wheel_time = time.perf_counter()
            self.wheel_event.set()

    def _on_echo(self, msg: Float64) -> None:
        self.echo_time = time.perf_counter()
        self.echo_event.set()

    def send(self, linear: float) -> float:
        msg = TwistStamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.twist.linear.x = linear
        sent = time.perf_counter()
        self.cmd.publish(msg)
        return sent


def percentiles(values):
    """Return p50, p99 and max of ``values``."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered), p99, ordered[-1]


def fmt(name, values, unit=1e3, label='ms'):
    """Return one result line."""
    p50, p99, peak = percentiles(values)
    return (f'  {name:<34} p50 {p50 * unit:7.2f} {label}  p99 {p99 * unit:7.2f} {label}  '
            f'max {peak * unit:7.2f} {label}  (n={len(values)})')


def main() -> None:
    """Run the measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--trials', type=int, default=40)
    parser.add_argument('--seconds', type=float, default=10.0, help='jitter window')
    args = parser.parse_args()
    rclpy.init()
    drive = TimedDriveNode(parameter_overrides=[
        Parameter('backend', value='gazebo'), Parameter('interlock_enabled', value=False),
        Parameter('cmd_timeout', value=0.1)])
    probe = Probe()
    executor = MultiThreadedExecutor(num_threads=6)
    executor.add_node(drive)
    executor.add_node(probe)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        time.sleep(1.0)  # discovery
        bare, drive_latency, after_tick, ticks_waited = [], [], [], []
        phase = random.Random(1)
        for _ in range(args.trials):
            probe.echo_event.clear()
            sent = time.perf_counter()
            probe.echo_pub.publish(Float64(data=1.0))
            if probe.echo_event.wait(1.0):
                bare.append(probe.echo_time - sent)
            # wait until the wheels are commanded to zero again, then command motion
            deadline = time.perf_counter() + 2.0
            while probe.wheel_value != 0.0 and time.perf_counter() < deadline:
                time.sleep(0.01)
            time.sleep(phase.uniform(0.0, PERIOD))  # no phase lock with the control timer
            probe.wheel_event.clear()
            sent = probe.send(0.1)
            if probe.wheel_event.wait(1.0):
                drive_latency.append(probe.wheel_time - sent)
                ticks = list(drive.ticks)
                applied = bisect.bisect(ticks, probe.wheel_time) - 1
                after_tick.append(probe.wheel_time - ticks[applied])
                ticks_waited.append(applied + 1 - bisect.bisect(ticks, sent))
            time.sleep(0.05)
        drive.ticks.clear()
        time.sleep(args.seconds)
        ticks = list(drive.ticks)
        jitter = [abs((b - a) - PERIOD) for a, b in zip(ticks, ticks[1:])]
        print('drive node on rclpy (same process, MultiThreadedExecutor)')
        print(fmt('bare Float64 pub -> sub', bare))
        print(fmt('cmd_vel -> wheel command', drive_latency))
        print(fmt('  of it: tick start -> wheel cmd', after_tick))
        if ticks_waited:
            counts = {n: ticks_waited.count(n) for n in sorted(set(ticks_waited))}
            print(f'  ticks started between send and wheel command: {counts} (1: the next '
                  f'tick applied it; 2: it arrived just after a tick had started)')
        if bare and drive_latency:
            print(f'  ratio of medians drive / bare      '
                  f'{statistics.median(drive_latency) / statistics.median(bare):7.1f} x '
                  f'(a tick waits up to {PERIOD * 1e3:.0f} ms)')
        if jitter:
            print(fmt(f'control period jitter at {1 / PERIOD:.0f} Hz', jitter))
    finally:
        drive.stop_motion()
        executor.shutdown(timeout_sec=2.0)
        drive.destroy_node()
        probe.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
