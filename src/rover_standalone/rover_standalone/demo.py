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
``rover-demo``: operate the fake rover from Earth over an emulated lander link, no ROS.

One process, three parts talking real UDP on loopback: the standalone rover (drive, shovel
and cameras in fake mode) behind its lander bridge, the link emulator (Earth-Moon delay,
line rate, loss), and the ground station. The scenario is the rover's main job: check the
link, drive 1 m, collect a regolith sample, and bring its evidence home (the thumbnails of
the sample images first, then the evidence package and the full images, over CFDP class 2,
with frame loss in both directions during the transfers). Every verification report,
event and file is printed as the ground receives it; the received files are checked against
the sha256 the rover reported. Exit code 0 when all of that worked.

    python3 -m rover_standalone.demo            # real time, 2.6 s round trip (~2 min)
    python3 -m rover_standalone.demo --fast     # 5x simulated time, short delay (~20 s)

:class:`LoopbackSystem` (the three parts wired together) is also what the end-to-end tests
use.
"""

import argparse
from dataclasses import dataclass
import hashlib
from pathlib import Path
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

from rover_common.param_spec import ParamValue
from rover_common.product_store import ProductStore
from rover_ground.ground import CommandStatus, GroundStation
from rover_ground.ground_cli import describe_command, describe_downlink, GroundSession, Printer
from rover_ground.link_emulator import Direction, LinkEmulator, LinkProfile
from rover_lander_bridge.params import TABLE
from rover_lander_bridge.runner import BridgeStack
from rover_link import commands as cmd
from rover_link.cfdp import CfdpConfig, FileReceiver
from rover_link.downlink_auth import DownlinkWindow
from rover_link.protocol import (CFDP_GROUND_ENTITY_ID, CFDP_ROVER_ENTITY_ID, HkSet, Variant,
                                 VerificationSubtype)
from rover_link.security import ArsnCounter, generate_key_file, load_key, MacEngine
from rover_link.telemetry import DownlinkResult, MotionResult, SampleResult
from rover_link.transports import free_udp_port, UdpTransport
from rover_standalone.standalone_rover import StandaloneRover

LOCALHOST = '127.0.0.1'


@dataclass(frozen=True)
class LinkSettings:
    """The emulated lander link and the timers that must match it."""

    delay_s: float = 1.3
    rate_bps: float = 1e6
    cfdp_timer_s: float = 6.0
    link_timeout_s: float = 10.0
    safing_timeout_s: float = 60.0
    heartbeat_s: float = 2.0


class LoopbackSystem:
    """
    Standalone rover + lander bridge, link emulator and ground session on loopback UDP.

    :param workdir: where the key, the states, the products and the received files go.
    :param link: delay, rate and timers.
    :param time_scale: simulated rover seconds per wall second.
    :param image_size: (width, height) of the fake cameras.
    :param printer: where the ground writes what it hears (None: silent).
    :param bridge_params: more lander_bridge parameters.
    """

    def __init__(self, workdir: Path, *, link: LinkSettings = LinkSettings(),
                 time_scale: float = 1.0, image_size: Tuple[int, int] = (1280, 720),
                 printer: Optional[Printer] = None,
                 bridge_params: Optional[Dict[str, ParamValue]] = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.link = link
        self.key_file = self.workdir / 'uplink.key'
        if not self.key_file.exists():
            generate_key_file(self.key_file)
        self._closers: List = []
        try:
            self._open(link, time_scale, image_size, printer, bridge_params or {})
        except BaseException:
            self.close()
            raise

    def _open(self, link: LinkSettings, time_scale: float, image_size: Tuple[int, int],
              printer: Optional[Printer], bridge_params: Dict[str, ParamValue]) -> None:
        rover_port, ground_port = free_udp_port(), free_udp_port()
        self.ground_port = ground_port
        profile = LinkProfile(delay_s=link.delay_s, rate_bps=link.rate_bps)
        self.emulator = LinkEmulator((LOCALHOST, 0), (LOCALHOST, 0), downlink=profile,
                                     uplink=profile, rover_peer=(LOCALHOST, rover_port),
                                     ground_peer=(LOCALHOST, ground_port)).start()
        self._closers.append(self.emulator.close)
        self.products = ProductStore(self.workdir / 'products', budget_bytes=2_000_000_000)
        self._closers.append(self.products.close)
        self.rover = StandaloneRover(self.products, image_size=image_size)
        self._closers.append(self.rover.close)
        values = TABLE.validated(dict({
            'key_file': str(self.key_file), 'state_dir': str(self.workdir / 'rover-state'),
            'product_dir': str(self.workdir / 'products'),
            'link_timeout': link.link_timeout_s, 'safing_timeout': link.safing_timeout_s,
            'downlink_rate': 0.8 * link.rate_bps, 'cfdp_ack_timer': link.cfdp_timer_s,
            'cfdp_nak_timer': link.cfdp_timer_s,
            'cfdp_inactivity': max(120.0, 4.0 * link.cfdp_timer_s)}, **bridge_params))
        bridge_transport = UdpTransport((LOCALHOST, rover_port), self.emulator.rover_address)
        self.stack = BridgeStack(values, self.rover, products=self.products,
                                 transport=bridge_transport)
        self._closers.append(self.stack.close)
        self.rover.start(time_scale)
        self.stack.start()
        self.downlink_dir = self.workdir / 'ground-downlink'
        receiver = FileReceiver(self.downlink_dir, local_entity_id=CFDP_GROUND_ENTITY_ID,
                                remote_entity_id=CFDP_ROVER_ENTITY_ID,
                                config=CfdpConfig(ack_timer_s=link.cfdp_timer_s,
                                                  nak_timer_s=link.cfdp_timer_s,
                                                  inactivity_s=max(120.0,
                                                                   4.0 * link.cfdp_timer_s)))
        ground_state = self.workdir / 'ground.sqlite3'
        window = DownlinkWindow(path=ground_state)
        self._closers.append(window.close)
        station = GroundStation(mac=MacEngine({1: load_key(self.key_file)}), spi=1,
                                counter=ArsnCounter(ground_state, 1), receiver=receiver,
                                window=window)
        ground_transport = UdpTransport((LOCALHOST, ground_port), self.emulator.ground_address)
        self._closers.append(ground_transport.close)
        self.session = GroundSession(station, ground_transport, printer=printer,
                                     heartbeat=link.heartbeat_s)

    @property
    def round_trip(self) -> float:
        """Return the emulated round-trip light time (s)."""
        return 2.0 * self.link.delay_s

    def run(self, command: cmd.Command, timeout: float) -> CommandStatus:
        """Send a command and pump the link until its reports are complete or ``timeout``."""
        status = self.session.wait(self.session.send(command), timeout)
        assert status is not None
        return status

    def set_loss(self, loss: float) -> None:
        """Lose this fraction of frames in both directions from now on."""
        for direction in Direction:
            self.emulator.set_profile(direction, LinkProfile(
                delay_s=self.link.delay_s, rate_bps=self.link.rate_bps, loss=loss))

    def close(self) -> None:
        """Stop and close everything, newest first."""
        while self._closers:
            self._closers.pop()()


# -- the scenario --------------------------------------------------------------------------


def _check(status: CommandStatus, what: str, printer: Printer) -> bool:
    if status.completed:
        return True
    reason = 'no completion report in time' if status.failure is None else \
        f'{getattr(status.failure.code, "name", status.failure.code)}: {status.failure.reason}'
    printer.line(f'DEMO FAILED at "{what}": {reason}')
    return False


def _started(status: Optional[CommandStatus]) -> bool:
    return status is not None and (status.failure is not None or any(
        r.subtype is VerificationSubtype.START_SUCCESS for r in status.reports))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_scenario(system: LoopbackSystem, printer: Printer, *, loss: float,
                 timeout: float) -> int:
    """Run the main job over ``system``; return 0 when every step worked."""
    t0 = time.monotonic()
    printer.line(f'--- link check (round trip {system.round_trip:.1f} s)')
    if not _check(system.run(cmd.Ping(), timeout), 'ping', printer):
        return 1
    printer.line(f'ping answered after {time.monotonic() - t0:.1f} s')
    system.run(cmd.HkOneShot((HkSet.MOBILITY, HkSet.SHOVEL)), timeout)

    printer.line('--- drive 1 m forward at 0.1 m/s')
    status = system.run(cmd.Drive(1.0, 0.1), timeout)
    if not _check(status, 'drive', printer):
        return 1
    if isinstance(status.result, MotionResult):
        printer.line(f'rover reports {status.result.value:.3f} m travelled')

    printer.line('--- collect a regolith sample')
    status = system.run(cmd.CollectSample(), timeout)
    if not _check(status, 'collect sample', printer) or \
            not isinstance(status.result, SampleResult):
        return 1
    sample = status.result
    printer.line(f'evidence {sample.evidence_id}: {len(sample.image_ids)} images, fill '
                 f'{sample.fill_kg * 1000:.0f} +- {sample.fill_sigma_kg * 1000:.0f} g')

    printer.line('--- list what waits for downlink')
    if not _check(system.run(cmd.ListProducts(True, 10), timeout), 'list products', printer):
        return 1

    printer.line('--- ask for the evidence: thumbnails first, then the package and the full '
                 'images')
    plan = [cmd.DownlinkProduct(i, Variant.THUMBNAIL) for i in sample.image_ids]
    plan.append(cmd.DownlinkProduct(sample.evidence_id, Variant.FULL))
    plan += [cmd.DownlinkProduct(i, Variant.FULL) for i in sample.image_ids]
    requests = [system.session.send(command) for command in plan]
    tracker = system.session.station.tracker
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(
            _started(tracker.get(r)) for r in requests):
        system.session.pump(0.1)
    for command, request_id in zip(plan, requests):
        status = tracker.get(request_id)
        if not _started(status) or status.failure is not None:
            _check(status, describe_command(command), printer)
            return 1
    printer.line(f'--- files coming home over CFDP class 2, {loss * 100:.0f} % of the frames '
                 'lost in both directions')
    system.set_loss(loss)
    start = time.monotonic()
    arrivals = {}
    try:
        while time.monotonic() < deadline and len(arrivals) < len(plan):
            system.session.pump(0.1)
            for done in system.session.files:
                arrivals.setdefault(done.name, (done, time.monotonic() - start))
    finally:
        system.set_loss(0.0)
    system.session.pump(2.0 * system.round_trip + 1.0)
    statuses = [tracker.get(r) for r in requests]
    received: List[Tuple[str, int, float, str]] = []
    for name, (done, seconds) in arrivals.items():
        product_id = (name or '').split('.', 1)[0]
        rover_copy = system.products.read(product_id)
        identical = done.delivered and done.path is not None and \
            Path(done.path).read_bytes() == rover_copy
        reported = [s.result for s in statuses if isinstance(s.result, DownlinkResult)
                    and s.result.product_id == product_id]
        if reported:
            check = 'sha256 as reported' if reported[0].sha256.hex() == _sha256(
                Path(done.path)) else 'sha256 MISMATCH'
        else:
            check = 'result report lost, CFDP checksum ok' if done.delivered else 'FAILED'
        received.append((name, done.size or 0, seconds,
                         f'{check}; {"identical" if identical else "DIFFERENT"} to the '
                         f'rover copy'))
    missing = len(plan) - len(arrivals)

    printer.line('--- summary')
    for name, size, seconds, check in received:
        printer.line(f'{name:<40} {size:>7} B at {seconds:5.1f} s: {check}')
    if missing:
        printer.line(f'{missing} file(s) did not arrive within {timeout:.0f} s')
    snap = system.stack.bridge.snapshot()
    printer.line(f'bridge: {snap.tc_accepted} TCs accepted, {snap.tc_rejected} refused, '
                 f'{snap.tm_sent} TM packets, {snap.bytes_downlinked} B downlinked')
    for direction in Direction:
        c = system.emulator.counters(direction)
        printer.line(f'link {direction.value}: {c.frames_in} frames in, {c.dropped_loss} lost')
    printer.line(describe_downlink(system.session.station.counters))
    ok = not missing and all('MISMATCH' not in r[3] and 'DIFFERENT' not in r[3]
                             for r in received)
    printer.line(f'demo {"complete" if ok else "FAILED"} in {time.monotonic() - t0:.0f} s; '
                 f'files in {system.downlink_dir}')
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of rover-demo."""
    parser = argparse.ArgumentParser(prog='rover-demo', description=__doc__.split('\n\n')[0])
    parser.add_argument('--fast', action='store_true',
                        help='5x simulated time, 0.1 s one-way delay, short CFDP timers')
    parser.add_argument('--delay', type=float, help='one-way delay, s (default 1.3)')
    parser.add_argument('--rate', type=float, default=1e6, help='line rate, bit/s (1e6)')
    parser.add_argument('--loss', type=float, default=0.1,
                        help='frame loss both ways during file transfers (0.1)')
    parser.add_argument('--time-scale', type=float, help='simulated rover s per wall s')
    parser.add_argument('--workdir', type=Path,
                        help='keep key, states, products and received files here')
    parser.add_argument('--show-hk', action='store_true', help='print housekeeping too')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; return its exit code."""
    args = build_parser().parse_args(argv)
    delay = args.delay if args.delay is not None else (0.1 if args.fast else 1.3)
    scale = args.time_scale if args.time_scale is not None else (5.0 if args.fast else 1.0)
    timer = max(1.0, 4.0 * delay)
    link = LinkSettings(delay_s=delay, rate_bps=args.rate, cfdp_timer_s=timer)
    printer = Printer(sys.stdout, show_hk=args.show_hk)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix='rover-demo-'))
    printer.line(f'rover-demo: standalone rover + lander bridge <-> link emulator '
                 f'({delay:.2f} s each way, {args.rate / 1e6:g} Mbit/s) <-> ground; '
                 f'rover time x{scale:g}; work dir {workdir}')
    system = LoopbackSystem(workdir, link=link, time_scale=scale, printer=printer)
    try:
        return run_scenario(system, printer, loss=args.loss, timeout=300.0)
    except KeyboardInterrupt:
        return 130
    finally:
        system.close()


if __name__ == '__main__':
    sys.exit(main())
