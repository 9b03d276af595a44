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
Generate the two meshes rover_description commits: the scoop and the lunar terrain.

Why a generator instead of a CAD export: the geometry stays reviewable (every number is below),
the files are reproducible byte for byte, and the tests can regenerate them and compare. Run it
once after changing a number, then commit the outputs::

    python3 src/rover_description/scripts/generate_assets.py

Outputs:

* ``meshes/scoop.stl`` (binary STL, metres, ``shovel_link`` frame): the bucket of the
  back-mounted shovel, drawn stowed: the arm points up (+z) from the pivot and the bucket is
  open at the arm's far end (+z), so the stowed scoop is an upright cup that keeps its sample
  while the rover drives. Lowered (positive joint angles) the mouth turns back and then down:
  it leads when the rover creeps backwards while digging, and spills near the ground.
* ``worlds/lunar_terrain.obj`` (Wavefront OBJ with normals, metres, world frame): a 32 m x 32 m
  patch of mare with gentle undulations, a 9.5 degree ramp up to a plateau along +x, two
  craters with slopes up to about 15 degrees, 2-20 cm rocks half buried in the regolith, and a
  flat landing area (radius 3 m, z = 0) around the origin where the rover spawns. A lane along
  +x from the landing area to the ramp is kept clear of rocks for driving tests.

Randomness uses numpy's legacy ``RandomState``, whose stream numpy keeps frozen across
releases, so the rocks do not move when numpy is upgraded.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path
import struct
from typing import Dict, List, Tuple

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SCOOP_PATH = PACKAGE_DIR / 'meshes' / 'scoop.stl'
TERRAIN_PATH = PACKAGE_DIR / 'worlds' / 'lunar_terrain.obj'

# Scoop, in the shovel_link frame (stowed pose). Keep in sync with urdf/rover.urdf.xacro
# (scoop_* properties), which places the arms and the collision boxes around this bucket.
SCOOP_X_MIN = -0.08   # back wall, away from the rover when stowed, m
SCOOP_X_MAX = 0.0     # front wall, facing the back panel when stowed, m
SCOOP_HALF_WIDTH = 0.05
SCOOP_Z_MIN = 0.07    # bottom, near the pivot, m
SCOOP_Z_MAX = 0.15    # open mouth and cutting rim, m
SCOOP_WALL = 0.002    # wall thickness, m (1.5-2 mm aluminium in the flight part)

# Terrain.
TERRAIN_HALF_SIZE = 16.0     # m
TERRAIN_STEP = 0.5           # m between grid vertices
LANDING_FLAT_RADIUS = 3.0    # m, z = 0 exactly inside
LANDING_BLEND_WIDTH = 3.0    # m over which the terrain rises to its full relief
CLEAR_LANE_HALF_WIDTH = 1.0  # m, rock-free lane along +x (|y| < this, x > 0)
ROCK_SEED = 2026
ROCK_FIELD_COUNT = 60        # scattered over the whole patch
ROCK_GARDEN_COUNT = 24       # clustered south of the landing area
ROCK_GARDEN_CENTRE = (0.5, -6.0)
ROCK_GARDEN_RADIUS = 2.0
ROCK_MIN_SIZE = 0.02         # m, horizontal extent
ROCK_MAX_SIZE = 0.20
ROCK_SIZE_EXPONENT = 1.6     # cumulative power law: many small rocks, few large ones
ROCK_BURIED_FRACTION = 0.3   # of the rock's height below the local surface


@dataclass(frozen=True)
class Crater:
    """A bowl with a raised rim: depth below the surroundings at the centre, in metres."""

    x: float
    y: float
    radius: float
    depth: float
    rim_height: float
    rim_width: float


@dataclass(frozen=True)
class Mound:
    """A Gaussian swell (positive height) or hollow (negative height) of the mare surface."""

    x: float
    y: float
    sigma: float
    height: float


CRATERS = (
    Crater(x=-8.0, y=-7.0, radius=2.6, depth=0.30, rim_height=0.06, rim_width=0.8),
    Crater(x=6.0, y=-9.0, radius=1.3, depth=0.13, rim_height=0.03, rim_width=0.5),
    Crater(x=-10.0, y=8.0, radius=3.2, depth=0.32, rim_height=0.07, rim_width=1.0),
)

MOUNDS = (
    Mound(x=-7.5, y=4.0, sigma=3.0, height=0.35),
    Mound(x=4.0, y=8.0, sigma=2.5, height=-0.25),
    Mound(x=-2.0, y=11.0, sigma=3.5, height=0.45),
    Mound(x=12.0, y=-10.0, sigma=3.0, height=0.30),
    Mound(x=-12.0, y=-1.0, sigma=2.5, height=-0.20),
    Mound(x=2.0, y=-12.0, sigma=3.0, height=0.25),
)

