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
The bridge core: uplink frames in, telecommands to the rover port, telemetry frames out.

:class:`LanderBridge` is ROS-free and I/O-free. Its owner (the ROS node or the standalone
rover, through :class:`~rover_lander_bridge.runner.BridgeRunner`) feeds it received frames
with :meth:`~LanderBridge.handle_frames` and sends what :meth:`~LanderBridge.tick` returns.
Time is passed in everywhere (monotonic seconds; UTC for timestamps is ``now + utc_offset``),
so every timing rule is tested on simulated time.

The life of an uplink frame:

1. Structure and MAC (:func:`~rover_link.framing.open_uplink`), then the anti-replay
   window. A refused frame is counted (auth failure, replay or malformed) and reported in an
   aggregated ST[5] event; it never gets a verification report (a forger learns nothing and
   cannot make the rover talk).
2. The ARSNs of the frames that passed are persisted before anything of the batch runs.
3. CFDP PDUs go to the file sender. A PUS TC is parsed (CRC, header), decoded into a command
   and checked against the limits; any failure gives TM[1,2] with an error code and reason.
4. Accepted: TM[1,1], then TM[1,3] when it starts (or TM[1,4] if it cannot: the rover is
   safed, the product is unknown, ...), TM[1,5] at progress steps, and TM[1,7] or TM[1,8]
   at the end. Success reports honour the TC's PUS acknowledgement flags (the ground's
   heartbeat pings ask for none); failure reports are always sent.

Telemetry (verification, events, results, housekeeping, time) goes through the
store-and-forward :class:`~rover_lander_bridge.tm_store.TmStore` and leaves under the
bandwidth budget of :class:`~rover_lander_bridge.downlink.DownlinkScheduler`, urgent before
routine before files, and only while the link is up.

Faults are contained, step by step (:class:`~rover_link.telemetry.LoopStep`): an
exception in one step of :meth:`LanderBridge.tick` (or in frame handling, contained by the
runner) becomes a BRIDGE_FAULT event (rate-limited per step), a count in the FAULT
housekeeping set and a log line, and the tick goes on with the next step. The safety steps
(port events, command deadlines, link-loss safing) run every tick whatever failed before them;
a step that touches a database and failed is retried after :data:`FAULT_RETRY_S`, and after a
sqlite error the other database steps of that tick are skipped, so a locked file costs the
loop at most one busy timeout (100 ms) per tick. Only a safing stop that cannot be commanded
:data:`SAFING_ATTEMPTS` ticks in a row escapes, as :class:`SafingFailed`: the runner then
stops the rover and ends the process.

Refusal reports (TM[1,2] of authenticated TCs that fail acceptance) are budgeted by a token
bucket (``refusal_report_rate``/``refusal_report_burst``) and travel in the routine class,
behind the reports of accepted commands; refusals beyond the budget are counted and summed
up in one TC_REFUSALS_SUPPRESSED event per ``event_min_interval``.
"""

from dataclasses import dataclass, field
import logging
import math
from pathlib import Path, PurePosixPath
import queue
import re
import sqlite3
import threading
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from rover_common.product_store import (DownlinkState, ProductKind, ProductStore,
                                        RecoveryReport, StoreError)

from rover_lander_bridge.downlink import CfdpSource, DownlinkScheduler, StoreSource
from rover_lander_bridge.housekeeping import HousekeepingSchedule
from rover_lander_bridge.link_monitor import LinkMonitor, LinkTransition
from rover_lander_bridge.rover_port import (Completion, PortEvent, PortEventKind, RoverPort,
                                            RoverTelemetry)
from rover_lander_bridge.tm_store import TmStore
from rover_link import commands as cmd
from rover_link.cfdp import DownlinkTc, TransferOutcome, TransferResult
from rover_link.downlink_auth import DownlinkSealer
from rover_link.framing import cfdp_pdu_of, FrameError, open_uplink
from rover_link.protocol import (AckFlag, APID_CFDP, APID_ROVER, ErrorCode, EVENT_SEVERITY,
                                 EventId, FunctionId, FunctionSubtype, HkSet, HkSubtype, LinkState,
                                 Priority, RejectReason, SEQ_COUNT_MODULO, Service, TestSubtype,
                                 TimeSubtype, Variant, VerificationSubtype)
from rover_link.sa_management import is_management_frame, SaManager
from rover_link.security import MacEngine, ReplayError, ReplayGuard, ReplayPersistError
from rover_link.telemetry import (count_event, DownlinkResult, Event, FaultHk, LinkHk, LoopStep,
                                  pack_hk, pack_result, ProductEntry, rejection_event,
                                  seconds_event, split_product_list, StoreState, SystemHk,
                                  text_event, TimeReport, TmFactory)
from spacepackets.ecss.req_id import RequestId
from spacepackets.ecss.tc import InvalidTcCrc16Error, PusTc
from spacepackets.exceptions import BytesTooShortError

_AUTH_REASONS = (RejectReason.UNKNOWN_SPI, RejectReason.BAD_MAC)
_REJECTION_EVENT = {RejectReason.TRUNCATED: EventId.TC_MALFORMED,
                    RejectReason.LENGTH_MISMATCH: EventId.TC_MALFORMED,
                    RejectReason.BAD_HEADER: EventId.TC_MALFORMED,
                    RejectReason.UNKNOWN_APID: EventId.TC_MALFORMED,
                    RejectReason.BAD_CRC: EventId.TC_MALFORMED,
                    RejectReason.UNKNOWN_SPI: EventId.TC_AUTH_FAILURE,
                    RejectReason.BAD_MAC: EventId.TC_AUTH_FAILURE,
                    RejectReason.REPLAY: EventId.TC_REPLAY}
_MOTION = (cmd.Drive, cmd.Turn, cmd.MoveShovel, cmd.StowShovel, cmd.CollectSample, cmd.Capture)
#: Commands the bridge executes itself, at once.
_IMMEDIATE = (cmd.Ping, cmd.HkEnable, cmd.HkDisable, cmd.HkOneShot, cmd.HkSetInterval,
              cmd.TimeSetRate, cmd.TimeReportNow, cmd.ListProducts)
#: Progress of fraction-based operations is reported at these quarters (step ids 1..3).
_PROGRESS_QUARTERS = 4
_LOGGER = logging.getLogger(__name__)
#: An absolute path inside a report's text (an OSError's file name, say).
_ABSOLUTE_PATH = re.compile(r'(?<![\w.~])/[^\s:\'"]+')
#: A database step that failed waits this long (s) before it is tried again.
FAULT_RETRY_S = 1.0
#: Ticks in a row the safing stop may fail to be commanded before the loop gives up.
SAFING_ATTEMPTS = 5
#: Most telemetry packets held in memory while the telemetry store refuses writes.
MAX_OUTBOX = 2000
#: How often (s) the product store is asked for recovery reports not yet told to the ground.
RECOVERY_POLL_S = 10.0
#: Names per PRODUCTS_QUARANTINED / PRODUCTS_VANISHED event (each name is a str8).
_NAMES_PER_EVENT = 4
#: Steps that use a database: retried after FAULT_RETRY_S, skipped after a sqlite error in
#: the same tick. Every other step (the safety steps among them) runs every tick.
_DATABASE_STEPS = frozenset({LoopStep.TM_PURGE, LoopStep.FILES, LoopStep.STORES,
                             LoopStep.FLUSH, LoopStep.DOWNLINK})


@dataclass(frozen=True)
class BridgeConfig:
    """
    Everything tunable in the bridge core (the node's and the standalone's parameters).

    Times in s, rates in bit/s, sizes in bytes.
    """

    limits: cmd.CommandLimits = field(default_factory=cmd.CommandLimits)
    link_timeout: float = 10.0
    safing_timeout: float = 60.0
    downlink_rate_bps: float = 256000.0
    burst_bytes: int = 8192
    max_frame_bytes: int = 1024
    frame_overhead_bytes: int = 54
    hk_intervals: Mapping[HkSet, float] = field(default_factory=lambda: {
        HkSet.MOBILITY: 2.0, HkSet.SHOVEL: 5.0, HkSet.LINK: 10.0, HkSet.SYSTEM: 60.0,
        HkSet.FAULT: 30.0})
    hk_enabled: Tuple[HkSet, ...] = tuple(HkSet)
    time_report_exponent: int = cmd.TIME_REPORTS_OFF
    event_min_interval: float = 1.0
    refusal_report_rate: float = 5.0
    refusal_report_burst: int = 20
    command_timeout_margin: float = 30.0
    sample_timeout: float = 300.0
    shovel_timeout: float = 60.0
    capture_timeout: float = 60.0
    list_default_count: int = 16
    beacon_interval: float = 10.0

    def __post_init__(self) -> None:
        """Refuse inconsistent values with the rule they break."""
        if not self.safing_timeout >= self.link_timeout > 0.0:
            raise ValueError(f'need safing_timeout ({self.safing_timeout}) >= link_timeout '
                             f'({self.link_timeout}) > 0')
        if self.event_min_interval < 0.0 or self.command_timeout_margin <= 0.0:
            raise ValueError('event_min_interval must be >= 0 and command_timeout_margin > 0')
        if not (self.refusal_report_rate > 0.0 and self.refusal_report_burst >= 1):
            raise ValueError(f'need refusal_report_rate > 0 /s and refusal_report_burst >= 1, '
                             f'got {self.refusal_report_rate} and {self.refusal_report_burst}')
        if not 0 < self.list_default_count <= self.limits.max_list_count:
            raise ValueError(f'list_default_count must be in [1, '
                             f'{self.limits.max_list_count}], got {self.list_default_count}')


@dataclass(frozen=True)
class LinkSnapshot:
    """The link's state and counters (what rover_interfaces/LinkStatus carries)."""

    state: LinkState
    seconds_since_contact: float
    tc_accepted: int
    tc_rejected: int
    tc_auth_failures: int
    tc_replays: int
    tc_malformed: int
    tm_backlog: int
    tm_sent: int
    tm_dropped: int
    files_pending: int
    bytes_downlinked: int
    cfdp_pdus_received: int
    kernel_drops: int
    refusals_suppressed: int
    loop_faults: int
    last_fault_step: LoopStep
    store_state: StoreState


