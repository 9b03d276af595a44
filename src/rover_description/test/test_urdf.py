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

"""The rover's URDF: modes, joints, frames, mounts, masses and size, from the expanded xacro."""

import math
import re
import shutil
import subprocess

from description_model import (expand, geometry_bounds, inertia_matrix, INTERFACES_DOC, joints,
                               link_poses, links, MODES, PACKAGE_DIR, resolve_package_uri,
                               root_link, vector, WHEELS)
from lxml import etree
import numpy as np
import pytest
import xacro

EXPECTED_JOINTS = {
    # name: (type, parent, child)
    'base_footprint_joint': ('fixed', 'base_link', 'base_footprint'),
    'chassis_joint': ('fixed', 'base_link', 'chassis_link'),
    'imu_joint': ('fixed', 'base_link', 'imu_link'),
    'front_left_wheel_joint': ('continuous', 'base_link', 'front_left_wheel_link'),
    'front_right_wheel_joint': ('continuous', 'base_link', 'front_right_wheel_link'),
    'rear_left_wheel_joint': ('continuous', 'base_link', 'rear_left_wheel_link'),
    'rear_right_wheel_joint': ('continuous', 'base_link', 'rear_right_wheel_link'),
    'shovel_joint': ('revolute', 'base_link', 'shovel_link'),
    'camera_left_joint': ('fixed', 'base_link', 'camera_left_link'),
    'camera_left_optical_joint': ('fixed', 'camera_left_link', 'camera_left_optical_frame'),
    'camera_right_joint': ('fixed', 'base_link', 'camera_right_link'),
    'camera_right_optical_joint': ('fixed', 'camera_right_link', 'camera_right_optical_frame'),
}
CONTRACT_FRAMES = ('base_link', 'base_footprint', 'imu_link', 'shovel_link',
                   'camera_left_link', 'camera_right_link',
                   'camera_left_optical_frame', 'camera_right_optical_frame') + tuple(
                       '%s_wheel_link' % w for w in WHEELS)
SIZE = np.array([0.54, 0.315, 0.26])   # m, length x width x height, shovel stowed
SIZE_TOLERANCE = 0.02                  # m
TOTAL_MASS = 5.0                       # kg


def joint_limit(robot, name):
    limit = joints(robot)[name].find('limit')
    return {k: float(v) for k, v in limit.attrib.items()}


def joint_axis(robot, name):
    return vector(joints(robot)[name].find('axis').get('xyz'))


@pytest.mark.parametrize('mode', MODES)
def test_xacro_expands_to_the_rover_in_every_mode(mode):
    robot = expand(mode)
    assert robot.tag == 'robot' and robot.get('name') == 'rover'
    assert root_link(robot) == 'base_link'
    assert set(joints(robot)) == set(EXPECTED_JOINTS)


def test_default_mode_is_fake():
    document = xacro.process_file(str(PACKAGE_DIR / 'urdf' / 'rover.urdf.xacro'))
    assert document.getElementsByTagName('gazebo') == []


@pytest.mark.parametrize('mode', ['moon', 'Gazebo', '', 'sim'])
def test_unknown_mode_stops_xacro_with_the_valid_set(mode):
    with pytest.raises(xacro.XacroException,
                       match='mode:=%s is not one of hardware, gazebo, fake' % mode):
        expand(mode)


@pytest.mark.parametrize('argument, value, message', [
    ('camera_pitch', 2.0, r'camera_pitch:=2 is outside its range \[-1.5708, 1.5708\] rad'),
    ('camera_x', 0.3, r'camera_x:=0.3 is outside its range \[-0.2, 0.2\] m'),
    ('shovel_x', -0.1, r'shovel_x:=-0.1 is outside its range \[-0.28, -0.22\] m'),
    ('camera_rate', 0.0, r'camera_rate:=0 is outside its range \[0.5, 30\] Hz'),
])
def test_out_of_range_mount_stops_xacro(argument, value, message):
    with pytest.raises(xacro.XacroException, match=message):
        expand('fake', **{argument: value})


def test_non_numeric_mount_stops_xacro():
    with pytest.raises(xacro.XacroException, match='could not convert'):
        expand('fake', camera_z='high')


