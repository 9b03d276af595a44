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
Parameters of the ``cameras`` node: one table, checked the same way in tests and in ROS.

``docs/interfaces.md`` (section ``cameras``) lists the same names, defaults, units and ranges.
"""

from typing import Mapping, Optional

from rover_cams.encoding import MIN_THUMBNAIL_WIDTH
from rover_cams.exposure import AutoExposureLimits
from rover_cams.frames import Exposure, SIDES
from rover_common.param_spec import ParamSpec, ParamTable, ParamValue

BACKENDS = ('fake', 'hardware', 'gazebo')
EXPOSURE_MODES = ('auto', 'manual', 'device')


def check_camera_params(values: Mapping[str, ParamValue]) -> Optional[str]:
    """Return why a complete parameter set is inconsistent, or None."""
    cameras = list(values['cameras'])
    if not cameras or any(c not in SIDES for c in cameras) or len(set(cameras)) != len(cameras):
        return f'cameras must be a non-empty list of distinct names from {", ".join(SIDES)}, ' \
            f'got {cameras}'
    if values['ae_min_exposure'] > values['ae_max_exposure']:
        return 'ae_min_exposure must be <= ae_max_exposure'
    if values['fourcc'] and len(str(values['fourcc'])) != 4:
        return f'fourcc must be 4 characters or empty, got {values["fourcc"]!r}'
    return None


def exposure_limits(values: Mapping[str, ParamValue]) -> AutoExposureLimits:
    """Return the auto-exposure limits the parameters describe."""
    return AutoExposureLimits(target=float(values['ae_target']),
                              min_exposure_s=float(values['ae_min_exposure']),
                              max_exposure_s=float(values['ae_max_exposure']),
                              max_gain=float(values['ae_max_gain']))


def manual_exposure(values: Mapping[str, ParamValue]) -> Exposure:
    """Return the manual exposure the parameters describe."""
    return Exposure(exposure_s=float(values['exposure']), gain=float(values['gain']))


CAMERA_PARAMS = ParamTable([
    ParamSpec('backend', 'fake', 'Frame source: fake (synthetic scene), hardware (V4L2 device, '
              'video file or stream URL through OpenCV) or gazebo (sim/camera_<side>/image_raw)',
              choices=BACKENDS, read_only=True),
    ParamSpec('cameras', ['left', 'right'], 'Cameras to run, from: left, right',
              read_only=True),
    ParamSpec('left_device', '/dev/video0', 'Hardware backend: V4L2 device, index, video file '
              'or stream URL of the left camera', read_only=True),
    ParamSpec('right_device', '/dev/video2', 'Hardware backend: V4L2 device, index, video file '
              'or stream URL of the right camera', read_only=True),
    ParamSpec('fourcc', '', 'Hardware backend: V4L2 pixel format (e.g. MJPG); empty keeps the '
              'device default', read_only=True),
    ParamSpec('loop_video', False, 'Hardware backend: rewind a video file at its end (demos)',
              read_only=True),
    ParamSpec('width', 1280, 'Image width requested from the device (fake: rendered)', 'px',
              64, 4096, read_only=True),
    ParamSpec('height', 720, 'Image height requested from the device (fake: rendered)', 'px',
              48, 3072, read_only=True),
    ParamSpec('stream_rate', 5.0, 'Rate of image_raw, image_raw/compressed and camera_info '
              'per camera', 'Hz', 0.1, 30.0),
    ParamSpec('streaming', True, 'Publish the streams; false pauses them (and releases '
              'hardware cameras) to save power; captures still work'),
    ParamSpec('stream_jpeg_quality', 75, 'JPEG quality of image_raw/compressed', '', 1, 100),
    ParamSpec('capture_jpeg_quality', 90, 'Default JPEG quality of stored captures (a goal '
              'with jpeg_quality 0 uses it)', '', 1, 100),
    ParamSpec('thumbnail_width', 320, 'Default thumbnail width (a goal with thumbnail_width 0 '
              'uses it); narrower if needed to meet thumbnail_max_bytes', 'px',
              MIN_THUMBNAIL_WIDTH, 1920),
    ParamSpec('thumbnail_max_bytes', 8000, 'Byte budget of every thumbnail (first downlink)',
              'B', 500, 65536),
    ParamSpec('exposure_mode', 'auto', 'auto: low-sun auto-exposure (meters the ground, not '
              'sky or glare); manual: exposure and gain; device: the camera firmware',
              choices=EXPOSURE_MODES),
    ParamSpec('exposure', 0.01, 'Manual exposure time (also the auto-exposure start)', 's',
              1e-5, 1.0),
    ParamSpec('gain', 1.0, 'Manual gain, linear', '', 1.0, 16.0),
    ParamSpec('ae_target', 0.45, 'Auto-exposure target level of the lit ground, share of '
              'full scale', '', 0.05, 0.95),
    ParamSpec('ae_min_exposure', 0.0001, 'Auto-exposure shortest exposure time', 's',
              1e-5, 1.0),
    ParamSpec('ae_max_exposure', 0.05, 'Auto-exposure longest exposure time (motion blur '
              'bound); gain rises only beyond it', 's', 1e-5, 1.0),
    ParamSpec('ae_max_gain', 4.0, 'Auto-exposure highest gain (noise bound)', '', 1.0, 16.0),
    ParamSpec('read_timeout', 1.0, 'Longest wait for a frame during a capture', 's',
              0.05, 10.0),
    ParamSpec('product_dir', '~/.ros/rover_products', 'Directory of the on-board product '
              'store, shared with the shovel and the lander bridge', read_only=True),
    ParamSpec('product_budget_bytes', 2_000_000_000, 'Disk budget of the product store (use '
              'the same value in every process that opens it)', 'B', 1_000_000,
              1_000_000_000_000, read_only=True),
    ParamSpec('calibration_left', '', 'Calibration YAML of the left camera; empty uses '
              'config/camera_left.yaml of rover_cams', read_only=True),
    ParamSpec('calibration_right', '', 'Calibration YAML of the right camera; empty uses '
              'config/camera_right.yaml of rover_cams', read_only=True),
    ParamSpec('pose_max_age', 5.0, 'Odometry older than this is not recorded with a capture',
              's', 0.0, 3600.0),
    ParamSpec('fake_seed', 0, 'Fake backend: scene seed (right camera uses seed + 1)', '',
              0, 2**31 - 1, read_only=True),
    ParamSpec('diagnostics_period', 1.0, 'Period of the /diagnostics reports', 's', 0.1, 10.0,
              read_only=True),
], cross_check=check_camera_params)
