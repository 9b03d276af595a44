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

"""CameraRig: captures stored with thumbnails, bad requests refused, failures reported."""

import threading
import time

import cv2
import numpy as np
import pytest
from rover_cams.encoding import decode_jpeg, jpeg_size
from rover_cams.exposure import AutoExposureLimits
from rover_cams.fake_source import FakeSource
from rover_cams.frames import DeviceError, Exposure, NoFrame
from rover_cams.pushed_source import PushedSource
from rover_cams.rig import CameraRig, Capture, CaptureFailed, ExposureMode, InvalidCaptureRequest
from rover_cams.video_source import VideoSource
from rover_common.product_store import (DownlinkState, ProductKind, ProductStore,
                                        StoreFull)

POSE = {'frame_id': 'odom', 'x': 1.25, 'y': -0.5, 'z': 0.0, 'qx': 0.0, 'qy': 0.0,
        'qz': 0.38268, 'qw': 0.92388, 'stamp': 1795521600.0}


@pytest.fixture
def store(tmp_path):
    with ProductStore(tmp_path / 'products', budget_bytes=50_000_000) as s:
        yield s


@pytest.fixture
def rig(store):
    rig = CameraRig.fake(store, width=640, height=360, seed=2, clock=lambda: 1795521600.5)
    yield rig
    rig.close()


def test_capture_both_stores_images_with_thumbnails(rig, store):
    captures = rig.capture('both', quality=85, thumbnail_width=200, command_id='tc-17',
                           pose=POSE)
    assert [c.image.camera for c in captures] == ['left', 'right']
    for capture in captures:
        assert isinstance(capture, Capture)
        image, thumb = capture
        assert image.kind is ProductKind.IMAGE and thumb.kind is ProductKind.THUMBNAIL
        assert image.related_id == thumb.id and thumb.related_id == image.id
        assert image.path.is_file() and thumb.path.is_file()
        assert jpeg_size(store.read(image.id)) == (640, 360)
        assert jpeg_size(store.read(thumb.id))[0] <= 200 and thumb.size_bytes <= 8000
        assert image.downlink_state is DownlinkState.NONE
        assert image.stamp == 1795521600.5
        meta = image.metadata
        assert meta['command_id'] == 'tc-17' and meta['pose'] == POSE
        assert (meta['width'], meta['height'], meta['jpeg_quality']) == (640, 360, 85)
        assert meta['exposure_s'] == pytest.approx(0.01) and 'frame_stamp' in meta
        assert thumb.metadata['pose'] == POSE and thumb.metadata['width'] <= 200
    assert store.usage().count == 4
    assert captures[0].image.id != captures[1].image.id


def test_capture_is_the_scene(rig, store):
    capture = rig.capture('left', quality=95)[0]
    decoded = decode_jpeg(store.read(capture.image.id))
    expected = FakeSource('left', width=640, height=360, seed=2).render(0)
    assert np.abs(decoded.astype(int) - expected.astype(int)).mean() < 3.0


def test_defaults_and_single_cameras(rig):
    right = rig.capture('right')
    assert len(right) == 1 and right[0].image.camera == 'right'
    assert right[0].image.metadata['jpeg_quality'] == rig.jpeg_quality
    assert 'pose' not in right[0].image.metadata


@pytest.mark.parametrize('kwargs, match', [
    ({'camera': 'middle'}, 'left, right, both'),
    ({'quality': 101}, 'jpeg_quality'),
    ({'quality': -1}, 'jpeg_quality'),
    ({'thumbnail_width': 10}, 'thumbnail_width'),
    ({'thumbnail_width': 5000}, 'thumbnail_width'),
    ({'command_id': 'tc\n1'}, 'command_id'),
    ({'command_id': 'x' * 65}, 'command_id'),
    ({'pose': {'x': object()}}, 'JSON'),
])
def test_bad_requests_refused_and_nothing_stored(rig, store, kwargs, match):
    args = {'camera': 'both'}
    args.update(kwargs)
    camera = args.pop('camera')
    with pytest.raises((InvalidCaptureRequest, CaptureFailed), match=match):
        rig.capture(camera, **args)
    assert store.usage().count == 0


def test_unconfigured_camera_refused(store):
    rig = CameraRig({'left': FakeSource('left', width=64, height=48)}, store)
    assert rig.cameras == ('left',)
    with pytest.raises(InvalidCaptureRequest, match='not configured'):
        rig.capture('right')
    assert len(rig.capture('both')) == 1