# The ramp: rises RAMP_RISE metres between RAMP_X_START and RAMP_X_END (9.5 degrees on its
# straight part), then a plateau; confined to |y| < RAMP_HALF_WIDTH with soft shoulders.
RAMP_X_START = 7.0
RAMP_X_END = 11.5
RAMP_RISE = 0.5
RAMP_HALF_WIDTH = 5.0
RAMP_SHOULDER = 4.0


def smoothstep(t: np.ndarray) -> np.ndarray:
    """Return the cubic 0..1 ramp with zero slope at both ends (t is clipped to 0..1)."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def raw_relief(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the terrain height (m) before the landing area is flattened."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    h = np.zeros(np.broadcast(x, y).shape)
    for m in MOUNDS:
        h += m.height * np.exp(-((x - m.x) ** 2 + (y - m.y) ** 2) / (2.0 * m.sigma ** 2))
    for c in CRATERS:
        r = np.hypot(x - c.x, y - c.y)
        bowl = np.where(r < c.radius, -c.depth * (1.0 - (r / c.radius) ** 2), 0.0)
        rim = c.rim_height * np.exp(-((r - c.radius) / c.rim_width) ** 2)
        h += bowl + rim
    # The straight part of the ramp has slope RAMP_RISE / (RAMP_X_END - RAMP_X_START) scaled by
    # smoothstep's peak derivative of 1.5; the shoulders fade it out sideways.
    along = smoothstep((x - RAMP_X_START) / (RAMP_X_END - RAMP_X_START))
    across = 1.0 - smoothstep((np.abs(y) - RAMP_HALF_WIDTH) / RAMP_SHOULDER)
    h += RAMP_RISE * along * across
    return h


def landing_weight(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return 0 on the flat landing area around the origin, 1 beyond its blend ring."""
    r = np.hypot(x, y)
    return smoothstep((r - LANDING_FLAT_RADIUS) / LANDING_BLEND_WIDTH)


def terrain_height(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the height (m) of the bare terrain surface, rocks excluded."""
    return raw_relief(x, y) * landing_weight(x, y)


def terrain_axis() -> np.ndarray:
    """Return the grid coordinates (m) shared by x and y."""
    count = int(round(2.0 * TERRAIN_HALF_SIZE / TERRAIN_STEP)) + 1
    return np.linspace(-TERRAIN_HALF_SIZE, TERRAIN_HALF_SIZE, count)


def terrain_grid() -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (X, Y, Z) grids, indexed [iy, ix], rounded to the millimetre written to disk."""
    axis = terrain_axis()
    xx, yy = np.meshgrid(axis, axis)
    return xx, yy, np.round(terrain_height(xx, yy), 3)


def grid_slope_deg(heights: np.ndarray, step: float) -> np.ndarray:
    """Return the slope (degrees) at every grid vertex by central differences."""
    dz_dy, dz_dx = np.gradient(heights, step)
    return np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))


def box_triangles(low: Tuple[float, float, float],
                  high: Tuple[float, float, float]) -> np.ndarray:
    """Return the 12 outward-wound triangles (12, 3, 3) of an axis-aligned box."""
    (x0, y0, z0), (x1, y1, z1) = low, high
    c = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]])
    quads = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (2, 3, 7, 6), (1, 2, 6, 5), (3, 0, 4, 7)]
    tris = []
    for a, b, d, e in quads:
        tris.append((c[a], c[b], c[d]))
        tris.append((c[a], c[d], c[e]))
    return np.array(tris)


def scoop_triangles() -> np.ndarray:
    """Return the scoop's triangles: back, front, two side walls and the bottom; open at +z."""
    w = SCOOP_WALL
    y = SCOOP_HALF_WIDTH
    plates = [
        ((SCOOP_X_MIN, -y, SCOOP_Z_MIN), (SCOOP_X_MIN + w, y, SCOOP_Z_MAX)),          # back
        ((SCOOP_X_MAX - w, -y, SCOOP_Z_MIN), (SCOOP_X_MAX, y, SCOOP_Z_MAX)),          # front
        ((SCOOP_X_MIN, -y, SCOOP_Z_MIN), (SCOOP_X_MAX, -y + w, SCOOP_Z_MAX)),         # side
        ((SCOOP_X_MIN, y - w, SCOOP_Z_MIN), (SCOOP_X_MAX, y, SCOOP_Z_MAX)),           # side
        ((SCOOP_X_MIN, -y, SCOOP_Z_MIN), (SCOOP_X_MAX, y, SCOOP_Z_MIN + w)),          # bottom
    ]
    return np.concatenate([box_triangles(lo, hi) for lo, hi in plates])


