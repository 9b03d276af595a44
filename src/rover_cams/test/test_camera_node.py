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

"""The cameras node in-process: streams on both cameras, capture action, catalog service."""

from pathlib import Path
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2 Jazzy) is not installed')

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402, I100
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from rover_cams.camera_node import CamerasNode, image_from_msg, image_to_msg  # noqa: E402
from rover_cams.encoding import jpeg_size  # noqa: E402
from rover_cams.fake_source import FakeSource  # noqa: E402
from rover_common.product_store import ProductStore  # noqa: E402
from rover_common.rover_node import COMMAND_QOS, stamp_to_seconds  # noqa: E402
from rover_interfaces.action import CaptureImage  # noqa: E402
from rover_interfaces.srv import ListProducts  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / 'config'
SIDES = ('left', 'right')


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def wait_future(future, timeout: float = 15.0):
    assert wait_for(future.done, timeout), 'no answer in time'
    return future.result()


class Harness:
    """The node under test and a client node, spun by one executor in a thread."""

    def __init__(self, product_dir: Path) -> None:
        overrides = [
            Parameter('backend', value='fake'),
            Parameter('width', value=320), Parameter('height', value=180),
            Parameter('stream_rate', value=10.0),
            Parameter('product_dir', value=str(product_dir)),
            Parameter('product_budget_bytes', value=50_000_000),
            Parameter('calibration_left', value=str(CONFIG / 'camera_left.yaml')),
            Parameter('calibration_right', value=str(CONFIG / 'camera_right.yaml')),
            Parameter('diagnostics_period', value=0.2),
        ]
        self.node = CamerasNode(parameter_overrides=overrides)
        self.client = Node('cams_test_client')
        self.images = {side: [] for side in SIDES}
        self.compressed = {side: [] for side in SIDES}
        self.infos = {side: [] for side in SIDES}
        self.diagnostics = []
        for side in SIDES:
            self.client.create_subscription(Image, f'camera_{side}/image_raw',
                                            self.images[side].append,
                                            qos_profile_sensor_data)
            self.client.create_subscription(CompressedImage,
                                            f'camera_{side}/image_raw/compressed',
                                            self.compressed[side].append,
                                            qos_profile_sensor_data)
            self.client.create_subscription(CameraInfo, f'camera_{side}/camera_info',
                                            self.infos[side].append, qos_profile_sensor_data)
        self.client.create_subscription(DiagnosticArray, '/diagnostics',
                                        self.diagnostics.append, 10)
        self.odom_pub = self.client.create_publisher(Odometry, 'odom', COMMAND_QOS)
        self.capture = ActionClient(self.client, CaptureImage, 'capture')
        self.list_products = self.client.create_client(ListProducts, 'products/list')
        self.executor = MultiThreadedExecutor(num_threads=4)
        self.executor.add_node(self.node)
        self.executor.add_node(self.client)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        assert self.capture.wait_for_server(timeout_sec=10.0)
        assert self.list_products.wait_for_service(timeout_sec=10.0)

    def send_goal(self, **fields):
        goal_handle = wait_future(self.capture.send_goal_async(CaptureImage.Goal(**fields)))
        if not goal_handle.accepted:
            return None
        return wait_future(goal_handle.get_result_async()).result

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=5.0)
        self.capture.destroy()
        self.node.release()
        self.node.destroy_node()
        self.client.destroy_node()


@pytest.fixture(scope='module')
def harness(tmp_path_factory):
    rclpy.init()
    h = Harness(tmp_path_factory.mktemp('products'))
    yield h
    h.close()
    rclpy.try_shutdown()


def test_images_arrive_on_both_cameras_with_frame_ids(harness):
    for side in SIDES:
        assert wait_for(lambda: len(harness.images[side]) >= 3 and
                        len(harness.compressed[side]) >= 3 and len(harness.infos[side]) >= 3)
        image = harness.images[side][-1]
        assert image.header.frame_id == f'camera_{side}_optical_frame'
        assert (image.width, image.height, image.encoding) == (320, 180, 'bgr8')
        assert image.step == 960 and len(image.data) == 320 * 180 * 3
        compressed = harness.compressed[side][-1]
        assert compressed.header.frame_id == f'camera_{side}_optical_frame'
        assert 'jpeg' in compressed.format and jpeg_size(bytes(compressed.data)) == (320, 180)
        info = harness.infos[side][-1]
        assert info.header.frame_id == f'camera_{side}_optical_frame'
        assert (info.width, info.height) == (320, 180)
        assert info.k[0] == pytest.approx(914.0 / 4) and info.distortion_model == 'plumb_bob'


def test_images_are_the_fake_scene(harness):
    assert wait_for(lambda: harness.images['right'])
    image, pixel_format, _ = image_from_msg(harness.images['right'][-1])
    assert pixel_format == 'bgr8' and image.shape == (180, 320, 3)
    assert image[:10].max() == 0 and image[100:].mean() > 30  # black sky, lit ground


