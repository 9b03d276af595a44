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
Emulated Dynamixel Protocol 2.0 motors (X-series control table subset) on a pseudo-terminal.

Tests and bench runs talk to it through the real ``dynamixel_sdk`` and pyserial stack: the
emulator opens a pty pair (``os.openpty()``), serves the master side from a thread, and the
code under test opens :attr:`DynamixelEmulator.port_name` (the slave) like a USB adapter.

What it implements, per motor id:

* instructions PING, READ, WRITE, SYNC READ, SYNC WRITE, REBOOT; real CRC-16 (polynomial
  0x8005) and byte stuffing both ways; an instruction with a bad CRC is answered with the CRC
  error code, an unknown instruction with the instruction error code;
* control table: model number, firmware, operating mode and velocity limit (EEPROM, writable
  only with torque off, else *access error*), torque enable, bus watchdog, goal
  velocity/position (a goal velocity beyond the limit gives *data limit error*), hardware
  error status, present current/velocity/position; read-only fields refuse writes;
* motion: velocity mode follows the goal with a first-order lag, position modes move to the
  goal at the profile velocity (or the velocity limit); positions are multi-turn; current is
  a friction-plus-load model; a *stalled* motor does not move and draws its stall current;
* hardware errors latch (torque off, alert bit in every status packet) until REBOOT;
* the bus watchdog stops a motor that hears no packet for its period (register reads -1).

Fault injection for tests: :meth:`inject_hardware_error`, :meth:`corrupt_replies`,
:meth:`set_silent`, :meth:`set_stalled`, :meth:`set_load_current`. Run it standalone for a bench
test of a node: ``python3 -m rover_common.dynamixel_emulator --ids 1 2 3 4``.
"""

import argparse
import errno
import math
import os
import select
import threading
import time
import tty
from typing import Callable, Dict, Iterable, Optional, Sequence

from rover_common.dynamixel_bus import (BUS_WATCHDOG_UNIT_S, Field, HardwareError,
                                        MotorModel, OperatingMode, XM430_W350, XSeries)

HEADER = bytes([0xFF, 0xFF, 0xFD, 0x00])
BROADCAST_ID = 0xFE

INST_PING = 0x01
INST_READ = 0x02
INST_WRITE = 0x03
INST_REBOOT = 0x08
INST_STATUS = 0x55
INST_SYNC_READ = 0x82
INST_SYNC_WRITE = 0x83

ERR_INSTRUCTION = 2
ERR_CRC = 3
ERR_DATA_RANGE = 4
ERR_DATA_LENGTH = 5
ERR_DATA_LIMIT = 6
ERR_ACCESS = 7
ALERT = 0x80

TABLE_SIZE = 147
FIRMWARE_VERSION = 46
#: Fields a host may write while torque is off (EEPROM area).
EEPROM_WRITABLE = (XSeries.RETURN_DELAY_TIME, XSeries.DRIVE_MODE, XSeries.OPERATING_MODE,
                   XSeries.CURRENT_LIMIT, XSeries.VELOCITY_LIMIT, XSeries.MAX_POSITION_LIMIT,
                   XSeries.MIN_POSITION_LIMIT)
#: Fields a host may write at any time (RAM area).
RAM_WRITABLE = (XSeries.TORQUE_ENABLE, XSeries.LED, XSeries.STATUS_RETURN_LEVEL,
                XSeries.BUS_WATCHDOG, XSeries.GOAL_PWM, XSeries.GOAL_CURRENT,
                XSeries.GOAL_VELOCITY, XSeries.PROFILE_ACCELERATION, XSeries.PROFILE_VELOCITY,
                XSeries.GOAL_POSITION)
VALID_MODES = {int(m) for m in OperatingMode}


def crc16(data: bytes) -> int:
    """Return the Protocol 2.0 CRC-16 (polynomial 0x8005, no reflection, initial 0)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def stuff(payload: bytes) -> bytes:
    """Insert 0xFD after every FF FF FD in ``payload`` (bytes after the length field)."""
    out = bytearray()
    for byte in payload:
        out.append(byte)
        if byte == 0xFD and len(out) >= 3 and out[-3] == 0xFF and out[-2] == 0xFF:
            out.append(0xFD)
    return bytes(out)


