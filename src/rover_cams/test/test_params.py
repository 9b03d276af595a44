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

"""The cameras node parameter table (ROS-free)."""

import pytest
from rover_cams.params import CAMERA_PARAMS, exposure_limits, manual_exposure
from rover_common.param_spec import ParameterError


def test_defaults_are_consistent():
    values = CAMERA_PARAMS.validated({})
    assert values['backend'] == 'fake' and values['stream_rate'] == 5.0
    assert exposure_limits(values).max_exposure_s == 0.05
    assert manual_exposure(values).exposure_s == 0.01


@pytest.mark.parametrize('overrides, match', [
    ({'backend': 'usb'}, 'fake, hardware, gazebo'),
    ({'stream_rate': 0.0}, 'stream_rate'),
    ({'stream_rate': 31.0}, 'stream_rate'),
    ({'thumbnail_max_bytes': 100}, 'thumbnail_max_bytes'),
    ({'cameras': ['left', 'front']}, 'cameras'),
    ({'cameras': []}, 'cameras'),
    ({'cameras': ['left', 'left']}, 'cameras'),
    ({'ae_min_exposure': 0.1, 'ae_max_exposure': 0.01}, 'ae_min_exposure'),
    ({'fourcc': 'MJPEG'}, 'fourcc'),
    ({'exposure_mode': 'sunny'}, 'auto, manual, device'),
])
def test_bad_values_refused(overrides, match):
    with pytest.raises(ParameterError, match=match):
        CAMERA_PARAMS.validated(overrides)


def test_read_only_parameters_refused_at_runtime():
    reason = CAMERA_PARAMS.check_changes(CAMERA_PARAMS.defaults(), {'backend': 'hardware'})
    assert 'read-only' in reason
    assert CAMERA_PARAMS.check_changes(CAMERA_PARAMS.defaults(), {'stream_rate': 2.0}) is None