def test_stream_rate_is_about_the_configured_rate(harness):
    start = len(harness.images['left'])
    time.sleep(2.0)
    count = len(harness.images['left']) - start
    assert 10 <= count <= 30, f'{count} frames in 2 s at 10 Hz'


def test_capture_both_returns_stored_products(harness):
    odom = Odometry()
    odom.header.frame_id = 'odom'
    odom.child_frame_id = 'base_link'
    odom.pose.pose.position.x = 2.5
    odom.pose.pose.orientation.w = 1.0
    harness.odom_pub.publish(odom)
    assert wait_for(lambda: harness.node._current_pose() is not None)
    result = harness.send_goal(camera=CaptureImage.Goal.CAMERA_BOTH, jpeg_quality=80,
                               thumbnail_width=160, command_id='tc-9')
    assert result.error_code == CaptureImage.Result.ERROR_NONE, result.message
    assert len(result.product_ids) == 2 and len(result.thumbnail_ids) == 2
    store = harness.node.rig.store
    for side, image_id, thumb_id in zip(SIDES, result.product_ids, result.thumbnail_ids):
        image, thumb = store.get(image_id), store.get(thumb_id)
        assert image.camera == side and image.path.is_file() and thumb.path.is_file()
        assert image.related_id == thumb_id and thumb.size_bytes <= 8000
        assert jpeg_size(store.read(image_id)) == (320, 180)
        assert image.metadata['command_id'] == 'tc-9'
        assert image.metadata['pose']['x'] == pytest.approx(2.5)


def test_capture_one_camera_with_defaults(harness):
    result = harness.send_goal(camera=CaptureImage.Goal.CAMERA_RIGHT)
    assert result.error_code == CaptureImage.Result.ERROR_NONE
    assert len(result.product_ids) == 1 and '-right-' in result.product_ids[0]
    assert harness.node.rig.store.get(result.product_ids[0]).metadata['jpeg_quality'] == 90


@pytest.mark.parametrize('fields', [
    {'camera': 7}, {'camera': 0, 'jpeg_quality': 101}, {'camera': 0, 'thumbnail_width': 5},
    {'camera': 2, 'command_id': 'x' * 100},
])
def test_bad_goals_are_rejected(harness, fields):
    before = harness.node.rig.store.usage().count
    assert harness.send_goal(**fields) is None
    assert harness.node.rig.store.usage().count == before


def test_products_list_newest_first(harness):
    result = harness.send_goal(camera=CaptureImage.Goal.CAMERA_LEFT)
    response = wait_future(harness.list_products.call_async(
        ListProducts.Request(only_pending=True, max_count=2)))
    assert len(response.products) == 2
    ids = {p.id for p in response.products}
    assert ids == {result.product_ids[0], result.thumbnail_ids[0]}
    everything = wait_future(harness.list_products.call_async(ListProducts.Request()))
    stamps = [stamp_to_seconds(p.stamp) for p in everything.products]
    assert stamps == sorted(stamps, reverse=True) and len(everything.products) >= 6
    for product in everything.products:
        assert Path(product.path).is_file() and len(product.sha256) == 64


def test_out_of_range_parameter_is_refused(harness):
    results = harness.node.set_parameters([Parameter('stream_rate', value=100.0)])
    assert not results[0].successful and 'stream_rate' in results[0].reason
    assert harness.node.params['stream_rate'] == 10.0


def test_pausing_stops_the_stream_but_not_captures(harness):
    assert harness.node.set_parameters([Parameter('streaming', value=False)])[0].successful
    time.sleep(0.3)
    before = len(harness.images['left'])
    time.sleep(0.8)
    assert len(harness.images['left']) == before, 'frames arrived while paused'
    result = harness.send_goal(camera=CaptureImage.Goal.CAMERA_LEFT)
    assert result.error_code == CaptureImage.Result.ERROR_NONE
    assert harness.node.set_parameters([Parameter('streaming', value=True)])[0].successful
    assert wait_for(lambda: len(harness.images['left']) > before + 2)


def test_diagnostics_report_cameras_and_store(harness):
    def names():
        return {status.name for array in harness.diagnostics for status in array.status}
    assert wait_for(lambda: {'cameras: camera_left', 'cameras: camera_right',
                             'cameras: product store'} <= names())
    status = next(s for a in reversed(harness.diagnostics) for s in a.status
                  if s.name == 'cameras: camera_left')
    values = {kv.key: kv.value for kv in status.values}
    assert {'fps', 'dropped', 'device_errors', 'exposure_mode'} <= set(values)


def test_conversions_are_symmetric():
    frame = FakeSource('left', width=64, height=48).read()
    image, pixel_format, stamp = image_from_msg(image_to_msg(frame, 'x'))
    assert pixel_format == frame.pixel_format and (image == frame.image).all()
    assert stamp == pytest.approx(frame.stamp, abs=1e-6)


def test_store_is_shared_with_other_processes(harness):
    with ProductStore(harness.node.rig.store.root, budget_bytes=50_000_000) as other:
        assert other.usage().count == harness.node.rig.store.usage().count
