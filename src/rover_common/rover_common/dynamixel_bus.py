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
A Dynamixel Protocol 2.0 bus (X-series motors) over a serial port, through ``dynamixel_sdk``.

Why a wrapper: the SDK reports every outcome as an integer result plus an error byte, reads
zeros when a sync read failed, and drops the status error byte (the hardware *alert* bit) in
``GroupSyncRead``. This module turns those into typed exceptions (:class:`BusTimeout`,
:class:`ChecksumError`, :class:`DeviceError`), keeps counters, and reports the alert bit of
every status packet, so the callers (the wheels of ``rover_drive``, the shovel servo) can
implement their fault policy on clear facts.

Layers:

* :class:`DynamixelBus`: one port, raw control-table fields (ping, read, write, sync read,
  sync write, reboot). Thread-safe: one lock serialises every transaction.
* :class:`MotorGroup`: several motors in one operating mode with SI units (rad, rad/s, A):
  configure (torque off, mode, bus watchdog, torque on), write goal velocities or positions,
  read position/velocity/current with the alert flag, read hardware errors, reboot.

Only the control-table subset the rover uses is defined (:class:`XSeries`); it is common to
XM430/XM540/XW430 motors. Units come from a :class:`MotorModel` (XM430-W350 by default).
"""

from dataclasses import dataclass
import enum
import math
import threading
from typing import Dict, List, Mapping, Optional, Sequence

import dynamixel_sdk

#: Status error byte: bit 7 says the motor has a hardware error (see HARDWARE_ERROR_STATUS).
ALERT_BIT = 0x80

#: Status error codes (low 7 bits of the status error byte), Protocol 2.0.
DEVICE_ERRORS = {
    1: 'result fail',
    2: 'instruction error',
    3: 'CRC error',
    4: 'data range error',
    5: 'data length error',
    6: 'data limit error',
    7: 'access error',
}


class DynamixelError(Exception):
    """A bus transaction failed; ``motor_id`` names the motor when one is known."""

    def __init__(self, message: str, motor_id: Optional[int] = None) -> None:
        super().__init__(message)
        self.motor_id = motor_id


class PortError(DynamixelError):
    """The serial port could not be opened or written."""


class BusTimeout(DynamixelError):
    """A motor did not answer within the packet timeout."""


class ChecksumError(DynamixelError):
    """A status packet arrived corrupt (bad CRC or truncated)."""


class DeviceError(DynamixelError):
    """A motor answered with an error code (the instruction was refused)."""

    def __init__(self, message: str, motor_id: Optional[int], code: int) -> None:
        super().__init__(message, motor_id)
        self.code = code


class HardwareError(enum.IntFlag):
    """Bits of the Hardware Error Status register (address 70)."""

    NONE = 0
    INPUT_VOLTAGE = 0x01
    OVERHEATING = 0x04
    MOTOR_ENCODER = 0x08
    ELECTRICAL_SHOCK = 0x10
    OVERLOAD = 0x20

    def describe(self) -> str:
        """Return the set bits as words, e.g. ``overload, overheating``."""
        names = [flag.name.lower().replace('_', ' ') for flag in HardwareError
                 if flag and flag in self]
        return ', '.join(names) if names else 'none'


class OperatingMode(enum.IntEnum):
    """Values of the Operating Mode register (address 11)."""

    CURRENT = 0
    VELOCITY = 1
    POSITION = 3
    EXTENDED_POSITION = 4
    CURRENT_BASED_POSITION = 5
    PWM = 16


@dataclass(frozen=True)
class Field:
    """One control-table entry: address, size in bytes, and whether it is two's complement."""

    name: str
    address: int
    size: int
    signed: bool = False

    def decode(self, data: bytes, offset: int = 0) -> int:
        """Return the value of this field from ``data`` (little endian) at ``offset``."""
        return int.from_bytes(data[offset:offset + self.size], 'little', signed=self.signed)

    def encode(self, value: int) -> List[int]:
        """Return ``value`` as little-endian bytes; OverflowError when it does not fit."""
        return list(int(value).to_bytes(self.size, 'little', signed=self.signed))


