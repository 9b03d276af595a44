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
``rover-ground``: the operators' console for the rover, over the lander link (no ROS).

Examples (the rover's bridge reachable through the lander relay at 127.0.0.1:10020)::

    rover-ground keygen ~/.rover/uplink.key
    rover-ground --key ~/.rover/uplink.key --remote 127.0.0.1:10020 send drive 1.0 0.05
    rover-ground ... send turn 90deg
    rover-ground ... send sample
    rover-ground ... send products
    rover-ground ... send downlink img-20261124T120000123Z-left-3f2a full
    rover-ground ... run plan.txt          # one command per line, "wait 5" pauses
    rover-ground ... monitor               # live housekeeping and events
    rover-ground ... shell                 # interactive
    rover-ground ... sa-reset [--floor N]  # reset the rover's anti-replay window (SA mgmt)

Every command is followed through its verification reports (accepted, started, progress,
completed or failed with the rover's reason); ``send`` exits 0 on completion, 1 on a failure
report, 2 when the reports did not come in time, 3 on a usage error (a one-line message: an
unknown option, a bad number, an argument outside the rover's limits, which the tool checks
before it encodes anything). While it waits, the tool sends heartbeat
pings (which ask for no reports) so the rover does not safe itself, and receives files into
``--downlink-dir`` with a progress bar. Commands (``help`` in the shell lists them)::

    ping | drive DIST [SPEED] | turn ANGLE[deg] [RATE] | stop | estop | release
    shovel POSE|ANGLE [MAXVEL] | stow | sample [DIG] [dump] | capture [left|right|both] [Q] [W]
    products [pending] [MAX] | downlink ID [thumbnail|full] | clear-fault [drive|shovel|all]
    hk SET... | hk-enable SET... | hk-disable SET... | hk-rate SET SECONDS | time | time-rate N|off
"""

import argparse
import datetime
import math
from pathlib import Path
import shlex
import sys
import time
from typing import Callable, List, NoReturn, Optional, Sequence, TextIO, Tuple

from rover_ground.ground import (CommandStatus, DownlinkCounters, EventReport, FileDone,
                                 FileProgress, GroundItem, GroundStation, Housekeeping, PingReply,
                                 ProductList, RefusedFrame, Result, TimeItem, Undecodable,
                                 Verification)
from rover_link import commands as cmd
from rover_link.cfdp import CfdpConfig, FileReceiver
from rover_link.downlink_auth import DownlinkWindow
from rover_link.protocol import (AckFlag, Camera, CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID,
                                 FaultTarget, HkSet, ShovelPose, Variant, VerificationSubtype)
from rover_link.security import (ArsnCounter, generate_key_file, KeyFileError, load_key, MacEngine,
                                 SPI_MAX)
from rover_link.telemetry import (CaptureResult, DownlinkResult, FaultHk, LinkHk, LoopStep,
                                  MobilityHk, MotionResult, SampleResult, ShovelHk, StoreState,
                                  SystemHk)
from rover_link.transports import Transport, TransportError, UdpTransport
from spacepackets.ecss.req_id import RequestId

EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT, EXIT_USAGE = 0, 1, 2, 3
DEFAULT_SPEED = 0.05
DEFAULT_RATE = 0.2
#: The rover's limits as shipped: a command the rover would refuse is refused here, before
#: it is encoded (a rover with other limit parameters still has the last word).
LIMITS = cmd.CommandLimits()
#: Largest UDP port number.
_PORT_MAX = 0xFFFF


class UsageError(ValueError):
    """A command line the tool cannot turn into a telecommand; the message says why."""


# -- command parsing ---------------------------------------------------------------------


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f'{what} must be a number, got {text!r}') from None
    if not math.isfinite(value):
        raise UsageError(f'{what} must be finite, got {text!r}')
    return value


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f'{what} must be an integer, got {text!r}') from None


def _angle(text: str) -> float:
    if text.endswith('deg'):
        return math.radians(_number(text[:-3], 'angle'))
    return _number(text, 'angle (rad, or e.g. 90deg)')


def _choice(text: str, kind, what: str):
    try:
        return kind[text.upper().replace('-', '_')]
    except KeyError:
        names = ', '.join(m.name.lower() for m in kind)
        raise UsageError(f'{what} must be one of {names}; got {text!r}') from None


def _sets(words: Sequence[str]) -> Tuple[HkSet, ...]:
    if not words:
        raise UsageError('name at least one housekeeping set: mobility, shovel, link, system')
    return tuple(_choice(w, HkSet, 'housekeeping set') for w in words)


def _args(words: Sequence[str], low: int, high: int, usage: str) -> Sequence[str]:
    if not low <= len(words) <= high:
        raise UsageError(f'usage: {usage}')
    return words


def parse_command(words: Sequence[str]) -> cmd.Command:
    """
    Return the telecommand of a command line such as ``drive 1.0 0.05``.

    Every argument is checked against :data:`LIMITS` (the rover's own check) before the
    command exists, so nothing out of range is ever encoded or sent.

    :raises UsageError: unknown command, bad arguments (the message gives the usage) or an
        argument outside the limits (the message names the limit and the value).
    """
    command = _command_of(words)
    try:
        cmd.validate(command, LIMITS)
    except cmd.CommandError as err:
        raise UsageError(f'{words[0].lower()}: {err.reason}') from None
    return command


def _command_of(words: Sequence[str]) -> cmd.Command:
    if not words:
        raise UsageError('empty command')
    name, rest = words[0].lower(), list(words[1:])
    if name == 'ping':
        return cmd.Ping()
    if name == 'drive':
        _args(rest, 1, 2, 'drive DIST_M [SPEED_M_S]')
        speed = _number(rest[1], 'speed') if len(rest) > 1 else DEFAULT_SPEED
        return cmd.Drive(_number(rest[0], 'distance'), speed)
    if name == 'turn':
        _args(rest, 1, 2, 'turn ANGLE_RAD|ANGLEdeg [RATE_RAD_S]')
        rate = _number(rest[1], 'rate') if len(rest) > 1 else DEFAULT_RATE
        return cmd.Turn(_angle(rest[0]), rate)
    simple = {'stop': cmd.Stop, 'estop': cmd.EStop, 'e-stop': cmd.EStop,
              'release': cmd.Release, 'stow': cmd.StowShovel, 'time': cmd.TimeReportNow}
    if name in simple:
        _args(rest, 0, 0, name)
        return simple[name]()
    if name == 'shovel':
        _args(rest, 1, 2, 'shovel POSE|ANGLE_RAD [MAX_VELOCITY_RAD_S]')
        velocity = _number(rest[1], 'max velocity') if len(rest) > 1 else 0.0
        try:
            return cmd.MoveShovel(ShovelPose.ANGLE, float(rest[0]), velocity)
        except ValueError:
            pose = _choice(rest[0], ShovelPose, 'shovel pose')
            return cmd.MoveShovel(pose, 0.0, velocity)
    if name == 'sample':
        _args(rest, 0, 2, 'sample [DIG_DISTANCE_M] [dump]')
        dump = 'dump' in rest
        numbers = [w for w in rest if w != 'dump']
        dig = _number(numbers[0], 'dig distance') if numbers else 0.0
        return cmd.CollectSample(dig, dump)
    if name == 'capture':
        _args(rest, 0, 3, 'capture [left|right|both] [JPEG_QUALITY] [THUMBNAIL_WIDTH]')
        camera = _choice(rest[0], Camera, 'camera') if rest else Camera.BOTH
        quality = _integer(rest[1], 'JPEG quality') if len(rest) > 1 else 0
        width = _integer(rest[2], 'thumbnail width') if len(rest) > 2 else 0
        return cmd.Capture(camera, quality, width)
    if name == 'products':
        _args(rest, 0, 2, 'products [pending] [MAX]')
        pending = 'pending' in rest
        numbers = [w for w in rest if w != 'pending']
        return cmd.ListProducts(pending, _integer(numbers[0], 'max') if numbers else 0)
    if name == 'downlink':
        _args(rest, 1, 2, 'downlink PRODUCT_ID [thumbnail|full]')
        variant = _choice(rest[1], Variant, 'variant') if len(rest) > 1 else Variant.FULL
        return cmd.DownlinkProduct(rest[0], variant)
    if name == 'clear-fault':
        _args(rest, 0, 1, 'clear-fault [drive|shovel|all]')
        return cmd.ClearFault(_choice(rest[0], FaultTarget, 'fault target') if rest
                              else FaultTarget.ALL)
    if name == 'hk':
        return cmd.HkOneShot(_sets(rest))
    if name == 'hk-enable':
        return cmd.HkEnable(_sets(rest))
    if name == 'hk-disable':
        return cmd.HkDisable(_sets(rest))
    if name == 'hk-rate':
        _args(rest, 2, 2, 'hk-rate SET SECONDS')
        return cmd.HkSetInterval(((_choice(rest[0], HkSet, 'housekeeping set'),
                                   _number(rest[1], 'interval')),))
    if name == 'time-rate':
        _args(rest, 1, 1, 'time-rate EXPONENT|off')
        exponent = cmd.TIME_REPORTS_OFF if rest[0] == 'off' else _integer(rest[0], 'exponent')
        return cmd.TimeSetRate(exponent)
    raise UsageError(f'unknown command {name!r}; see "rover-ground --help"')


# -- presentation ------------------------------------------------------------------------


def describe_command(command: cmd.Command) -> str:
    """Return a short description of a command for the log."""
    if isinstance(command, cmd.Drive):
        return f'drive {command.distance:g} m at {command.speed:g} m/s'
    if isinstance(command, cmd.Turn):
        return f'turn {math.degrees(command.angle):.1f} deg at {command.rate:g} rad/s'
    if isinstance(command, cmd.DownlinkProduct):
        return f'downlink {command.product_id} ({command.variant.name.lower()})'
    if isinstance(command, cmd.MoveShovel):
        target = f'{command.angle:g} rad' if command.pose is ShovelPose.ANGLE \
            else command.pose.name.lower()
        return f'shovel to {target}'
    if isinstance(command, cmd.CollectSample):
        return 'collect sample' + (f' (dig {command.dig_distance:g} m)'
                                   if command.dig_distance else '')
    if isinstance(command, cmd.Capture):
        return f'capture {command.camera.name.lower()}'
    if isinstance(command, (cmd.HkEnable, cmd.HkDisable, cmd.HkOneShot)):
        verb = {cmd.HkEnable: 'enable', cmd.HkDisable: 'disable',
                cmd.HkOneShot: 'report'}[type(command)]
        return f'housekeeping {verb} {", ".join(s.name.lower() for s in command.sets)}'
    names = {cmd.Ping: 'ping', cmd.Stop: 'stop', cmd.EStop: 'e-stop', cmd.Release: 'release',
             cmd.StowShovel: 'stow shovel', cmd.ListProducts: 'list products',
             cmd.ClearFault: 'clear fault', cmd.HkSetInterval: 'housekeeping interval',
             cmd.TimeSetRate: 'time report rate', cmd.TimeReportNow: 'time report'}
    return names.get(type(command), type(command).__name__)


def describe_result(result) -> str:
    """Return a one-line description of a command result."""
    if isinstance(result, MotionResult):
        return f'{result.value:.3f}'
    if isinstance(result, SampleResult):
        return (f'evidence {result.evidence_id}, images {", ".join(result.image_ids)}, '
                f'fill {result.fill_kg * 1000:.0f} +- {result.fill_sigma_kg * 1000:.0f} g')
    if isinstance(result, CaptureResult):
        return f'images {", ".join(result.product_ids)}; thumbnails ' \
               f'{", ".join(result.thumbnail_ids)}'
    if isinstance(result, DownlinkResult):
        return f'{result.file_name}, {result.size_bytes} B, sha256 {result.sha256.hex()[:16]}...'
    return repr(result)


def describe_hk(item: Housekeeping) -> str:
    """Return one housekeeping report as a line."""
    v = item.values
    if isinstance(v, MobilityHk):
        return (f'HK mobility: x {v.x:+.3f} m y {v.y:+.3f} m yaw {math.degrees(v.yaw):+.1f} deg'
                f' v {v.linear:+.3f} m/s w {v.angular:+.3f} rad/s mode {v.mode}'
                f'{" E-STOP" if v.estop else ""}{" FAULT" if v.fault else ""}'
                f'{" stopped" if v.stopped else ""}')
    if isinstance(v, ShovelHk):
        return (f'HK shovel: angle {v.angle:.3f} rad current {v.current:.2f} A activity '
                f'{v.activity} permission {v.drive_permission} fault {v.fault}')
    if isinstance(v, LinkHk):
        return (f'HK link: state {v.state} tc ok {v.tc_accepted} refused {v.tc_rejected} '
                f'(auth {v.tc_auth_failures}, replay {v.tc_replays}, malformed '
                f'{v.tc_malformed}) backlog {v.tm_backlog} sent {v.tm_sent} files '
                f'{v.files_pending} down {v.bytes_downlinked} B kernel drops {v.kernel_drops} '
                f'refusal reports suppressed {v.refusals_suppressed}')
    if isinstance(v, SystemHk):
        return (f'HK system: diagnostics level {v.diagnostics_level} ({v.diagnostics_errors} '
                f'errors), {v.products} products, {v.pending} pending, '
                f'{v.used_bytes / 1e6:.1f}/{v.budget_bytes / 1e6:.0f} MB')
    if isinstance(v, FaultHk):
        return (f'HK fault: loop faults {v.loop_faults} (last step '
                f'{_enum_label(LoopStep, v.last_fault_step)}, {v.fault_events_suppressed} '
                f'unreported) product store {_enum_label(StoreState, v.store_state)}'
                f'{" TM-STORE-IN-MEMORY" if v.tm_store_volatile else ""}'
                f'{" UPLINK-LOCKED" if v.uplink_locked else ""} state dbs moved aside '
                f'{v.state_dbs_moved_aside} products re-adopted {v.products_readopted} '
                f'quarantined {v.products_quarantined} vanished {v.products_vanished} '
                f'safing failures {v.safing_failures}')
    return repr(v)


def _enum_label(kind, value: int) -> str:
    """Return the lower-case name of an enumerated HK field, or the number if unknown."""
    try:
        return kind(value).name.lower()
    except ValueError:
        return str(value)


_VERB = {VerificationSubtype.ACCEPTANCE_SUCCESS: 'accepted',
         VerificationSubtype.ACCEPTANCE_FAILURE: 'REFUSED',
         VerificationSubtype.START_SUCCESS: 'started',
         VerificationSubtype.START_FAILURE: 'FAILED TO START',
         VerificationSubtype.PROGRESS_SUCCESS: 'progress',
         VerificationSubtype.PROGRESS_FAILURE: 'FAILED IN PROGRESS',
         VerificationSubtype.COMPLETION_SUCCESS: 'completed',
         VerificationSubtype.COMPLETION_FAILURE: 'FAILED'}


def describe_downlink(counters: DownlinkCounters) -> str:
    """Return the ground's downlink authentication counters as one line."""
    return (f'downlink: {counters.frames_accepted} frames authenticated, refused '
            f'{counters.forged_frames} forged (carrying {counters.forged_file_pdus} file PDUs), '
            f'{counters.replayed_frames} replayed, {counters.malformed_frames} malformed')


#: Refused downlink frames of one reason are printed at most this often (s); each line
#: carries the running totals, so a flood of forgeries cannot flood the console.
REFUSAL_LINE_INTERVAL_S = 1.0


class Printer:
    """Writes what the ground hears, one line per item, and a file progress bar."""

    def __init__(self, out: TextIO, *, show_hk: bool = True, tty: Optional[bool] = None) -> None:
        self._out = out
        self._show_hk = show_hk
        self._tty = out.isatty() if tty is None else tty
        self._names = {}
        self._bar_quarter = {}
        self._refusal_printed = {}

    def remember(self, request_id: RequestId, command: cmd.Command) -> None:
        """Name a request id in later lines."""
        self._names[request_id] = describe_command(command)

    def line(self, text: str) -> None:
        """Write a time-stamped line."""
        stamp = datetime.datetime.now().strftime('%H:%M:%S.%f')[:-3]
        self._out.write(f'{stamp} {text}\n')
        self._out.flush()

    def item(self, item: GroundItem) -> None:
        """Write one item."""
        if isinstance(item, Verification):
            name = self._names.get(item.request_id, f'TC {item.request_id.as_u32():#010x}')
            text = f'{name}: {_VERB[item.subtype]}'
            if item.step is not None:
                text += f' (step {item.step})'
            if item.failed:
                code = getattr(item.code, 'name', item.code)
                text += f': {code}: {item.reason}'
            self.line(text)
        elif isinstance(item, Result):
            name = self._names.get(item.request_id, 'TC')
            self.line(f'{name}: result: {describe_result(item.result)}')
        elif isinstance(item, ProductList):
            for entry in item.part.entries:
                self.line(f'product {entry.product_id} kind {entry.kind} camera '
                          f'{entry.camera or "-"} {entry.size_bytes} B downlink '
                          f'{entry.downlink_state} related {entry.related_id or "-"}')
        elif isinstance(item, Housekeeping):
            if self._show_hk:
                self.line(describe_hk(item))
        elif isinstance(item, EventReport):
            self.line(f'EVENT [{item.severity.name}] {item.text}')
        elif isinstance(item, TimeItem):
            when = datetime.datetime.fromtimestamp(item.report.utc, datetime.timezone.utc)
            self.line(f'rover time {when.isoformat()}')
        elif isinstance(item, PingReply):
            return
        elif isinstance(item, FileProgress):
            self._progress(item)
        elif isinstance(item, FileDone):
            state = f'received {item.path} ({item.size} B)' if item.delivered \
                else f'FAILED: {item.reason}'
            if self._tty:
                self._out.write('\n')
            self.line(f'file {item.name}: {state}')
        elif isinstance(item, Undecodable):
            self.line(f'undecodable telemetry: {item.reason}')
        elif isinstance(item, RefusedFrame):
            self._refused(item)

    def _refused(self, item: RefusedFrame) -> None:
        now = time.monotonic()
        if now - self._refusal_printed.get(item.reason, -math.inf) < REFUSAL_LINE_INTERVAL_S:
            return
        self._refusal_printed[item.reason] = now
        self.line(f'REFUSED downlink frame ({item.reason.name}: {item.detail}); '
                  f'{describe_downlink(item.counters)}')

    def _progress(self, item: FileProgress) -> None:
        if not item.total:
            return
        fraction = min(item.received / item.total, 1.0)
        if self._tty:
            bar = '#' * int(fraction * 30)
            self._out.write(f'\r[{bar:<30}] {fraction * 100:5.1f}% {item.name} '
                            f'{item.received // 1024}/{item.total // 1024} kB')
            self._out.flush()
            return
        quarter = int(fraction * 4)
        if quarter > self._bar_quarter.get(item.name, -1):
            self._bar_quarter[item.name] = quarter
            self.line(f'file {item.name}: {fraction * 100:.0f}% of {item.total} B')


# -- the session -------------------------------------------------------------------------


class GroundSession:
    """
    A ground station on a transport: send commands, pump the link, wait for reports.

    :param station: the ROS-free ground core.
    :param transport: the link to the lander relay.
    :param printer: where items are written (None: silent).
    :param heartbeat: seconds between heartbeat pings while pumping (None: none).
    :param clock: monotonic seconds.
    """

    def __init__(self, station: GroundStation, transport: Transport, *,
                 printer: Optional[Printer] = None, heartbeat: Optional[float] = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.station = station
        self.transport = transport
        self.printer = printer
        self.heartbeat = heartbeat
        self._clock = clock
        self._last_heartbeat = -math.inf
        self.items: List[GroundItem] = []
        self.files: List[FileDone] = []

    def send(self, command: cmd.Command, ack: AckFlag = AckFlag.ALL) -> RequestId:
        """Uplink a command now; return its request id."""
        frame, request_id = self.station.command(command, self._clock(), ack=ack)
        if self.printer is not None:
            self.printer.remember(request_id, command)
            self.printer.line(f'{describe_command(command)}: sent')
        self._uplink(frame)
        return request_id

    def pump(self, seconds: float) -> None:
        """Run the link for ``seconds``: receive, answer CFDP, send heartbeats."""
        end = self._clock() + seconds
        while True:
            remaining = end - self._clock()
            if remaining <= 0.0:
                break
            self._step(min(remaining, 0.05))

    def wait(self, request_id: RequestId, timeout: float) -> Optional[CommandStatus]:
        """Pump until the TC's reports are complete; return its status (None if unknown)."""
        end = self._clock() + timeout
        status = self.station.tracker.get(request_id)
        while status is not None and not status.finished and self._clock() < end:
            self._step(min(0.05, max(0.0, end - self._clock())))
        return status

    def _step(self, wait: float) -> None:
        now = self._clock()
        if self.heartbeat is not None and now - self._last_heartbeat >= self.heartbeat:
            self._last_heartbeat = now
            frame, _ = self.station.command(cmd.Ping(), now, ack=AckFlag.NONE)
            self._uplink(frame)
        try:
            frame = self.transport.receive(wait)
        except TransportError as err:
            if self.printer is not None:
                self.printer.line(f'link error: {err}')
            time.sleep(wait)
            frame = None
        while frame is not None:
            self._take(self.station.handle_frame(frame, self._clock()))
            frame = self.transport.receive(0.0)
        uplink, file_items = self.station.tick(self._clock())
        for frame in uplink:
            self._uplink(frame)
        self._take(file_items)

    def _take(self, items: Sequence[GroundItem]) -> None:
        for item in items:
            self.items.append(item)
            if isinstance(item, FileDone):
                self.files.append(item)
            if self.printer is not None:
                self.printer.item(item)

    def _uplink(self, frame: bytes) -> None:
        try:
            self.transport.send(frame)
        except TransportError as err:
            if self.printer is not None:
                self.printer.line(f'uplink failed: {err}')


def exit_code(status: Optional[CommandStatus]) -> int:
    """Return the exit code for a command's final status."""
    if status is None or not status.finished:
        return EXIT_TIMEOUT
    return EXIT_FAILED if status.failure is not None else EXIT_OK


def run_lines(session: GroundSession, lines: Sequence[str], timeout: float,
              printer: Optional[Printer] = None) -> int:
    """
    Run a script: one command per line, ``wait SECONDS`` pauses, ``#`` starts a comment.

    The whole script is checked first: a usage error on any line (exit 3) sends nothing.
    Each command is waited for; the script stops at the first failure or timeout.
    """
    steps = []
    for number, raw in enumerate(lines, 1):
        try:
            words = _split(raw)
            if words:
                steps.append((number, _wait_seconds(words[1:]) if words[0] == 'wait'
                              else parse_command(words)))
        except UsageError as err:
            if printer is not None:
                printer.line(f'line {number}: {err}')
            return EXIT_USAGE
    for number, step in steps:
        if isinstance(step, float):
            session.pump(step)
            continue
        code = exit_code(session.wait(session.send(step), timeout))
        if code != EXIT_OK:
            if printer is not None:
                printer.line(f'line {number}: stopping ({"failed" if code == 1 else "timeout"})')
            return code
    return EXIT_OK


def _split(line: str) -> List[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError as err:
        raise UsageError(f'cannot split {line!r} into words: {err}') from None


def _wait_seconds(words: Sequence[str]) -> float:
    _args(words, 0, 1, 'wait [SECONDS]')
    seconds = _number(words[0], 'wait seconds') if words else 1.0
    if seconds < 0.0:
        raise UsageError(f'wait seconds must be >= 0, got {words[0]!r}')
    return seconds


def sa_reset(session: GroundSession, floor: Optional[int], timeout: float,
             printer: Printer, *, retry: float = 3.0) -> int:
    """
    Reset the rover's anti-replay window by SA management (``sa-reset [--floor N]``).

    Asks for the challenge (again every ``retry`` s until one comes; a locked rover also
    repeats it unasked), answers each announcement with RESET_WINDOW, and once the rover
    confirms with REPLAY_WINDOW_RESET sets the ground's ARSN counter to the new floor. No
    heartbeat pings meanwhile: while the window refuses them they would only use up ARSNs.
    Without ``floor`` the rover's floor is kept, or raised to the ground counter: no ARSN
    ever sent can pass again. A lower floor re-opens every ARSN between it and the old one.

    :return: 0 confirmed, 2 no confirmation within ``timeout`` s, 3 a bad floor.
    """
    try:
        exchange = session.station.sa_exchange(floor)
    except ValueError as err:
        printer.line(f'sa-reset: {err}')
        return EXIT_USAGE
    session.heartbeat = None
    end = session._clock() + timeout
    next_request, seen = -math.inf, len(session.items)
    while not exchange.done:
        now = session._clock()
        if now >= end:
            printer.line(f'sa-reset: no REPLAY_WINDOW_RESET within {timeout:g} s; the window is '
                         'unchanged unless the rover says otherwise: run sa-reset again')
            return EXIT_TIMEOUT
        if now >= next_request:
            session._uplink(exchange.request())
            next_request = now + retry
        session.pump(min(0.05, end - now))
        for item in session.items[seen:]:
            frame = exchange.on_event(item.event) if isinstance(item, EventReport) else None
            if frame is None:
                continue
            rover_floor = exchange.announced.floor
            printer.line(f'sa-reset: rover floor {rover_floor}, asking for floor '
                         f'{exchange.floor}')
            if rover_floor is not None and exchange.floor < rover_floor:
                printer.line(f'sa-reset: WARNING: lowering the floor re-opens ARSNs '
                             f'{exchange.floor + 1}..{rover_floor} to replay; rekey if frames '
                             'with such ARSNs were ever sent')
            session._uplink(frame)
            next_request = now + retry
        seen = len(session.items)
    printer.line(f'sa-reset: REPLAY_WINDOW_RESET confirmed, floor {exchange.floor}; the next '
                 f'ARSN is above it')
    return EXIT_OK


# -- main --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors exit with EXIT_USAGE and one line, as documented."""

    def error(self, message: str) -> NoReturn:
        """Exit 3 (argparse's own 2 is the tool's "no reports in time")."""
        self.exit(EXIT_USAGE, f'{self.prog}: {message} (see --help)\n')


def _address(text: str) -> Tuple[str, int]:
    host, _, port = text.rpartition(':')
    if not host or not port.isdigit() or not 1 <= int(port) <= _PORT_MAX:
        raise argparse.ArgumentTypeError(f'expected HOST:PORT with a port in [1, {_PORT_MAX}], '
                                         f'got {text!r}')
    return host, int(port)


def _spi(text: str) -> int:
    try:
        spi = int(text)
    except ValueError:
        spi = -1
    if not 0 <= spi <= SPI_MAX:
        raise argparse.ArgumentTypeError(f'expected an integer in [0, {SPI_MAX}], got {text!r}')
    return spi


def _seconds(low: float, *, open_low: bool, allow_inf: bool = False) -> Callable[[str], float]:
    """Return an argparse type: seconds above ``low`` (or at it unless ``open_low``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        finite = math.isfinite(value) or (allow_inf and value == math.inf)
        if not finite or value < low or (open_low and value == low):
            sign = '>' if open_low else '>='
            raise argparse.ArgumentTypeError(f'expected seconds {sign} {low:g}, got {text!r}')
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of rover-ground."""
    parser = _Parser(
        prog='rover-ground', description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n\n'.join(__doc__.split('\n\n')[1:]))
    parser.add_argument('--key', type=Path, help='uplink key file (64 hex digits, mode 600)')
    parser.add_argument('--spi', type=_spi, default=1, help='security parameter index (1)')
    parser.add_argument('--state', type=Path, default=Path('~/.rover-ground/state.sqlite3'),
                        help='ground counters (ARSN, TC sequence count)')
    parser.add_argument('--local', type=_address, default=('127.0.0.1', 10019),
                        help='local UDP address (downlink arrives here)')
    parser.add_argument('--remote', type=_address, default=('127.0.0.1', 10020),
                        help='lander relay UDP address (uplink goes there)')
    parser.add_argument('--downlink-dir', type=Path, default=Path('downlink'),
                        help='where received files are written')
    parser.add_argument('--timeout', type=_seconds(0.0, open_low=True), default=300.0,
                        help='seconds to wait for a command to complete (300)')
    parser.add_argument('--heartbeat', type=_seconds(0.0, open_low=False), default=2.0,
                        help='seconds between heartbeat pings while waiting (0: none); keep '
                             'it well below the link_timeout of the rover (10 s)')
    parser.add_argument('--cfdp-timer', type=_seconds(0.0, open_low=True), default=5.0,
                        help='CFDP ACK/NAK timer, s (above the round trip)')
    parser.add_argument('--quiet-hk', action='store_true', help='do not print housekeeping')
    sub = parser.add_subparsers(dest='action', required=True)
    keygen = sub.add_parser('keygen', help='write a new uplink key file')
    keygen.add_argument('path', type=Path)
    send = sub.add_parser('send', help='send one command and follow it')
    send.add_argument('words', nargs='+', help='command and arguments, e.g. drive 1.0 0.05')
    send.add_argument('--no-wait', action='store_true', help='do not wait for completion')
    script = sub.add_parser('run', help='run a script of commands')
    script.add_argument('script', type=Path)
    monitor = sub.add_parser('monitor', help='live housekeeping, events and files')
    monitor.add_argument('--duration', type=_seconds(0.0, open_low=False, allow_inf=True),
                         default=math.inf)
    sub.add_parser('shell', help='interactive commands')
    reset = sub.add_parser('sa-reset', help="reset the rover's anti-replay window by SA "
                           'management (after a lost replay state or a ground clock fault)')
    reset.add_argument('--floor', type=int, default=None,
                       help="new floor ARSN (default: keep the rover's floor or raise it to "
                            "this ground's counter; a lower floor re-opens replay)")
    return parser


def open_session(args: argparse.Namespace, printer: Printer) -> GroundSession:
    """Open the key, counters, file receiver and UDP transport named by the arguments."""
    mac = MacEngine({args.spi: load_key(args.key.expanduser())})
    state = args.state.expanduser()
    state.parent.mkdir(parents=True, exist_ok=True)
    timer = args.cfdp_timer
    receiver = FileReceiver(args.downlink_dir, local_entity_id=CFDP_GROUND_ENTITY_ID,
                            remote_entity_id=CFDP_ROVER_ENTITY_ID,
                            config=CfdpConfig(ack_timer_s=timer, nak_timer_s=timer,
                                              inactivity_s=max(120.0, 3 * timer)))
    # The downlink window shares the state file, so a frame recorded in an earlier session
    # (each `send` is a process of its own) is refused in the next one.
    station = GroundStation(mac=mac, spi=args.spi, counter=ArsnCounter(state, args.spi),
                            receiver=receiver, window=DownlinkWindow(path=state))
    transport = UdpTransport(args.local, args.remote)
    return GroundSession(station, transport, printer=printer,
                         heartbeat=args.heartbeat if args.heartbeat > 0 else None)


def _shell(session: GroundSession, printer: Printer, timeout: float) -> int:
    printer.line('rover-ground shell: commands as in --help; "wait S", "quit"')
    while True:
        try:
            text = input('rover> ')
        except EOFError:
            return EXIT_OK
        if text.strip() in ('quit', 'exit'):
            return EXIT_OK
        if text.strip() == 'help':
            print(__doc__.split('Commands (')[1])
            continue
        run_lines(session, [text], timeout, printer)


def _script_lines(path: Path) -> List[str]:
    try:
        return path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f'cannot read script {path}: {err}') from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run rover-ground; return the exit code."""
    args = build_parser().parse_args(argv)
    printer = Printer(sys.stdout, show_hk=not args.quiet_hk)
    if args.action == 'keygen':
        try:
            generate_key_file(args.path.expanduser())
        except KeyFileError as err:
            printer.line(str(err))
            return EXIT_USAGE
        printer.line(f'wrote a new key to {args.path} (mode 600); copy it to the rover')
        return EXIT_OK
    if args.key is None:
        printer.line('--key is required (create one with "rover-ground keygen PATH")')
        return EXIT_USAGE
    try:
        command = parse_command(args.words) if args.action == 'send' else None
        lines = _script_lines(args.script) if args.action == 'run' else None
        session = open_session(args, printer)
    except (UsageError, KeyFileError, TransportError, OSError) as err:
        printer.line(str(err))
        return EXIT_USAGE
    try:
        if args.action == 'send':
            request_id = session.send(command)
            if args.no_wait:
                session.pump(0.2)
                return EXIT_OK
            return exit_code(session.wait(request_id, args.timeout))
        if args.action == 'run':
            return run_lines(session, lines, args.timeout, printer)
        if args.action == 'monitor':
            session.pump(args.duration)
            return EXIT_OK
        if args.action == 'sa-reset':
            return sa_reset(session, args.floor, args.timeout, printer)
        return _shell(session, printer, args.timeout)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if session.station.counters.refused:
            printer.line(describe_downlink(session.station.counters))
        session.transport.close()


if __name__ == '__main__':
    sys.exit(main())