@dataclass
class _Counters:
    tc_accepted: int = 0
    tc_rejected: int = 0
    tc_auth_failures: int = 0
    tc_replays: int = 0
    tc_malformed: int = 0
    tm_sent: int = 0
    tm_dropped: int = 0
    bytes_downlinked: int = 0
    cfdp_pdus_received: int = 0
    kernel_drops: int = 0
    refusals_suppressed: int = 0
    loop_faults: int = 0
    fault_events_suppressed: int = 0
    safing_failures: int = 0
    state_dbs_moved_aside: int = 0
    products_readopted: int = 0
    products_quarantined: int = 0
    products_vanished: int = 0


@dataclass
class _Request:
    """A telecommand in execution."""

    key: int
    request_id: RequestId
    ack: AckFlag
    command: cmd.Command
    deadline: float
    last_step: int = 0
    motion: bool = False
    product_id: str = ''


@dataclass
class _Downlink:
    """
    A DOWNLINK_PRODUCT waiting for its CFDP transaction.

    Persisted with the request in the file sender's queue (:class:`DownlinkTc`), so a
    restarted bridge still reports to the TC.
    """

    request: Optional[_Request]
    product_id: str
    file_name: str
    size: int
    sha256: str
    last_step: int = 0
    started: bool = False


@dataclass
class _Aggregate:
    count: int = 0
    total: int = 0
    reason: RejectReason = RejectReason.TRUNCATED
    last_emit: float = -math.inf


class SafingFailed(Exception):
    """The link-loss safing stop could not be commanded :data:`SAFING_ATTEMPTS` ticks in a row."""