class XSeries:
    """Control-table fields of X-series motors (XM430, XM540) used by the rover."""

    MODEL_NUMBER = Field('model_number', 0, 2)
    FIRMWARE_VERSION = Field('firmware_version', 6, 1)
    ID = Field('id', 7, 1)
    RETURN_DELAY_TIME = Field('return_delay_time', 9, 1)
    DRIVE_MODE = Field('drive_mode', 10, 1)
    OPERATING_MODE = Field('operating_mode', 11, 1)
    CURRENT_LIMIT = Field('current_limit', 38, 2)
    VELOCITY_LIMIT = Field('velocity_limit', 44, 4)
    MAX_POSITION_LIMIT = Field('max_position_limit', 48, 4)
    MIN_POSITION_LIMIT = Field('min_position_limit', 52, 4)
    TORQUE_ENABLE = Field('torque_enable', 64, 1)
    LED = Field('led', 65, 1)
    STATUS_RETURN_LEVEL = Field('status_return_level', 68, 1)
    HARDWARE_ERROR_STATUS = Field('hardware_error_status', 70, 1)
    BUS_WATCHDOG = Field('bus_watchdog', 98, 1, signed=True)
    GOAL_PWM = Field('goal_pwm', 100, 2, signed=True)
    GOAL_CURRENT = Field('goal_current', 102, 2, signed=True)
    GOAL_VELOCITY = Field('goal_velocity', 104, 4, signed=True)
    PROFILE_ACCELERATION = Field('profile_acceleration', 108, 4)
    PROFILE_VELOCITY = Field('profile_velocity', 112, 4)
    GOAL_POSITION = Field('goal_position', 116, 4, signed=True)
    MOVING = Field('moving', 122, 1)
    PRESENT_CURRENT = Field('present_current', 126, 2, signed=True)
    PRESENT_VELOCITY = Field('present_velocity', 128, 4, signed=True)
    PRESENT_POSITION = Field('present_position', 132, 4, signed=True)
    PRESENT_INPUT_VOLTAGE = Field('present_input_voltage', 144, 2)
    PRESENT_TEMPERATURE = Field('present_temperature', 146, 1)

    @classmethod
    def fields(cls) -> List[Field]:
        """Return every field, sorted by address."""
        found = [v for v in vars(cls).values() if isinstance(v, Field)]
        return sorted(found, key=lambda f: f.address)


#: Bus watchdog unit (s per count of BUS_WATCHDOG); -1 in that register means it expired.
BUS_WATCHDOG_UNIT_S = 0.020


@dataclass(frozen=True)
class MotorModel:
    """Units of one motor model: raw register counts to SI."""

    name: str
    model_number: int
    velocity_unit: float
    position_unit: float
    current_unit: float

    def velocity_to_raw(self, rad_s: float) -> int:
        """Return the Goal Velocity count nearest ``rad_s``."""
        return int(round(rad_s / self.velocity_unit))

    def position_to_raw(self, rad: float) -> int:
        """Return the Goal Position count nearest ``rad``."""
        return int(round(rad / self.position_unit))


#: XM430-W350: 0.229 rpm, 4096 counts per turn, 2.69 mA per count.
XM430_W350 = MotorModel(name='XM430-W350', model_number=1020,
                        velocity_unit=0.229 * 2.0 * math.pi / 60.0,
                        position_unit=2.0 * math.pi / 4096.0,
                        current_unit=0.00269)


@dataclass
class BusCounters:
    """Totals since the bus was opened (for diagnostics)."""

    transactions: int = 0
    timeouts: int = 0
    checksum_errors: int = 0
    device_errors: int = 0
    alerts: int = 0


@dataclass(frozen=True)
class SyncBlock:
    """What one motor returned to a sync read: field values and its alert bit."""

    motor_id: int
    values: Dict[str, int]
    alert: bool


class _PortWithMargin(dynamixel_sdk.PortHandler):
    """The SDK's port, with a margin on every packet timeout (the SDK's is a fixed formula)."""

    def __init__(self, port_name: str, margin_s: float) -> None:
        super().__init__(port_name)
        self._margin_ms = margin_s * 1000.0

    def setPacketTimeout(self, packet_length: int) -> None:  # noqa: N802 (SDK name)
        """Start the packet timer with the SDK's timeout plus the margin."""
        super().setPacketTimeout(packet_length)
        self.packet_timeout += self._margin_ms


