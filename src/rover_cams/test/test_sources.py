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

"""Frame sources: the fake scene, the OpenCV (V4L2/file) path on a real video file, pushes."""

import threading
import time

import cv2
import numpy as np
import pytest
from rover_cams.fake_source import FakeSource, NOMINAL_EXPOSURE
from rover_cams.frames import DeviceError, Exposure, Frame, NoFrame
from rover_cams.pushed_source import PushedSource
from rover_cams.video_source import is_v4l2_device, VideoSource

# -- fake ---------------------------------------------------------------------------------


def test_fake_is_deterministic_per_seed():
    a, b = FakeSource('left', width=320, height=180, seed=4), \
        FakeSource('left', width=320, height=180, seed=4)
    for n in (0, 7, 50):
        assert np.array_equal(a.render(n), b.render(n))
    other = FakeSource('left', width=320, height=180, seed=5)
    assert not np.array_equal(a.render(0), other.render(0))


def test_fake_scene_moves_and_horizon_bobs():
    source = FakeSource('left', width=320, height=180, fps=10.0, pitch_amplitude_px=6,
                        pitch_period_s=2.0)
    first, later = source.render(0), source.render(5)
    assert not np.array_equal(first, later)
    sky_rows = [int(np.argmax(source.render(n)[:, 160].max(axis=1) > 0)) for n in range(20)]
    assert max(sky_rows) - min(sky_rows) >= 6  # the horizon row moves with pitch


def test_fake_has_black_sky_lit_ground_and_shovel():
    source = FakeSource('right', width=640, height=360)
    image = source.render(0)
    assert image[:40].max() == 0  # black lunar sky at the top
    ground = image[200:, 200:400]
    assert 40 < ground.mean() < 200 and ground.std() > 10
    shovel = image[-20:, -110:-100]  # right camera: shovel in the lower right corner
    assert shovel.std(axis=(0, 1)).max() < 10 and shovel.mean() > 80
    mirrored = FakeSource('left', width=640, height=360).render(0)
    assert mirrored[-20:, 100:110].std(axis=(0, 1)).max() < 10


def test_fake_read_stamps_and_sequence():
    times = iter([100.0, 100.1, 100.2])
    source = FakeSource('left', width=64, height=48, clock=lambda: next(times))
    frames = [source.read() for _ in range(3)]
    assert [f.sequence for f in frames] == [0, 1, 2]
    assert [f.stamp for f in frames] == [100.0, 100.1, 100.2]
    assert frames[0].pixel_format == 'bgr8' and frames[0].image.shape == (48, 64, 3)
    assert frames[0].exposure == NOMINAL_EXPOSURE and source.running


def test_fake_exposure_scales_brightness():
    source = FakeSource('left', width=320, height=180)
    nominal = source.render(0).astype(float)
    source.set_exposure(Exposure(0.005, 1.0))
    half = source.render(0).astype(float)
    assert half.mean() == pytest.approx(nominal.mean() / 2, rel=0.03)
    source.set_exposure(Exposure(0.01, 2.0))
    assert source.render(0).mean() > nominal.mean() * 1.6
    with pytest.raises(DeviceError):
        source.set_exposure(Exposure(0.0, 1.0))


def test_fake_rejects_bad_configuration():
    with pytest.raises(ValueError, match='side'):
        FakeSource('front')
    with pytest.raises(ValueError, match='fps'):
        FakeSource('left', fps=0.0)


def test_frame_checks_format():
    with pytest.raises(ValueError, match='channel'):
        Frame(np.zeros((4, 4, 3), np.uint8), 'mono8', 0.0, 0)
    with pytest.raises(ValueError, match='pixel_format'):
        Frame(np.zeros((4, 4, 3), np.uint8), 'yuyv', 0.0, 0)
    with pytest.raises(ValueError, match='uint8'):
        Frame(np.zeros((4, 4, 3), np.float32), 'bgr8', 0.0, 0)


