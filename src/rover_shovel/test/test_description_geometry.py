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
The shovel's parameter defaults against rover_description's URDF, read through xacro.

Nothing is copied from the xacro: the joint limit, the axis, the ground plane, the scoop's
collision plates (which side is open: the mouth) and the shovel's centre of mass come from the
expanded URDF, so these tests fail when the model changes under the named poses, the spill
and ground angles or the fill-estimate geometry.
"""

import math
from pathlib import Path
from typing import Dict, List, Tuple
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from rover_shovel.config import PARAMS

xacro = pytest.importorskip('xacro', reason='xacro (the URDF macro processor) is not installed')

JOINT = 'shovel_joint'
#: Bulk density of loose lunar regolith in the top centimetres (Lunar Sourcebook, ch. 9:
#: 1.3-1.5 g/cm^3 near the surface), for where a sample settles in the scoop.
REGOLITH_DENSITY = 1500.0  # kg/m^3
#: The fill model's lever arm may differ from the settled sample's by this fraction.
LEVER_TOLERANCE = 0.10

DEFAULTS = PARAMS.defaults()


def _description_dir() -> Path:
    """Return rover_description's directory: the sibling source package, else its share."""
    sibling = Path(__file__).resolve().parents[2] / 'rover_description'
    if (sibling / 'urdf' / 'rover.urdf.xacro').is_file():
        return sibling
    try:
        from ament_index_python.packages import (get_package_share_directory,
                                                 PackageNotFoundError)
    except ImportError:
        pytest.skip('rover_description is neither beside this package nor installed')
    try:
        return Path(get_package_share_directory('rover_description'))
    except PackageNotFoundError:
        pytest.skip('rover_description is neither beside this package nor installed')


@pytest.fixture(scope='module')
def robot() -> ElementTree.Element:
    """Return the expanded URDF (fake mode: the geometry is the same in every mode)."""
    path = _description_dir() / 'urdf' / 'rover.urdf.xacro'
    document = xacro.process_file(str(path), mappings={'mode': 'fake'})
    return ElementTree.fromstring(document.toxml())


def _vector(text, default=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.array([float(v) for v in text.split()] if text else default, dtype=float)


def _rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch),
                              math.sin(pitch), math.cos(yaw), math.sin(yaw))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _origin(element) -> Tuple[np.ndarray, np.ndarray]:
    origin = element.find('origin')
    if origin is None:
        return np.eye(3), np.zeros(3)
    return _rpy(*_vector(origin.get('rpy'))), _vector(origin.get('xyz'))


def _joint(robot, name):
    return next(j for j in robot.findall('joint') if j.get('name') == name)


def _link(robot, name):
    return next(link for link in robot.findall('link') if link.get('name') == name)