@pytest.mark.parametrize('mode', MODES)
def test_joint_types_parents_and_children_are_exactly_the_contract(mode):
    robot = expand(mode)
    found = {name: (j.get('type'), j.find('parent').get('link'), j.find('child').get('link'))
             for name, j in joints(robot).items()}
    assert found == EXPECTED_JOINTS


def test_contract_frames_exist():
    names = set(links(expand('fake')))
    missing = set(CONTRACT_FRAMES) - names
    assert not missing


@pytest.mark.parametrize('wheel', WHEELS)
def test_wheel_joint_axis_and_limits(wheel):
    robot = expand('gazebo')
    name = '%s_wheel_joint' % wheel
    np.testing.assert_allclose(joint_axis(robot, name), [0.0, 1.0, 0.0])
    limit = joint_limit(robot, name)
    assert set(limit) == {'effort', 'velocity'}, 'a continuous joint has no position limits'
    assert 0.1 <= limit['effort'] <= 5.0
    assert 1.0 <= limit['velocity'] <= 10.0


@pytest.mark.parametrize('wheel', WHEELS)
def test_positive_wheel_rate_rolls_the_rover_forward(wheel):
    robot = expand('fake')
    poses = link_poses(robot)
    link = '%s_wheel_link' % wheel
    axis = poses[link][:3, :3] @ joint_axis(robot, '%s_wheel_joint' % wheel)
    lo, hi = geometry_bounds(robot, only_links=(link,), kinds=('collision',))
    radius = (hi[2] - lo[2]) / 2.0
    # Rolling without slip: the hub moves at omega x (hub - contact point).
    hub_velocity = np.cross(axis, np.array([0.0, 0.0, radius]))
    assert hub_velocity[0] > 0.9 * radius


def test_shovel_joint_limits_and_direction():
    robot = expand('gazebo')
    limit = joint_limit(robot, 'shovel_joint')
    assert limit['lower'] == 0.0
    assert 1.9 <= limit['upper'] <= 2.1
    assert 0.05 <= limit['effort'] <= 2.0
    assert 0.1 <= limit['velocity'] <= 2.0

    def scoop_bounds(angle):
        return geometry_bounds(robot, {'shovel_joint': angle}, kinds=('collision',),
                               only_links=('shovel_link',))

    stowed_lo, stowed_hi = scoop_bounds(0.0)
    lowered_lo, _ = scoop_bounds(1.0)
    assert lowered_lo[2] < stowed_lo[2] - 0.03, 'a positive angle lowers the shovel'
    assert lowered_lo[0] < stowed_lo[0], 'the shovel swings out behind the rover'
    chassis_lo, _ = geometry_bounds(robot, kinds=('collision',), only_links=('chassis_link',))
    assert stowed_hi[0] <= chassis_lo[0], 'stowed, the shovel stays behind the back panel'
    assert stowed_hi[0] > chassis_lo[0] - 0.02, 'stowed, the shovel sits against the panel'


def test_scoop_holds_a_sample_when_raised_and_spills_it_when_lowered():
    # The scoop is open at the arm's far end: its mouth is shovel_link's +z axis.
    robot = expand('fake')
    upper = joint_limit(robot, 'shovel_joint')['upper']

    def mouth(angle):
        return link_poses(robot, {'shovel_joint': angle})['shovel_link'][:3, 2]

    np.testing.assert_allclose(mouth(0.0), [0.0, 0.0, 1.0], atol=1e-12)
    assert mouth(1.0)[2] > 0.5, 'raised, the mouth faces up: the sample stays in'
    assert mouth(math.pi / 2)[0] < -0.99, 'level with the pivot, it faces away from the rover'
    assert mouth(upper)[2] < -0.3, 'lowered fully, it faces down: the sample can be dumped'


def test_shovel_reaches_the_ground_before_its_upper_limit():
    robot = expand('fake')
    ground = geometry_bounds(robot)[0][2]
    upper = joint_limit(robot, 'shovel_joint')['upper']
    angles = np.linspace(0.0, upper, 81)
    lowest = [geometry_bounds(robot, {'shovel_joint': a}, kinds=('collision',),
                              only_links=('shovel_link',))[0][2] for a in angles]
    touchdown = angles[np.argmax(np.array(lowest) <= ground)]
    assert lowest[-1] < ground - 0.01, 'at the upper limit the scoop digs into flat ground'
    assert 1.5 <= touchdown <= upper - 0.1