def write_binary_stl(path: Path, triangles: np.ndarray, name: str) -> None:
    """Write triangles (n, 3, 3) as a binary STL with facet normals."""
    header = ('%s, generated by rover_description/scripts/generate_assets.py' % name)
    chunks = [header.encode('ascii')[:80].ljust(80, b' '), struct.pack('<I', len(triangles))]
    for tri in triangles:
        normal = np.cross(tri[1] - tri[0], tri[2] - tri[0])
        normal = normal / np.linalg.norm(normal)
        values = [float(v) for v in np.concatenate([normal, tri.reshape(-1)])]
        chunks.append(struct.pack('<12fH', *values, 0))
    path.write_bytes(b''.join(chunks))


def read_binary_stl(path: Path) -> np.ndarray:
    """Read a binary STL and return its triangles (n, 3, 3)."""
    data = path.read_bytes()
    (count,) = struct.unpack_from('<I', data, 80)
    if len(data) != 84 + 50 * count:
        raise ValueError('%s: size %d does not match %d triangles' % (path, len(data), count))
    record = np.dtype([('normal', '<f4', 3), ('vertices', '<f4', (3, 3)), ('attr', '<u2')])
    return np.frombuffer(data, dtype=record, count=count, offset=84)['vertices'].astype(float)


@dataclass(frozen=True)
class Rock:
    """One rock: where it sits, its horizontal size, and its closed triangle mesh."""

    x: float
    y: float
    size: float
    vertices: np.ndarray  # (n, 3) world coordinates, m
    faces: np.ndarray     # (m, 3) vertex indices, outward winding


def icosphere(subdivisions: int) -> Tuple[np.ndarray, np.ndarray]:
    """Return vertices and faces of a unit sphere: an icosahedron split `subdivisions` times."""
    p = (1.0 + 5.0 ** 0.5) / 2.0
    verts = [(-1, p, 0), (1, p, 0), (-1, -p, 0), (1, -p, 0), (0, -1, p), (0, 1, p),
             (0, -1, -p), (0, 1, -p), (p, 0, -1), (p, 0, 1), (-p, 0, -1), (-p, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
             (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
             (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    vertices = [np.array(v, dtype=float) / np.linalg.norm(v) for v in verts]
    for _ in range(subdivisions):
        midpoints: Dict[Tuple[int, int], int] = {}

        def midpoint(a: int, b: int) -> int:
            key = (min(a, b), max(a, b))
            if key not in midpoints:
                m = vertices[a] + vertices[b]
                vertices.append(m / np.linalg.norm(m))
                midpoints[key] = len(vertices) - 1
            return midpoints[key]

        refined = []
        for a, b, c in faces:
            ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
            refined += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = refined
    return np.array(vertices), np.array(faces, dtype=int)


def rock_size(rng: np.random.RandomState) -> float:
    """Draw a rock size (m) from a cumulative power law truncated to 2-20 cm."""
    a = ROCK_SIZE_EXPONENT
    lo, hi = ROCK_MIN_SIZE ** -a, ROCK_MAX_SIZE ** -a
    return float((lo - rng.uniform() * (lo - hi)) ** (-1.0 / a))


def rock_allowed(x: float, y: float, size: float, placed: List[Rock]) -> bool:
    """Say whether a rock may sit here: off the landing area, the lane and other rocks."""
    if np.hypot(x, y) < LANDING_FLAT_RADIUS + 0.5:
        return False
    if x > 0.0 and abs(y) < CLEAR_LANE_HALF_WIDTH + size:
        return False
    if max(abs(x), abs(y)) > TERRAIN_HALF_SIZE - 1.0:
        return False
    return all(np.hypot(x - r.x, y - r.y) > 0.5 * (size + r.size) + 0.05 for r in placed)


def make_rock(rng: np.random.RandomState, x: float, y: float, size: float) -> Rock:
    """Shape one rock: a lumpy, flattened icosphere, part buried in the local surface."""
    base_vertices, faces = icosphere(1 if size >= 0.08 else 0)
    lumps = rng.uniform(0.8, 1.15, size=len(base_vertices))
    stretch = np.array([rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.8)])
    local = base_vertices * lumps[:, None] * stretch
    local *= size / np.ptp(local[:, :2], axis=0).max()
    yaw = rng.uniform(0.0, 2.0 * np.pi)
    rot = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0],
                    [0.0, 0.0, 1.0]])
    local = local @ rot.T
    height = np.ptp(local[:, 2])
    ground = float(terrain_height(np.array(x), np.array(y)))
    z = ground - local[:, 2].min() - ROCK_BURIED_FRACTION * height
    vertices = local + np.array([x, y, z])
    return Rock(x=x, y=y, size=size, vertices=vertices, faces=faces)


