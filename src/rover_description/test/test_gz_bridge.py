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
config/gz_bridge.yaml against its two counterparts.

Gazebo side: every gz topic must be one the mode:=gazebo URDF's systems and sensors (or the
gz-sim server itself) publish or subscribe, with the message type they use. ROS side: the set
of ROS topics must be exactly the "Gazebo bridge topics" table of docs/interfaces.md.
"""

import re
from typing import Dict, Tuple

from description_model import BRIDGE_PATH, expand, INTERFACES_DOC, WHEELS
import pytest
import yaml

ENTRY_KEYS = {'topic_name', 'ros_topic_name', 'gz_topic_name', 'ros_type_name', 'gz_type_name',
              'direction', 'lazy', 'publisher_queue', 'subscriber_queue'}
DIRECTIONS = {'GZ_TO_ROS', 'ROS_TO_GZ', 'BIDIRECTIONAL'}
# ros_gz_bridge's conversions (ros_gz_bridge/README.md) for the types the rover uses.
TYPE_PAIRS = {
    'rosgraph_msgs/msg/Clock': 'gz.msgs.Clock',
    'sensor_msgs/msg/JointState': 'gz.msgs.Model',
    'std_msgs/msg/Float64': 'gz.msgs.Double',
    'sensor_msgs/msg/Image': 'gz.msgs.Image',
    'sensor_msgs/msg/CameraInfo': 'gz.msgs.CameraInfo',
    'sensor_msgs/msg/Imu': 'gz.msgs.IMU',
    'nav_msgs/msg/Odometry': 'gz.msgs.Odometry',
}
# What every gz-sim server publishes, whatever the model.
SERVER_TOPICS = {'/clock': ('gz.msgs.Clock', 'GZ_TO_ROS')}


def bridge_entries():
    with open(BRIDGE_PATH) as stream:
        return yaml.safe_load(stream)


def model_gz_topics() -> Dict[str, Tuple[str, str]]:
    """Return {gz topic: (gz message type, bridge direction)} of the gazebo-mode URDF."""
    robot = expand('gazebo')
    topics: Dict[str, Tuple[str, str]] = {}
    for plugin in robot.findall('gazebo/plugin'):
        kind = plugin.get('filename')
        if kind in ('gz-sim-joint-controller-system', 'gz-sim-joint-position-controller-system'):
            topics[plugin.findtext('topic')] = ('gz.msgs.Double', 'ROS_TO_GZ')
        elif kind == 'gz-sim-joint-state-publisher-system':
            topics[plugin.findtext('topic')] = ('gz.msgs.Model', 'GZ_TO_ROS')
        elif kind == 'gz-sim-odometry-publisher-system':
            topics[plugin.findtext('odom_topic')] = ('gz.msgs.Odometry', 'GZ_TO_ROS')
    for sensor in robot.findall('gazebo/sensor'):
        if sensor.get('type') == 'camera':
            topics[sensor.findtext('topic')] = ('gz.msgs.Image', 'GZ_TO_ROS')
            info = sensor.findtext('camera/camera_info_topic')
            topics[info] = ('gz.msgs.CameraInfo', 'GZ_TO_ROS')
        elif sensor.get('type') == 'imu':
            topics[sensor.findtext('topic')] = ('gz.msgs.IMU', 'GZ_TO_ROS')
    return topics


def contract_bridge_table():
    """Return the rows of docs/interfaces.md's "Gazebo bridge topics" table."""
    if not INTERFACES_DOC.is_file():
        pytest.skip('docs/interfaces.md is not beside this source tree (installed copy?)')
    text = INTERFACES_DOC.read_text()
    section = text.split('### Gazebo bridge topics', 1)[1].split('\n## ', 1)[0]
    rows = [line for line in section.splitlines() if line.startswith('| `')]
    table = []
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        table.append((re.findall(r'`([^`]+)`', cells[0]), cells))
    return table


