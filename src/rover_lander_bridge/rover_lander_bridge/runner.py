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

Every step of the loop is contained: an exception in frame handling, in receiving or in
sending becomes a BRIDGE_FAULT of the bridge (:meth:`LanderBridge.fault`), like one in a tick
step, and the loop goes on. Only what escapes that (a safing stop that keeps failing,
:class:`~rover_lander_bridge.bridge.SafingFailed`, or a bug outside every step) ends the
loop; the runner then latches the e-stop, stops the moves and holds the shovel through the
rover port (nothing supervises the link any more) and calls its ``on_fatal`` callback, whose
owner ends the process with a non-zero code so systemd or launch ``respawn`` restart it.
"""

import logging
from pathlib import Path
import sqlite3
import threading
import time
from typing import Callable, List, Mapping, Optional, Tuple, TypeVar, Union

from rover_common.param_spec import ParamValue
from rover_common.product_store import ProductStore
from rover_common.state_db import StateDbUnavailable
from rover_lander_bridge.bridge import LanderBridge
from rover_lander_bridge.params import bridge_config, cfdp_config
from rover_lander_bridge.product_slot import ProductSlot
from rover_lander_bridge.rover_port import Completion, PortEvent, RoverPort
from rover_lander_bridge.tm_store import TmStore
from rover_link.cfdp import FileSender
from rover_link.security import generate_key_file, load_key, MacEngine, ReplayGuard
from rover_link.telemetry import LoopStep
from rover_link.transports import (LinkDown, SerialTransport, Transport, TransportError,
                                   UdpTransport)

_LOGGER = logging.getLogger(__name__)
#: Most frames handed to the bridge in one batch (one ARSN commit per batch).
MAX_BATCH = 256
_Opened = TypeVar('_Opened')


class BridgeLoopFailed(Exception):
    """The bridge loop ended on a fault it could not contain (see :attr:`BridgeRunner.fatal`)."""


def open_transport(v: Mapping[str, ParamValue]) -> Transport:
    """Return the transport the parameters name (UDP with its receive buffer, or serial)."""
    if v['transport'] == 'serial':
        return SerialTransport(v['serial_port'], v['serial_baudrate'])
    udp = UdpTransport((v['udp_local_host'], v['udp_local_port']),
                       (v['udp_remote_host'], v['udp_remote_port']),
                       receive_buffer_bytes=int(v['udp_receive_buffer_bytes']))
    _LOGGER.info('UDP receive buffer %d B granted; kernel drops %s', udp.receive_buffer_bytes,
                 'counted' if udp.counts_kernel_drops else 'not countable on this system')
    return udp


class BridgeRunner:
    """
    The bridge loop in its own thread.

    :param bridge: the core.
    :param transport: the link.
    :param tick_rate: bridge ticks per second.
    :param clock: monotonic seconds.
    :param port: the rover, stopped through it when the loop cannot go on (None: not).
    :param on_fatal: called (on the loop thread) with the exception that ended the loop,
        after the stop was commanded.
    """

    def __init__(self, bridge: LanderBridge, transport: Transport, *, tick_rate: float,
                 clock: Callable[[], float] = time.monotonic,
                 port: Optional[RoverPort] = None,
                 on_fatal: Optional[Callable[[BaseException], None]] = None) -> None:
        if not tick_rate > 0.0:
            raise ValueError(f'tick_rate must be > 0 Hz, got {tick_rate}')
        self._bridge = bridge
        self._transport = transport
        self._period = 1.0 / tick_rate
        self._clock = clock
        self._port = port
        self._on_fatal = on_fatal
        self._fatal: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.transport_errors = 0
        self.last_error = ''

    @property
    def running(self) -> bool:
        """Return True while the loop thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def fatal(self) -> Optional[BaseException]:
        """Return the exception that ended the loop (None while it runs, or after stop())."""
        return self._fatal

    def start(self) -> 'BridgeRunner':
        """Start the loop thread; returns self."""
        self._thread = threading.Thread(target=self._main, name='lander-bridge', daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def step(self, wait: float) -> None:
        """
        Receive for up to ``wait`` s, handle what came, tick once and send.

        Faults of receiving, handling and sending are contained (reported by the bridge);
        what the tick lets escape is raised (the loop cannot go on).
        """
        frames = self._receive(wait)
        now = self._clock()
        self._bridge.note_transport(kernel_drops=self._transport.counters.frames_dropped_kernel)
        if frames:
            try:
                self._bridge.handle_frames(frames, now)
            except Exception as err:  # contained: the bridge counts, logs and reports it
                self._bridge.fault(LoopStep.FRAMES, err, now)
        for frame in self._bridge.tick(now):
            try:
                self._transport.send(frame)
            except TransportError as err:
                self._transport_failed(err)
                break
            except Exception as err:  # contained: a transport raising what it should not
                self._bridge.fault(LoopStep.SEND, err, now)
                break

    def _main(self) -> None:
        """Run the loop; if it cannot go on, stop the rover and tell the owner."""
        try:
            self._run()
        except BaseException as err:  # the loop is over: stop the rover before anything else
            self._fatal = err
            _LOGGER.critical('lander bridge loop failed, stopping the rover: %s: %s',
                             type(err).__name__, err, exc_info=err)
            self._stop_rover()
            if self._on_fatal is not None:
                self._on_fatal(err)

    def _stop_rover(self) -> None:
        """Latch the e-stop, stop the moves, hold the shovel; each on its own, best effort."""
        if self._port is None:
            return
        port = self._port
        actions = (('e-stop', lambda done: port.set_estop(True, 'lander bridge loop failed',
                                                          done)),
                   ('stop', port.stop), ('shovel hold', port.hold_shovel))
        for label, action in actions:
            try:
                action(Completion(0, _ignore))
            except Exception as err:  # the next action may still get through
                _LOGGER.critical('lander bridge loop failed and the %s failed too: %s',
                                 label, err)

    def _run(self) -> None:
        """
        Step until stopped, waking at the next tick or at the bridge's next link deadline.

        Waking on the deadline itself puts the link hold and the safing within the loop's own
        latency of their deadlines, not up to a tick period late. A deadline that the last
        step already passed without clearing (its tick failed) is not waited for again: the
        loop keeps to its ticks instead of spinning. An early return (a frame, a deadline)
        does not move the tick schedule; a loop more than 10 periods behind starts afresh.
        """
        stepped_at = -float('inf')
        next_tick = self._clock() + self._period
        while not self._stop.is_set():
            deadline = self._bridge.next_timer(stepped_at)
            wake = next_tick if deadline <= stepped_at else min(next_tick, deadline)
            stepped_at = self._clock()
            self.step(max(0.0, wake - stepped_at))
            now = self._clock()
            if now >= next_tick:
                next_tick += self._period
                if now > next_tick + 10 * self._period:
                    next_tick = now + self._period

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
        except Exception as err:  # contained: a transport raising what it should not
            self._bridge.fault(LoopStep.RECEIVE, err, self._clock())
            self._stop.wait(wait)
        return frames

    def _transport_failed(self, err: Exception) -> None:
        self.transport_errors += 1
        if str(err) != self.last_error:
            _LOGGER.warning('lander link transport: %s', err)
        self.last_error = str(err)


def _ignore(event: PortEvent) -> None:
    """Drop the outcome of a stop commanded while the loop dies (nobody is left to tell)."""


class BridgeStack:
    """
    Everything one running bridge owns, opened from parameter values; close() releases it.

    Nothing it opens stops the rover when a file is bad (see :meth:`_open_degradable`): a
    product store that cannot be opened leaves the bridge without products (product TCs fail
    UNAVAILABLE) and is retried every ``store_retry_interval``; a telemetry store that cannot
    be opened is replaced by one in memory; a file sender that cannot be opened leaves
    downlink UNAVAILABLE; corrupt state files are moved aside by ``open_state_db``. Each is
    logged with its path and told to the ground (STORE_UNAVAILABLE, STATE_DB_MOVED_ASIDE).

    :param values: validated values of :data:`rover_lander_bridge.params.TABLE`.
    :param port: the rover the bridge commands.
    :param products: the product store, or a slot the caller manages (None: a slot opened
        from the parameters and owned).
    :param transport: the link (None: opened from the parameters).
    :param clock: monotonic seconds.
    :param on_fatal: called when the loop cannot go on, after the rover was stopped (the
        owner ends the process with a non-zero exit code).
    """

    def __init__(self, values: Mapping[str, ParamValue], port: RoverPort, *,
                 products: Union[ProductStore, ProductSlot, None] = None,
                 transport: Optional[Transport] = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_fatal: Optional[Callable[[BaseException], None]] = None) -> None:
        state = Path(str(values['state_dir'])).expanduser()
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            _LOGGER.error('state directory %s cannot be created (%s): its databases will be '
                          'unavailable', state, err)
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
        self._owns_slot = products is None
        if isinstance(products, ProductStore):
            products = ProductSlot.holding(products)
        self.slot = products if products is not None else ProductSlot(
            Path(str(values['product_dir'])).expanduser(),
            budget_bytes=int(values['product_budget_bytes']),
            retry_interval=float(values['store_retry_interval']))
        if self._owns_slot:
            self.slot.try_open()
        self._problems: List[Tuple[str, str]] = []
        self.files = self._open_degradable(
            state / 'file_downlink.sqlite3', lambda path: FileSender(
                path, local_entity_id=int(values['cfdp_rover_entity_id']),
                remote_entity_id=int(values['cfdp_ground_entity_id']),
                config=cfdp_config(values)))
        tm_limits = {'max_packets': int(values['tm_store_max_packets']),
                     'max_bytes': int(values['tm_store_max_bytes'])}
        tm_store = self._open_degradable(state / 'telemetry.sqlite3',
                                         lambda path: TmStore(path, **tm_limits))
        if tm_store is None:
            tm_store = TmStore(None, **tm_limits)
        replay = ReplayGuard(state / 'replay.sqlite3', window=int(values['replay_window']),
                             floor_path=key_path.with_name(key_path.name + '.replay-floor'))
        now = clock()
        self.bridge = LanderBridge(
            bridge_config(values), port, mac=mac,
            replay=replay,
            tm_store=tm_store,
            products=self.slot.store, files=self.files, now=now,
            utc_offset=time.time() - now, downlink_spi=int(values['spi']))
        self._report_degraded(tm_store, replay)
        self.transport = transport if transport is not None else open_transport(values)
        self.runner = BridgeRunner(self.bridge, self.transport,
                                   tick_rate=float(values['tick_rate']), clock=clock,
                                   port=port, on_fatal=on_fatal)

    @property
    def products(self) -> Optional[ProductStore]:
        """Return the product store the bridge uses, None while it is unavailable."""
        return self.slot.store

    def start(self) -> 'BridgeStack':
        """Start the loop thread; returns self."""
        self.runner.start()
        return self

    def close(self) -> None:
        """Stop the loop and close the transport and every database."""
        self.runner.stop()
        self.transport.close()
        try:
            self.bridge.close()
        except sqlite3.Error as err:
            _LOGGER.error('closing the lander bridge: its last write failed: %s', err)
        if self.files is not None:
            self.files.close()
        if self._owns_slot:
            self.slot.close()

    def _open_degradable(self, path: Path,
                         opener: Callable[[Path], _Opened]) -> Optional[_Opened]:
        """
        Return ``opener(path)``, or None when the file cannot be used now.

        Why not fail: the rover must keep its link and its safing with any one state file
        locked, unreadable or misplaced. The problem is logged now and told to the ground
        once the bridge exists.
        """
        try:
            return opener(path)
        except StateDbUnavailable as err:
            cause = err.cause
        except (sqlite3.Error, OSError) as err:
            cause = f'{type(err).__name__}: {err}'
        _LOGGER.error('%s cannot be used, running without it: %s', path, cause)
        self._problems.append((path.name, cause))
        return None

    def _report_degraded(self, tm_store: TmStore, replay: ReplayGuard) -> None:
        """Tell the ground (through the bridge) what started degraded or was moved aside."""
        bridge = self.bridge
        for name, cause in self._problems:
            if name == 'telemetry.sqlite3':
                cause += '; telemetry kept in memory until restart'
            bridge.state_db_unavailable(name, cause)
        moved = [('telemetry.sqlite3', tm_store.moved_aside)]
        if self.files is not None:
            moved.append(('file_downlink.sqlite3', self.files.moved_aside))
        # A moved-aside copy is named '<original>.<reason>-<stamp>' (state_db.move_aside).
        moved += [(path.name.rsplit('.', 1)[0], path) for path in replay.moved_aside]
        for name, path in moved:
            if path is not None:
                _LOGGER.error('%s was corrupt: moved aside to %s', name, path)
                bridge.state_db_moved_aside(name, path.name)
        if self.slot.store is None:
            bridge.products_unavailable(self.slot.root.name, self.slot.problem)
            self.slot.retry(bridge.attach_products)
