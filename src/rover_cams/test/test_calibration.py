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

"""Calibration YAML in the camera_calibration_parsers layout."""

import math
from pathlib import Path

import pytest
from rover_cams.calibration import (CalibrationError, load_calibration, parse_calibration,
                                    pinhole, save_calibration)
import yaml

CONFIG = Path(__file__).resolve().parents[1] / 'config'


@pytest.mark.parametrize('side', ['left', 'right'])
def test_shipped_calibrations_load(side):
    calibration = load_calibration(CONFIG / f'camera_{side}.yaml')
    assert calibration.camera_name == f'camera_{side}'
    assert (calibration.width, calibration.height) == (1280, 720)
    assert calibration.distortion_model == 'plumb_bob' and len(calibration.d) == 5
    assert len(calibration.k) == 9 and len(calibration.r) == 9 and len(calibration.p) == 12
    hfov = 2 * math.atan(calibration.width / 2 / calibration.k[0])
    assert math.degrees(hfov) == pytest.approx(70.0, abs=0.5)


def test_save_load_round_trip(tmp_path):
    original = pinhole('camera_left', 1920, 1080, math.radians(60))
    save_calibration(original, tmp_path / 'cal.yaml')
    document = yaml.safe_load((tmp_path / 'cal.yaml').read_text())
    assert document['camera_matrix']['rows'] == 3 and document['projection_matrix']['cols'] == 4
    assert load_calibration(tmp_path / 'cal.yaml') == original


def test_scaled_intrinsics():
    full = load_calibration(CONFIG / 'camera_left.yaml')
    half = full.scaled(640, 360)
    assert half.k[0] == pytest.approx(full.k[0] / 2) and half.k[5] == pytest.approx(full.k[5] / 2)
    assert half.p[0] == pytest.approx(full.p[0] / 2) and half.p[6] == pytest.approx(full.p[6] / 2)
    assert half.d == full.d and full.scaled(1280, 720) is full
    with pytest.raises(CalibrationError, match='aspect'):
        full.scaled(640, 480)


def _document() -> dict:
    return pinhole('camera_left', 640, 480, 1.0).to_yaml_dict()


@pytest.mark.parametrize('mutate, match', [
    (lambda d: d.pop('camera_matrix'), 'missing key'),
    (lambda d: d['camera_matrix'].update(rows=2), '3x3'),
    (lambda d: d['projection_matrix'].update(data=[1.0] * 9), '12 values'),
    (lambda d: d['distortion_coefficients'].update(data=[0.0] * 4), '5 distortion'),
    (lambda d: d.update(image_width=0), 'positive'),
    (lambda d: d['camera_matrix']['data'].__setitem__(0, -5.0), 'focal'),
    (lambda d: d.update(image_height='tall'), 'tall'),
])
def test_bad_calibrations_refused(mutate, match):
    document = _document()
    mutate(document)
    with pytest.raises(CalibrationError, match=match):
        parse_calibration(document)


def test_unreadable_file(tmp_path):
    with pytest.raises(CalibrationError, match='cannot read'):
        load_calibration(tmp_path / 'missing.yaml')
    (tmp_path / 'bad.yaml').write_text('a: [1, 2\n')
    with pytest.raises(CalibrationError, match='not valid YAML'):
        load_calibration(tmp_path / 'bad.yaml')
