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
Camera calibration files in the ``camera_calibration_parsers`` YAML layout.

It is what ``camera_calibration`` writes and ``camera_info_manager`` reads::

    image_width: 1280
    image_height: 720
    camera_name: camera_left
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, t1, t2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [...]}
    projection_matrix: {rows: 3, cols: 4, data: [...]}

The node turns a :class:`Calibration` into ``sensor_msgs/CameraInfo``. When the stream runs at
another resolution than the calibration (same aspect ratio), :meth:`Calibration.scaled` scales
the intrinsics, as ``image_proc`` resize does.
"""

from dataclasses import dataclass, replace
import math
from pathlib import Path
from typing import Any, Mapping, Tuple

import yaml

_MATRICES = {'camera_matrix': (3, 3), 'rectification_matrix': (3, 3),
             'projection_matrix': (3, 4)}
_DISTORTION_LENGTHS = {'plumb_bob': (5,), 'rational_polynomial': (8,), 'equidistant': (4,)}


class CalibrationError(ValueError):
    """A calibration file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Calibration:
    """
    Intrinsics of one camera; matrices row-major, as in CameraInfo ``k``, ``d``, ``r``, ``p``.

    :param camera_name: name in the file (``camera_left``).
    """

    camera_name: str
    width: int
    height: int
    k: Tuple[float, ...]
    distortion_model: str
    d: Tuple[float, ...]
    r: Tuple[float, ...]
    p: Tuple[float, ...]

    def scaled(self, width: int, height: int) -> 'Calibration':
        """Return the calibration for a stream of ``width`` x ``height`` (same aspect)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        if abs(sx - sy) > 0.01 * max(sx, sy):
            raise CalibrationError(
                f'{self.camera_name}: calibrated at {self.width}x{self.height}, cannot scale '
                f'to {width}x{height} (aspect ratio differs)')
        k = list(self.k)
        k[0], k[2], k[4], k[5] = k[0] * sx, k[2] * sx, k[4] * sy, k[5] * sy
        p = list(self.p)
        p[0], p[2], p[3], p[5], p[6] = p[0] * sx, p[2] * sx, p[3] * sx, p[5] * sy, p[6] * sy
        return replace(self, width=width, height=height, k=tuple(k), p=tuple(p))

    def to_yaml_dict(self) -> dict:
        """Return the camera_calibration_parsers mapping of this calibration."""
        def matrix(rows: int, cols: int, data: Tuple[float, ...]) -> dict:
            return {'rows': rows, 'cols': cols, 'data': [float(v) for v in data]}
        return {
            'image_width': self.width, 'image_height': self.height,
            'camera_name': self.camera_name,
            'camera_matrix': matrix(3, 3, self.k),
            'distortion_model': self.distortion_model,
            'distortion_coefficients': matrix(1, len(self.d), self.d),
            'rectification_matrix': matrix(3, 3, self.r),
            'projection_matrix': matrix(3, 4, self.p),
        }


def pinhole(camera_name: str, width: int, height: int, horizontal_fov_rad: float
            ) -> Calibration:
    """Return an ideal, distortion-free calibration (nominal optics, before calibrating)."""
    fx = (width / 2.0) / math.tan(horizontal_fov_rad / 2.0)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    return Calibration(camera_name=camera_name, width=width, height=height,
                       k=(fx, 0.0, cx, 0.0, fx, cy, 0.0, 0.0, 1.0),
                       distortion_model='plumb_bob', d=(0.0,) * 5,
                       r=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
                       p=(fx, 0.0, cx, 0.0, 0.0, fx, cy, 0.0, 0.0, 0.0, 1.0, 0.0))


def parse_calibration(document: Mapping[str, Any], origin: str = '<yaml>') -> Calibration:
    """Return the calibration in a parsed YAML mapping; CalibrationError says what is wrong."""
    if not isinstance(document, Mapping):
        raise CalibrationError(f'{origin}: expected a mapping at the top level')
    try:
        width, height = int(document['image_width']), int(document['image_height'])
        matrices = {}
        for key, (rows, cols) in _MATRICES.items():
            matrices[key] = _matrix(document[key], rows, cols, f'{origin}: {key}')
        model = str(document.get('distortion_model', 'plumb_bob'))
        d_entry = document['distortion_coefficients']
        d = tuple(float(v) for v in d_entry['data'])
    except KeyError as missing:
        raise CalibrationError(f'{origin}: missing key {missing}') from None
    except (TypeError, ValueError) as err:
        raise CalibrationError(f'{origin}: {err}') from None
    if width <= 0 or height <= 0:
        raise CalibrationError(f'{origin}: image size must be positive, got {width}x{height}')
    if model in _DISTORTION_LENGTHS and len(d) not in _DISTORTION_LENGTHS[model]:
        raise CalibrationError(f'{origin}: {model} needs {_DISTORTION_LENGTHS[model][0]} '
                               f'distortion coefficients, got {len(d)}')
    k = matrices['camera_matrix']
    if k[0] <= 0 or k[4] <= 0:
        raise CalibrationError(f'{origin}: focal lengths must be positive')
    return Calibration(camera_name=str(document.get('camera_name', '')), width=width,
                       height=height, k=k, distortion_model=model, d=d,
                       r=matrices['rectification_matrix'], p=matrices['projection_matrix'])


def load_calibration(path: Path) -> Calibration:
    """Read a calibration YAML file."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise CalibrationError(f'cannot read calibration {path}: {err}') from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CalibrationError(f'{path}: not valid YAML: {err}') from None
    return parse_calibration(document, str(path))


def save_calibration(calibration: Calibration, path: Path) -> None:
    """Write a calibration YAML file (camera_calibration_parsers layout)."""
    Path(path).write_text(yaml.safe_dump(calibration.to_yaml_dict(), sort_keys=False,
                                         default_flow_style=None))


def _matrix(entry: Mapping[str, Any], rows: int, cols: int, what: str) -> Tuple[float, ...]:
    if int(entry['rows']) != rows or int(entry['cols']) != cols:
        raise CalibrationError(f'{what} must be {rows}x{cols}, got '
                               f'{entry["rows"]}x{entry["cols"]}')
    data = tuple(float(v) for v in entry['data'])
    if len(data) != rows * cols:
        raise CalibrationError(f'{what} needs {rows * cols} values, got {len(data)}')
    return data