class DynamixelBus:
    """
    One Protocol 2.0 serial bus.

    :param port_name: serial device, e.g. ``/dev/ttyUSB0`` or a pty slave in tests.
    :param baudrate: one of the rates the SDK supports (1 Mbps is the X-series default).
    :param timeout_margin: seconds added to the SDK's packet timeout (about 34 ms for a
        short packet at 1 Mbps), for adapters with a slow USB latency timer or a loaded host.
    :param retries: extra attempts of an acknowledged transaction (ping, read, write,
        reboot: all idempotent) after a timeout or checksum error; sync reads and writes are
        never retried, their callers decide what a missed cycle means.
    """

    def __init__(self, port_name: str, *, baudrate: int = 1_000_000, retries: int = 2,
                 timeout_margin: float = 0.0) -> None:
        self._retries = retries
        self._port = _PortWithMargin(port_name, timeout_margin)
        self._packets = dynamixel_sdk.PacketHandler(2.0)
        self._baudrate = baudrate
        self._lock = threading.Lock()
        self._alerting: set = set()
        self.counters = BusCounters()

    @property
    def port_name(self) -> str:
        """Return the serial device name."""
        return self._port.getPortName()

    @property
    def is_open(self) -> bool:
        """Return whether the port is open."""
        return bool(self._port.is_open)

    @property
    def alerting(self) -> frozenset:
        """Return the ids whose last status packet had the alert (hardware error) bit."""
        return frozenset(self._alerting)

    def connect(self) -> None:
        """Open the port at the baud rate; PortError says why it could not."""
        try:
            ok = self._port.openPort() and self._port.setBaudRate(self._baudrate)
        except OSError as exc:  # pyserial raises SerialException, an OSError
            raise PortError(f'cannot open {self.port_name}: {exc}') from exc
        if not ok:
            raise PortError(f'cannot open {self.port_name} at {self._baudrate} baud')

    def close(self) -> None:
        """Close the port (idempotent)."""
        with self._lock:
            if self._port.is_open:
                self._port.closePort()

    def __enter__(self) -> 'DynamixelBus':
        """Open the port."""
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        """Close the port."""
        self.close()

    def ping(self, motor_id: int) -> int:
        """Return the model number of ``motor_id``."""
        def attempt():
            model, result, error = self._packets.ping(self._port, motor_id)
            self._check(result, error, motor_id, 'ping')
            return model
        return self._retrying(attempt)

    def read(self, motor_id: int, field: Field) -> int:
        """Return the value of ``field`` of one motor."""
        def attempt():
            data, result, error = self._packets.readTxRx(
                self._port, motor_id, field.address, field.size)
            self._check(result, error, motor_id, f'read {field.name}')
            return field.decode(bytes(data))
        return self._retrying(attempt)

    def write(self, motor_id: int, field: Field, value: int) -> None:
        """Write ``value`` to ``field`` of one motor and wait for its status packet."""
        data = field.encode(value)

        def attempt():
            result, error = self._packets.writeTxRx(
                self._port, motor_id, field.address, field.size, data)
            self._check(result, error, motor_id, f'write {field.name}={value}')
        self._retrying(attempt)

    def reboot(self, motor_id: int) -> None:
        """Reboot one motor: clears its hardware error; torque is off afterwards."""
        def attempt():
            result, error = self._packets.reboot(self._port, motor_id)
            self._check(result, error, motor_id, 'reboot', ignore_alert=True)
        self._retrying(attempt)

    def _retrying(self, attempt):
        with self._lock:
            retries = self._retries
            while True:
                try:
                    return attempt()
                except (BusTimeout, ChecksumError):
                    if retries == 0:
                        raise
                    retries -= 1

    def sync_write(self, field: Field, values: Mapping[int, int]) -> None:
        """
        Write one field of several motors in one packet (no status comes back).

        :raises OverflowError: a value does not fit the field.
        """
        group = dynamixel_sdk.GroupSyncWrite(self._port, self._packets, field.address,
                                             field.size)
        for motor_id, value in values.items():
            group.addParam(motor_id, field.encode(value))
        with self._lock:
            result = group.txPacket()
            self.counters.transactions += 1
            if result != dynamixel_sdk.COMM_SUCCESS:
                raise PortError(f'sync write {field.name}: '
                                f'{self._packets.getTxRxResult(result)}')

    def sync_read(self, motor_ids: Sequence[int], fields: Sequence[Field]
                  ) -> Dict[int, SyncBlock]:
        """
        Read the block spanning ``fields`` from every motor in one sync-read transaction.

        The status packets are read one by one (not through ``GroupSyncRead.rxPacket``) so the
        alert bit of each is kept. Either every motor answers or the call raises.
        """
        start = min(f.address for f in fields)
        end = max(f.address + f.size for f in fields)
        group = dynamixel_sdk.GroupSyncRead(self._port, self._packets, start, end - start)
        for motor_id in motor_ids:
            group.addParam(motor_id)
        blocks = {}
        with self._lock:
            result = group.txPacket()
            if result != dynamixel_sdk.COMM_SUCCESS:
                self._port.is_using = False
                raise PortError(f'sync read: {self._packets.getTxRxResult(result)}')
            self.counters.transactions += 1
            for motor_id in motor_ids:
                data, result, error = self._packets.readRx(self._port, motor_id, end - start)
                self._check(result, error, motor_id, 'sync read', count=False)
                if len(data) != end - start:
                    self.counters.checksum_errors += 1
                    raise ChecksumError(f'sync read: short answer from motor {motor_id}',
                                        motor_id)
                raw = bytes(data)
                values = {f.name: f.decode(raw, f.address - start) for f in fields}
                blocks[motor_id] = SyncBlock(motor_id, values, bool(error & ALERT_BIT))
        return blocks

    def _check(self, result: int, error: int, motor_id: int, what: str, *,
               count: bool = True, ignore_alert: bool = False) -> None:
        if count:
            self.counters.transactions += 1
        if result == dynamixel_sdk.COMM_RX_TIMEOUT:
            self.counters.timeouts += 1
            raise BusTimeout(f'{what}: no answer from motor {motor_id}', motor_id)
        if result == dynamixel_sdk.COMM_RX_CORRUPT:
            self.counters.checksum_errors += 1
            raise ChecksumError(f'{what}: corrupt answer from motor {motor_id}', motor_id)
        if result != dynamixel_sdk.COMM_SUCCESS:
            raise PortError(f'{what} (motor {motor_id}): '
                            f'{self._packets.getTxRxResult(result)}', motor_id)
        if error & ALERT_BIT and not ignore_alert:
            if motor_id not in self._alerting:
                self.counters.alerts += 1
            self._alerting.add(motor_id)
        else:
            self._alerting.discard(motor_id)
        code = error & ~ALERT_BIT
        if code:
            self.counters.device_errors += 1
            meaning = DEVICE_ERRORS.get(code, f'error code {code}')
            raise DeviceError(f'{what}: motor {motor_id} answered {meaning}', motor_id, code)