def test_entries_are_well_formed():
    entries = bridge_entries()
    assert isinstance(entries, list) and entries
    for entry in entries:
        assert set(entry) <= ENTRY_KEYS, entry
        assert {'ros_topic_name', 'gz_topic_name', 'ros_type_name', 'gz_type_name',
                'direction'} <= set(entry), entry
        assert entry['direction'] in DIRECTIONS
        assert TYPE_PAIRS.get(entry['ros_type_name']) == entry['gz_type_name'], entry
        assert isinstance(entry.get('lazy', False), bool)


def test_each_topic_is_bridged_once():
    entries = bridge_entries()
    ros = [e['ros_topic_name'] for e in entries]
    gz = [e['gz_topic_name'] for e in entries]
    assert len(set(ros)) == len(ros)
    assert len(set(gz)) == len(gz)


def test_gz_topics_are_what_the_model_and_server_publish_or_subscribe():
    known = dict(SERVER_TOPICS)
    known.update(model_gz_topics())
    for entry in bridge_entries():
        assert entry['gz_topic_name'] in known, entry['gz_topic_name']
        gz_type, direction = known[entry['gz_topic_name']]
        assert entry['gz_type_name'] == gz_type, entry
        assert entry['direction'] == direction, entry


def test_every_model_topic_is_bridged():
    bridged = {e['gz_topic_name'] for e in bridge_entries()}
    missing = set(model_gz_topics()) - bridged
    assert not missing


def test_ros_topics_are_exactly_the_contract_table():
    documented = set()
    for names, _ in contract_bridge_table():
        documented.update(names)
    bridged = {e['ros_topic_name'] for e in bridge_entries()}
    assert bridged == documented


def test_contract_table_names_the_same_gz_topics():
    by_ros = {e['ros_topic_name']: e['gz_topic_name'] for e in bridge_entries()}
    for names, cells in contract_bridge_table():
        documented_gz = re.findall(r'`([^`]+)`', cells[-1])
        assert len(documented_gz) == 1, cells
        pattern = re.escape(documented_gz[0]).replace(re.escape('<side>'), '(left|right)')
        pattern = pattern.replace(re.escape('<joint>'), r'\w+_joint')
        for name in names:
            assert re.fullmatch(pattern, by_ros[name]), (name, by_ros[name], documented_gz)


def test_ros_names_are_relative_except_clock():
    for entry in bridge_entries():
        name = entry['ros_topic_name']
        assert name.startswith('/') == (name == '/clock'), name


def test_commands_and_states_cover_every_actuated_joint():
    entries = {e['ros_topic_name']: e for e in bridge_entries()}
    for wheel in WHEELS:
        entry = entries['sim/%s_wheel_joint/cmd_vel' % wheel]
        assert entry['direction'] == 'ROS_TO_GZ'
        assert entry['gz_topic_name'].endswith('/%s_wheel_joint/cmd_vel' % wheel)
    assert entries['sim/shovel_joint/cmd_pos']['direction'] == 'ROS_TO_GZ'
    assert entries['sim/joint_states']['direction'] == 'GZ_TO_ROS'


def test_no_tf_crosses_the_bridge():
    # The bridge publishes VOLATILE: a bridged /tf_static would be lost to late joiners.
    # robot_state_publisher (transient local) owns /tf_static, the drive node odom -> base_link.
    for entry in bridge_entries():
        topic = entry['ros_topic_name'].rstrip('/')
        assert topic.split('/')[-1] not in ('tf', 'tf_static'), entry
        assert entry['ros_type_name'] != 'tf2_msgs/msg/TFMessage', entry
    assert 'tf_static' in BRIDGE_PATH.read_text().split('\n- ', 1)[0], \
        'the header comment explains the /tf_static decision'


def test_cameras_are_lazy_and_control_is_not():
    for entry in bridge_entries():
        lazy = entry.get('lazy', False)
        if entry['ros_type_name'] in ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CameraInfo'):
            assert lazy, entry
        else:
            assert not lazy, entry
