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
Read the rover description for the tests: expand the xacro, walk the URDF's kinematic tree.

Only xacro, lxml and numpy: no ROS, so the description is checked on any machine. Geometry is
evaluated from the URDF itself (origins, boxes, cylinders and the committed meshes), never from
numbers copied out of the xacro, so a test fails when the model changes.
"""

import functools
import importlib.util
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

from lxml import etree
import numpy as np
import xacro

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGE_NAME = 'rover_description'
XACRO_PATH = PACKAGE_DIR / 'urdf' / 'rover.urdf.xacro'
WORLD_PATH = PACKAGE_DIR / 'worlds' / 'lunar.sdf'
BRIDGE_PATH = PACKAGE_DIR / 'config' / 'gz_bridge.yaml'
GENERATOR_PATH = PACKAGE_DIR / 'scripts' / 'generate_assets.py'
INTERFACES_DOC = PACKAGE_DIR.parents[1] / 'docs' / 'interfaces.md'
MODES = ('hardware', 'gazebo', 'fake')
WHEELS = ('front_left', 'front_right', 'rear_left', 'rear_right')


@functools.lru_cache(maxsize=None)
def _expand_cached(args: Tuple[Tuple[str, str], ...]) -> bytes:
    document = xacro.process_file(str(XACRO_PATH), mappings=dict(args))
    return document.toxml().encode('utf-8')


def expand(mode: str = 'fake', **arguments: object) -> etree._Element:
    """Run xacro on rover.urdf.xacro and return the URDF's <robot> element (a fresh copy)."""
    args = {'mode': mode}
    args.update({name: str(value) for name, value in arguments.items()})
    return etree.fromstring(_expand_cached(tuple(sorted(args.items()))))


def load_generator():
    """Import scripts/generate_assets.py (not an installed module) and return it."""
    spec = importlib.util.spec_from_file_location('generate_assets', GENERATOR_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vector(text: Optional[str], default: Tuple[float, ...] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Parse a space-separated vector attribute."""
    if text is None:
        return np.array(default, dtype=float)
    return np.array([float(v) for v in text.split()], dtype=float)


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Return the URDF rotation for fixed-axis roll, pitch, yaw: Rz(yaw) Ry(pitch) Rx(roll)."""
    cr, sr = np.cos(roll), np.sin(roll)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def axis_angle_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    """Return the rotation by angle (rad) about a unit axis (Rodrigues)."""
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def origin_transform(element: Optional[etree._Element]) -> np.ndarray:
    """Return the 4x4 transform of an element's <origin> child (identity when absent)."""
    transform = np.eye(4)
    origin = None if element is None else element.find('origin')
    if origin is not None:
        transform[:3, :3] = rpy_matrix(*vector(origin.get('rpy')))
        transform[:3, 3] = vector(origin.get('xyz'))
    return transform


def joints(robot: etree._Element) -> Dict[str, etree._Element]:
    """Return the URDF's joints by name."""
    return {j.get('name'): j for j in robot.findall('joint')}


def links(robot: etree._Element) -> Dict[str, etree._Element]:
    """Return the URDF's links by name."""
    return {link.get('name'): link for link in robot.findall('link')}


def root_link(robot: etree._Element) -> str:
    """Return the one link that is no joint's child."""
    children = {j.find('child').get('link') for j in robot.findall('joint')}
    roots = [name for name in links(robot) if name not in children]
    if len(roots) != 1:
        raise ValueError('expected one root link, found %s' % roots)
    return roots[0]


def link_poses(robot: etree._Element,
               positions: Optional[Mapping[str, float]] = None) -> Dict[str, np.ndarray]:
    """Return every link's 4x4 pose in the root link's frame, at the given joint positions."""
    positions = positions or {}
    by_parent: Dict[str, list] = {}
    for joint in robot.findall('joint'):
        by_parent.setdefault(joint.find('parent').get('link'), []).append(joint)
    root = root_link(robot)
    poses = {root: np.eye(4)}
    stack = [root]
    while stack:
        parent = stack.pop()
        for joint in by_parent.get(parent, []):
            motion = np.eye(4)
            q = positions.get(joint.get('name'), 0.0)
            axis = vector(joint.find('axis').get('xyz')) if joint.find('axis') is not None \
                else np.array([1.0, 0.0, 0.0])
            if joint.get('type') in ('revolute', 'continuous'):
                motion[:3, :3] = axis_angle_matrix(axis, q)
            elif joint.get('type') == 'prismatic':
                motion[:3, 3] = axis * q
            child = joint.find('child').get('link')
            poses[child] = poses[parent] @ origin_transform(joint) @ motion
            stack.append(child)
    return poses


def resolve_package_uri(uri: str) -> Path:
    """Map package://rover_description/<path> to the file in this source tree."""
    prefix = 'package://%s/' % PACKAGE_NAME
    if not uri.startswith(prefix):
        raise ValueError('%s is not a package://%s/ URI' % (uri, PACKAGE_NAME))
    return PACKAGE_DIR / uri[len(prefix):]


def geometry_points(geometry: etree._Element) -> np.ndarray:
    """Return points (n, 3) whose convex hull bounds a URDF geometry, in its own frame."""
    shape = geometry[0]
    if shape.tag == 'box':
        half = vector(shape.get('size')) / 2.0
        corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        return corners * half
    if shape.tag == 'cylinder':
        radius, length = float(shape.get('radius')), float(shape.get('length'))
        angles = np.linspace(0.0, 2.0 * np.pi, 73)
        rim = np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
        return np.concatenate([np.column_stack([rim, np.full(len(rim), z)])
                               for z in (-length / 2, length / 2)])
    if shape.tag == 'sphere':
        radius = float(shape.get('radius'))
        return np.concatenate([np.eye(3) * radius, -np.eye(3) * radius])
    if shape.tag == 'mesh':
        generator = load_generator()
        triangles = generator.read_binary_stl(resolve_package_uri(shape.get('filename')))
        scale = vector(shape.get('scale'), (1.0, 1.0, 1.0))
        return triangles.reshape(-1, 3) * scale
    raise ValueError('unknown URDF geometry <%s>' % shape.tag)


def geometry_bounds(robot: etree._Element, positions: Optional[Mapping[str, float]] = None,
                    kinds: Tuple[str, ...] = ('visual', 'collision'),
                    only_links: Optional[Tuple[str, ...]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Return the axis-aligned bounds (min, max) in the root frame of the links' geometry."""
    poses = link_poses(robot, positions)
    points = []
    for name, link in links(robot).items():
        if only_links is not None and name not in only_links:
            continue
        for kind in kinds:
            for element in link.findall(kind):
                local = geometry_points(element.find('geometry'))
                transform = poses[name] @ origin_transform(element)
                points.append(local @ transform[:3, :3].T + transform[:3, 3])
    stacked = np.concatenate(points)
    return stacked.min(axis=0), stacked.max(axis=0)


def inertia_matrix(inertial: etree._Element) -> np.ndarray:
    """Return the 3x3 inertia tensor of an <inertial> element."""
    i = inertial.find('inertia')
    value = {k: float(i.get(k)) for k in ('ixx', 'ixy', 'ixz', 'iyy', 'iyz', 'izz')}
    return np.array([[value['ixx'], value['ixy'], value['ixz']],
                     [value['ixy'], value['iyy'], value['iyz']],
                     [value['ixz'], value['iyz'], value['izz']]])