def unstuff(payload: bytes) -> bytes:
    """Remove the 0xFD that :func:`stuff` inserted."""
    out = bytearray()
    i = 0
    while i < len(payload):
        out.append(payload[i])
        if (payload[i] == 0xFD and len(out) >= 3 and out[-3] == 0xFF and out[-2] == 0xFF
                and i + 1 < len(payload) and payload[i + 1] == 0xFD):
            i += 1
        i += 1
    return bytes(out)


def build_packet(motor_id: int, instruction: int, params: bytes = b'') -> bytes:
    """Return a complete, stuffed packet with its CRC."""
    body = stuff(bytes([instruction]) + params)
    length = len(body) + 2
    head = HEADER + bytes([motor_id, length & 0xFF, length >> 8])
    crc = crc16(head + body)
    return head + body + bytes([crc & 0xFF, crc >> 8])


class EmulatedMotor:
    """One motor: a control table and a simple physical model."""

    def __init__(self, motor_id: int, model: MotorModel, *, time_constant: float,
                 velocity_limit: int, stall_current: float) -> None:
        self.motor_id = motor_id
        self.model = model
        self.table = bytearray(TABLE_SIZE)
        self.time_constant = time_constant
        self.stall_current = stall_current
        self.load_current = 0.0
        self.stalled = False
        self.silent = False
        self.position = 0.0  # rad, continuous
        self.velocity = 0.0  # rad/s
        self.last_packet_time: Optional[float] = None
        self._set(XSeries.MODEL_NUMBER, model.model_number)
        self._set(XSeries.FIRMWARE_VERSION, FIRMWARE_VERSION)
        self._set(XSeries.ID, motor_id)
        self._set(XSeries.OPERATING_MODE, int(OperatingMode.POSITION))
        self._set(XSeries.VELOCITY_LIMIT, velocity_limit)
        self._set(XSeries.MAX_POSITION_LIMIT, 4095)
        self._set(XSeries.STATUS_RETURN_LEVEL, 2)
        self._sync_present()

    def get(self, field: Field) -> int:
        """Return a field of the control table."""
        return field.decode(bytes(self.table), field.address)

    def _set(self, field: Field, value: int) -> None:
        self.table[field.address:field.address + field.size] = bytes(field.encode(value))

    @property
    def torque(self) -> bool:
        """Return whether torque is enabled."""
        return self.get(XSeries.TORQUE_ENABLE) == 1

    @property
    def hardware_error(self) -> HardwareError:
        """Return the latched hardware error bits."""
        return HardwareError(self.get(XSeries.HARDWARE_ERROR_STATUS))

    def status_error(self) -> int:
        """Return the alert bit for status packets."""
        return ALERT if self.hardware_error else 0

    def latch_hardware_error(self, flags: HardwareError) -> None:
        """Latch ``flags`` and shut the motor down, as the firmware does."""
        self._set(XSeries.HARDWARE_ERROR_STATUS, int(self.hardware_error | flags))
        self._set(XSeries.TORQUE_ENABLE, 0)

    def reboot(self) -> None:
        """Clear errors and goals; torque off; position back within one turn."""
        self._set(XSeries.HARDWARE_ERROR_STATUS, 0)
        self._set(XSeries.TORQUE_ENABLE, 0)
        self._set(XSeries.BUS_WATCHDOG, 0)
        self._set(XSeries.GOAL_VELOCITY, 0)
        self.velocity = 0.0
        self.position = math.fmod(self.position, 2.0 * math.pi)
        self._sync_present()

    def write(self, address: int, data: bytes) -> int:
        """Write ``data`` at ``address``; return a status error code (0 when done)."""
        if address + len(data) > TABLE_SIZE:
            return ERR_DATA_LENGTH
        touched = []
        for field in EEPROM_WRITABLE + RAM_WRITABLE:
            if address < field.address + field.size and field.address < address + len(data):
                if field.address < address or field.address + field.size > address + len(data):
                    return ERR_DATA_LENGTH
                touched.append(field)
        if sum(f.size for f in touched) != len(data):
            return ERR_ACCESS
        for field in touched:
            value = field.decode(data, field.address - address)
            code = self._check_write(field, value)
            if code:
                return code
        for field in touched:
            self._apply_write(field, field.decode(data, field.address - address))
        return 0

    def _check_write(self, field: Field, value: int) -> int:
        if field in EEPROM_WRITABLE and self.torque:
            return ERR_ACCESS
        if field == XSeries.OPERATING_MODE and value not in VALID_MODES:
            return ERR_DATA_RANGE
        if field == XSeries.TORQUE_ENABLE and value not in (0, 1):
            return ERR_DATA_RANGE
        if field == XSeries.TORQUE_ENABLE and value == 1 and self.hardware_error:
            return ERR_ACCESS
        if field == XSeries.BUS_WATCHDOG and not 0 <= value <= 127:
            return ERR_DATA_RANGE
        if field in (XSeries.GOAL_VELOCITY, XSeries.GOAL_POSITION):
            if self.get(XSeries.BUS_WATCHDOG) < 0:
                return ERR_DATA_RANGE
        if field == XSeries.GOAL_VELOCITY and abs(value) > self.get(XSeries.VELOCITY_LIMIT):
            return ERR_DATA_LIMIT
        return 0

    def _apply_write(self, field: Field, value: int) -> None:
        self._set(field, value)

    def advance(self, dt: float) -> None:
        """Move the physical model on by ``dt`` seconds."""
        if dt <= 0.0:
            return
        mode = self.get(XSeries.OPERATING_MODE)
        limit = self.get(XSeries.VELOCITY_LIMIT) * self.model.velocity_unit
        if not self.torque or self.stalled:
            target = 0.0
        elif mode == OperatingMode.VELOCITY:
            target = self.get(XSeries.GOAL_VELOCITY) * self.model.velocity_unit
        elif mode in (OperatingMode.POSITION, OperatingMode.EXTENDED_POSITION,
                      OperatingMode.CURRENT_BASED_POSITION):
            profile = self.get(XSeries.PROFILE_VELOCITY) * self.model.velocity_unit
            speed = profile if profile > 0.0 else limit
            error = self.get(XSeries.GOAL_POSITION) * self.model.position_unit - self.position
            # reach the goal exactly instead of oscillating around it
            target = max(-speed, min(speed, error / dt))
        else:
            target = 0.0
        if self.stalled or mode != OperatingMode.VELOCITY:
            self.velocity = target
        else:
            alpha = 1.0 - math.exp(-dt / self.time_constant)
            self.velocity += (target - self.velocity) * alpha
        self.position += self.velocity * dt
        self._sync_present()

    def _sync_present(self) -> None:
        if self.stalled and self.torque:
            current = self.stall_current
        elif self.torque:
            current = 0.05 + 0.02 * abs(self.velocity) + self.load_current
        else:
            current = 0.0
        sign = -1.0 if self.velocity < 0.0 else 1.0
        self._set(XSeries.PRESENT_CURRENT, int(round(sign * current / self.model.current_unit)))
        self._set(XSeries.PRESENT_VELOCITY, self.model.velocity_to_raw(self.velocity))
        self._set(XSeries.PRESENT_POSITION, self.model.position_to_raw(self.position))
        self._set(XSeries.MOVING, 1 if abs(self.velocity) > 1e-3 else 0)

    def check_watchdog(self, now: float) -> None:
        """Stop the motor when the bus watchdog period passed without a packet."""
        counts = self.get(XSeries.BUS_WATCHDOG)
        if counts > 0 and self.last_packet_time is not None:
            if now - self.last_packet_time > counts * BUS_WATCHDOG_UNIT_S:
                self._set(XSeries.BUS_WATCHDOG, -1)
                self._set(XSeries.GOAL_VELOCITY, 0)


