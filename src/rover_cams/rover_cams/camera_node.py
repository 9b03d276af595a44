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
The ``cameras`` node: both side cameras in one process.

One node serves both cameras because a capture of ``both`` is one action over the two, the
product catalog gets one writer for images, and a small rover computer runs one Python
process fewer. Per camera it publishes ``camera_<side>/image_raw`` (sensor_data QoS),
``camera_<side>/image_raw/compressed`` and ``camera_<side>/camera_info`` in
``camera_<side>_optical_frame``; it serves the ``capture`` action (CaptureImage) and the
``products/list`` service (ListProducts), records the latest ``odom`` pose with captures, and
reports frame rate, dropped frames, device errors, exposure and store usage on
``/diagnostics``. Everything but the ROS plumbing is in :mod:`rover_cams.rig` and friends.

    ros2 run rover_cams camera_node --ros-args -p backend:=fake
    ros2 action send_goal /capture rover_interfaces/action/CaptureImage "{camera: 2}"
    ros2 service call /products/list rover_interfaces/srv/ListProducts "{only_pending: true}"
"""

import array
from pathlib import Path
import threading
import time
from typing import Any, Dict, Mapping, Optional, Tuple

from ament_index_python.packages import get_package_share_directory
from nav_msgs.msg import Odometry
import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.qos import qos_profile_sensor_data
from rover_cams.calibration import Calibration, CalibrationError, load_calibration
from rover_cams.encoding import encode_frame, EncodeError
from rover_cams.fake_source import FakeSource
from rover_cams.frames import CameraError, CHANNELS, Frame, NoFrame, SIDES
from rover_cams.monitoring import store_report, StreamMonitor
from rover_cams.params import CAMERA_PARAMS, exposure_limits, manual_exposure
from rover_cams.pushed_source import PushedSource
from rover_cams.rig import CameraRig, ExposureMode, InvalidCaptureRequest
from rover_cams.video_source import VideoSource
from rover_common.product_store import Product, ProductStore, StoreError
from rover_common.rover_node import (COMMAND_QOS, RoverNode, run_until_stopped, seconds_to_stamp,
                                     stamp_to_seconds)
from rover_interfaces.action import CaptureImage
from rover_interfaces.msg import Product as ProductMsg
from rover_interfaces.srv import ListProducts
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

#: CaptureImage.camera values to rig camera names.
GOAL_CAMERAS = {CaptureImage.Goal.CAMERA_LEFT: 'left', CaptureImage.Goal.CAMERA_RIGHT: 'right',
                CaptureImage.Goal.CAMERA_BOTH: 'both'}
_EXPOSURE_PARAMS = {'exposure_mode', 'exposure', 'gain', 'ae_target', 'ae_min_exposure',
                    'ae_max_exposure', 'ae_max_gain'}


# -- conversions message <-> core -----------------------------------------------------------

def image_to_msg(frame: Frame, frame_id: str) -> Image:
    """Return a sensor_msgs/Image of a frame (one copy of the pixels)."""
    msg = Image()
    msg.header.stamp = seconds_to_stamp(frame.stamp)
    msg.header.frame_id = frame_id
    msg.height, msg.width = frame.height, frame.width
    msg.encoding = frame.pixel_format
    msg.is_bigendian = 0
    msg.step = frame.width * CHANNELS[frame.pixel_format]
    data = array.array('B')
    data.frombytes(np.ascontiguousarray(frame.image).data)
    msg.data = data
    return msg


def image_from_msg(msg: Image) -> Tuple[np.ndarray, str, float]:
    """Return (image, pixel_format, stamp) of a sensor_msgs/Image; ValueError if unsupported."""
    if msg.encoding not in CHANNELS:
        raise ValueError(f'unsupported image encoding {msg.encoding!r}; supported: '
                         f'{", ".join(CHANNELS)}')
    channels = CHANNELS[msg.encoding]
    row = msg.width * channels
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if msg.step < row or buffer.size < msg.step * msg.height:
        raise ValueError(f'image data too short for {msg.width}x{msg.height} {msg.encoding}')
    rows = buffer[:msg.step * msg.height].reshape(msg.height, msg.step)[:, :row]
    shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    return rows.reshape(shape), msg.encoding, stamp_to_seconds(msg.header.stamp)


def compressed_to_msg(jpeg: bytes, frame: Frame, frame_id: str) -> CompressedImage:
    """Return a sensor_msgs/CompressedImage of JPEG bytes encoded from ``frame``."""
    msg = CompressedImage()
    msg.header.stamp = seconds_to_stamp(frame.stamp)
    msg.header.frame_id = frame_id
    msg.format = f'{frame.pixel_format}; jpeg compressed {frame.pixel_format[:3]}' \
        if frame.pixel_format != 'mono8' else 'mono8; jpeg compressed mono8'
    data = array.array('B')
    data.frombytes(jpeg)
    msg.data = data
    return msg


def calibration_to_msg(calibration: Calibration, frame_id: str) -> CameraInfo:
    """Return the CameraInfo of a calibration (header stamp left to the caller)."""
    msg = CameraInfo()
    msg.header.frame_id = frame_id
    msg.width, msg.height = calibration.width, calibration.height
    msg.distortion_model = calibration.distortion_model
    msg.d = [float(v) for v in calibration.d]
    msg.k = [float(v) for v in calibration.k]
    msg.r = [float(v) for v in calibration.r]
    msg.p = [float(v) for v in calibration.p]
    return msg


def product_to_msg(product: Product) -> ProductMsg:
    """Return the rover_interfaces/Product of a catalog entry."""
    return ProductMsg(id=product.id, kind=int(product.kind), camera=product.camera,
                      stamp=seconds_to_stamp(product.stamp), path=str(product.path),
                      size_bytes=product.size_bytes, sha256=product.sha256,
                      downlink_state=int(product.downlink_state),
                      related_id=product.related_id)


def pose_from_odom(msg: Odometry) -> Dict[str, Any]:
    """Return the pose of an Odometry message as the catalog's JSON pose mapping."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    return {'frame_id': msg.header.frame_id, 'child_frame_id': msg.child_frame_id,
            'stamp': stamp_to_seconds(msg.header.stamp), 'x': p.x, 'y': p.y, 'z': p.z,
            'qx': q.x, 'qy': q.y, 'qz': q.z, 'qw': q.w}


