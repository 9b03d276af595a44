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
The rover in a real Gazebo Harmonic: world loads, model spawns, joints obey, cameras see.

Runs a headless server (``gz sim -s -r --headless-rendering``) on worlds/lunar.sdf, spawns the
mode:=gazebo URDF as model ``rover`` through the world's ``create`` service, and talks to it
with the ``gz`` command line on the very topics config/gz_bridge.yaml bridges. It needs the
``gz`` command with gz-sim 8 and, for the cameras, an EGL-capable renderer; it is skipped with
the reason where Gazebo is missing. The server runs in its own gz-transport partition, so
other simulations on the machine are neither seen nor disturbed.
"""

import codecs
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import time
from typing import Dict, List, Union

from description_model import expand, PACKAGE_DIR, WHEELS, WORLD_PATH
from lxml import etree
import pytest

GZ = shutil.which('gz')
WORLD = 'lunar'
MODEL = 'rover'
SPAWN_HEIGHT = 0.08       # m
PREFIX = '/model/%s' % MODEL
JOINTS = ['%s_wheel_joint' % w for w in WHEELS] + ['shovel_joint']
STARTUP_TIMEOUT = 120.0   # s of wall time: the first start compiles shaders on a small machine


def gz_sim_major_version() -> Union[int, str]:
    """Return gz-sim's major version, or a reason why it cannot be run."""
    if GZ is None:
        return 'the gz command (Gazebo Harmonic) is not installed'
    try:
        result = subprocess.run([GZ, 'sim', '--versions'], capture_output=True, text=True,
                                timeout=30)
    except subprocess.TimeoutExpired:
        return 'gz sim --versions did not answer within 30 s'
    versions = re.findall(r'(\d+)\.\d+\.\d+', result.stdout)
    if result.returncode != 0 or not versions:
        return 'gz sim is not installed (gz sim --versions: %s)' % result.stderr.strip()[:200]
    return max(int(v) for v in versions)


Message = Dict[str, List[Union[str, float, 'Message']]]