class DynamixelEmulator:
    """
    Several emulated motors sharing one pty-backed bus.

    :param motor_ids: ids of the motors on the bus.
    :param model: model number and units they report (XM430-W350 by default).
    :param clock: monotonic time source in seconds (the physics advances on it).
    :param time_constant: first-order lag of the velocity loop (s).
    :param velocity_limit: Velocity Limit register default (counts).
    :param stall_current: current drawn by a stalled motor (A).
    """

    def __init__(self, motor_ids: Iterable[int], *, model: MotorModel = XM430_W350,
                 clock: Callable[[], float] = time.monotonic, time_constant: float = 0.05,
                 velocity_limit: int = 200, stall_current: float = 1.4) -> None:
        self._motors: Dict[int, EmulatedMotor] = {
            i: EmulatedMotor(i, model, time_constant=time_constant,
                             velocity_limit=velocity_limit, stall_current=stall_current)
            for i in motor_ids}
        self._clock = clock
        self._last_time = clock()
        self._corrupt_budget = 0
        self._corrupt_motor: Optional[int] = None
        self._buffer = bytearray()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._master: Optional[int] = None
        self._slave: Optional[int] = None
        self.port_name = ''
        self.packets_received = 0
        self.crc_errors_received = 0

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> 'DynamixelEmulator':
        """Open the pty pair and serve it from a daemon thread."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port_name = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name='dynamixel-emulator',
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the pty (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def __enter__(self) -> 'DynamixelEmulator':
        """Start the emulator."""
        return self.start()

    def __exit__(self, *exc) -> None:
        """Stop the emulator."""
        self.stop()

    # ---- inspection and fault injection --------------------------------------------------
    def motor(self, motor_id: int) -> EmulatedMotor:
        """Return the emulated motor with this id, for inspection."""
        return self._motors[motor_id]

    def inject_hardware_error(self, motor_id: int,
                              flags: HardwareError = HardwareError.OVERLOAD) -> None:
        """Latch a hardware error in one motor (torque off, alert bit until reboot)."""
        with self._lock:
            self._motors[motor_id].latch_hardware_error(flags)

    def corrupt_replies(self, count: int, motor_id: Optional[int] = None) -> None:
        """Send the next ``count`` status packets (of ``motor_id``, or any) with a bad CRC."""
        with self._lock:
            self._corrupt_budget = count
            self._corrupt_motor = motor_id

    def set_silent(self, motor_id: int, silent: bool = True) -> None:
        """Make one motor ignore every packet (as if unplugged)."""
        with self._lock:
            self._motors[motor_id].silent = silent

    def set_stalled(self, motor_id: int, stalled: bool = True) -> None:
        """Block one motor mechanically: it does not move and draws its stall current."""
        with self._lock:
            self._motors[motor_id].stalled = stalled

    def set_load_current(self, motor_id: int, amps: float) -> None:
        """Add a load current (A) to what one motor reports while torque is on."""
        with self._lock:
            self._motors[motor_id].load_current = amps

    def advance(self, now: Optional[float] = None) -> None:
        """Bring the physics up to ``now`` (default: the clock)."""
        with self._lock:
            now = self._clock() if now is None else now
            dt = min(now - self._last_time, 0.5)
            self._last_time = now
            for motor in self._motors.values():
                motor.check_watchdog(now)
                motor.advance(dt)

    # ---- protocol -----------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Consume bytes from the host; return the bytes the motors answer."""
        with self._lock:
            self._buffer.extend(data)
            out = bytearray()
            while True:
                packet = self._take_packet()
                if packet is None:
                    return bytes(out)
                out.extend(self._handle(*packet))

    def _take_packet(self):
        buf = self._buffer
        while True:
            start = buf.find(HEADER)
            if start < 0:
                del buf[:max(0, len(buf) - 3)]
                return None
            del buf[:start]
            if len(buf) < 7:
                return None
            length = buf[5] | (buf[6] << 8)
            if length < 3 or length > 1024:
                del buf[:1]
                continue
            if len(buf) < 7 + length:
                return None
            raw = bytes(buf[:7 + length])
            del buf[:7 + length]
            crc_ok = crc16(raw[:-2]) == (raw[-2] | (raw[-1] << 8))
            body = unstuff(raw[7:-2])
            return raw[4], body[0], body[1:], crc_ok

    def _handle(self, motor_id: int, instruction: int, params: bytes, crc_ok: bool) -> bytes:
        self.packets_received += 1
        now = self._clock()
        self.advance(now)
        targets = [m for m in self._motors.values()
                   if not m.silent and (motor_id == BROADCAST_ID or m.motor_id == motor_id)]
        for motor in targets:
            motor.last_packet_time = now
        if not crc_ok:
            self.crc_errors_received += 1
            return b''.join(self._status(m, ERR_CRC) for m in targets
                            if motor_id != BROADCAST_ID)
        if motor_id == BROADCAST_ID:
            if instruction == INST_SYNC_WRITE:
                self._sync_write(params)
                return b''
            if instruction == INST_SYNC_READ:
                return self._sync_read(params)
            return b''
        if not targets:
            return b''
        motor = targets[0]
        if instruction == INST_PING:
            info = XSeries.MODEL_NUMBER.encode(motor.get(XSeries.MODEL_NUMBER))
            return self._status(motor, 0, bytes(info + [FIRMWARE_VERSION]))
        if instruction == INST_READ:
            if len(params) != 4:
                return self._status(motor, ERR_DATA_LENGTH)
            address = params[0] | (params[1] << 8)
            size = params[2] | (params[3] << 8)
            if address + size > TABLE_SIZE:
                return self._status(motor, ERR_DATA_LENGTH)
            return self._status(motor, 0, bytes(motor.table[address:address + size]))
        if instruction == INST_WRITE:
            if len(params) < 3:
                return self._status(motor, ERR_DATA_LENGTH)
            code = motor.write(params[0] | (params[1] << 8), params[2:])
            return self._status(motor, code)
        if instruction == INST_REBOOT:
            motor.reboot()
            return self._status(motor, 0)
        return self._status(motor, ERR_INSTRUCTION)

    def _sync_write(self, params: bytes) -> None:
        if len(params) < 4:
            return
        address = params[0] | (params[1] << 8)
        size = params[2] | (params[3] << 8)
        entries = params[4:]
        for i in range(0, len(entries) - size, size + 1):
            motor = self._motors.get(entries[i])
            if motor is not None and not motor.silent:
                motor.write(address, entries[i + 1:i + 1 + size])

    def _sync_read(self, params: bytes) -> bytes:
        if len(params) < 5:
            return b''
        address = params[0] | (params[1] << 8)
        size = params[2] | (params[3] << 8)
        out = bytearray()
        for motor_id in params[4:]:
            motor = self._motors.get(motor_id)
            if motor is None or motor.silent or address + size > TABLE_SIZE:
                continue
            out.extend(self._status(motor, 0, bytes(motor.table[address:address + size])))
        return bytes(out)

    def _status(self, motor: EmulatedMotor, code: int, params: bytes = b'') -> bytes:
        packet = build_packet(motor.motor_id, INST_STATUS,
                              bytes([code | motor.status_error()]) + params)
        if self._corrupt_budget > 0 and self._corrupt_motor in (None, motor.motor_id):
            self._corrupt_budget -= 1
            packet = packet[:-1] + bytes([packet[-1] ^ 0xFF])
        return packet

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.02)
            if not ready:
                self.advance()
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                time.sleep(0.01)
                continue
            reply = self.feed(data)
            if reply:
                os.write(self._master, reply)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Serve emulated motors until Ctrl-C; print the port to open."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--ids', type=int, nargs='+', default=[1, 2, 3, 4],
                        help='motor ids on the bus')
    args = parser.parse_args(argv)
    with DynamixelEmulator(args.ids) as emulator:
        print(f'emulating motors {args.ids} on {emulator.port_name}', flush=True)
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass


if __name__ == '__main__':
    main()
