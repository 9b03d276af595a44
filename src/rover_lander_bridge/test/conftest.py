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

"""Fixtures of the bridge tests: a test key, a recording rover port, bridge and ground."""

import os
from typing import List, Optional, Tuple

import pytest
from rover_ground.ground import GroundStation
from rover_lander_bridge.bridge import BridgeConfig, LanderBridge
from rover_lander_bridge.rover_port import Completion, RoverTelemetry
from rover_lander_bridge.tm_store import TmStore
from rover_link.commands import Ping
from rover_link.security import ArsnCounter, MacEngine, ReplayGuard
from rover_link.telemetry import MobilityHk, ShovelHk

SPI = 1
UTC0 = 1.8e9


class FakePort:
    """A rover port that records every call and lets the test finish operations."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, tuple]] = []
        self.completions: List[Completion] = []
        self.mobility = MobilityHk(0.0, 0.0, 0.0, 0.0, 0.0, 0, False, False, True)
        self.shovel = ShovelHk(0.0, 0.0, 0.0, 0, 0, 0, 1)
        self.auto_complete = {'stop', 'hold_shovel', 'set_estop', 'clear_fault'}

    def _record(self, name: str, args: tuple, done: Completion) -> None:
        self.calls.append((name, args))
        self.completions.append(done)
        if name in self.auto_complete:
            done.succeed()

    def names(self) -> List[str]:
        """Return the names of the calls, in order."""
        return [name for name, _ in self.calls]

    def last(self, name: str) -> Completion:
        """Return the completion handle of the latest call of ``name``."""
        for (call, _), done in zip(reversed(self.calls), reversed(self.completions)):
            if call == name:
                return done
        raise AssertionError(f'{name} was never called; calls: {self.names()}')

    def drive_distance(self, distance, speed, done):
        self._record('drive_distance', (distance, speed), done)

    def turn(self, angle, rate, done):
        self._record('turn', (angle, rate), done)

    def stop(self, done):
        self._record('stop', (), done)

    def set_estop(self, engage, reason, done):
        self._record('set_estop', (engage, reason), done)

    def move_shovel(self, pose, angle, max_velocity, done):
        self._record('move_shovel', (pose, angle, max_velocity), done)

    def stow_shovel(self, done):
        self._record('stow_shovel', (), done)

    def hold_shovel(self, done):
        self._record('hold_shovel', (), done)

    def collect_sample(self, dig_distance, dump_after, command_id, done):
        self._record('collect_sample', (dig_distance, dump_after, command_id), done)

    def capture(self, camera, jpeg_quality, thumbnail_width, command_id, done):
        self._record('capture', (camera, jpeg_quality, thumbnail_width, command_id), done)

    def clear_fault(self, target, done):
        self._record('clear_fault', (target,), done)

    def telemetry(self) -> RoverTelemetry:
        return RoverTelemetry(self.mobility, self.shovel, 'motor stall', 'overcurrent')


class Rig:
    """A bridge and a ground station joined by an in-memory link, on simulated time."""

    def __init__(self, tmp_path, mac: MacEngine, *, config: Optional[BridgeConfig] = None,
                 products=None, files=None, receiver=None, now: float = 0.0) -> None:
        self.tmp_path = tmp_path
        self.mac = mac
        self.port = FakePort()
        self.config = config or BridgeConfig()
        self.products = products
        self.files = files
        self.now = now
        self.bridge = self._open_bridge()
        self.ground = GroundStation(mac=mac, spi=SPI,
                                    counter=ArsnCounter(tmp_path / 'ground.sqlite3', SPI,
                                                        clock=lambda: 0.0),
                                    receiver=receiver)
        self.items: list = []
        self.downlinked: List[bytes] = []

    def _open_bridge(self) -> LanderBridge:
        return LanderBridge(self.config, self.port, mac=self.mac,
                            replay=ReplayGuard(self.tmp_path / 'replay.sqlite3'),
                            tm_store=TmStore(self.tmp_path / 'tm.sqlite3'),
                            products=self.products, files=self.files, now=self.now,
                            utc_offset=UTC0)

    def restart_bridge(self) -> None:
        """Close the bridge and open a new one on the same databases (a process restart)."""
        self.bridge.close()
        self.bridge = self._open_bridge()

    def send(self, command, *, ack=None, advance: float = 0.01):
        """Uplink a command, run the bridge, deliver its downlink; return the request id."""
        kwargs = {} if ack is None else {'ack': ack}
        frame, request_id = self.ground.command(command, self.now, **kwargs)
        self.uplink([frame], advance=advance)
        return request_id

    def uplink(self, frames, advance: float = 0.01) -> None:
        """Hand raw frames to the bridge, then tick."""
        self.now += advance
        self.bridge.handle_frames(frames, self.now)
        self.tick(0.0)

    def tick(self, advance: float = 0.01, deliver: bool = True) -> list:
        """Advance time, tick the bridge and (if ``deliver``) hand its frames to the ground."""
        self.now += advance
        frames = self.bridge.tick(self.now)
        self.downlinked.extend(frames)
        items = []
        if deliver:
            for frame in frames:
                items.extend(self.ground.handle_frame(frame, self.now))
        self.items.extend(items)
        return items

    def pump(self, seconds: float, step: float = 0.05) -> list:
        """Run both ends for ``seconds`` (ground timers, its CFDP PDUs up, downlink down)."""
        items = []
        end = self.now + seconds
        while self.now < end:
            frames, file_items = self.ground.tick(self.now)
            self.items.extend(file_items)
            items.extend(file_items)
            if frames:
                self.bridge.handle_frames(frames, self.now)
            items.extend(self.tick(step))
        return items

    def status(self, request_id):
        """Return the ground's view of a TC."""
        return self.ground.tracker.get(request_id)


@pytest.fixture
def key() -> bytes:
    """Return 32 random bytes: a test key, never a real one."""
    return os.urandom(32)


@pytest.fixture
def mac(key) -> MacEngine:
    """Return the MAC engine of the test key on SPI 1."""
    return MacEngine({SPI: key})


@pytest.fixture
def rig(tmp_path, mac) -> Rig:
    """Return a bridge with a fake rover and a ground station, link up."""
    rig = Rig(tmp_path, mac)
    rig.send(Ping())
    yield rig
    rig.bridge.close()
