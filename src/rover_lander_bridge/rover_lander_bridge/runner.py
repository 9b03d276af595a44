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
The bridge in a process: open its state and transport, run its loop in a thread.

:class:`BridgeStack` opens everything a bridge needs from the parameter values
(:mod:`rover_lander_bridge.params`): the key file, the anti-replay window, the telemetry
store, the CFDP file sender, the product store and the transport. :class:`BridgeRunner` is
the loop: it drains received frames, hands them to the bridge in one batch, ticks the bridge
at ``tick_rate`` and sends what it returns. A transport failure never stops the loop: the
bridge keeps ticking, so link-loss safing still happens when the radio itself is gone. The ROS
node and the standalone rover both use it; only their rover ports differ.
"""

import logging
from pathlib import Path
import threading
import time
from typing import Callable, Mapping, Optional

from rover_common.param_spec import ParamValue
from rover_common.product_store import ProductStore
from rover_lander_bridge.bridge import LanderBridge
from rover_lander_bridge.cfdp_link import FileSender
from rover_lander_bridge.params import bridge_config, cfdp_config
from rover_lander_bridge.rover_port import RoverPort
from rover_lander_bridge.security import generate_key_file, load_key, MacEngine, ReplayGuard
from rover_lander_bridge.tm_store import TmStore
from rover_lander_bridge.transports import (LinkDown, SerialTransport, Transport,
                                            TransportError, UdpTransport)

_LOGGER = logging.getLogger(__name__)
#: Most frames handed to the bridge in one batch (one ARSN commit per batch).
MAX_BATCH = 256


def open_transport(v: Mapping[str, ParamValue]) -> Transport:
    """Return the transport the parameters name (UDP or serial)."""
    if v['transport'] == 'serial':
        return SerialTransport(v['serial_port'], v['serial_baudrate'])
    return UdpTransport((v['udp_local_host'], v['udp_local_port']),
                        (v['udp_remote_host'], v['udp_remote_port']))


class BridgeRunner:
    """
    The bridge loop in its own thread.

    :param bridge: the core.
    :param transport: the link.
    :param tick_rate: bridge ticks per second.
    :param clock: monotonic seconds.
    """

    def __init__(self, bridge: LanderBridge, transport: Transport, *, tick_rate: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not tick_rate > 0.0:
            raise ValueError(f'tick_rate must be > 0 Hz, got {tick_rate}')
        self._bridge = bridge
        self._transport = transport
        self._period = 1.0 / tick_rate
        self._clock = clock
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.transport_errors = 0
        self.last_error = ''

    @property
    def running(self) -> bool:
        """Return True while the loop thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> 'BridgeRunner':
        """Start the loop thread; returns self."""
        self._thread = threading.Thread(target=self._run, name='lander-bridge', daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def step(self, wait: float) -> None:
        """Receive for up to ``wait`` s, handle what came, tick once and send."""
        frames = self._receive(wait)
        now = self._clock()
        if frames:
            self._bridge.handle_frames(frames, now)
        for frame in self._bridge.tick(now):
            try:
                self._transport.send(frame)
            except TransportError as err:
                self._transport_failed(err)
                break

    def _run(self) -> None:
        next_tick = self._clock()
        while not self._stop.is_set():
            next_tick += self._period
            self.step(max(0.0, next_tick - self._clock()))
            if self._clock() > next_tick + 10 * self._period:
                next_tick = self._clock()

    def _receive(self, wait: float) -> list:
        frames = []
        try:
            frame = self._transport.receive(wait)
            while frame is not None:
                frames.append(frame)
                if len(frames) >= MAX_BATCH:
                    break
                frame = self._transport.receive(0.0)
        except LinkDown as err:
            self._transport_failed(err)
            self._stop.wait(wait)
        return frames

    def _transport_failed(self, err: Exception) -> None:
        self.transport_errors += 1
        if str(err) != self.last_error:
            _LOGGER.warning('lander link transport: %s', err)
        self.last_error = str(err)


class BridgeStack:
    """
    Everything one running bridge owns, opened from parameter values; close() releases it.

    :param values: validated values of :data:`rover_lander_bridge.params.TABLE`.
    :param port: the rover the bridge commands.
    :param products: the product store (None: opened from the parameters and owned).
    :param transport: the link (None: opened from the parameters).
    :param clock: monotonic seconds.
    """

    def __init__(self, values: Mapping[str, ParamValue], port: RoverPort, *,
                 products: Optional[ProductStore] = None,
                 transport: Optional[Transport] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        state = Path(str(values['state_dir'])).expanduser()
        state.mkdir(parents=True, exist_ok=True)
        key_file = str(values['key_file'])
        if not key_file:
            raise ValueError('key_file is required: the bridge refuses to run unauthenticated')
        key_path = Path(key_file).expanduser()
        if values['create_key_if_missing'] and not key_path.exists():
            key_path.parent.mkdir(parents=True, exist_ok=True)
            generate_key_file(key_path)
            _LOGGER.warning('wrote a new uplink key to %s (create_key_if_missing); give the '
                            'ground tool the same file', key_path)
        mac = MacEngine({int(values['spi']): load_key(key_path)})
        self._owns_products = products is None
        self.products = products if products is not None else ProductStore(
            Path(str(values['product_dir'])).expanduser(),
            budget_bytes=int(values['product_budget_bytes']))
        self.files = FileSender(state / 'file_downlink.sqlite3',
                                local_entity_id=int(values['cfdp_rover_entity_id']),
                                remote_entity_id=int(values['cfdp_ground_entity_id']),
                                config=cfdp_config(values))
        now = clock()
        self.bridge = LanderBridge(
            bridge_config(values), port, mac=mac,
            replay=ReplayGuard(state / 'replay.sqlite3', window=int(values['replay_window'])),
            tm_store=TmStore(state / 'telemetry.sqlite3',
                             max_packets=int(values['tm_store_max_packets']),
                             max_bytes=int(values['tm_store_max_bytes'])),
            products=self.products, files=self.files, now=now,
            utc_offset=time.time() - now)
        self.transport = transport if transport is not None else open_transport(values)
        self.runner = BridgeRunner(self.bridge, self.transport,
                                   tick_rate=float(values['tick_rate']), clock=clock)

    def start(self) -> 'BridgeStack':
        """Start the loop thread; returns self."""
        self.runner.start()
        return self

    def close(self) -> None:
        """Stop the loop and close the transport and every database."""
        self.runner.stop()
        self.transport.close()
        self.bridge.close()
        self.files.close()
        if self._owns_products:
            self.products.close()