@pytest.mark.parametrize('mode', MODES)
def test_every_actuated_joint_has_effort_and_velocity_limits(mode):
    for name, joint in joints(expand(mode)).items():
        if joint.get('type') == 'fixed':
            continue
        limit = joint.find('limit')
        assert limit is not None, name
        assert float(limit.get('effort')) > 0.0, name
        assert float(limit.get('velocity')) > 0.0, name


@pytest.mark.parametrize('pitch, yaw', [(0.3, 0.0), (0.0, 0.0), (0.6, 0.4), (-0.2, -0.3)])
def test_optical_frames_look_out_of_each_side(pitch, yaw):
    robot = expand('fake', camera_pitch=pitch, camera_yaw=yaw)
    poses = link_poses(robot)
    for name, side in (('left', 1.0), ('right', -1.0)):
        rotation = poses['camera_%s_optical_frame' % name][:3, :3]
        heading = side * (math.pi / 2 + yaw)
        look = np.array([math.cos(pitch) * math.cos(heading),
                         math.cos(pitch) * math.sin(heading), -math.sin(pitch)])
        np.testing.assert_allclose(rotation[:, 2], look, atol=1e-9)     # z forward
        right = np.array([math.sin(heading), -math.cos(heading), 0.0])
        np.testing.assert_allclose(rotation[:, 0], right, atol=1e-9)    # x right
        assert rotation[2, 1] < 0.0                                      # y down
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
        body = poses['camera_%s_link' % name][:3, :3]
        np.testing.assert_allclose(body[:, 0], look, atol=1e-9)          # x out of the lens
    default = link_poses(expand('fake'))
    assert default['camera_left_optical_frame'][1, 2] > 0.9, 'left camera looks +y'
    assert default['camera_right_optical_frame'][1, 2] < -0.9, 'right camera looks -y'


def test_camera_and_shovel_mount_arguments_move_the_frames():
    robot = expand('fake', camera_x=0.1, camera_z=0.12, shovel_x=-0.25, shovel_z=0.05)
    poses = link_poses(robot)
    left, right = poses['camera_left_link'][:3, 3], poses['camera_right_link'][:3, 3]
    assert left[0] == pytest.approx(0.1) and left[2] == pytest.approx(0.12)
    assert right[0] == pytest.approx(0.1) and right[2] == pytest.approx(0.12)
    assert left[1] > 0.1 and right[1] == pytest.approx(-left[1])
    np.testing.assert_allclose(poses['shovel_link'][:3, 3], [-0.25, 0.0, 0.05])


def test_base_footprint_is_on_the_ground_under_base_link():
    robot = expand('fake')
    footprint = link_poses(robot)['base_footprint']
    ground = geometry_bounds(robot)[0][2]
    np.testing.assert_allclose(footprint[:3, 3], [0.0, 0.0, ground], atol=1e-9)
    np.testing.assert_allclose(footprint[:3, :3], np.eye(3))


def test_imu_link_is_aligned_with_base_link_inside_the_chassis():
    robot = expand('fake')
    imu = link_poses(robot)['imu_link']
    np.testing.assert_allclose(imu[:3, :3], np.eye(3))
    lo, hi = geometry_bounds(robot, only_links=('chassis_link',))
    assert np.all(lo < imu[:3, 3]) and np.all(imu[:3, 3] < hi)


def test_total_mass_and_part_masses():
    masses = {name: float(link.find('inertial/mass').get('value'))
              for name, link in links(expand('gazebo')).items()
              if link.find('inertial') is not None}
    assert sum(masses.values()) == pytest.approx(TOTAL_MASS, rel=0.1)
    for wheel in WHEELS:
        assert masses['%s_wheel_link' % wheel] == pytest.approx(0.2, rel=0.25)
    assert 0.1 < masses['shovel_link'] < 0.5
    assert 'base_link' not in masses, 'KDL ignores an inertia on the root link'


@pytest.mark.parametrize('mode', MODES)
def test_every_inertia_is_physical(mode):
    inertials = [(name, link.find('inertial')) for name, link in links(expand(mode)).items()
                 if link.find('inertial') is not None]
    assert len(inertials) >= 8
    for name, inertial in inertials:
        assert float(inertial.find('mass').get('value')) > 0.0, name
        tensor = inertia_matrix(inertial)
        principal = np.linalg.eigvalsh(tensor)
        assert np.all(principal > 0.0), '%s: not positive-definite: %s' % (name, principal)
        a, b, c = sorted(principal)
        assert a + b >= c * (1.0 - 1e-9), '%s: violates the triangle inequality' % name


