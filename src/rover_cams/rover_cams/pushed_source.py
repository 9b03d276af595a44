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
A frame source fed from outside: the Gazebo camera bridged to ROS.

The node subscribes to ``sim/camera_<side>/image_raw`` and calls :meth:`PushedSource.push`
with each image; the stream timer and captures :meth:`~PushedSource.read` the newest frame
they have not seen yet, waiting up to a timeout for one to arrive. A simulator faster than
the stream rate is sub-sampled (``superseded`` counts the frames never read); one that stops
makes ``read`` raise ``NoFrame``.
"""

import threading
from typing import Optional

import numpy as np

from rover_cams.frames import Frame, FrameSource, NoFrame


class PushedSource(FrameSource):
    """
    The newest frame pushed in by another thread.

    :param name: camera name for messages.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._latest: Optional[Frame] = None
        self._read_sequence = -1
        self._received = 0
        self._superseded = 0
        self._open = False

    @property
    def running(self) -> bool:
        """Return True while open (reading is allowed)."""
        return self._open

    @property
    def received(self) -> int:
        """Return how many frames were pushed."""
        return self._received

    @property
    def superseded(self) -> int:
        """Return how many pushed frames were replaced before anyone read them."""
        return self._superseded

    def start(self) -> None:
        """Open (nothing to acquire)."""
        self._open = True

    def stop(self) -> None:
        """Close; frames keep being accepted so a resume starts with a fresh one."""
        self._open = False

    def push(self, image: np.ndarray, pixel_format: str, stamp: float) -> None:
        """Offer a new frame (the image must not be modified afterwards)."""
        with self._cond:
            if self._latest is not None and self._latest.sequence != self._read_sequence:
                self._superseded += 1
            self._latest = Frame(image=image, pixel_format=pixel_format, stamp=stamp,
                                 sequence=self._received)
            self._received += 1
            self._cond.notify_all()

    def read(self, timeout_s: float = 1.0) -> Frame:
        """
        Return the newest frame not read before, waiting up to ``timeout_s`` for one.

        :raises NoFrame: nothing new arrived in time.
        """
        self.start()
        with self._cond:
            fresh = self._cond.wait_for(
                lambda: self._latest is not None and
                self._latest.sequence != self._read_sequence, timeout=timeout_s)
            if not fresh:
                raise NoFrame(f'{self._name}: no frame from the simulator in {timeout_s} s')
            self._read_sequence = self._latest.sequence
            return self._latest