def parse_text_message(text: str) -> Message:
    """Parse protobuf text format (what ``gz topic -e`` prints) into nested field lists."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"]+', text)
    stack: List[Message] = [{}]
    key = None
    for token in tokens:
        if token == ':':
            continue
        if token == '{':
            child: Message = {}
            stack[-1].setdefault(key, []).append(child)
            stack.append(child)
            key = None
        elif token == '}':
            stack.pop()
        elif key is None:
            key = token
        else:
            value: Union[str, float]
            if token.startswith('"'):
                value = token[1:-1]
            else:
                try:
                    value = float(token)
                except ValueError:
                    value = token
            stack[-1].setdefault(key, []).append(value)
            key = None
    return stack[0]


def field(message: Message, path: str, default=None):
    """Return the first value at a dotted path of a parsed message."""
    node: Union[Message, str, float] = message
    for name in path.split('.'):
        values = node.get(name) if isinstance(node, dict) else None
        if not values:
            return default
        node = values[0]
    return node


class GazeboServer:
    """A headless gz-sim server with the rover spawned in it, and the gz CLI to talk to it."""

    def __init__(self, work_dir: Path):
        self.env = dict(os.environ)
        self.env['GZ_PARTITION'] = 'rover_description_test_%d' % os.getpid()
        self.env['GZ_IP'] = '127.0.0.1'
        # package://rover_description/... resolves below the directory holding the package.
        self.env['GZ_SIM_RESOURCE_PATH'] = os.pathsep.join(
            p for p in (str(PACKAGE_DIR.parent), os.environ.get('GZ_SIM_RESOURCE_PATH')) if p)
        self.log_path = work_dir / 'gz_server.log'
        self.urdf_path = work_dir / 'rover.urdf'
        self.urdf_path.write_bytes(_urdf_bytes())
        self.process = None

    def start(self) -> None:
        """Start the server and spawn the rover; raise with the server log on failure."""
        with open(self.log_path, 'w') as log:
            self.process = subprocess.Popen(
                [GZ, 'sim', '-s', '-r', '--headless-rendering', '-v', '3', str(WORLD_PATH)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        service = '/world/%s/create' % WORLD
        while service not in self.cli(['service', '-l'], timeout=20.0):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('gz sim did not offer %s:\n%s' % (service, self.log()))
            time.sleep(1.0)
        request = 'sdf_filename: "%s" name: "%s" pose: {position: {z: %g}}' % (
            self.urdf_path, MODEL, SPAWN_HEIGHT)
        reply = self.cli(['service', '-s', service, '--reqtype', 'gz.msgs.EntityFactory',
                          '--reptype', 'gz.msgs.Boolean', '--timeout', '20000',
                          '--req', request], timeout=40.0)
        if 'data: true' not in reply:
            raise RuntimeError('spawning the rover failed: %r\n%s' % (reply, self.log()))

    def stop(self) -> None:
        """Stop the server this fixture started (its own process group only)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=20.0)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10.0)

    def log(self) -> str:
        """Return the tail of the server's output."""
        return self.log_path.read_text(errors='replace')[-4000:]

    def cli(self, arguments: List[str], timeout: float) -> str:
        """Run a gz command against this server and return its standard output."""
        try:
            result = subprocess.run([GZ] + arguments, env=self.env, capture_output=True,
                                    text=True, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            return error.stdout.decode() if isinstance(error.stdout, bytes) else (
                error.stdout or '')
        return result.stdout

    def echo(self, topic: str, timeout: float = 30.0) -> Message:
        """Return the next message on a gz topic, or fail the test after the timeout."""
        text = self.cli(['topic', '-e', '-n', '1', '-t', topic], timeout=timeout)
        if not text.strip():
            pytest.fail('no message on %s within %.0f s\n%s' % (topic, timeout, self.log()))
        return parse_text_message(text)

    def publish_double(self, topic: str, value: float, repeats: int = 3) -> None:
        """Publish a gz.msgs.Double a few times (the first may go out before discovery)."""
        for _ in range(repeats):
            self.cli(['topic', '-t', topic, '-m', 'gz.msgs.Double', '-p', 'data: %r' % value],
                     timeout=10.0)
            time.sleep(0.2)

    def joint_states(self) -> Dict[str, Message]:
        """Return {joint name: its axis1 message} from the joint state publisher."""
        message = self.echo('%s/joint_state' % PREFIX)
        return {field(j, 'name'): field(j, 'axis1', {}) for j in message.get('joint', [])}

    def pose(self) -> Message:
        """Return the rover's ground truth: base_link in the world frame."""
        return self.echo('%s/odometry' % PREFIX)['pose'][0]


def _urdf_bytes() -> bytes:
    return etree.tostring(expand('gazebo'), xml_declaration=True, encoding='utf-8')


@pytest.fixture(scope='module')
def gazebo(tmp_path_factory):
    version = gz_sim_major_version()
    if isinstance(version, str):
        pytest.skip(version)
    if version < 8:
        pytest.skip('needs gz-sim 8 (Harmonic), found gz-sim %d' % version)
    server = GazeboServer(tmp_path_factory.mktemp('gazebo'))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def wait_for(predicate, timeout: float, period: float = 0.5):
    """Poll predicate() until it returns a truthy value or the timeout passes; return it."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(period)
        value = predicate()
    return value


def test_parse_text_message():
    message = parse_text_message(
        'name: "rover"\njoint {\n  name: "a"\n  axis1 {\n    position: -1.5e-3\n  }\n}\n'
        'joint {\n  name: "b"\n}\n')
    assert field(message, 'name') == 'rover'
    assert [field(j, 'name') for j in message['joint']] == ['a', 'b']
    assert field(message['joint'][0], 'axis1.position') == pytest.approx(-1.5e-3)


def test_rover_rests_on_the_landing_area(gazebo):
    time.sleep(2.0)
    position = gazebo.pose()['position'][0]
    # base_link is on the wheel axles: one wheel radius above the flat ground.
    assert field(position, 'z', 0.0) == pytest.approx(0.075, abs=0.01)
    assert abs(field(position, 'x', 0.0)) < 0.02 and abs(field(position, 'y', 0.0)) < 0.02


def test_joint_state_publisher_reports_all_five_joints(gazebo):
    assert sorted(gazebo.joint_states()) == sorted(JOINTS)


def test_wheels_follow_velocity_commands_and_roll_the_rover_forward(gazebo):
    start_x = field(gazebo.pose(), 'position.x', 0.0)
    for wheel in WHEELS:
        gazebo.publish_double('%s/joint/%s_wheel_joint/cmd_vel' % (PREFIX, wheel), 1.5)

    def all_turning():
        states = gazebo.joint_states()
        return all(abs(field(states['%s_wheel_joint' % w], 'velocity', 0.0) - 1.5) < 0.3
                   for w in WHEELS)

    assert wait_for(all_turning, timeout=20.0), gazebo.joint_states()
    time.sleep(2.0)
    moved = field(gazebo.pose(), 'position.x', 0.0) - start_x
    for wheel in WHEELS:
        gazebo.publish_double('%s/joint/%s_wheel_joint/cmd_vel' % (PREFIX, wheel), 0.0)
    assert moved > 0.05, 'positive wheel rates drive the rover to +x'

    def all_stopped():
        states = gazebo.joint_states()
        return all(abs(field(states['%s_wheel_joint' % w], 'velocity', 0.0)) < 0.05
                   for w in WHEELS)

    assert wait_for(all_stopped, timeout=20.0), gazebo.joint_states()


def test_shovel_follows_position_commands(gazebo):
    topic = '%s/joint/shovel_joint/cmd_pos' % PREFIX

    def shovel_at(target):
        return lambda: abs(field(gazebo.joint_states()['shovel_joint'], 'position', 0.0)
                           - target) < 0.05

    gazebo.publish_double(topic, 1.0)
    assert wait_for(shovel_at(1.0), timeout=30.0), gazebo.joint_states()['shovel_joint']
    gazebo.publish_double(topic, 0.0)
    assert wait_for(shovel_at(0.0), timeout=30.0), gazebo.joint_states()['shovel_joint']


def test_imu_measures_lunar_gravity(gazebo):
    message = gazebo.echo('%s/imu' % PREFIX)
    assert field(message, 'linear_acceleration.z', 0.0) == pytest.approx(1.62, abs=0.2)


@pytest.mark.parametrize('side', ['left', 'right'])
def test_camera_produces_hd_frames_in_the_optical_frame(gazebo, side):
    image = gazebo.echo('%s/camera_%s/image' % (PREFIX, side), timeout=90.0)
    assert (field(image, 'width'), field(image, 'height')) == (1280.0, 720.0)
    frame_ids = [field(d, 'value') for d in image['header'][0].get('data', [])
                 if field(d, 'key') == 'frame_id']
    assert frame_ids == ['camera_%s_optical_frame' % side]
    pixels = codecs.escape_decode(field(image, 'data').encode('latin-1'))[0]
    assert len(pixels) == 1280 * 720 * 3
    assert sum(pixels[::997]) / len(pixels[::997]) > 2.0, 'the sunlit terrain is in view'
    info = gazebo.echo('%s/camera_%s/camera_info' % (PREFIX, side), timeout=30.0)
    assert field(info, 'width') == 1280.0


def test_every_mesh_and_system_loaded(gazebo):
    # Runs last: by now the physics, the sensors and the renderer have loaded everything.
    log = gazebo.log_path.read_text(errors='replace')
    failures = [line for line in log.splitlines()
                if any(f in line for f in ('Unable to find file', 'Failed to load',
                                           'Failed to find'))]
    assert not failures