def test_overall_size_matches_the_rover():
    lo, hi = geometry_bounds(expand('gazebo'))
    np.testing.assert_allclose(hi - lo, SIZE, atol=SIZE_TOLERANCE)
    assert abs(hi[1] + lo[1]) < 1e-6, 'symmetric left to right'


def test_collision_geometry_matches_the_visual_envelope():
    robot = expand('gazebo')
    visual = geometry_bounds(robot, kinds=('visual',))
    collision = geometry_bounds(robot, kinds=('collision',))
    np.testing.assert_allclose(collision[0], visual[0], atol=0.01)
    np.testing.assert_allclose(collision[1], visual[1], atol=0.015)


@pytest.mark.parametrize('mode', MODES)
def test_meshes_are_package_uris_to_committed_files(mode):
    meshes = expand(mode).findall('.//mesh')
    assert meshes, 'the scoop is a mesh'
    for mesh in meshes:
        assert resolve_package_uri(mesh.get('filename')).is_file()


@pytest.mark.parametrize('mode', ['hardware', 'fake'])
def test_no_gazebo_content_outside_gazebo_mode(mode):
    robot = expand(mode)
    assert robot.findall('.//gazebo') == []
    assert robot.findall('.//plugin') == []
    assert robot.findall('.//sensor') == []


def gazebo_plugins(robot):
    return [(p.get('filename'), p.get('name'), p) for p in robot.findall('gazebo/plugin')]


def test_gazebo_mode_has_one_velocity_controller_per_wheel():
    controllers = [p for f, n, p in gazebo_plugins(expand('gazebo'))
                   if f == 'gz-sim-joint-controller-system']
    assert all(p.get('name') == 'gz::sim::systems::JointController' for p in controllers)
    assert sorted(p.findtext('joint_name') for p in controllers) == sorted(
        '%s_wheel_joint' % w for w in WHEELS)
    for plugin in controllers:
        assert plugin.find('use_force_commands') is None, 'velocity mode'
        assert plugin.findtext('topic').endswith('/%s/cmd_vel' % plugin.findtext('joint_name'))


def test_gazebo_mode_has_a_shovel_position_controller_within_the_effort_limit():
    robot = expand('gazebo')
    plugins = [p for f, n, p in gazebo_plugins(robot)
               if f == 'gz-sim-joint-position-controller-system']
    assert len(plugins) == 1
    plugin = plugins[0]
    assert plugin.get('name') == 'gz::sim::systems::JointPositionController'
    assert plugin.findtext('joint_name') == 'shovel_joint'
    gains = {k: float(plugin.findtext(k)) for k in ('p_gain', 'i_gain', 'd_gain', 'cmd_max')}
    assert gains['p_gain'] > 0.0 and gains['d_gain'] >= 0.0 and gains['i_gain'] >= 0.0
    effort = joint_limit(robot, 'shovel_joint')['effort']
    assert gains['cmd_max'] == pytest.approx(effort)
    assert float(plugin.findtext('cmd_min')) == pytest.approx(-effort)
    # The pivot-to-lip radius times the lunar weight of the shovel bounds the gravity torque;
    # the proportional term must hold it to within a few hundredths of a radian.
    shovel = links(robot)['shovel_link']
    mass = float(shovel.find('inertial/mass').get('value'))
    gravity_torque = mass * 1.62 * 0.2
    assert gravity_torque / gains['p_gain'] < 0.03


def test_gazebo_mode_publishes_joint_states_of_all_five_joints_and_ground_truth():
    plugins = {f: p for f, n, p in gazebo_plugins(expand('gazebo'))}
    states = plugins['gz-sim-joint-state-publisher-system']
    assert states.get('name') == 'gz::sim::systems::JointStatePublisher'
    assert sorted(j.text for j in states.findall('joint_name')) == sorted(
        ['%s_wheel_joint' % w for w in WHEELS] + ['shovel_joint'])
    odometry = plugins['gz-sim-odometry-publisher-system']
    assert odometry.get('name') == 'gz::sim::systems::OdometryPublisher'
    assert odometry.findtext('robot_base_frame') == 'base_link'
    assert odometry.findtext('odom_frame') not in ('odom', None), "odom is the drive node's"
    assert odometry.findtext('dimensions') == '3'