class Shovel:
    """shovel_joint and shovel_link of the URDF, posed at joint angles."""

    def __init__(self, robot) -> None:
        joint = _joint(robot, JOINT)
        assert joint.find('parent').get('link') == 'base_link'
        self.limit = {k: float(v) for k, v in joint.find('limit').attrib.items()}
        self._rotation0, self.pivot = _origin(joint)
        axis = _vector(joint.find('axis').get('xyz'))
        self._axis = axis / np.linalg.norm(axis)
        footprint = _joint(robot, 'base_footprint_joint')
        self.ground_z = _origin(footprint)[1][2]
        link = _link(robot, 'shovel_link')
        self.plates: List[Tuple[np.ndarray, np.ndarray]] = []  # (low, high) in shovel_link
        for collision in link.findall('collision'):
            rotation, centre = _origin(collision)
            box = collision.find('geometry').find('box')
            assert box is not None and np.allclose(rotation, np.eye(3)), 'axis-aligned boxes'
            half = _vector(box.get('size')) / 2.0
            self.plates.append((centre - half, centre + half))
        inertial = link.find('inertial')
        self.mass = float(inertial.find('mass').get('value'))
        self.centre_of_mass = _origin(inertial)[1]

    def rotation(self, angle: float) -> np.ndarray:
        """Return shovel_link's orientation in base_link at a joint angle."""
        k = np.array([[0, -self._axis[2], self._axis[1]], [self._axis[2], 0, -self._axis[0]],
                      [-self._axis[1], self._axis[0], 0]])
        turn = np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)
        return self._rotation0 @ turn

    def lowest_z(self, angle: float) -> float:
        """Return the lowest point of the scoop's plates in base_link (m)."""
        rotation = self.rotation(angle)
        corners = [np.array([lo[0] if i & 1 else hi[0], lo[1] if i & 2 else hi[1],
                             lo[2] if i & 4 else hi[2]])
                   for lo, hi in self.plates for i in range(8)]
        return min((rotation @ c + self.pivot)[2] for c in corners)

    def depth(self, angle: float) -> float:
        """Return how deep the scoop is below flat ground (m; negative: clear of it)."""
        return self.ground_z - self.lowest_z(angle)

    def touchdown(self) -> float:
        """Return the joint angle at which the scoop meets flat ground (bisection)."""
        low, high = 0.0, self.limit['upper']
        assert self.depth(low) < 0.0 < self.depth(high)
        for _ in range(40):
            middle = 0.5 * (low + high)
            low, high = (low, middle) if self.depth(middle) > 0.0 else (middle, high)
        return 0.5 * (low + high)

    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """Return the scoop's outer bounds in shovel_link."""
        return (np.min([lo for lo, _ in self.plates], axis=0),
                np.max([hi for _, hi in self.plates], axis=0))

    def open_side(self) -> np.ndarray:
        """Return the outward normal (shovel_link) of the one side no plate closes: the mouth."""
        low, high = self.bounds()
        open_sides = []
        for axis in range(3):
            for sign, face in ((-1.0, low[axis]), (1.0, high[axis])):
                others = [a for a in range(3) if a != axis]
                closed = any(
                    abs((lo[axis] if sign < 0 else hi[axis]) - face) < 1e-9
                    and (hi[axis] - lo[axis]) < 0.25 * (high[axis] - low[axis])
                    and all(lo[a] <= low[a] + 1e-9 and hi[a] >= high[a] - 1e-9
                            for a in others)
                    for lo, hi in self.plates)
                if not closed:
                    normal = np.zeros(3)
                    normal[axis] = sign
                    open_sides.append(normal)
        assert len(open_sides) == 1, f'the scoop should be open on one side: {open_sides}'
        return open_sides[0]

    def mouth(self, angle: float) -> np.ndarray:
        """Return the direction the scoop's mouth faces in base_link at a joint angle."""
        return self.rotation(angle) @ self.open_side()

    def interior(self) -> Dict[str, float]:
        """Return the inner faces of the scoop (shovel_link, m), mouth +z."""
        low, high = self.bounds()

        def inner_face(axis: int, at_high: bool) -> float:
            """Return the inner face of the thin plate on the low or high side of an axis."""
            for lo, hi in self.plates:
                thin = hi[axis] - lo[axis] < 0.25 * (high[axis] - low[axis])
                if thin and at_high and abs(hi[axis] - high[axis]) < 1e-9:
                    return lo[axis]
                if thin and not at_high and abs(lo[axis] - low[axis]) < 1e-9:
                    return hi[axis]
            raise AssertionError(f'no wall on axis {axis}')
        return {'back': inner_face(0, False), 'front': inner_face(0, True),
                'right': inner_face(1, False), 'left': inner_face(1, True),
                'bottom': inner_face(2, False), 'rim': high[2]}

    def lever(self, point: np.ndarray, angle: float) -> float:
        """Return the horizontal distance behind the pivot of a shovel_link point (m)."""
        return -(self.rotation(angle) @ point)[0]


@pytest.fixture(scope='module')
def shovel(robot) -> Shovel:
    """Return the URDF's shovel."""
    return Shovel(robot)


def settled_sample_centroid(shovel: Shovel, mass: float, angle: float) -> np.ndarray:
    """
    Return where loose regolith of ``mass`` kg settles in the scoop (shovel_link, m).

    With the mouth up and back, gravity points into the corner of the back wall and the
    bottom; the sample fills that corner as a wedge under a level surface, whose centroid
    is a third of each leg from the corner.
    """
    inner = shovel.interior()
    down = shovel.rotation(angle).T @ np.array([0.0, 0.0, -1.0])
    u, v = -down[0], -down[2]
    assert u > 0.0 and v > 0.0, f'at {angle} rad the sample does not settle in the corner'
    area = mass / REGOLITH_DENSITY / (inner['left'] - inner['right'])
    d = math.sqrt(2.0 * area * u * v)
    along_back, along_bottom = d / v, d / u
    assert along_bottom < inner['front'] - inner['back'], 'the wedge fits on the bottom'
    assert along_back < inner['rim'] - inner['bottom'], 'the wedge stays below the rim'
    return np.array([inner['back'] + along_bottom / 3.0, 0.0,
                     inner['bottom'] + along_back / 3.0])


