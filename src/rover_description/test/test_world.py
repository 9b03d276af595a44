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

"""worlds/lunar.sdf: the Moon's gravity and light, the systems gz-sim needs, its terrain."""

import math

from description_model import expand, geometry_bounds, load_generator, vector, WORLD_PATH
from lxml import etree
import numpy as np
import pytest

REQUIRED_SYSTEMS = {
    'gz-sim-physics-system': 'gz::sim::systems::Physics',
    'gz-sim-user-commands-system': 'gz::sim::systems::UserCommands',
    'gz-sim-scene-broadcaster-system': 'gz::sim::systems::SceneBroadcaster',
    'gz-sim-sensors-system': 'gz::sim::systems::Sensors',
    'gz-sim-imu-system': 'gz::sim::systems::Imu',
}
SPAWN_HEIGHT = 0.08   # m, documented in docs/interfaces.md and the world's header


@pytest.fixture(scope='module')
def world():
    root = etree.parse(str(WORLD_PATH)).getroot()
    assert root.tag == 'sdf'
    worlds = root.findall('world')
    assert len(worlds) == 1
    return worlds[0]


def test_sdf_version_is_harmonic_era():
    version = etree.parse(str(WORLD_PATH)).getroot().get('version')
    assert tuple(int(v) for v in version.split('.')) >= (1, 9)


def test_world_name_is_lunar(world):
    assert world.get('name') == 'lunar'


def test_lunar_gravity(world):
    np.testing.assert_allclose(vector(world.findtext('gravity')), [0.0, 0.0, -1.62])


def test_physics_is_dart_with_a_small_step(world):
    physics = world.findall('physics')
    assert len(physics) == 1
    assert physics[0].get('type') == 'dart'
    assert 0.002 <= float(physics[0].findtext('max_step_size')) <= 0.004
    assert float(physics[0].findtext('real_time_factor')) == 1.0


def test_required_systems(world):
    plugins = {p.get('filename'): p for p in world.findall('plugin')}
    for filename, name in REQUIRED_SYSTEMS.items():
        assert filename in plugins, filename
        assert plugins[filename].get('name') == name
    assert plugins['gz-sim-sensors-system'].findtext('render_engine') == 'ogre2'


def test_low_sun_casts_long_shadows(world):
    suns = [light for light in world.findall('light') if light.get('type') == 'directional']
    assert len(suns) == 1
    sun = suns[0]
    assert sun.findtext('cast_shadows') == 'true'
    direction = vector(sun.findtext('direction'))
    elevation = math.degrees(math.asin(-direction[2] / np.linalg.norm(direction)))
    assert 2.0 <= elevation <= 15.0
    # A sun 6 degrees up makes a 10 cm rock cast a shadow about a metre long.
    assert 0.1 / math.tan(math.radians(elevation)) > 0.35


def test_black_sky_and_dim_ambient(world):
    scene = world.find('scene')
    assert scene.find('sky') is None, 'no atmosphere: no sky'
    np.testing.assert_allclose(vector(scene.findtext('background'))[:3], [0.0, 0.0, 0.0])
    assert np.all(vector(scene.findtext('ambient'))[:3] <= 0.05)
    assert scene.findtext('shadows') == 'true'


def test_moon_surface_coordinates(world):
    coordinates = world.find('spherical_coordinates')
    assert coordinates.findtext('surface_model') == 'MOON_SCS'
    assert -90.0 <= float(coordinates.findtext('latitude_deg')) <= 90.0


def test_every_mesh_resolves_relative_to_the_world_file(world):
    uris = [u.text for u in world.iter('uri')]
    assert uris
    for uri in uris:
        assert '://' not in uri, 'relative: found without any environment set up'
        assert (WORLD_PATH.parent / uri).is_file(), uri


def test_terrain_collides_with_friction(world):
    terrain = [m for m in world.findall('model') if m.get('name') == 'lunar_terrain']
    assert len(terrain) == 1 and terrain[0].findtext('static') == 'true'
    collision = terrain[0].find('link/collision')
    assert collision.find('geometry/mesh/uri') is not None
    assert float(collision.findtext('surface/friction/ode/mu')) > 0.3


def test_landing_area_is_flat_and_clear_where_the_rover_spawns():
    generator = load_generator()
    objects = generator.read_obj(WORLD_PATH.parent / 'lunar_terrain.obj')
    terrain, _ = objects['terrain']
    near = np.hypot(terrain[:, 0], terrain[:, 1]) <= generator.LANDING_FLAT_RADIUS
    assert near.sum() > 100
    assert np.all(terrain[near, 2] == 0.0)
    rocks, _ = objects['rocks']
    assert np.hypot(rocks[:, 0], rocks[:, 1]).min() > generator.LANDING_FLAT_RADIUS
    # Spawned at SPAWN_HEIGHT, the rover's lowest point (the wheels) starts just above z = 0.
    lowest = geometry_bounds(expand('gazebo'))[0][2]
    assert 0.0 < SPAWN_HEIGHT + lowest < 0.01


def test_lander_stands_off_the_landing_area(world):
    lander = [m for m in world.findall('model') if m.get('name') == 'lander']
    assert len(lander) == 1
    x, y = vector(lander[0].findtext('pose'))[:2]
    assert math.hypot(x, y) > 4.0