# -- OpenCV: the V4L2 code path, fed a real video file ----------------------------------

@pytest.fixture(scope='module')
def video_file(tmp_path_factory):
    """Write an MJPG AVI of 12 frames, 320x240, frame i a flat grey of level 20 * i."""
    path = tmp_path_factory.mktemp('video') / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (320, 240))
    assert writer.isOpened(), 'OpenCV cannot write MJPG AVI here'
    for i in range(12):
        image = np.full((240, 320, 3), 20 * i, np.uint8)
        cv2.putText(image, str(i), (10, 200), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
        writer.write(image)
    writer.release()
    return path


def test_video_file_frames_in_order(video_file):
    source = VideoSource(str(video_file), clock=lambda: 42.0)
    assert not source.running and not source.supports_exposure
    frames = [source.read() for _ in range(12)]
    assert source.running and source.actual_size[:2] == (320, 240)
    assert [f.sequence for f in frames] == list(range(12))
    for i, frame in enumerate(frames):
        assert frame.pixel_format == 'bgr8' and frame.image.shape == (240, 320, 3)
        assert frame.stamp == 42.0
        assert abs(float(np.median(frame.image[:100])) - 20 * i) <= 4
    with pytest.raises(DeviceError, match='end of stream'):
        source.read()
    source.stop()
    assert not source.running


def test_video_file_loops_when_asked(video_file):
    source = VideoSource(str(video_file), loop=True)
    levels = [float(np.median(source.read().image[:100])) for _ in range(14)]
    assert abs(levels[12] - levels[0]) <= 4 and abs(levels[13] - levels[1]) <= 4
    source.stop()


def test_video_reopens_after_stop(video_file):
    source = VideoSource(str(video_file))
    source.read()
    source.stop()
    assert float(np.median(source.read().image[:100])) <= 4  # back at frame 0


def test_missing_device_raises(tmp_path):
    with pytest.raises(DeviceError, match='cannot open'):
        VideoSource(str(tmp_path / 'nope.avi')).read()
    with pytest.raises(DeviceError, match='cannot open'):
        VideoSource('/dev/video99').start()


def test_file_has_no_exposure_control(video_file):
    with pytest.raises(DeviceError, match='not a V4L2'):
        VideoSource(str(video_file)).set_exposure(Exposure(0.01))


def test_v4l2_detection():
    assert is_v4l2_device('/dev/video0') and is_v4l2_device('2') and is_v4l2_device(0)
    assert not is_v4l2_device('rtsp://10.0.0.2/cam') and not is_v4l2_device('/tmp/a.avi')
    assert VideoSource('/dev/video0').supports_exposure
    with pytest.raises(ValueError, match='fourcc'):
        VideoSource('/dev/video0', fourcc='MJPEG')


# -- pushed (Gazebo) --------------------------------------------------------------------

def _image(level: int) -> np.ndarray:
    return np.full((4, 6, 3), level, np.uint8)


def test_pushed_returns_newest_unread_frame():
    source = PushedSource('left')
    with pytest.raises(NoFrame, match='no frame'):
        source.read(timeout_s=0.01)
    source.push(_image(1), 'rgb8', 10.0)
    source.push(_image(2), 'rgb8', 10.1)
    frame = source.read(timeout_s=0.01)
    assert frame.image[0, 0, 0] == 2 and frame.stamp == 10.1 and frame.pixel_format == 'rgb8'
    assert source.superseded == 1 and source.received == 2
    with pytest.raises(NoFrame):
        source.read(timeout_s=0.01)  # the same frame is not returned twice


def test_pushed_read_wakes_on_push():
    source = PushedSource('left')
    pusher = threading.Timer(0.05, source.push, args=(_image(9), 'bgr8', 1.0))
    pusher.start()
    start = time.monotonic()
    frame = source.read(timeout_s=2.0)
    assert frame.image[0, 0, 0] == 9 and time.monotonic() - start < 1.0
    pusher.join()
