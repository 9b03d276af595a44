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
ROS end to end: ground tool -> link emulator -> lander_bridge node -> the fake rover stack.

The fake stack (the drive, shovel and cameras nodes with their default fake backends) and the
lander_bridge node on a test key, behind an in-process link emulator. The
ground tool (the ``rover-ground`` console program, then the same ground session in-process)
drives the rover 1 m and gets the completion report; a link cut stops the rover and safes it;
a sample is collected and its evidence images arrive over CFDP.
"""

import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time
import unittest

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')
launch_testing = pytest.importorskip('launch_testing',
                                     reason='launch_testing (ROS 2 Jazzy) is not installed')

from launch import LaunchDescription  # noqa: E402, I100
from launch_ros.actions import Node  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from rover_common.rover_node import LATCHED_QOS  # noqa: E402
from rover_ground.ground import GroundStation  # noqa: E402
from rover_ground.ground_cli import GroundSession  # noqa: E402
from rover_ground.link_emulator import LinkEmulator, LinkProfile  # noqa: E402
from rover_interfaces.msg import DriveStatus, LinkStatus  # noqa: E402
from rover_link import commands as cmd  # noqa: E402
from rover_link.cfdp import CfdpConfig, FileReceiver  # noqa: E402
from rover_link.protocol import CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID, Variant  # noqa: E402
from rover_link.security import ArsnCounter, generate_key_file, load_key, MacEngine  # noqa: E402
from rover_link.telemetry import SampleResult  # noqa: E402
from rover_link.transports import free_udp_port, UdpTransport  # noqa: E402

WORKDIR = Path(tempfile.mkdtemp(prefix='lander_bridge_launch_'))
KEY = WORKDIR / 'uplink.key'
BRIDGE_PORT, GROUND_PORT = free_udp_port(), free_udp_port()
PROFILE = LinkProfile(delay_s=0.1, rate_bps=2e6)
EMULATOR = LinkEmulator(downlink=PROFILE, uplink=PROFILE,
                        rover_peer=('127.0.0.1', BRIDGE_PORT),
                        ground_peer=('127.0.0.1', GROUND_PORT))
CFDP = CfdpConfig(ack_timer_s=1.0, nak_timer_s=1.0, inactivity_s=30.0)


@pytest.mark.launch_test
def generate_test_description():
    """Launch the fake drive, shovel and cameras, and a bridge on the test key and link."""
    generate_key_file(KEY)
    EMULATOR.start()
    products = str(WORKDIR / 'products')
    rover = [Node(package='rover_drive', executable='drive_node', name='drive'),
             Node(package='rover_shovel', executable='shovel_node', name='shovel',
                  parameters=[{'product_dir': products}]),
             Node(package='rover_cams', executable='camera_node', name='cameras',
                  parameters=[{'product_dir': products}])]
    bridge = Node(package='rover_lander_bridge', executable='lander_bridge_node',
                  name='lander_bridge', output='screen', parameters=[{
                      'key_file': str(KEY), 'state_dir': str(WORKDIR / 'bridge'),
                      'product_dir': str(WORKDIR / 'products'),
                      'udp_local_host': '127.0.0.1', 'udp_local_port': BRIDGE_PORT,
                      'udp_remote_host': '127.0.0.1',
                      'udp_remote_port': EMULATOR.rover_address[1],
                      'link_timeout': 4.0, 'safing_timeout': 8.0,
                      'cfdp_ack_timer': 1.0, 'cfdp_nak_timer': 1.0, 'cfdp_inactivity': 30.0}])
    return LaunchDescription([*rover, bridge, launch_testing.actions.ReadyToTest()]), \
        {'bridge': bridge}


def ground_tool(*words: str, timeout: float = 90.0) -> subprocess.CompletedProcess:
    """Run the rover-ground console program against the emulator."""
    host, port = EMULATOR.ground_address
    return subprocess.run(
        [sys.executable, '-m', 'rover_ground.ground_cli', '--key', str(KEY),
         '--state', str(WORKDIR / 'ground.sqlite3'), '--local', f'127.0.0.1:{GROUND_PORT}',
         '--remote', f'{host}:{port}', '--downlink-dir', str(WORKDIR / 'downlink'),
         '--cfdp-timer', '1.0', '--heartbeat', '0.5', '--timeout', str(timeout),
         '--quiet-hk', *words],
        capture_output=True, text=True, timeout=timeout + 30.0, env=dict(os.environ))


class TestGroundOperatesTheFakeRover(unittest.TestCase):
    """The operator's view, through the emulated lander link."""

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('lander_bridge_probe')
        cls.drive_status = []
        cls.link_status = []
        cls.node.create_subscription(DriveStatus, 'drive/status', cls.drive_status.append,
                                     LATCHED_QOS)
        cls.node.create_subscription(LinkStatus, 'lander_bridge/link_status',
                                     cls.link_status.append, LATCHED_QOS)

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.try_shutdown()

    def spin_until(self, predicate, timeout: float, session=None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            rclpy.spin_once(self.node, timeout_sec=0.05)
            if session is not None:
                session.pump(0.05)
        return predicate()

    def session(self) -> GroundSession:
        receiver = FileReceiver(WORKDIR / 'downlink', local_entity_id=CFDP_GROUND_ENTITY_ID,
                                remote_entity_id=CFDP_ROVER_ENTITY_ID, config=CFDP)
        station = GroundStation(mac=MacEngine({1: load_key(KEY)}), spi=1,
                                counter=ArsnCounter(WORKDIR / 'ground.sqlite3', 1),
                                receiver=receiver)
        transport = UdpTransport(('127.0.0.1', GROUND_PORT), EMULATOR.ground_address)
        self.addCleanup(transport.close)
        return GroundSession(station, transport, heartbeat=0.5)

    def test_1_ground_tool_drives_1_m_and_the_completion_report_arrives(self):
        self.assertTrue(self.spin_until(lambda: self.link_status, 60.0),
                        'the lander_bridge node never published its link status')
        result = ground_tool('send', 'drive', '1.0', '0.1')
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn('drive 1 m at 0.1 m/s: completed', result.stdout)
        self.assertIn('drive 1 m at 0.1 m/s: result: ', result.stdout)

    def test_2_link_cut_stops_the_rover(self):
        session = self.session()
        self.assertTrue(session.wait(session.send(cmd.Release()), 20.0).completed)
        session.send(cmd.Drive(3.0, 0.1))
        self.assertTrue(self.spin_until(
            lambda: self.drive_status and self.drive_status[-1].mode ==
            DriveStatus.MODE_DRIVE_DISTANCE, 20.0, session))
        EMULATOR.set_outage(True)
        try:
            self.assertTrue(self.spin_until(
                lambda: self.link_status and self.link_status[-1].state ==
                LinkStatus.STATE_SAFED, 20.0))
            self.assertTrue(self.spin_until(lambda: self.drive_status[-1].stopped, 10.0))
        finally:
            EMULATOR.set_outage(False)
        self.assertTrue(session.wait(session.send(cmd.Release()), 20.0).completed)

    def test_3_sample_and_its_evidence_images_arrive_over_cfdp(self):
        session = self.session()
        status = session.wait(session.send(cmd.CollectSample()), 180.0)
        self.assertTrue(status.completed, status.failure)
        self.assertIsInstance(status.result, SampleResult)
        for image_id in status.result.image_ids:
            downlink = session.wait(session.send(cmd.DownlinkProduct(image_id, Variant.FULL)),
                                    120.0)
            self.assertTrue(downlink.completed, downlink.failure)
            received = WORKDIR / 'downlink' / downlink.result.file_name
            self.assertEqual(received.stat().st_size, downlink.result.size_bytes)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    """Every process ends cleanly."""

    def test_exit_codes(self, proc_info):
        EMULATOR.close()
        launch_testing.asserts.assertExitCodes(proc_info)
