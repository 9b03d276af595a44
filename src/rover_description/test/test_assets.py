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

"""The committed meshes: what scripts/generate_assets.py makes, and what a rover meets."""

from description_model import (expand, geometry_bounds, link_poses, load_generator, PACKAGE_DIR,
                               WORLD_PATH)
import numpy as np
import pytest

SCOOP_PATH = PACKAGE_DIR / 'meshes' / 'scoop.stl'
TERRAIN_PATH = WORLD_PATH.parent / 'lunar_terrain.obj'


@pytest.fixture(scope='module')
def generator():
    return load_generator()


@pytest.fixture(scope='module')
def terrain_objects(generator):
    return generator.read_obj(TERRAIN_PATH)


def test_committed_scoop_is_what_the_generator_makes(generator, tmp_path):
    generator.write_binary_stl(tmp_path / 'scoop.stl', generator.scoop_triangles(), 'rover scoop')
    assert (tmp_path / 'scoop.stl').read_bytes() == SCOOP_PATH.read_bytes()


def test_committed_terrain_is_what_the_generator_makes(generator, terrain_objects, tmp_path):
    regenerated = tmp_path / 'terrain.obj'
    regenerated.write_text(generator.terrain_obj_text(generator.make_rocks()))
    fresh = generator.read_obj(regenerated)
    assert set(fresh) == set(terrain_objects) == {'terrain', 'rocks'}
    for name, (vertices, faces) in fresh.items():
        committed_vertices, committed_faces = terrain_objects[name]
        assert faces == committed_faces
        np.testing.assert_allclose(vertices, committed_vertices, atol=2e-3)


def test_scoop_mesh_matches_the_model(generator):
    triangles = generator.read_binary_stl(SCOOP_PATH)
    points = triangles.reshape(-1, 3)
    np.testing.assert_allclose(points.min(axis=0), [generator.SCOOP_X_MIN,
                                                    -generator.SCOOP_HALF_WIDTH,
                                                    generator.SCOOP_Z_MIN])
    np.testing.assert_allclose(points.max(axis=0), [generator.SCOOP_X_MAX,
                                                    generator.SCOOP_HALF_WIDTH,
                                                    generator.SCOOP_Z_MAX], atol=1e-7)
    # The URDF's collision plates (in shovel_link, at the pivot) span the visual mesh.
    robot = expand('fake')
    offset = link_poses(robot)['shovel_link'][:3, 3]
    lo, hi = geometry_bounds(robot, kinds=('collision',), only_links=('shovel_link',))
    np.testing.assert_allclose(lo - offset, points.min(axis=0), atol=1e-6)
    np.testing.assert_allclose(hi - offset, points.max(axis=0), atol=1e-6)


def test_scoop_is_open_at_the_far_end_of_the_arm(generator):
    triangles = generator.read_binary_stl(SCOOP_PATH)

    def face_area(plane_axis, value):
        on_plane = np.all(np.isclose(triangles[:, :, plane_axis], value, atol=1e-6), axis=1)
        edges = np.cross(triangles[on_plane, 1] - triangles[on_plane, 0],
                         triangles[on_plane, 2] - triangles[on_plane, 0])
        return 0.5 * np.linalg.norm(edges, axis=1).sum()

    width = 2 * generator.SCOOP_HALF_WIDTH
    depth = generator.SCOOP_X_MAX - generator.SCOOP_X_MIN
    height = generator.SCOOP_Z_MAX - generator.SCOOP_Z_MIN
    # Only the walls' rims lie in the mouth's plane; the other faces are closed (walls meeting
    # at an edge add their end faces to the same plane, hence >=).
    assert face_area(2, generator.SCOOP_Z_MAX) < 0.15 * width * depth
    assert face_area(2, generator.SCOOP_Z_MIN) >= width * depth * (1 - 1e-6)
    assert face_area(0, generator.SCOOP_X_MIN) >= width * height * (1 - 1e-6)
    assert face_area(0, generator.SCOOP_X_MAX) >= width * height * (1 - 1e-6)


def test_stl_reader_rejects_a_truncated_file(generator, tmp_path):
    broken = tmp_path / 'broken.stl'
    broken.write_bytes(SCOOP_PATH.read_bytes()[:-10])
    with pytest.raises(ValueError, match='does not match'):
        generator.read_binary_stl(broken)


def test_terrain_slopes_are_those_a_micro_rover_meets(generator, terrain_objects):
    vertices, faces = terrain_objects['terrain']
    count = len(generator.terrain_axis())
    heights = vertices[:, 2].reshape(count, count)
    slopes = generator.grid_slope_deg(heights, generator.TERRAIN_STEP)
    assert 12.0 <= slopes.max() <= 17.0, 'crater walls up to about 15 degrees'
    assert np.median(slopes) < 5.0, 'mostly gentle'
    xx, yy = vertices[:, 0].reshape(count, count), vertices[:, 1].reshape(count, count)
    lane = (np.abs(yy) < 1.0) & (xx > generator.RAMP_X_START) & (xx < generator.RAMP_X_END)
    assert 8.0 <= slopes[lane].max() <= 11.0, 'the ramp is about 9.5 degrees'
    assert len(faces) == (count - 1) ** 2


def test_rocks_are_2_to_20_cm_and_off_the_lane(generator, terrain_objects):
    rocks = generator.make_rocks()
    sizes = np.array([r.size for r in rocks])
    assert sizes.min() >= generator.ROCK_MIN_SIZE and sizes.max() <= generator.ROCK_MAX_SIZE
    assert np.sum(sizes < 0.05) > np.sum(sizes > 0.10), 'small rocks outnumber large ones'
    assert len(rocks) == generator.ROCK_FIELD_COUNT + generator.ROCK_GARDEN_COUNT
    for rock in rocks:
        extent = np.ptp(rock.vertices[:, :2], axis=0).max()
        assert extent == pytest.approx(rock.size, rel=0.25)
        ground = float(generator.terrain_height(np.array(rock.x), np.array(rock.y)))
        assert rock.vertices[:, 2].min() < ground < rock.vertices[:, 2].max(), 'half buried'
    vertices, _ = terrain_objects['rocks']
    in_lane = (vertices[:, 0] > 0.0) & (np.abs(vertices[:, 1]) < generator.CLEAR_LANE_HALF_WIDTH)
    assert not np.any(in_lane)
    assert len(vertices) == sum(len(r.vertices) for r in rocks)


def test_terrain_file_stays_light():
    assert TERRAIN_PATH.stat().st_size < 1_000_000
    assert SCOOP_PATH.stat().st_size < 50_000