@dataclass(frozen=True)
class MotorState:
    """Measured state of one motor, in SI units."""

    motor_id: int
    position: float
    velocity: float
    current: float
    alert: bool
    watchdog_expired: bool


_STATE_FIELDS = (XSeries.BUS_WATCHDOG, XSeries.PRESENT_CURRENT, XSeries.PRESENT_VELOCITY,
                 XSeries.PRESENT_POSITION)


class MotorGroup:
    """
    Several motors on one bus in one operating mode, written and read together in SI units.

    :param bus: an open bus.
    :param motor_ids: the motors, in the order the caller's arrays use.
    :param mode: the operating mode :meth:`configure` sets.
    :param model: units of the motors.
    :param directions: +1 or -1 per motor, to mirror motors mounted the other way round.
    :param bus_watchdog_s: the motors stop on their own after this long without a packet
        (0 disables; at most 127 * 20 ms).
    """

    def __init__(self, bus: DynamixelBus, motor_ids: Sequence[int], mode: OperatingMode, *,
                 model: MotorModel = XM430_W350, directions: Optional[Sequence[int]] = None,
                 bus_watchdog_s: float = 0.0) -> None:
        if not motor_ids or len(set(motor_ids)) != len(motor_ids):
            raise ValueError(f'motor ids must be unique and not empty, got {list(motor_ids)}')
        if any(not 0 <= i <= 252 for i in motor_ids):
            raise ValueError(f'motor ids must be in 0..252, got {list(motor_ids)}')
        directions = list(directions) if directions is not None else [1] * len(motor_ids)
        if len(directions) != len(motor_ids) or any(d not in (1, -1) for d in directions):
            raise ValueError(f'directions must be +1/-1, one per motor, got {directions}')
        watchdog_counts = int(round(bus_watchdog_s / BUS_WATCHDOG_UNIT_S))
        if not 0 <= watchdog_counts <= 127:
            raise ValueError(f'bus_watchdog_s must be in 0..2.54 s, got {bus_watchdog_s}')
        self._bus = bus
        self._ids = list(motor_ids)
        self._mode = mode
        self._model = model
        self._directions = directions
        self._watchdog_counts = watchdog_counts
        self._velocity_limits: Dict[int, float] = {}

    @property
    def motor_ids(self) -> List[int]:
        """Return the motor ids in caller order."""
        return list(self._ids)

    @property
    def velocity_limit(self) -> float:
        """Return the smallest Velocity Limit of the group (rad/s), known after configure."""
        if not self._velocity_limits:
            raise RuntimeError('velocity limit unknown: call configure() first')
        return min(self._velocity_limits.values())

    def configure(self) -> None:
        """
        Ping every motor, check its model, set mode and bus watchdog, enable torque.

        :raises DeviceError: a motor of another model (its number is in the message).
        """
        for motor_id in self._ids:
            model = self._bus.ping(motor_id)
            if model != self._model.model_number:
                raise DeviceError(f'motor {motor_id} is model {model}, expected '
                                  f'{self._model.name} ({self._model.model_number})',
                                  motor_id, 0)
            self._bus.write(motor_id, XSeries.TORQUE_ENABLE, 0)
            self._bus.write(motor_id, XSeries.BUS_WATCHDOG, 0)
            self._bus.write(motor_id, XSeries.OPERATING_MODE, int(self._mode))
            limit = self._bus.read(motor_id, XSeries.VELOCITY_LIMIT)
            self._velocity_limits[motor_id] = limit * self._model.velocity_unit
            if self._mode == OperatingMode.VELOCITY:
                self._bus.write(motor_id, XSeries.GOAL_VELOCITY, 0)
            self._bus.write(motor_id, XSeries.TORQUE_ENABLE, 1)
            if self._watchdog_counts:
                self._bus.write(motor_id, XSeries.BUS_WATCHDOG, self._watchdog_counts)

    def set_torque(self, enabled: bool) -> None:
        """Enable or disable torque of every motor (one write per motor, acknowledged)."""
        for motor_id in self._ids:
            self._bus.write(motor_id, XSeries.TORQUE_ENABLE, 1 if enabled else 0)

    def write_velocities(self, velocities: Sequence[float]) -> None:
        """
        Sync-write goal velocities (rad/s, caller order) to every motor.

        :raises ValueError: a value beyond the motors' Velocity Limit (a motor would ignore it
            silently, since a sync write has no answer).
        """
        if len(velocities) != len(self._ids):
            raise ValueError(f'expected {len(self._ids)} velocities, got {len(velocities)}')
        limit = self.velocity_limit
        raw = {}
        for motor_id, direction, value in zip(self._ids, self._directions, velocities):
            if not math.isfinite(value) or abs(value) > limit:
                raise ValueError(f'velocity {value} rad/s for motor {motor_id} exceeds the '
                                 f'velocity limit {limit:.3f} rad/s')
            raw[motor_id] = self._model.velocity_to_raw(direction * value)
        self._bus.sync_write(XSeries.GOAL_VELOCITY, raw)

    def write_positions(self, positions: Sequence[float]) -> None:
        """Sync-write goal positions (rad, caller order) to every motor."""
        if len(positions) != len(self._ids):
            raise ValueError(f'expected {len(self._ids)} positions, got {len(positions)}')
        raw = {motor_id: self._model.position_to_raw(direction * value)
               for motor_id, direction, value in zip(self._ids, self._directions, positions)}
        self._bus.sync_write(XSeries.GOAL_POSITION, raw)

    def read_state(self) -> List[MotorState]:
        """Sync-read position, velocity and current of every motor (caller order)."""
        blocks = self._bus.sync_read(self._ids, _STATE_FIELDS)
        states = []
        for motor_id, direction in zip(self._ids, self._directions):
            block = blocks[motor_id]
            v = block.values
            states.append(MotorState(
                motor_id=motor_id,
                position=direction * v['present_position'] * self._model.position_unit,
                velocity=direction * v['present_velocity'] * self._model.velocity_unit,
                current=direction * v['present_current'] * self._model.current_unit,
                alert=block.alert,
                watchdog_expired=v['bus_watchdog'] < 0))
        return states

    def hardware_errors(self, motor_ids: Optional[Sequence[int]] = None
                        ) -> Dict[int, HardwareError]:
        """Return the Hardware Error Status of the given motors (default: all)."""
        ids = self._ids if motor_ids is None else motor_ids
        return {i: HardwareError(self._bus.read(i, XSeries.HARDWARE_ERROR_STATUS))
                for i in ids}

    def reboot(self, motor_ids: Optional[Sequence[int]] = None) -> None:
        """Reboot the given motors (default: all); call :meth:`configure` afterwards."""
        for motor_id in (self._ids if motor_ids is None else motor_ids):
            self._bus.reboot(motor_id)