# -- the node ------------------------------------------------------------------------------

class CamerasNode(RoverNode):
    """Both side cameras: streams, captures into the product store, diagnostics."""

    def __init__(self, **kwargs) -> None:
        super().__init__('cameras', CAMERA_PARAMS, **kwargs)
        params = self.params
        self._backend = str(params['backend'])
        self._names = tuple(side for side in SIDES if side in params['cameras'])
        self._store = ProductStore(Path(str(params['product_dir'])).expanduser(),
                                   budget_bytes=int(params['product_budget_bytes']))
        sources = {side: self._make_source(side, params) for side in self._names}
        self._rig = CameraRig(sources, self._store,
                              jpeg_quality=int(params['capture_jpeg_quality']),
                              thumbnail_width=int(params['thumbnail_width']),
                              thumbnail_max_bytes=int(params['thumbnail_max_bytes']),
                              read_timeout_s=float(params['read_timeout']))
        self._calibrations = {side: self._load_calibration(side, params)
                              for side in self._names}
        self._info_cache: Dict[Tuple[str, int, int], Optional[CameraInfo]] = {}
        self._monitors = {side: StreamMonitor(f'camera_{side}', float(params['stream_rate']))
                          for side in self._names}
        self._store_error = ''
        self._last_rejection = ''
        self._pose: Optional[Tuple[float, Dict[str, Any]]] = None
        self._goal_lock = threading.Lock()
        self._goal_handle = None
        self._stream_lock = threading.Lock()
        self._apply_exposure(params)

        self._image_pubs, self._compressed_pubs, self._info_pubs = {}, {}, {}
        for side in self._names:
            base = f'camera_{side}'
            self._image_pubs[side] = self.create_publisher(
                Image, f'{base}/image_raw', qos_profile_sensor_data)
            self._compressed_pubs[side] = self.create_publisher(
                CompressedImage, f'{base}/image_raw/compressed', qos_profile_sensor_data)
            self._info_pubs[side] = self.create_publisher(
                CameraInfo, f'{base}/camera_info', qos_profile_sensor_data)
        # Inputs in their own reentrant group, not the node's default mutually exclusive one:
        # in the Gazebo run the default group stopped delivering simulator frames for good
        # after subscribers of image_raw came and went (rclpy's MultiThreadedExecutor, cause
        # not found), so every later capture timed out.
        inputs_group = ReentrantCallbackGroup()
        if self._backend == 'gazebo':
            for side in self._names:
                self.create_subscription(
                    Image, f'sim/camera_{side}/image_raw',
                    lambda msg, side=side: self._on_sim_image(side, msg),
                    qos_profile_sensor_data, callback_group=inputs_group)
        self.create_subscription(Odometry, 'odom', self._on_odom, COMMAND_QOS,
                                 callback_group=inputs_group)

        self._stream_group = MutuallyExclusiveCallbackGroup()
        self._stream_timer = None
        self._restart_stream_timer()
        self.create_timer(float(params['diagnostics_period']), self._publish_diagnostics,
                          callback_group=MutuallyExclusiveCallbackGroup())
        service_group = ReentrantCallbackGroup()
        self._capture_server = ActionServer(
            self, CaptureImage, 'capture', execute_callback=self._execute_capture,
            goal_callback=self._on_capture_goal,
            handle_accepted_callback=self._on_capture_accepted,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=service_group)
        self.create_service(ListProducts, 'products/list', self._on_list_products,
                            callback_group=service_group)
        self.get_logger().info(
            f'cameras {", ".join(self._names)} on {self._backend}, '
            f'{params["width"]}x{params["height"]} at {params["stream_rate"]} Hz, '
            f'products in {self._store.root}')
        if not self._store.recovery.clean:
            self.get_logger().warning(
                f'product store recovery: {self._store.recovery.summary()}')

    @property
    def rig(self) -> CameraRig:
        """Return the CameraRig behind the node."""
        return self._rig

    def release(self) -> None:
        """Release the cameras and close the product store."""
        self._rig.close()
        self._store.close()

    def destroy_node(self) -> None:
        """Destroy the action server before the node (as nav2's navigator does)."""
        self._capture_server.destroy()
        super().destroy_node()

    # -- set-up ------------------------------------------------------------------------

    def _make_source(self, side: str, params: Mapping[str, Any]):
        width, height = int(params['width']), int(params['height'])
        rate = float(params['stream_rate'])
        if self._backend == 'fake':
            return FakeSource(side, width=width, height=height, fps=rate,
                              seed=int(params['fake_seed']) + SIDES.index(side))
        if self._backend == 'hardware':
            return VideoSource(str(params[f'{side}_device']), width=width, height=height,
                               fps=rate, fourcc=str(params['fourcc']),
                               loop=bool(params['loop_video']))
        return PushedSource(f'camera_{side}')

    def _load_calibration(self, side: str, params: Mapping[str, Any]) -> Calibration:
        path = str(params[f'calibration_{side}'])
        if not path:
            path = str(Path(get_package_share_directory('rover_cams')) / 'config' /
                       f'camera_{side}.yaml')
        return load_calibration(Path(path).expanduser())

    def _apply_exposure(self, params: Mapping[str, Any]) -> None:
        mode = ExposureMode(str(params['exposure_mode']))
        for side in self._names:
            note = self._rig.set_exposure_mode(side, mode, manual=manual_exposure(params),
                                               limits=exposure_limits(params))
            if note:
                self.get_logger().info(f'camera_{side}: {note}; the backend sets exposure')

    def _restart_stream_timer(self) -> None:
        if self._stream_timer is not None:
            self.destroy_timer(self._stream_timer)
        now = time.monotonic()
        for monitor in self._monitors.values():
            monitor.reset_rate(float(self.params['stream_rate']), now)
        self._stream_timer = self.create_timer(1.0 / float(self.params['stream_rate']),
                                               self._stream_once,
                                               callback_group=self._stream_group)

    def on_parameters_changed(self, changed: Mapping[str, Any]) -> None:
        """Apply rate, pause, quality and exposure changes."""
        params = self.params
        if 'stream_rate' in changed:
            self._restart_stream_timer()
        if 'streaming' in changed:
            if params['streaming']:
                now = time.monotonic()
                for monitor in self._monitors.values():
                    monitor.reset_rate(float(params['stream_rate']), now)
            elif self._backend == 'hardware':
                with self._stream_lock:
                    for side in self._names:
                        self._rig.release(side)
        self._rig.jpeg_quality = int(params['capture_jpeg_quality'])
        self._rig.thumbnail_width = int(params['thumbnail_width'])
        self._rig.thumbnail_max_bytes = int(params['thumbnail_max_bytes'])
        self._rig.read_timeout_s = float(params['read_timeout'])
        if _EXPOSURE_PARAMS & set(changed):
            self._apply_exposure(params)

    # -- streaming ---------------------------------------------------------------------

    def _stream_once(self) -> None:
        params = self.params
        if not params['streaming']:
            return
        with self._stream_lock:
            timeout = min(float(params['read_timeout']), 0.5 / float(params['stream_rate']))
            quality = int(params['stream_jpeg_quality'])
            for side in self._names:
                monitor = self._monitors[side]
                now = time.monotonic()
                monitor.tick(now)
                try:
                    frame = self._rig.stream_frame(side, timeout)
                    if frame is None:  # a capture is waiting for this camera's next frame
                        continue
                except NoFrame as err:
                    monitor.no_frame(now, str(err))
                    continue
                except CameraError as err:
                    monitor.device_error(now, str(err))
                    self.get_logger().error(f'camera_{side}: {err}',
                                            throttle_duration_sec=10.0)
                    continue
                self._publish_frame(side, frame, quality)
                monitor.frame(time.monotonic())

    def _publish_frame(self, side: str, frame: Frame, quality: int) -> None:
        frame_id = f'camera_{side}_optical_frame'
        if self._image_pubs[side].get_subscription_count() > 0:
            self._image_pubs[side].publish(image_to_msg(frame, frame_id))
        if self._compressed_pubs[side].get_subscription_count() > 0:
            jpeg = encode_frame(frame, quality)
            self._compressed_pubs[side].publish(compressed_to_msg(jpeg, frame, frame_id))
        info = self._camera_info(side, frame.width, frame.height)
        if info is not None:
            info.header.stamp = seconds_to_stamp(frame.stamp)
            self._info_pubs[side].publish(info)

    def _camera_info(self, side: str, width: int, height: int) -> Optional[CameraInfo]:
        key = (side, width, height)
        if key not in self._info_cache:
            try:
                calibration = self._calibrations[side].scaled(width, height)
                self._info_cache[key] = calibration_to_msg(
                    calibration, f'camera_{side}_optical_frame')
            except CalibrationError as err:
                self.get_logger().error(f'camera_{side}: no camera_info: {err}')
                self._info_cache[key] = None
        return self._info_cache[key]

    def _on_sim_image(self, side: str, msg: Image) -> None:
        try:
            image, pixel_format, stamp = image_from_msg(msg)
        except ValueError as err:
            self._monitors[side].device_error(time.monotonic(), str(err))
            return
        source = self._rig.source(side)
        source.push(image, pixel_format, stamp)

    def _on_odom(self, msg: Odometry) -> None:
        self._pose = (time.monotonic(), pose_from_odom(msg))

    # -- capture action ----------------------------------------------------------------

    def _on_capture_goal(self, goal: CaptureImage.Goal) -> GoalResponse:
        try:
            camera = GOAL_CAMERAS.get(goal.camera)
            if camera is None:
                raise InvalidCaptureRequest(
                    f'camera must be {CaptureImage.Goal.CAMERA_LEFT} (left), '
                    f'{CaptureImage.Goal.CAMERA_RIGHT} (right) or '
                    f'{CaptureImage.Goal.CAMERA_BOTH} (both), got {goal.camera}')
            self._rig.resolve(camera)
            self._rig.check_request(quality=goal.jpeg_quality,
                                    thumbnail_width=goal.thumbnail_width,
                                    command_id=goal.command_id)
        except InvalidCaptureRequest as err:
            self._last_rejection = str(err)
            self.get_logger().warning(f'capture goal rejected: {err}')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_capture_accepted(self, goal_handle) -> None:
        with self._goal_lock:
            if self._goal_handle is not None and self._goal_handle.is_active:
                self.get_logger().info('capture goal superseded by a new one')
                self._goal_handle.abort()
            self._goal_handle = goal_handle
        goal_handle.execute()

    def _execute_capture(self, goal_handle) -> CaptureImage.Result:
        goal = goal_handle.request
        result = CaptureImage.Result()
        names = self._rig.resolve(GOAL_CAMERAS[goal.camera])
        feedback = CaptureImage.Feedback(images_done=0, images_total=len(names))
        pose = self._current_pose()
        for side in names:
            if not goal_handle.is_active:
                return self._finish(result, CaptureImage.Result.ERROR_CANCELED,
                                    'superseded by a newer capture goal')
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return self._finish(result, CaptureImage.Result.ERROR_CANCELED, 'canceled')
            try:
                capture = self._rig.capture_one(
                    side, quality=goal.jpeg_quality, thumbnail_width=goal.thumbnail_width,
                    command_id=goal.command_id, pose=pose)
            except (CameraError, EncodeError) as err:
                return self._abort(goal_handle, result, CaptureImage.Result.ERROR_DEVICE,
                                   f'camera_{side}: {err}')
            except InvalidCaptureRequest as err:
                return self._abort(goal_handle, result, CaptureImage.Result.ERROR_INVALID_GOAL,
                                   str(err))
            except (StoreError, OSError) as err:
                self._store_error = f'capture from {side} not stored: {err}'
                return self._abort(goal_handle, result, CaptureImage.Result.ERROR_STORE,
                                   self._store_error)
            self._store_error = ''
            result.product_ids.append(capture.image.id)
            result.thumbnail_ids.append(capture.thumbnail.id)
            feedback.images_done += 1
            goal_handle.publish_feedback(feedback)
        self._release_if_paused()
        if not goal_handle.is_active:
            return self._finish(result, CaptureImage.Result.ERROR_CANCELED,
                                'superseded by a newer capture goal')
        goal_handle.succeed()
        return self._finish(result, CaptureImage.Result.ERROR_NONE,
                            f'stored {len(result.product_ids)} image(s) with thumbnails')

    def _release_if_paused(self) -> None:
        """Close hardware cameras a capture opened while the streams are paused (power)."""
        if self._backend == 'hardware' and not self.params['streaming']:
            for side in self._names:
                self._rig.release(side)

    def _abort(self, goal_handle, result: CaptureImage.Result, code: int,
               message: str) -> CaptureImage.Result:
        self._release_if_paused()
        self.get_logger().error(f'capture failed: {message}')
        if goal_handle.is_active:
            goal_handle.abort()
        return self._finish(result, code, message)

    @staticmethod
    def _finish(result: CaptureImage.Result, code: int, message: str) -> CaptureImage.Result:
        result.error_code = code
        result.message = message
        return result

    def _current_pose(self) -> Optional[Dict[str, Any]]:
        latest = self._pose
        if latest is None:
            return None
        received, pose = latest
        if time.monotonic() - received > float(self.params['pose_max_age']):
            return None
        return pose

    # -- catalog and diagnostics -------------------------------------------------------

    def _on_list_products(self, request: ListProducts.Request,
                          response: ListProducts.Response) -> ListProducts.Response:
        products = self._store.list(only_pending=request.only_pending,
                                    limit=request.max_count or None)
        response.products = [product_to_msg(p) for p in products]
        return response

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        streaming = bool(self.params['streaming'])
        reports = []
        for side in self._names:
            values = {'backend': self._backend}
            values.update(self._rig.exposure_state(side))
            source = self._rig.source(side)
            if isinstance(source, VideoSource):
                values['device'] = source.device
            if self._last_rejection:
                values['last_rejected_goal'] = self._last_rejection
            reports.append(self._monitors[side].report(now, streaming=streaming,
                                                       values=values))
        reports.append(store_report(self._store.usage(), recovery=self._store.recovery,
                                    last_error=self._store_error))
        self.publish_health(reports)


def main(args=None) -> None:
    """Run the cameras node; whatever ends it, the devices are released and the store closed."""
    run_until_stopped(CamerasNode, name='cameras', args=args,
                      startup_errors=(CalibrationError, StoreError))


if __name__ == '__main__':
    main()