def test_store_full_is_reported_and_nothing_is_lost(tmp_path):
    with ProductStore(tmp_path / 'small', budget_bytes=150_000) as store:
        rig = CameraRig.fake(store, width=640, height=360)
        first = rig.capture('left', quality=50)[0]
        with pytest.raises(CaptureFailed) as failure:
            rig.capture('both', quality=95)
        assert isinstance(failure.value.cause, StoreFull)
        assert failure.value.camera == 'right' and len(failure.value.captures) == 1
        stored = {p.id for p in store.list()}
        kept = failure.value.captures[0]
        assert stored == {first.image.id, first.thumbnail.id, kept.image.id, kept.thumbnail.id}
        for product_id in stored:
            assert store.read(product_id)


def test_device_failure_keeps_the_captures_already_made(store, tmp_path):
    broken = VideoSource(str(tmp_path / 'unplugged.avi'))
    rig = CameraRig({'left': FakeSource('left', width=64, height=48), 'right': broken},
                    store)
    with pytest.raises(CaptureFailed) as failure:
        rig.capture('both')
    assert failure.value.camera == 'right'
    assert isinstance(failure.value.cause, DeviceError)
    assert len(failure.value.captures) == 1
    stored = failure.value.captures[0].image
    assert store.get(stored.id).camera == 'left'


def test_capture_from_a_video_file(store, tmp_path):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 5.0, (320, 240))
    for i in range(3):
        writer.write(np.full((240, 320, 3), 60 + 40 * i, np.uint8))
    writer.release()
    rig = CameraRig({'left': VideoSource(str(path))}, store)
    capture = rig.capture('left')[0]
    assert jpeg_size(store.read(capture.image.id)) == (320, 240)
    assert 'exposure_s' not in capture.image.metadata


def test_auto_exposure_mode_drives_the_source(store):
    source = FakeSource('left', width=320, height=180)
    rig = CameraRig({'left': source}, store)
    assert rig.set_exposure_mode('left', ExposureMode.AUTO, manual=Exposure(0.0005),
                                 limits=AutoExposureLimits(target=0.45)) == ''
    for _ in range(10):
        rig.grab('left')
    state = rig.exposure_state('left')
    assert state['exposure_mode'] == 'auto' and float(state['exposure_s']) > 0.005
    rig.set_exposure_mode('left', ExposureMode.MANUAL, manual=Exposure(0.002, 1.0))
    assert rig.grab('left').exposure == Exposure(0.002, 1.0)
    rig.set_exposure_mode('left', ExposureMode.DEVICE)
    assert rig.exposure_state('left') == {'exposure_mode': 'device'}


def test_exposure_unsupported_backend_noted(store, tmp_path):
    rig = CameraRig({'left': VideoSource(str(tmp_path / 'x.avi'))}, store)
    note = rig.set_exposure_mode('left', ExposureMode.AUTO)
    assert 'not supported' in note
    assert rig.exposure_state('left')['exposure_mode'] == 'device'


def test_release_and_reopen(rig):
    rig.grab('left')
    assert rig.source('left').running
    rig.release('left')
    assert not rig.source('left').running
    assert rig.capture('left')
    assert rig.source('left').running


def test_rig_configuration_checked(store):
    with pytest.raises(ValueError, match='sources'):
        CameraRig({'front': FakeSource('left')}, store)
    with pytest.raises(ValueError, match='jpeg_quality'):
        CameraRig.fake(store, jpeg_quality=0)
    with pytest.raises(ValueError, match='thumbnail_max_bytes'):
        CameraRig.fake(store, thumbnail_max_bytes=10)


def test_a_busy_stream_does_not_starve_a_capture_on_a_slow_source(store):
    # Gazebo in software: a frame every 0.3 s here, a capture waits up to 0.7 s (two frames),
    # while the stream polls back to back, each poll waiting up to 0.5 s.
    source = PushedSource('left')
    rig = CameraRig({'left': source}, store, read_timeout_s=0.7)
    done = threading.Event()
    streamed = []

    def stream():
        while not done.is_set():
            try:
                frame = rig.stream_frame('left', timeout_s=0.5)
            except NoFrame:
                continue
            if frame is not None:
                streamed.append(frame.sequence)

    def push():
        level = 0
        while not done.is_set():
            time.sleep(0.3)
            level += 1
            source.push(np.full((72, 128, 3), level % 255, np.uint8), 'rgb8', float(level))

    workers = [threading.Thread(target=stream), threading.Thread(target=push)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        captures = [rig.capture_one('left', command_id=f'c{i}') for i in range(5)]
        streamed_during = len(streamed)
        time.sleep(1.0)
    finally:
        done.set()
        for worker in workers:
            worker.join(timeout=2.0)
    assert len(captures) == 5
    assert streamed_during > 0, 'the stream ran before the captures'
    assert len(streamed) > streamed_during, 'the stream resumes after the captures'