def make_rocks() -> List[Rock]:
    """Place the rock field and the rock garden, deterministically."""
    rng = np.random.RandomState(ROCK_SEED)
    rocks: List[Rock] = []

    def place(count: int, centre: Tuple[float, float], radius: float) -> None:
        placed = 0
        while placed < count:
            size = rock_size(rng)
            angle = rng.uniform(0.0, 2.0 * np.pi)
            dist = radius * np.sqrt(rng.uniform())
            x = round(centre[0] + dist * np.cos(angle), 3)
            y = round(centre[1] + dist * np.sin(angle), 3)
            if rock_allowed(x, y, size, rocks):
                rocks.append(make_rock(rng, x, y, size))
                placed += 1

    place(ROCK_FIELD_COUNT, (0.0, 0.0), TERRAIN_HALF_SIZE * np.sqrt(2.0))
    place(ROCK_GARDEN_COUNT, ROCK_GARDEN_CENTRE, ROCK_GARDEN_RADIUS)
    return rocks


def terrain_normals(heights: np.ndarray, step: float) -> np.ndarray:
    """Return unit vertex normals (ny, nx, 3) of the height grid, for smooth shading."""
    dz_dy, dz_dx = np.gradient(heights, step)
    n = np.stack([-dz_dx, -dz_dy, np.ones_like(heights)], axis=-1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def terrain_obj_text(rocks: List[Rock]) -> str:
    """Return the OBJ text of the terrain grid (smooth) and the rocks (faceted)."""
    xx, yy, zz = terrain_grid()
    normals = terrain_normals(zz, TERRAIN_STEP)
    ny, nx = zz.shape
    lines = ['# Lunar terrain for rover_description/worlds/lunar.sdf, metres, z up.',
             '# Generated by rover_description/scripts/generate_assets.py: do not edit.',
             'o terrain']
    lines += ['v %.3f %.3f %.3f' % (x, y, z) for x, y, z in
              zip(xx.ravel(), yy.ravel(), zz.ravel())]
    lines += ['vn %.3f %.3f %.3f' % tuple(n) for n in normals.reshape(-1, 3)]
    for j in range(ny - 1):
        for i in range(nx - 1):
            a = j * nx + i + 1
            quad = (a, a + 1, a + 1 + nx, a + nx)
            lines.append('f ' + ' '.join('%d//%d' % (k, k) for k in quad))
    vertex_base = nx * ny
    normal_base = nx * ny
    lines.append('o rocks')
    for rock in rocks:
        lines += ['v %.4f %.4f %.4f' % tuple(v) for v in rock.vertices]
        for face in rock.faces:
            tri = rock.vertices[face]
            n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
            lines.append('vn %.3f %.3f %.3f' % tuple(n / np.linalg.norm(n)))
            normal_base += 1
            lines.append('f ' + ' '.join('%d//%d' % (vertex_base + k + 1, normal_base)
                                         for k in face))
        vertex_base += len(rock.vertices)
    return '\n'.join(lines) + '\n'


def read_obj(path: Path) -> Dict[str, Tuple[np.ndarray, List[List[int]]]]:
    """
    Read an OBJ written by this script.

    :return: {object name: (its vertices (n, 3), its faces as 0-based indices into them)}
    """
    objects: Dict[str, Tuple[List[List[float]], List[List[int]]]] = {}
    offsets: Dict[str, int] = {}
    vertex_count = 0
    current = ''
    for line in path.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith('#'):
            continue
        if fields[0] == 'o':
            current = fields[1]
            objects[current] = ([], [])
            offsets[current] = vertex_count
        elif fields[0] == 'v':
            objects[current][0].append([float(v) for v in fields[1:4]])
            vertex_count += 1
        elif fields[0] == 'f':
            objects[current][1].append(
                [int(f.split('/')[0]) - 1 - offsets[current] for f in fields[1:]])
    return {name: (np.array(v), f) for name, (v, f) in objects.items()}


def main() -> None:
    """Write the scoop and terrain meshes (or to another directory, for comparison)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--output-dir', type=Path, default=None,
                        help='write both files here instead of into the package')
    args = parser.parse_args()
    scoop_path, terrain_path = SCOOP_PATH, TERRAIN_PATH
    if args.output_dir is not None:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        scoop_path = args.output_dir / SCOOP_PATH.name
        terrain_path = args.output_dir / TERRAIN_PATH.name
    write_binary_stl(scoop_path, scoop_triangles(), 'rover scoop')
    terrain_path.write_text(terrain_obj_text(make_rocks()))
    print('wrote %s and %s' % (scoop_path, terrain_path))


if __name__ == '__main__':
    main()