class _ReportBudget:
    """
    A token bucket of reports: ``rate`` per second, at most ``burst`` saved up.

    Why: an authenticated sender (a ground tool gone wrong) can make the rover refuse
    thousands of TCs a second; each refusal may cost one report, not more.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = now

    def configure(self, rate: float, burst: int) -> None:
        """Change the rate and depth; tokens above the new depth are dropped."""
        self._rate, self._burst = rate, float(burst)
        self._tokens = min(self._tokens, self._burst)

    def take(self, now: float) -> bool:
        """Spend one report if the bucket allows it at ``now``."""
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


@dataclass
class _FaultState:
    """What the bridge remembers about contained faults, degraded stores and recovery."""

    store_state: StoreState
    last_step: LoopStep = LoopStep.NONE
    last_emit: Dict[LoopStep, float] = field(default_factory=dict)
    retry_at: Dict[LoopStep, float] = field(default_factory=dict)
    database_blocked: bool = False
    safing_unconfirmed: bool = False
    safing_failures_in_row: int = 0
    refusals_pending: int = 0
    refusals_last_summary: float = -math.inf
    outbox_dropped: int = 0
    saved_counters: Dict[str, int] = field(default_factory=dict)
    recovery_due: float = -math.inf
    recovery_emitted: Set[int] = field(default_factory=set)
    notices: 'queue.SimpleQueue[Callable[[float], None]]' = field(
        default_factory=queue.SimpleQueue)


class LanderBridge:
    """
    The rover's end of the lander link, as a pure state machine.

    :param config: tunables.
    :param port: the rover to command.
    :param mac: keys of the accepted SPIs.
    :param replay: the persisted anti-replay window.
    :param tm_store: the store-and-forward telemetry queue.
    :param products: the product store (None: product commands fail with UNAVAILABLE).
    :param files: the CFDP file sender (None: downlink fails with UNAVAILABLE).
    :param now: start time, monotonic s.
    :param utc_offset: UTC minus monotonic time, s (timestamps of the telemetry).
    :param downlink_spi: the security association of the downlink; every downlink frame is
        sealed with the downlink key derived from ``mac``'s key of this SPI.
    """

    def __init__(self, config: BridgeConfig, port: RoverPort, *, mac: MacEngine,
                 replay: ReplayGuard, tm_store: TmStore, products=None, files=None,
                 now: float, utc_offset: float = 0.0, downlink_spi: int = 1) -> None:
        self._config = config
        self._port = port
        self._mac = mac
        self._replay = replay
        self._store = tm_store
        self._products = products
        self._files = files
        self.utc_offset = utc_offset
        self._events: 'queue.SimpleQueue[PortEvent]' = queue.SimpleQueue()
        self._counters = _Counters()
        self._faults = _FaultState(StoreState.OK if products is not None else StoreState.ABSENT)
        self._refusals = _ReportBudget(config.refusal_report_rate, config.refusal_report_burst,
                                       now)
        self._link = LinkMonitor(link_timeout=config.link_timeout,
                                 safing_timeout=config.safing_timeout, now=now)
        self._hk = HousekeepingSchedule(config.hk_intervals, config.hk_enabled, now)
        self._scheduler = DownlinkScheduler(
            rate_bps=config.downlink_rate_bps, burst_bytes=config.burst_bytes,
            max_frame_bytes=config.max_frame_bytes,
            frame_overhead_bytes=config.frame_overhead_bytes, now=now)
        self._tm = TmFactory(APID_ROVER, tm_store.counter('tm_seq_count'))
        self._sealer = DownlinkSealer(mac, downlink_spi, tm_store, utc=now + utc_offset)
        self._cfdp_seq = tm_store.counter('cfdp_seq_count')
        # One source for the bridge's life: a PDU drained from the sender but left over by a
        # tick's budget waits in it for the next tick (a source per tick would drop it).
        self._cfdp_source = None if files is None else CfdpSource(
            files.drain, config.max_frame_bytes - 6, self._next_cfdp_seq)
        self._outbox: List[Tuple[Priority, bytes]] = []
        self._requests: Dict[int, _Request] = {}
        self._internal: Dict[int, str] = {}
        self._downlinks: Dict[int, _Downlink] = {}
        self._next_key = 1
        self._rejections: Dict[EventId, _Aggregate] = {}
        self._time_exponent = config.time_report_exponent
        self._time_due = now
        self._beacon_due = now
        self._last_telemetry: Optional[RoverTelemetry] = None
        self._snapshot_lock = threading.Lock()
        self._pending_config: Optional[BridgeConfig] = None
        self._snapshot = self._make_snapshot(now)
        self._boots = tm_store.counter('boot_count') + 1
        self._emit_event(count_event(EventId.BRIDGE_STARTED, self._boots), now)
        if self._boots > 1:
            replay.expect_existing(f'the bridge started {self._boots - 1} time(s) before')
        self._sa = SaManager(
            mac, replay, announce_interval=lambda: self._config.beacon_interval, now=now,
            packet=lambda event, at: self._sealer.seal(self._tm.packet(
                Service.EVENT, EVENT_SEVERITY[event.event_id], event.pack(),
                at + self.utc_offset)))
        for event in self._sa.boot_events():
            self._emit_event(event, now)
        # Downlinks persisted by an earlier process are restored by the first FILES step
        # (contained and retried there if the queue cannot be read).
        self._downlinks_restored = False
        self._tcs_reported: List[int] = []
        self._step(LoopStep.FLUSH, self._flush, now)

    # -- public API --------------------------------------------------------------------

    @property
    def config(self) -> BridgeConfig:
        """Return the configuration in force."""
        return self._config

    @property
    def link(self) -> LinkMonitor:
        """Return the link monitor (read its state; the bridge drives it)."""
        return self._link

    def schedule_reconfigure(self, config: BridgeConfig) -> None:
        """Apply new tunables at the next tick (thread-safe: for parameter callbacks)."""
        with self._snapshot_lock:
            self._pending_config = config

    def reconfigure(self, config: BridgeConfig, now: float) -> None:
        """Apply new tunables (timeouts, budget, HK intervals, limits) at ``now``."""
        self._link.set_timeouts(config.link_timeout, config.safing_timeout)
        self._scheduler.configure(rate_bps=config.downlink_rate_bps,
                                  burst_bytes=config.burst_bytes,
                                  max_frame_bytes=config.max_frame_bytes,
                                  frame_overhead_bytes=config.frame_overhead_bytes, now=now)
        for sid, seconds in config.hk_intervals.items():
            if seconds != self._config.hk_intervals.get(sid):
                self._hk.set_interval(sid, seconds, now)
        self._refusals.configure(config.refusal_report_rate, config.refusal_report_burst)
        if self._cfdp_source is not None:
            self._cfdp_source.max_pdu_len = config.max_frame_bytes - 6
        self._config = config

    def snapshot(self) -> LinkSnapshot:
        """Return the link state and counters as of the last tick (thread-safe)."""
        with self._snapshot_lock:
            return self._snapshot

    def status(self, now: float) -> LinkSnapshot:
        """Return the link state and counters now (call from the bridge's own thread)."""
        return self._make_snapshot(now)

    def next_timer(self, now: float) -> float:
        """
        Return the monotonic time of the next link deadline (hold or safing), never before now.

        The loop ticks at ``min(next tick, next_timer(now))``: the rover is safed on its
        deadline, not up to a tick period later. ``inf`` when no deadline is pending (safed
        with the link down).
        """
        return max(now, self._link.next_deadline())

    def handle_frames(self, frames: Sequence[bytes], now: float) -> None:
        """
        Authenticate a batch of uplink frames, persist their ARSNs, then execute them.

        While the uplink is locked every TC is refused as a replay (nothing runs, nothing
        counts as contact, so link-loss safing goes on). If the ARSNs cannot be persisted no
        TC of the batch runs: each is refused with STORE_ERROR (its CFDP PDUs are dropped;
        the sender repeats them). SA-management frames are handled after the batch.
        """
        accepted, management = [], []
        for frame in frames:
            if is_management_frame(frame):
                management.append(frame)
                continue
            try:
                uplink = open_uplink(self._mac, frame)
                self._replay.accept(uplink.spi, uplink.arsn)
            except FrameError as err:
                self._reject(err.reason, now)
                continue
            except ReplayError:
                self._reject(RejectReason.REPLAY, now)
                continue
            accepted.append(uplink)
        if accepted:
            try:
                self._replay.persist()
            except ReplayPersistError as err:
                reason = f'not run: anti-replay state not saved ({err})'
                for uplink in accepted:
                    if uplink.apid == APID_ROVER:
                        self._refuse(RequestId.unpack(uplink.packet[:4]), ErrorCode.STORE_ERROR,
                                     reason, now)
                accepted = []
            self._on_link_transitions(self._link.contact(now), now)
        for uplink in accepted:
            if uplink.apid == APID_CFDP and not uplink.packet[0] & 0x08:
                self._counters.cfdp_pdus_received += 1
                if self._files is not None:
                    self._files.on_pdu(cfdp_pdu_of(uplink.packet), now)
            elif uplink.apid == APID_ROVER:
                self._handle_tc(uplink.packet, now)
            else:
                self._reject(RejectReason.UNKNOWN_APID, now)
        for frame in management:
            outcome = self._sa.handle(frame, now)
            if outcome.refusal is not None:
                self._reject(outcome.refusal, now)
            for event in outcome.events:
                self._emit_event(event, now)
            if outcome.contact:
                self._on_link_transitions(self._link.contact(now), now)

    def tick(self, now: float) -> List[bytes]:
        """
        Advance every timer to ``now``; return the downlink frames to send now.

        Each step is contained (see the module docstring); only :class:`SafingFailed`
        escapes.
        """
        self._faults.database_blocked = False
        step = self._step
        step(LoopStep.RECONFIGURE, self._apply_pending_config, now)
        step(LoopStep.PORT_EVENTS, self._drain_port_events, now)
        step(LoopStep.DEADLINES, self._check_deadlines, now)
        self._link_step(now)
        step(LoopStep.TM_PURGE, self._purge_confirmed, now)
        step(LoopStep.TELEMETRY, self._watch_telemetry, now)
        step(LoopStep.STORES, self._service_stores, now)
        step(LoopStep.HOUSEKEEPING, self._periodic_hk, now)
        step(LoopStep.TIME_REPORTS, self._time_reports, now)
        step(LoopStep.REJECTIONS, self._flush_refusals, now)
        step(LoopStep.FILES, self._service_files, now)
        step(LoopStep.FLUSH, self._flush, now)
        frames: List[bytes] = []
        if self._link.up:
            step(LoopStep.DOWNLINK, lambda t: frames.extend(self._downlink(t)), now)
        elif self._config.beacon_interval > 0.0 and now >= self._beacon_due:
            step(LoopStep.BEACON, lambda t: frames.append(self._beacon(t)), now)
        step(LoopStep.FRAMES, lambda t: frames.extend(self._sa.outbound(t)), now)
        step(LoopStep.SNAPSHOT, self._publish_snapshot, now)
        return frames

    def close(self) -> None:
        """Persist what is pending and close the databases the bridge owns."""
        self._flush(0.0)
        self._replay.close()
        self._store.close()

    # -- uplink ------------------------------------------------------------------------

    def _reject(self, reason: RejectReason, now: float) -> None:
        counters = self._counters
        counters.tc_rejected += 1
        if reason in _AUTH_REASONS:
            counters.tc_auth_failures += 1
        elif reason is RejectReason.REPLAY:
            counters.tc_replays += 1
        else:
            counters.tc_malformed += 1
        event_id = _REJECTION_EVENT[reason]
        aggregate = self._rejections.setdefault(event_id, _Aggregate())
        aggregate.count += 1
        aggregate.total += 1
        aggregate.reason = reason
        self._flush_rejections(now, force=False)

    def _flush_rejections(self, now: float, *, force: bool) -> None:
        for event_id, aggregate in self._rejections.items():
            due = now - aggregate.last_emit >= self._config.event_min_interval
            if aggregate.count and (due or force):
                self._emit_event(rejection_event(event_id, aggregate.count, aggregate.total,
                                                 aggregate.reason), now)
                aggregate.count = 0
                aggregate.last_emit = now

    def _handle_tc(self, packet: bytes, now: float) -> None:
        request_id = RequestId.unpack(packet[:4])
        try:
            if not packet[0] & 0x08:
                raise cmd.CommandError(ErrorCode.BAD_PACKET, 'TC without a PUS secondary header')
            tc = PusTc.unpack(packet)
        except InvalidTcCrc16Error:
            self._counters.tc_malformed += 1
            self._refuse(request_id, ErrorCode.BAD_CRC, 'CRC-16 of the TC is wrong', now)
            return
        except (BytesTooShortError, ValueError) as err:
            self._counters.tc_malformed += 1
            self._refuse(request_id, ErrorCode.BAD_PACKET, f'unparseable TC: {err}', now)
            return
        except cmd.CommandError as err:
            self._counters.tc_malformed += 1
            self._refuse(request_id, err.code, err.reason, now)
            return
        header = tc.pus_tc_sec_header
        ack = AckFlag(header.ack_flags)
        try:
            command = cmd.decode(header.service, header.message_subtype, tc.app_data)
            cmd.validate(command, self._config.limits)
        except cmd.CommandError as err:
            self._refuse(request_id, err.code, err.reason, now)
            return
        self._counters.tc_accepted += 1
        self._report(VerificationSubtype.ACCEPTANCE_SUCCESS, request_id, ack, now)
        key = self._next_key
        self._next_key += 1
        request = _Request(key, request_id, ack, command, deadline=math.inf)
        self._dispatch(request, now)

    def _refuse(self, request_id: RequestId, code: ErrorCode, reason: str, now: float) -> None:
        """Report a refused TC within the refusal budget, behind replies to accepted TCs."""
        self._counters.tc_rejected += 1
        if not self._refusals.take(now):
            self._counters.refusals_suppressed += 1
            self._faults.refusals_pending += 1
            return
        self._emit(Priority.ROUTINE, self._tm.verification(
            VerificationSubtype.ACCEPTANCE_FAILURE, request_id, now + self.utc_offset,
            code=code, reason=reason))

    def _flush_refusals(self, now: float) -> None:
        """Emit the due refused-frame events and the summary of unreported refusals."""
        self._flush_rejections(now, force=False)
        faults = self._faults
        if faults.refusals_pending and \
                now - faults.refusals_last_summary >= self._config.event_min_interval:
            self._emit_event(count_event(EventId.TC_REFUSALS_SUPPRESSED,
                                         min(faults.refusals_pending, 0xFFFFFFFF)), now)
            faults.refusals_pending = 0
            faults.refusals_last_summary = now

    # -- execution ---------------------------------------------------------------------

    def _dispatch(self, request: _Request, now: float) -> None:
        command = request.command
        if isinstance(command, _MOTION) and self._link.safed:
            self._start_failed(request, ErrorCode.ROVER_SAFED,
                               'rover safed after link loss; send RELEASE first', now)
            return
        if isinstance(command, _MOTION) and self._link.held:
            self._start_failed(request, ErrorCode.UNAVAILABLE,
                               'link hold: sent while the link was down; resend now that '
                               'contact is back', now)
            return
        if isinstance(command, cmd.DownlinkProduct):
            self._start_downlink(request, now)
            return
        if isinstance(command, _IMMEDIATE):
            self._report(VerificationSubtype.START_SUCCESS, request.request_id, request.ack, now)
            code, reason = self._immediate(command, request, now)
            if code is None:
                self._report(VerificationSubtype.COMPLETION_SUCCESS, request.request_id,
                             request.ack, now)
            else:
                self._verification(VerificationSubtype.COMPLETION_FAILURE, request.request_id,
                                   now, code=code, reason=reason)
            return
        request.deadline = now + self._timeout_of(command)
        request.motion = isinstance(command, (cmd.Drive, cmd.Turn))
        self._requests[request.key] = request
        self._report(VerificationSubtype.START_SUCCESS, request.request_id, request.ack, now)
        done = Completion(request.key, self._events.put)
        port = self._port
        command_id = f'tc-{request.request_id.as_u32():08x}'
        if isinstance(command, cmd.Drive):
            port.drive_distance(command.distance, command.speed, done)
        elif isinstance(command, cmd.Turn):
            port.turn(command.angle, command.rate, done)
        elif isinstance(command, cmd.Stop):
            port.stop(done)
        elif isinstance(command, cmd.EStop):
            port.set_estop(True, 'ground e-stop', done)
        elif isinstance(command, cmd.Release):
            if self._link.release():
                self._emit_event(Event(EventId.SAFING_RELEASED), now)
            port.set_estop(False, 'ground release', done)
        elif isinstance(command, cmd.MoveShovel):
            port.move_shovel(command.pose, command.angle, command.max_velocity, done)
        elif isinstance(command, cmd.StowShovel):
            port.stow_shovel(done)
        elif isinstance(command, cmd.CollectSample):
            port.collect_sample(command.dig_distance, command.dump_after, command_id, done)
        elif isinstance(command, cmd.Capture):
            port.capture(command.camera, command.jpeg_quality, command.thumbnail_width,
                         command_id, done)
        elif isinstance(command, cmd.ClearFault):
            port.clear_fault(command.target, done)
        else:
            raise TypeError(f'no dispatch for {command!r}')

    def _immediate(self, command: cmd.Command, request: _Request,
                   now: float) -> Tuple[Optional[ErrorCode], str]:
        """Execute a command the bridge answers itself; return the failure code and reason."""
        utc = now + self.utc_offset
        if isinstance(command, cmd.Ping):
            self._emit(Priority.URGENT, self._tm.packet(Service.TEST, TestSubtype.TM_REPLY,
                                                        b'', utc))
        elif isinstance(command, cmd.HkEnable):
            self._hk.enable(command.sets, now)
        elif isinstance(command, cmd.HkDisable):
            self._hk.disable(command.sets)
        elif isinstance(command, cmd.HkOneShot):
            for sid in command.sets:
                self._emit_hk(sid, now)
        elif isinstance(command, cmd.HkSetInterval):
            for sid, seconds in command.intervals:
                self._hk.set_interval(sid, seconds, now)
        elif isinstance(command, cmd.TimeSetRate):
            self._time_exponent = command.exponent
            self._time_due = now
        elif isinstance(command, cmd.TimeReportNow):
            self._emit_time(now)
        elif isinstance(command, cmd.ListProducts):
            return self._list_products(command, request, now)
        return None, ''

    def _list_products(self, command: cmd.ListProducts, request: _Request,
                       now: float) -> Tuple[Optional[ErrorCode], str]:
        if self._products is None:
            return ErrorCode.UNAVAILABLE, 'no product store on this rover'
        count = command.max_count or self._config.list_default_count
        products = self._products.list(only_pending=command.only_pending, limit=count)
        usage = self._products.usage()
        total = usage.pending_count if command.only_pending else usage.count
        entries = [ProductEntry(p.id, int(p.kind), p.camera, p.stamp, p.size_bytes,
                                int(p.downlink_state), p.related_id) for p in products]
        utc = now + self.utc_offset
        for part in split_product_list(request.request_id, total, entries):
            self._emit(Priority.URGENT, self._tm.packet(
                Service.FUNCTION, FunctionSubtype.TM_PRODUCT_LIST, part.pack(), utc))
        return None, ''

    def _start_downlink(self, request: _Request, now: float) -> None:
        command = request.command
        if self._products is None or self._files is None:
            self._start_failed(request, ErrorCode.UNAVAILABLE,
                               'no product store or file sender on this rover', now)
            return
        try:
            product = self._products.get(command.product_id)
            if command.variant is Variant.THUMBNAIL and product.kind != ProductKind.THUMBNAIL:
                if product.kind != ProductKind.IMAGE or not product.related_id:
                    self._start_failed(request, ErrorCode.NO_THUMBNAIL,
                                       f'{product.id} has no thumbnail; ask for FULL', now)
                    return
                product = self._products.get(product.related_id)
            file_name = product.id + product.path.suffix
            downlink_id = self._files.enqueue(
                product.path, file_name,
                priority=1 if product.kind == ProductKind.THUMBNAIL else 0,
                tc=DownlinkTc(request.request_id.pack(), int(request.ack), product.id,
                              file_name, product.size_bytes, product.sha256))
            self._products.set_downlink_state(product.id, DownlinkState.QUEUED)
        except StoreError as err:
            code = ErrorCode.UNKNOWN_PRODUCT if 'no product' in str(err) else \
                ErrorCode.STORE_ERROR
            self._start_failed(request, code, str(err), now)
            return
        except ValueError as err:
            self._start_failed(request, ErrorCode.STORE_ERROR, str(err), now)
            return
        request.product_id = product.id
        self._downlinks[downlink_id] = _Downlink(request, product.id, file_name,
                                                 product.size_bytes, product.sha256)
        self._report(VerificationSubtype.START_SUCCESS, request.request_id, request.ack, now)

    def _start_failed(self, request: _Request, code: ErrorCode, reason: str,
                      now: float) -> None:
        self._verification(VerificationSubtype.START_FAILURE, request.request_id, now,
                           code=code, reason=reason)

    def _timeout_of(self, command: cmd.Command) -> float:
        """Return a command's deadline, s; never above the limits' max_command_duration."""
        margin = self._config.command_timeout_margin
        timeout = cmd.motion_timeout(command, margin)
        if timeout is None:
            if isinstance(command, cmd.CollectSample):
                timeout = self._config.sample_timeout
            elif isinstance(command, (cmd.MoveShovel, cmd.StowShovel)):
                timeout = self._config.shovel_timeout
            elif isinstance(command, cmd.Capture):
                timeout = self._config.capture_timeout
            else:
                timeout = margin
        return min(timeout, self._config.limits.max_command_duration)

    def _drain_port_events(self, now: float) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if event.key in self._internal:
                self._internal_outcome(event, now)
                continue
            request = self._requests.get(event.key)
            if request is None:
                continue
            if event.kind is PortEventKind.PROGRESS:
                self._progress(request, event, now)
                continue
            del self._requests[event.key]
            if event.kind is PortEventKind.SUCCEEDED:
                self._succeeded(request, event, now)
            else:
                self._verification(VerificationSubtype.COMPLETION_FAILURE, request.request_id,
                                   now, code=event.code, reason=event.reason)

    def _progress(self, request: _Request, event: PortEvent, now: float) -> None:
        if event.step is not None:
            step = event.step
            if step == request.last_step:
                return
        else:
            step = min(int(event.fraction * _PROGRESS_QUARTERS), _PROGRESS_QUARTERS - 1)
            if step <= request.last_step:
                return
        request.last_step = step
        self._report(VerificationSubtype.PROGRESS_SUCCESS, request.request_id, request.ack, now,
                     step=step)

    def _succeeded(self, request: _Request, event: PortEvent, now: float) -> None:
        if event.result is not None:
            try:
                data = pack_result(request.request_id, cmd.function_of(request.command),
                                   event.result)
            except (TypeError, ValueError) as err:
                self._verification(VerificationSubtype.COMPLETION_FAILURE, request.request_id,
                                   now, code=ErrorCode.EXECUTION_FAILED,
                                   reason=f'rover returned a malformed result: {err}')
                return
            self._emit(Priority.URGENT, self._tm.packet(
                Service.FUNCTION, FunctionSubtype.TM_RESULT, data, now + self.utc_offset))
        self._report(VerificationSubtype.COMPLETION_SUCCESS, request.request_id, request.ack,
                     now)

    def _check_deadlines(self, now: float) -> None:
        expired = [r for r in self._requests.values() if now >= r.deadline]
        for request in expired:
            del self._requests[request.key]
            if request.motion:
                self._internal_op('stop after timeout', self._port.stop)
            elif isinstance(request.command, (cmd.MoveShovel, cmd.StowShovel,
                                              cmd.CollectSample)):
                self._internal_op('shovel hold after timeout', self._port.hold_shovel)
            self._verification(VerificationSubtype.COMPLETION_FAILURE, request.request_id, now,
                               code=ErrorCode.TIMEOUT,
                               reason=f'{type(request.command).__name__} did not complete in '
                                      f'{self._timeout_of(request.command):.0f} s; stopped')

    def _internal_op(self, label: str, start) -> None:
        key = self._next_key
        self._next_key += 1
        self._internal[key] = label
        start(Completion(key, self._events.put))

    def _internal_outcome(self, event: PortEvent, now: float) -> None:
        if event.kind is PortEventKind.PROGRESS:
            return
        label = self._internal.pop(event.key)
        if event.kind is PortEventKind.FAILED:
            self._emit_event(text_event(EventId.ROVER_FAULT, 'bridge',
                                        f'{label} failed: {event.reason}'), now)

    # -- link --------------------------------------------------------------------------

    def _on_link_transitions(self, transitions: List[LinkTransition], now: float) -> None:
        """
        Act on the link's transitions at once, on the thread that found them.

        LOST holds the rover: the moves in progress are stopped (normal ramp), the shovel
        holds, LINK_HOLD tells the ground. SAFED latches the drive's e-stop first (zero to
        the wheels at once, in the drive core), then cancels the moves and holds the shovel
        (a fallback if the e-stop cannot be reached); the ground's RELEASE clears both. When
        both come at once (equal timeouts, or a stalled loop) only the safing runs.
        """
        safing = LinkTransition.SAFED in transitions
        for transition in transitions:
            if transition is LinkTransition.LOST:
                if not safing:
                    self._command_hold()
                # After the stop: a locked telemetry store must not keep the rover moving.
                self._store.requeue_sent_since(self._link.last_contact)
                self._emit_event(seconds_event(EventId.LINK_LOST,
                                               self._link.silence_at_transition), now)
                if not safing:
                    self._emit_event(text_event(EventId.LINK_HOLD, 'moves stopped, motion '
                                                'refused until contact'), now)
            elif transition is LinkTransition.SAFED:
                self._command_safing()
                self._emit_event(seconds_event(EventId.LINK_SAFED,
                                               self._link.silence_at_transition), now)
            elif transition is LinkTransition.RESTORED:
                self._emit_event(seconds_event(EventId.LINK_RESTORED,
                                               self._link.outage_seconds(now)), now)

    def _command_hold(self) -> None:
        """Command the link hold: cancel the moves (normal ramp), hold the shovel."""
        self._internal_op('link hold stop', self._port.stop)
        self._internal_op('link hold shovel hold', self._port.hold_shovel)

    def _command_safing(self) -> None:
        """Command the safing stop: e-stop first (zero at once), then cancel, shovel hold."""
        self._internal_op('safing e-stop', lambda done: self._port.set_estop(
            True, 'link-loss safing', done))
        self._internal_op('safing stop', self._port.stop)
        self._internal_op('safing shovel hold', self._port.hold_shovel)

    def _watch_telemetry(self, now: float) -> None:
        telemetry = self._port.telemetry()
        previous = self._last_telemetry
        self._last_telemetry = telemetry
        if previous is None:
            return
        was, new = previous.mobility, telemetry.mobility
        if new.estop != was.estop:
            self._emit_event(Event(EventId.ESTOP_ENGAGED if new.estop
                                   else EventId.ESTOP_RELEASED), now)
        if new.fault != was.fault:
            self._emit_event(text_event(EventId.ROVER_FAULT, 'drive',
                                        telemetry.drive_fault_reason) if new.fault
                             else text_event(EventId.ROVER_FAULT_CLEARED, 'drive'), now)
        was_fault, fault = previous.shovel.fault, telemetry.shovel.fault
        if bool(fault) != bool(was_fault):
            self._emit_event(text_event(EventId.ROVER_FAULT, 'shovel',
                                        telemetry.shovel_fault_reason) if fault
                             else text_event(EventId.ROVER_FAULT_CLEARED, 'shovel'), now)

    # -- files -------------------------------------------------------------------------

    def _service_files(self, now: float) -> None:
        if self._files is None:
            return
        if not self._downlinks_restored:
            self._restore_downlinks()
        # Reported in the previous tick, whose FLUSH has stored the reports since.
        self._files.mark_tcs_reported(self._tcs_reported)
        self._tcs_reported = []
        self._files.poll(now)
        for resumption in self._files.pop_resumptions():
            downlink = self._downlinks.get(resumption.downlink_id)
            product_id = downlink.product_id if downlink is not None \
                else resumption.dest_name.split('.', 1)[0]
            self._emit_event(text_event(EventId.FILE_DOWNLINK_RESUMED, product_id,
                                        resumption.reason), now)
        progress = self._files.progress
        if progress is not None:
            for downlink_id, downlink in self._downlinks.items():
                if downlink.file_name != progress.dest_name:
                    continue
                if not downlink.started and self._products is not None:
                    downlink.started = True
                    try:
                        self._products.set_downlink_state(downlink.product_id,
                                                          DownlinkState.IN_PROGRESS)
                    except StoreError:
                        pass
                total = progress.total_bytes or downlink.size or 1
                step = min(_PROGRESS_QUARTERS - 1,
                           int(_PROGRESS_QUARTERS * progress.confirmed_bytes / total))
                if step > downlink.last_step and downlink.request is not None:
                    self._files.set_tc_step(downlink_id, step)
                    self._report(VerificationSubtype.PROGRESS_SUCCESS,
                                 downlink.request.request_id, downlink.request.ack, now,
                                 step=step)
                downlink.last_step = max(downlink.last_step, step)
        for result in self._files.pop_results():
            self._file_result(result, now)

    def _restore_downlinks(self) -> None:
        """Take back the DOWNLINK_PRODUCT TCs an earlier process left unanswered."""
        for downlink_id, tc in self._files.pending_tcs():
            if downlink_id in self._downlinks:
                continue
            # The command is rebuilt for the file that is sent (a thumbnail is a product).
            request = _Request(self._next_key, RequestId.unpack(tc.request_id), AckFlag(tc.ack),
                               cmd.DownlinkProduct(tc.product_id), deadline=math.inf,
                               product_id=tc.product_id)
            self._next_key += 1
            self._downlinks[downlink_id] = _Downlink(request, tc.product_id, tc.file_name,
                                                     tc.size, tc.sha256, last_step=tc.last_step)
            _LOGGER.info('downlink %d of %s (TC %08x) carried over from before the restart',
                         downlink_id, tc.product_id, request.request_id.as_u32())
        self._downlinks_restored = True

    def _file_result(self, result: TransferResult, now: float) -> None:
        if result.will_retry:
            downlink = self._downlinks.get(result.downlink_id)
        else:
            downlink = self._downlinks.pop(result.downlink_id, None) \
                if result.downlink_id is not None else None
        product_id = downlink.product_id if downlink is not None \
            else (result.dest_name or '').split('.', 1)[0]
        delivered = result.outcome is TransferOutcome.DELIVERED
        if delivered:
            self._emit_event(text_event(EventId.FILE_DOWNLINK_DONE, product_id), now)
        elif not result.will_retry:
            self._emit_event(text_event(EventId.FILE_DOWNLINK_FAILED, product_id,
                                        self._for_ground(result.reason)), now)
        elif result.outcome is TransferOutcome.FAILED:
            self._emit_event(text_event(EventId.FILE_DOWNLINK_FAILED, product_id,
                                        f'{self._for_ground(result.reason)}; will retry'), now)
        request = downlink.request if downlink is not None else None
        if request is not None and not result.will_retry:
            self._tcs_reported.append(result.downlink_id)
            if delivered:
                data = pack_result(request.request_id, FunctionId.DOWNLINK_PRODUCT,
                                   DownlinkResult(downlink.product_id, downlink.size,
                                                  bytes.fromhex(downlink.sha256),
                                                  downlink.file_name))
                self._emit(Priority.URGENT, self._tm.packet(
                    Service.FUNCTION, FunctionSubtype.TM_RESULT, data, now + self.utc_offset))
                self._report(VerificationSubtype.COMPLETION_SUCCESS, request.request_id,
                             request.ack, now)
            else:
                self._verification(VerificationSubtype.COMPLETION_FAILURE, request.request_id,
                                   now, code=ErrorCode.FILE_TRANSFER_FAILED,
                                   reason=f'{result.condition.name}: {result.reason}')
        if self._products is not None and product_id:
            state = DownlinkState.DONE if delivered else \
                DownlinkState.QUEUED if result.will_retry else DownlinkState.NONE
            try:
                self._products.set_downlink_state(product_id, state)
            except StoreError:
                pass

    # -- telemetry ---------------------------------------------------------------------

    def _report(self, subtype: VerificationSubtype, request_id: RequestId, ack: AckFlag,
                now: float, *, step: Optional[int] = None) -> None:
        """Emit a success report if the TC's acknowledgement flags ask for it."""
        wanted = {VerificationSubtype.ACCEPTANCE_SUCCESS: AckFlag.ACCEPTANCE,
                  VerificationSubtype.START_SUCCESS: AckFlag.START,
                  VerificationSubtype.PROGRESS_SUCCESS: AckFlag.PROGRESS,
                  VerificationSubtype.COMPLETION_SUCCESS: AckFlag.COMPLETION}[subtype]
        if ack & wanted:
            self._verification(subtype, request_id, now, step=step)

    def _verification(self, subtype: VerificationSubtype, request_id: RequestId, now: float,
                      *, step: Optional[int] = None, code: Optional[ErrorCode] = None,
                      reason: str = '') -> None:
        self._emit(Priority.URGENT, self._tm.verification(
            subtype, request_id, now + self.utc_offset, step=step, code=code,
            reason=self._for_ground(reason)))

    def _for_ground(self, text: str) -> str:
        """
        Return ``text`` with on-board paths shortened, for a report to the ground.

        Paths under the product store become relative to its root, any other absolute path
        its file name: the on-board path means nothing on the ground, and the 96-byte cut of
        a reason would keep only its start.
        """
        if self._products is not None:
            text = text.replace(f'{self._products.root}/', '')
        return _ABSOLUTE_PATH.sub(lambda match: PurePosixPath(match.group(0)).name, text)

    def _emit_event(self, event: Event, now: float) -> None:
        self._emit(Priority.URGENT, self._tm.packet(
            Service.EVENT, EVENT_SEVERITY[event.event_id], event.pack(), now + self.utc_offset))

    def _emit_hk(self, sid: HkSet, now: float) -> None:
        if sid is HkSet.MOBILITY:
            values = self._telemetry().mobility
        elif sid is HkSet.SHOVEL:
            values = self._telemetry().shovel
        elif sid is HkSet.LINK:
            values = self._link_hk(now)
        elif sid is HkSet.FAULT:
            values = self._fault_hk()
        else:
            telemetry = self._telemetry()
            counts = (0, 0, 0, 0)
            if self._products is not None:
                usage = self._products.usage()
                counts = (min(usage.count, 0xFFFF), min(usage.pending_count, 0xFFFF),
                          usage.used_bytes, usage.budget_bytes)
            values = SystemHk(*counts, min(telemetry.diagnostics_level, 255),
                              min(telemetry.diagnostics_errors, 255))
        self._emit(Priority.ROUTINE, self._tm.packet(
            Service.HOUSEKEEPING, HkSubtype.TM_REPORT, pack_hk(sid, values),
            now + self.utc_offset))

    def _link_hk(self, now: float) -> LinkHk:
        snap = self._make_snapshot(now)
        return LinkHk(int(snap.state), snap.seconds_since_contact, snap.tc_accepted,
                      snap.tc_rejected, snap.tc_auth_failures, snap.tc_replays,
                      snap.tc_malformed, snap.tm_backlog, snap.tm_sent, snap.tm_dropped,
                      min(snap.files_pending, 0xFFFF), snap.bytes_downlinked,
                      _u32(snap.kernel_drops), _u32(snap.refusals_suppressed))

    def _fault_hk(self) -> FaultHk:
        c, faults = self._counters, self._faults
        return FaultHk(_u32(c.loop_faults), int(faults.last_step), int(faults.store_state),
                       self._store.volatile, self._replay.locked,
                       _u32(c.fault_events_suppressed), min(c.state_dbs_moved_aside, 0xFFFF),
                       _u32(c.products_readopted), _u32(c.products_quarantined),
                       _u32(c.products_vanished), min(c.safing_failures, 0xFFFF))

    def _telemetry(self) -> RoverTelemetry:
        if self._last_telemetry is None:
            self._last_telemetry = self._port.telemetry()
        return self._last_telemetry

    def _time_reports(self, now: float) -> None:
        if self._time_exponent == cmd.TIME_REPORTS_OFF or now < self._time_due:
            return
        self._emit_time(now)
        self._time_due = now + float(2 ** self._time_exponent)

    def _emit_time(self, now: float) -> None:
        report = TimeReport(self._time_exponent, now + self.utc_offset)
        self._emit(Priority.ROUTINE, self._tm.packet(Service.TIME, TimeSubtype.TM_CDS_REPORT,
                                                     report.pack(), now + self.utc_offset))

    def _emit(self, priority: Priority, packet: bytes) -> None:
        """Queue a packet for the store; while the store refuses writes, keep a bounded few."""
        outbox = self._outbox
        outbox.append((priority, packet))
        if len(outbox) > MAX_OUTBOX:
            victim = next((i for i, (p, _) in enumerate(outbox) if p is Priority.ROUTINE), 0)
            del outbox[victim]
            self._counters.tm_dropped += 1
            self._faults.outbox_dropped += 1

    def _flush(self, now: float) -> None:
        """
        Move the queued packets and the persisted counters into the store, in one transaction.

        A refused write (a locked file) keeps the packets queued for the next attempt and
        raises for the caller to contain. Counters are only written when they changed.
        """
        counters = {'tm_seq_count': self._tm.seq_count, 'cfdp_seq_count': self._cfdp_seq,
                    'boot_count': self._boots}
        faults = self._faults
        changed = {k: v for k, v in counters.items() if faults.saved_counters.get(k) != v}
        outbox, self._outbox = self._outbox, []
        try:
            dropped = self._store.put(outbox, changed)
        except BaseException:
            self._outbox = outbox + self._outbox
            raise
        faults.saved_counters.update(changed)
        self._counters.tm_dropped += dropped
        dropped += faults.outbox_dropped
        faults.outbox_dropped = 0
        if dropped:
            self._emit_event(count_event(EventId.TM_DROPPED, dropped), now)
            outbox, self._outbox = self._outbox, []
            try:
                self._store.put(outbox, {'tm_seq_count': self._tm.seq_count})
            except BaseException:
                self._outbox = outbox + self._outbox
                raise
            faults.saved_counters['tm_seq_count'] = self._tm.seq_count

    def _downlink(self, now: float) -> List[bytes]:
        urgent = StoreSource(self._store, Priority.URGENT)
        routine = StoreSource(self._store, Priority.ROUTINE)
        sources = [urgent, routine]
        if self._cfdp_source is not None:
            sources.append(self._cfdp_source)
        frames = [self._sealer.seal(f) for f in self._scheduler.frames(now, sources)]
        sent = urgent.commit(now) + routine.commit(now)
        self._counters.tm_sent += sent
        self._counters.bytes_downlinked += sum(len(f) for f in frames)
        return frames

    def _beacon(self, now: float) -> bytes:
        """Return a link housekeeping report sent outside the store while the link is down."""
        self._beacon_due = now + self._config.beacon_interval
        frame = self._sealer.seal(self._tm.packet(
            Service.HOUSEKEEPING, HkSubtype.TM_REPORT, pack_hk(HkSet.LINK, self._link_hk(now)),
            now + self.utc_offset))
        self._counters.bytes_downlinked += len(frame)
        return frame

    def _next_cfdp_seq(self) -> int:
        seq = self._cfdp_seq
        self._cfdp_seq = (seq + 1) % SEQ_COUNT_MODULO
        return seq

    def _make_snapshot(self, now: float) -> LinkSnapshot:
        c = self._counters
        files_pending = len(self._downlinks)
        return LinkSnapshot(
            state=self._link.state, seconds_since_contact=self._link.seconds_since_contact(now),
            tc_accepted=c.tc_accepted, tc_rejected=c.tc_rejected,
            tc_auth_failures=c.tc_auth_failures, tc_replays=c.tc_replays,
            tc_malformed=c.tc_malformed, tm_backlog=self._store.backlog, tm_sent=c.tm_sent,
            tm_dropped=c.tm_dropped, files_pending=files_pending,
            bytes_downlinked=c.bytes_downlinked, cfdp_pdus_received=c.cfdp_pdus_received,
            kernel_drops=c.kernel_drops, refusals_suppressed=c.refusals_suppressed,
            loop_faults=c.loop_faults, last_fault_step=self._faults.last_step,
            store_state=self._faults.store_state)

    # -- fault containment, degraded stores, store recovery ----------------------------

    def fault(self, step: LoopStep, error: BaseException, now: float) -> None:
        """
        Count, log and report a fault the loop contained (call from the bridge's thread).

        One BRIDGE_FAULT event (step, exception type and text) and one log line per step per
        ``event_min_interval``; the faults in between are counted in FAULT housekeeping.
        """
        counters, faults = self._counters, self._faults
        counters.loop_faults += 1
        faults.last_step = step
        if isinstance(error, sqlite3.Error):
            faults.database_blocked = True
        if now - faults.last_emit.get(step, -math.inf) < self._config.event_min_interval:
            counters.fault_events_suppressed += 1
            return
        faults.last_emit[step] = now
        text = f'{type(error).__name__}: {error}'
        _LOGGER.error('bridge loop step %s failed, contained: %s', step.label, text,
                      exc_info=error)
        self._emit_event(text_event(EventId.BRIDGE_FAULT, step.label, text), now)

    def note_transport(self, *, kernel_drops: int) -> None:
        """Record the transport's count of frames the kernel dropped (runner, every step)."""
        self._counters.kernel_drops = kernel_drops

    def attach_products(self, store: ProductStore) -> None:
        """Start using a product store that opened late (thread-safe; at the next tick)."""
        self._faults.notices.put(lambda now: self._products_available(store, now))

    def products_unavailable(self, name: str, cause: str) -> None:
        """Report that the product store cannot be opened (thread-safe; at the next tick)."""
        self._faults.notices.put(lambda now: self._products_lost(name, cause, now))

    def state_db_unavailable(self, name: str, cause: str) -> None:
        """Report a state database that could not be opened (thread-safe; the next tick)."""
        self._faults.notices.put(lambda now: self._emit_event(
            text_event(EventId.STORE_UNAVAILABLE, name, cause), now))

    def state_db_moved_aside(self, name: str, moved_to: str) -> None:
        """Report a corrupt state database moved aside (thread-safe; at the next tick)."""
        self._faults.notices.put(lambda now: self._moved_aside(name, moved_to, now))

    def _step(self, step: LoopStep, action: Callable[[float], object], now: float) -> None:
        """Run one step of the tick and contain its fault (see the module docstring)."""
        faults = self._faults
        if step in _DATABASE_STEPS and (faults.database_blocked
                                        or now < faults.retry_at.get(step, -math.inf)):
            return
        try:
            action(now)
        except Exception as err:  # contained: fault() counts, logs and reports it
            if step in _DATABASE_STEPS:
                faults.retry_at[step] = now + FAULT_RETRY_S
            self.fault(step, err, now)

    def _link_step(self, now: float) -> None:
        """
        Link supervision and link-loss safing: every tick, whatever failed before.

        When the stop of a link hold or of the safing may not have gone out (the step raised
        while the rover is held or safed), it is commanded again each tick until it goes
        through; after :data:`SAFING_ATTEMPTS` failures in a row the loop gives up with
        :class:`SafingFailed`.
        """
        faults = self._faults
        if faults.safing_unconfirmed:
            try:
                self._command_safing_again()
            except Exception as err:  # contained below, or escalated by _safing_failed
                self.fault(LoopStep.LINK, err, now)
                self._safing_failed(err)
            else:
                faults.safing_unconfirmed = False
                faults.safing_failures_in_row = 0
        try:
            self._on_link_transitions(self._link.update(now), now)
        except Exception as err:  # contained; the stop is commanded again next tick
            self.fault(LoopStep.LINK, err, now)
            if (self._link.safed or self._link.held) and not faults.safing_unconfirmed:
                self._safing_failed(err)

    def _command_safing_again(self) -> None:
        """Command the stops of the link's present state again (as _on_link_transitions)."""
        if self._link.safed:
            self._command_safing()
        elif self._link.held:
            self._command_hold()

    def _safing_failed(self, error: BaseException) -> None:
        faults = self._faults
        faults.safing_unconfirmed = True
        faults.safing_failures_in_row += 1
        self._counters.safing_failures += 1
        if faults.safing_failures_in_row >= SAFING_ATTEMPTS:
            raise SafingFailed(f'the safing stop failed {faults.safing_failures_in_row} ticks '
                               f'in a row: {type(error).__name__}: {error}') from error

    def _apply_pending_config(self, now: float) -> None:
        with self._snapshot_lock:
            pending, self._pending_config = self._pending_config, None
        if pending is not None:
            self.reconfigure(pending, now)

    def _purge_confirmed(self, now: float) -> None:
        self._store.purge_sent_before(self._link.last_contact)

    def _periodic_hk(self, now: float) -> None:
        for sid in self._hk.due(now):
            self._emit_hk(sid, now)

    def _publish_snapshot(self, now: float) -> None:
        snapshot = self._make_snapshot(now)
        with self._snapshot_lock:
            self._snapshot = snapshot

    def _service_stores(self, now: float) -> None:
        """Apply the store notices of other threads; tell the ground of store recoveries."""
        faults = self._faults
        while True:
            try:
                notice = faults.notices.get_nowait()
            except queue.Empty:
                break
            notice(now)
        if self._products is None or now < faults.recovery_due:
            return
        for report_id, report in self._products.pending_recovery_reports():
            if report_id not in faults.recovery_emitted:
                self._emit_recovery(report, now)
                faults.recovery_emitted.add(report_id)
        if faults.recovery_emitted:
            self._flush(now)
            for report_id in sorted(faults.recovery_emitted):
                self._products.mark_recovery_reported(report_id)
                faults.recovery_emitted.discard(report_id)
        faults.recovery_due = now + RECOVERY_POLL_S

    def _emit_recovery(self, report: RecoveryReport, now: float) -> None:
        """Turn one recovery report of the product store into events and HK totals."""
        counters = self._counters
        if report.readopted:
            counters.products_readopted += len(report.readopted)
            self._emit_event(count_event(EventId.PRODUCTS_READOPTED, len(report.readopted)),
                             now)
        counters.products_quarantined += len(report.quarantined)
        counters.products_vanished += len(report.vanished)
        for event_id, names in ((EventId.PRODUCTS_QUARANTINED,
                                 [Path(p).name for p in report.quarantined]),
                                (EventId.PRODUCTS_VANISHED, [str(i) for i in report.vanished])):
            for first in range(0, len(names), _NAMES_PER_EVENT):
                self._emit_event(text_event(event_id, *names[first:first + _NAMES_PER_EVENT]),
                                 now)
        if report.catalog_moved_aside is not None:
            self._moved_aside('catalog.sqlite3', Path(report.catalog_moved_aside).name, now)

    def _moved_aside(self, name: str, moved_to: str, now: float) -> None:
        self._counters.state_dbs_moved_aside += 1
        self._emit_event(text_event(EventId.STATE_DB_MOVED_ASIDE, name, moved_to), now)

    def _products_available(self, store: ProductStore, now: float) -> None:
        self._products = store
        self._faults.store_state = StoreState.OK
        self._faults.recovery_due = now
        _LOGGER.warning('product store %s is available again', store.root)
        self._emit_event(text_event(EventId.STORE_AVAILABLE, store.root.name), now)

    def _products_lost(self, name: str, cause: str, now: float) -> None:
        self._faults.store_state = StoreState.UNAVAILABLE
        self._emit_event(text_event(EventId.STORE_UNAVAILABLE, name, cause), now)


def _u32(value: int) -> int:
    """Return a counter clamped to a u32 housekeeping field."""
    return min(value, 0xFFFFFFFF)