@pytest.mark.parametrize('rate', [10.0, 5.0])
def test_gazebo_cameras(rate):
    arguments = {} if rate == 10.0 else {'camera_rate': rate}
    robot = expand('gazebo', **arguments)
    for name in ('left', 'right'):
        holders = [g for g in robot.findall('gazebo')
                   if g.get('reference') == 'camera_%s_link' % name]
        assert len(holders) == 1
        sensor = holders[0].find('sensor')
        assert sensor.get('type') == 'camera'
        assert float(sensor.findtext('update_rate')) == pytest.approx(rate)
        assert sensor.findtext('gz_frame_id') == 'camera_%s_optical_frame' % name
        camera = sensor.find('camera')
        assert (camera.findtext('image/width'), camera.findtext('image/height')) == (
            '1280', '720')
        assert 60.0 <= math.degrees(float(camera.findtext('horizontal_fov'))) <= 70.0


def test_gazebo_imu_sensor_on_imu_link():
    robot = expand('gazebo')
    holders = [g for g in robot.findall('gazebo') if g.get('reference') == 'imu_link']
    assert len(holders) == 1
    sensor = holders[0].find('sensor')
    assert sensor.get('type') == 'imu'
    assert sensor.findtext('gz_frame_id') == 'imu_link'
    assert float(sensor.findtext('update_rate')) >= 50.0


def test_wheels_have_lowered_regolith_friction():
    robot = expand('gazebo')
    for wheel in WHEELS:
        holders = [g for g in robot.findall('gazebo')
                   if g.get('reference') == '%s_wheel_link' % wheel]
        assert len(holders) == 1
        mu1, mu2 = float(holders[0].findtext('mu1')), float(holders[0].findtext('mu2'))
        assert 0.2 <= mu1 <= 0.7 and 0.2 <= mu2 <= 0.7


def test_every_gazebo_reference_names_a_link():
    robot = expand('gazebo')
    names = set(links(robot))
    for holder in robot.findall('gazebo'):
        reference = holder.get('reference')
        assert reference is None or reference in names


def test_links_with_gazebo_friction_have_unnamed_collisions():
    # sdformat's URDF converter renames a named <collision> as if it had been lumped into the
    # link, then no longer matches it to the link's <gazebo> block: the friction is dropped.
    robot = expand('gazebo')
    with_surface = {g.get('reference') for g in robot.findall('gazebo')
                    if g.find('mu1') is not None}
    assert with_surface >= {'%s_wheel_link' % w for w in WHEELS} | {'shovel_link'}
    for name in with_surface:
        for collision in links(robot)[name].findall('collision'):
            assert collision.get('name') is None, name


def test_every_xacro_argument_is_in_the_contract():
    if not INTERFACES_DOC.is_file():
        pytest.skip('docs/interfaces.md is not beside this source tree (installed copy?)')
    section = INTERFACES_DOC.read_text().split('### Robot model', 1)[1].split('\n## ', 1)[0]
    documented = set(re.findall(r'^\| `([a-z_]+)`(?:, `([a-z_]+)`)?', section, re.M))
    documented = {name for pair in documented for name in pair if name}
    source = (PACKAGE_DIR / 'urdf' / 'rover.urdf.xacro').read_text()
    arguments = set(re.findall(r'<xacro:arg name="([a-z_]+)"', source))
    assert arguments and arguments <= documented


@pytest.mark.parametrize('mode', MODES)
def test_urdfdom_parses_the_urdf(mode, tmp_path):
    # urdfdom is the parser robot_state_publisher uses (check_urdf: liburdfdom-tools).
    check_urdf = shutil.which('check_urdf')
    if check_urdf is None:
        pytest.skip('check_urdf (urdfdom tools) is not installed')
    path = tmp_path / 'rover.urdf'
    path.write_bytes(etree.tostring(expand(mode), xml_declaration=True, encoding='utf-8'))
    result = subprocess.run([check_urdf, str(path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'root Link: base_link has 10 child(ren)' in result.stdout