def test_the_mouth_is_the_open_far_end_of_the_arm(shovel):
    np.testing.assert_allclose(shovel.open_side(), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(shovel.mouth(0.0), [0.0, 0.0, 1.0], atol=1e-12)
    assert shovel.mouth(math.pi / 2)[0] < -0.99  # backwards, level


def test_joint_limits_and_poses_fit_the_urdf_joint(shovel):
    assert DEFAULTS['lower_limit'] == shovel.limit['lower']
    assert DEFAULTS['upper_limit'] == shovel.limit['upper']
    for name in ('stowed', 'travel', 'ready', 'dig', 'hold', 'dump'):
        angle = DEFAULTS[f'pose_{name}']
        assert shovel.limit['lower'] <= angle <= shovel.limit['upper'], name
    # The dig pose can be arrived at without pressing on the limit.
    assert DEFAULTS['pose_dig'] + DEFAULTS['arrival_tolerance'] <= shovel.limit['upper']


def test_ground_contact_angles_match_the_urdf(shovel):
    touchdown = shovel.touchdown()
    assert 1.6 < touchdown < shovel.limit['upper']
    assert DEFAULTS['fake_ground_angle'] == pytest.approx(touchdown, abs=0.03)
    # ready and hold are clear of flat ground; dig puts the rim in the regolith, deeper than
    # the dump, which at most grazes it.
    assert shovel.depth(DEFAULTS['pose_ready']) < -0.03
    assert shovel.depth(DEFAULTS['pose_hold']) < -0.03
    dig_depth = shovel.depth(DEFAULTS['pose_dig'])
    assert 0.015 <= dig_depth <= 0.035
    assert shovel.depth(DEFAULTS['pose_dump']) < dig_depth - 0.01


def test_mouth_up_where_the_sample_is_kept_down_where_it_is_dumped(shovel):
    for name in ('stowed', 'travel'):
        assert shovel.mouth(DEFAULTS[f'pose_{name}'])[2] > 0.9, name
    # Hold: the mouth at least 40 degrees above level, so loose regolith stays in.
    assert shovel.mouth(DEFAULTS['pose_hold'])[2] > math.sin(math.radians(40.0))
    # Spill: the mouth turned below level; the dump tips it further down.
    spill = shovel.mouth(DEFAULTS['spill_angle'])[2]
    assert spill < 0.0
    assert shovel.mouth(DEFAULTS['pose_dump'])[2] < spill - 0.1


def test_drive_allowed_range_keeps_the_scoop_near_the_panel_mouth_up(shovel):
    allowed = DEFAULTS['drive_allowed_max_angle']
    assert DEFAULTS['pose_travel'] <= allowed < DEFAULTS['pose_hold']
    assert shovel.mouth(allowed)[2] > 0.9


@pytest.mark.parametrize('mass', [0.05, DEFAULTS['fake_sample_mass']])
def test_fill_model_lever_matches_where_the_sample_settles(shovel, mass):
    # The fill estimate uses lifts between pose_ready and pose_hold (rover_shovel.fill).
    lever, horizontal = DEFAULTS['sample_lever_arm'], DEFAULTS['horizontal_angle']
    for angle in np.linspace(DEFAULTS['pose_hold'], DEFAULTS['pose_ready'], 9):
        centroid = settled_sample_centroid(shovel, mass, angle)
        true_lever = shovel.lever(centroid, angle)
        model_lever = lever * math.cos(angle - horizontal)
        assert model_lever == pytest.approx(true_lever, rel=LEVER_TOLERANCE), angle


def test_empty_shovel_gravity_model_matches_its_centre_of_mass(shovel):
    angles = np.linspace(0.0, shovel.limit['upper'], 2001)
    levers = [shovel.lever(shovel.centre_of_mass, a) for a in angles]
    assert DEFAULTS['empty_horizontal_angle'] == pytest.approx(
        angles[int(np.argmax(levers))], abs=0.03)
    torque = shovel.mass * DEFAULTS['gravity'] * max(levers)
    assert DEFAULTS['empty_lift_gravity_current'] == pytest.approx(
        torque / DEFAULTS['torque_constant'], rel=0.15)
