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
The ground's command set: typed commands, their PUS application data, and limit checks.

A command is a frozen dataclass. :func:`encode` gives the (service, subtype, app data) of its
PUS TC; :func:`decode` is the exact inverse and refuses anything else with a
:class:`CommandError` carrying the ST[1] error code and a reason. :func:`validate` checks
every argument against :class:`CommandLimits` before anything moves: the rover enforces the
limits, it never trusts the sender. There is deliberately no velocity command: the ground
can only ask for bounded moves (a distance, an angle, a shovel pose).

Layouts (big-endian; ``docs/lander_link.md`` has the full table):

=============================  ====================================================
TC                             application data
=============================  ====================================================
[17,1] ping                    (none)
[8,1] DRIVE (1)                fn u8, distance f64 m, speed f64 m/s
[8,1] TURN (2)                 fn u8, angle f64 rad (CCW +), rate f64 rad/s
[8,1] STOP/ESTOP/RELEASE       fn u8 (3, 4, 5)
[8,1] MOVE_SHOVEL (6)          fn u8, pose u8, angle f64 rad, max_velocity f64 rad/s
[8,1] STOW_SHOVEL (7)          fn u8
[8,1] COLLECT_SAMPLE (8)       fn u8, dig_distance f64 m, dump_after u8
[8,1] CAPTURE (9)              fn u8, camera u8, jpeg_quality u8, thumbnail_width u16
[8,1] LIST_PRODUCTS (10)       fn u8, only_pending u8, max_count u8
[8,1] DOWNLINK_PRODUCT (11)    fn u8, variant u8, product id str8
[8,1] CLEAR_FAULT (12)         fn u8, target u8
[3,5] / [3,6] / [3,27]         n u8, n x SID u8
[3,31]                         n u8, n x (SID u8, interval u32 ms)
[9,1]                          exponent u8 (report every 2**n s; 255 = off)
[9,128]                        (none)
=============================  ====================================================
"""

from dataclasses import dataclass
import math
import re
import struct
from typing import Callable, Dict, Optional, Tuple, Type, Union

from rover_link.protocol import (Camera, ErrorCode, FaultTarget, FunctionId, FunctionSubtype,
                                 HkSet, HkSubtype, pack_str8, ProtocolError, Service, ShovelPose,
                                 TestSubtype, TimeSubtype, unpack_str8, Variant)


class CommandError(Exception):
    """A telecommand that must not be executed; ``code`` goes into its failure report."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = ErrorCode(code)
        self.reason = reason


# -- the commands ------------------------------------------------------------------------


@dataclass(frozen=True)
class Ping:
    """TC[17,1] are-you-alive; answered by TM[17,2]. Also the ground's heartbeat."""


@dataclass(frozen=True)
class Drive:
    """Drive straight a signed distance (m, + forward) at a speed magnitude (m/s)."""

    distance: float
    speed: float


@dataclass(frozen=True)
class Turn:
    """Turn in place by a signed angle (rad, + counter-clockwise) at a rate (rad/s)."""

    angle: float
    rate: float


@dataclass(frozen=True)
class Stop:
    """Stop driving now (the active move ends; the shovel is not touched)."""


@dataclass(frozen=True)
class EStop:
    """Latch the emergency stop: all motion stops until RELEASE."""


@dataclass(frozen=True)
class Release:
    """Release the e-stop and the link-loss safing latch: the rover may move on command."""


@dataclass(frozen=True)
class MoveShovel:
    """Move the shovel to a named pose, or to ``angle`` (rad) when the pose is ANGLE."""

    pose: ShovelPose
    angle: float = 0.0
    max_velocity: float = 0.0


@dataclass(frozen=True)
class StowShovel:
    """Stow the shovel against the back panel."""


@dataclass(frozen=True)
class CollectSample:
    """Run the sample sequence; ``dig_distance`` 0 uses the rover's default (m)."""

    dig_distance: float = 0.0
    dump_after: bool = False


@dataclass(frozen=True)
class Capture:
    """Capture stills (stored with thumbnails); 0 for quality or width uses the default."""

    camera: Camera = Camera.BOTH
    jpeg_quality: int = 0
    thumbnail_width: int = 0


@dataclass(frozen=True)
class ListProducts:
    """Report catalog entries, newest first (TM[8,130]); ``max_count`` 0 uses the default."""

    only_pending: bool = False
    max_count: int = 0


@dataclass(frozen=True)
class DownlinkProduct:
    """Send a product's file over CFDP: its thumbnail or the full file."""

    product_id: str
    variant: Variant = Variant.FULL


@dataclass(frozen=True)
class ClearFault:
    """Clear the latched fault of the drive, the shovel or both."""

    target: FaultTarget = FaultTarget.ALL


@dataclass(frozen=True)
class HkEnable:
    """Enable periodic generation of these housekeeping sets."""

    sets: Tuple[HkSet, ...]


@dataclass(frozen=True)
class HkDisable:
    """Disable periodic generation of these housekeeping sets."""

    sets: Tuple[HkSet, ...]


@dataclass(frozen=True)
class HkOneShot:
    """Report these housekeeping sets once, now."""

    sets: Tuple[HkSet, ...]


@dataclass(frozen=True)
class HkSetInterval:
    """Set the collection interval (s) of housekeeping sets: ``((set, seconds), ...)``."""

    intervals: Tuple[Tuple[HkSet, float], ...]


@dataclass(frozen=True)
class TimeSetRate:
    """Generate a time report every ``2 ** exponent`` s; exponent 255 switches them off."""

    exponent: int


@dataclass(frozen=True)
class TimeReportNow:
    """Report the rover's time once, now."""


Command = Union[Ping, Drive, Turn, Stop, EStop, Release, MoveShovel, StowShovel,
                CollectSample, Capture, ListProducts, DownlinkProduct, ClearFault, HkEnable,
                HkDisable, HkOneShot, HkSetInterval, TimeSetRate, TimeReportNow]

TIME_REPORTS_OFF = 255
PRODUCT_ID_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')

# -- codec -------------------------------------------------------------------------------

_FN = struct.Struct('>B')
_DD = struct.Struct('>dd')
_SHOVEL = struct.Struct('>Bdd')
_SAMPLE = struct.Struct('>dB')
_CAPTURE = struct.Struct('>BBH')
_LIST = struct.Struct('>BB')
_U8 = struct.Struct('>B')
_INTERVAL = struct.Struct('>BI')

#: Functions without arguments, by id.
_BARE_FUNCTIONS: Dict[FunctionId, Type] = {
    FunctionId.STOP: Stop, FunctionId.ESTOP: EStop, FunctionId.RELEASE: Release,
    FunctionId.STOW_SHOVEL: StowShovel,
}
_BARE_IDS = {cls: fid for fid, cls in _BARE_FUNCTIONS.items()}


def _enum(kind: Type, value: int, what: str):
    try:
        return kind(value)
    except ValueError:
        names = ', '.join(f'{m.value}={m.name}' for m in kind)
        raise CommandError(ErrorCode.ARGUMENT_OUT_OF_RANGE,
                           f'{what} {value} is not one of {names}') from None


def _flag(value: int, what: str) -> bool:
    if value not in (0, 1):
        raise CommandError(ErrorCode.ARGUMENT_OUT_OF_RANGE, f'{what} must be 0 or 1, got {value}')
    return bool(value)


def _fixed(fmt: struct.Struct, args: bytes, what: str) -> tuple:
    if len(args) != fmt.size:
        raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH,
                           f'{what} takes {fmt.size} bytes of arguments, got {len(args)}')
    return fmt.unpack(args)


def _encode_sets(sets: Tuple[HkSet, ...]) -> bytes:
    return bytes([len(sets)]) + bytes(int(s) for s in sets)


def _decode_sets(data: bytes, what: str) -> Tuple[HkSet, ...]:
    if not data or len(data) != 1 + data[0]:
        raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH,
                           f'{what}: a count byte and that many set ids expected, '
                           f'got {len(data)} bytes')
    return tuple(_enum(HkSet, sid, 'housekeeping set') for sid in data[1:])


def encode(command: Command) -> Tuple[int, int, bytes]:
    """Return the (service, subtype, application data) of a command's PUS TC."""
    if isinstance(command, Ping):
        return Service.TEST, TestSubtype.TC_PING, b''
    if isinstance(command, (HkEnable, HkDisable, HkOneShot)):
        subtype = {HkEnable: HkSubtype.TC_ENABLE_PERIODIC,
                   HkDisable: HkSubtype.TC_DISABLE_PERIODIC,
                   HkOneShot: HkSubtype.TC_ONE_SHOT}[type(command)]
        return Service.HOUSEKEEPING, subtype, _encode_sets(command.sets)
    if isinstance(command, HkSetInterval):
        body = bytes([len(command.intervals)]) + b''.join(
            _INTERVAL.pack(int(sid), int(round(seconds * 1000.0)))
            for sid, seconds in command.intervals)
        return Service.HOUSEKEEPING, HkSubtype.TC_MODIFY_INTERVAL, body
    if isinstance(command, TimeSetRate):
        return Service.TIME, TimeSubtype.TC_SET_RATE, _U8.pack(command.exponent)
    if isinstance(command, TimeReportNow):
        return Service.TIME, TimeSubtype.TC_REPORT_NOW, b''
    return Service.FUNCTION, FunctionSubtype.TC_PERFORM, _encode_function(command)


def _encode_function(command: Command) -> bytes:
    if type(command) in _BARE_IDS:
        return _FN.pack(_BARE_IDS[type(command)])
    if isinstance(command, Drive):
        return _FN.pack(FunctionId.DRIVE) + _DD.pack(command.distance, command.speed)
    if isinstance(command, Turn):
        return _FN.pack(FunctionId.TURN) + _DD.pack(command.angle, command.rate)
    if isinstance(command, MoveShovel):
        return _FN.pack(FunctionId.MOVE_SHOVEL) + _SHOVEL.pack(
            int(command.pose), command.angle, command.max_velocity)
    if isinstance(command, CollectSample):
        return _FN.pack(FunctionId.COLLECT_SAMPLE) + _SAMPLE.pack(
            command.dig_distance, int(command.dump_after))
    if isinstance(command, Capture):
        return _FN.pack(FunctionId.CAPTURE) + _CAPTURE.pack(
            int(command.camera), command.jpeg_quality, command.thumbnail_width)
    if isinstance(command, ListProducts):
        return _FN.pack(FunctionId.LIST_PRODUCTS) + _LIST.pack(
            int(command.only_pending), command.max_count)
    if isinstance(command, DownlinkProduct):
        return (_FN.pack(FunctionId.DOWNLINK_PRODUCT) + _U8.pack(int(command.variant))
                + pack_str8(command.product_id))
    if isinstance(command, ClearFault):
        return _FN.pack(FunctionId.CLEAR_FAULT) + _U8.pack(int(command.target))
    raise TypeError(f'not a command: {command!r}')


def decode(service: int, subtype: int, app_data: bytes) -> Command:
    """
    Return the command of a PUS TC's service, subtype and application data.

    :raises CommandError: unknown service, subtype or function, wrong argument length, or an
        enumerated argument outside its set (the reason names the valid values).
    """
    decoder = _DECODERS.get(service)
    if decoder is None:
        known = ', '.join(str(int(s)) for s in sorted(_DECODERS))
        raise CommandError(ErrorCode.ILLEGAL_SERVICE,
                           f'service {service} is not served; services: {known}')
    return decoder(subtype, bytes(app_data))


def _decode_test(subtype: int, data: bytes) -> Command:
    if subtype != TestSubtype.TC_PING:
        raise CommandError(ErrorCode.ILLEGAL_SUBTYPE, f'TC[17,{subtype}] unknown; use [17,1]')
    if data:
        raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH, f'ping takes no data, got {len(data)}')
    return Ping()


def _decode_hk(subtype: int, data: bytes) -> Command:
    if subtype == HkSubtype.TC_ENABLE_PERIODIC:
        return HkEnable(_decode_sets(data, 'enable housekeeping'))
    if subtype == HkSubtype.TC_DISABLE_PERIODIC:
        return HkDisable(_decode_sets(data, 'disable housekeeping'))
    if subtype == HkSubtype.TC_ONE_SHOT:
        return HkOneShot(_decode_sets(data, 'one-shot housekeeping'))
    if subtype == HkSubtype.TC_MODIFY_INTERVAL:
        if not data or len(data) != 1 + data[0] * _INTERVAL.size:
            raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH,
                               'set interval: a count byte and that many (SID u8, ms u32) '
                               f'expected, got {len(data)} bytes')
        intervals = []
        for i in range(data[0]):
            sid, ms = _INTERVAL.unpack_from(data, 1 + i * _INTERVAL.size)
            intervals.append((_enum(HkSet, sid, 'housekeeping set'), ms / 1000.0))
        return HkSetInterval(tuple(intervals))
    raise CommandError(ErrorCode.ILLEGAL_SUBTYPE,
                       f'TC[3,{subtype}] unknown; use [3,5], [3,6], [3,27] or [3,31]')


def _decode_time(subtype: int, data: bytes) -> Command:
    if subtype == TimeSubtype.TC_SET_RATE:
        (exponent,) = _fixed(_U8, data, 'set time rate')
        return TimeSetRate(exponent)
    if subtype == TimeSubtype.TC_REPORT_NOW:
        if data:
            raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH,
                               f'time report takes no data, got {len(data)}')
        return TimeReportNow()
    raise CommandError(ErrorCode.ILLEGAL_SUBTYPE, f'TC[9,{subtype}] unknown; use [9,1] or [9,128]')


def _decode_function(subtype: int, data: bytes) -> Command:
    if subtype != FunctionSubtype.TC_PERFORM:
        raise CommandError(ErrorCode.ILLEGAL_SUBTYPE, f'TC[8,{subtype}] unknown; use [8,1]')
    if not data:
        raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH, 'perform function without a function id')
    try:
        function = FunctionId(data[0])
    except ValueError:
        known = ', '.join(f'{f.value}={f.name}' for f in FunctionId)
        raise CommandError(ErrorCode.ILLEGAL_FUNCTION,
                           f'function {data[0]} unknown; functions: {known}') from None
    args = data[1:]
    what = function.name
    if function in _BARE_FUNCTIONS:
        if args:
            raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH,
                               f'{what} takes no arguments, got {len(args)} bytes')
        return _BARE_FUNCTIONS[function]()
    return _FUNCTION_DECODERS[function](args, what)


def _decode_drive(args: bytes, what: str) -> Command:
    return Drive(*_fixed(_DD, args, what))


def _decode_turn(args: bytes, what: str) -> Command:
    return Turn(*_fixed(_DD, args, what))


def _decode_shovel(args: bytes, what: str) -> Command:
    pose, angle, max_velocity = _fixed(_SHOVEL, args, what)
    return MoveShovel(_enum(ShovelPose, pose, 'shovel pose'), angle, max_velocity)


def _decode_sample(args: bytes, what: str) -> Command:
    dig, dump = _fixed(_SAMPLE, args, what)
    return CollectSample(dig, _flag(dump, 'dump_after'))


def _decode_capture(args: bytes, what: str) -> Command:
    camera, quality, width = _fixed(_CAPTURE, args, what)
    return Capture(_enum(Camera, camera, 'camera'), quality, width)


def _decode_list(args: bytes, what: str) -> Command:
    pending, count = _fixed(_LIST, args, what)
    return ListProducts(_flag(pending, 'only_pending'), count)


def _decode_downlink(args: bytes, what: str) -> Command:
    if len(args) < 2:
        raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH,
                           f'{what} takes a variant byte and a str8 product id, '
                           f'got {len(args)} bytes')
    variant = _enum(Variant, args[0], 'variant')
    try:
        product_id, end = unpack_str8(args, 1)
    except ProtocolError as err:
        raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH, f'{what}: {err}') from None
    if end != len(args):
        raise CommandError(ErrorCode.BAD_ARGUMENT_LENGTH,
                           f'{what}: {len(args) - end} bytes after the product id')
    return DownlinkProduct(product_id, variant)


def _decode_clear(args: bytes, what: str) -> Command:
    (target,) = _fixed(_U8, args, what)
    return ClearFault(_enum(FaultTarget, target, 'fault target'))


_FUNCTION_DECODERS: Dict[FunctionId, Callable[[bytes, str], Command]] = {
    FunctionId.DRIVE: _decode_drive,
    FunctionId.TURN: _decode_turn,
    FunctionId.MOVE_SHOVEL: _decode_shovel,
    FunctionId.COLLECT_SAMPLE: _decode_sample,
    FunctionId.CAPTURE: _decode_capture,
    FunctionId.LIST_PRODUCTS: _decode_list,
    FunctionId.DOWNLINK_PRODUCT: _decode_downlink,
    FunctionId.CLEAR_FAULT: _decode_clear,
}

_DECODERS: Dict[int, Callable[[int, bytes], Command]] = {
    Service.TEST: _decode_test,
    Service.HOUSEKEEPING: _decode_hk,
    Service.FUNCTION: _decode_function,
    Service.TIME: _decode_time,
}


def function_of(command: Command) -> FunctionId:
    """Return the ST[8] function id of a perform-function command (TypeError otherwise)."""
    service, _, data = encode(command)
    if service != Service.FUNCTION:
        raise TypeError(f'{type(command).__name__} is not a TC[8,1] function')
    return FunctionId(data[0])


# -- limits ------------------------------------------------------------------------------

#: Widest values the TC fields can carry (the wire format, not the rover's physics).
_U8_MAX = 0xFF
_U16_MAX = 0xFFFF
_U32_MAX_MS = 0xFFFFFFFF
#: JPEG quality is a percentage.
_JPEG_QUALITY_CEILING = 100


@dataclass(frozen=True)
class CommandLimits:
    """
    What the rover accepts from the ground; every TC argument is checked against it.

    Every number a TC carries has a floor and a ceiling, both inclusive. The floors are the
    rover's physics, so that no TC can ask for a move that never ends (a DRIVE at 1e-300 m/s
    would hold the drive for ever) or for one below what the drive can resolve; the ceilings
    are the operators' limits (most are lander_bridge parameters). Arguments documented as
    "0 = default" accept 0 besides their range. A DRIVE or TURN whose deadline
    (:func:`motion_timeout` with ``command_timeout_margin``) would exceed
    ``max_command_duration`` is refused, and the bridge waits no longer than that for any TC.
    ``rover-ground`` checks the same limits (its defaults) before it encodes a command.

    Units are in the field comments: m, rad, m/s, rad/s, s, px; counts have none.
    """

    min_drive_distance: float = 0.005       #: m, |distance| of DRIVE: odometry resolution
    max_drive_distance: float = 5.0         #: m
    min_drive_speed: float = 0.005          #: m/s: the slowest the wheels hold steadily
    max_drive_speed: float = 0.1            #: m/s
    min_turn_angle: float = 0.005           #: rad, |angle| of TURN: heading resolution
    max_turn_angle: float = 2.0 * math.pi   #: rad
    min_turn_rate: float = 0.01             #: rad/s: the slowest steady turn in place
    max_turn_rate: float = 0.5              #: rad/s
    shovel_min_angle: float = 0.0           #: rad, MOVE_SHOVEL to ANGLE
    shovel_max_angle: float = 2.0           #: rad
    min_shovel_velocity: float = 0.01       #: rad/s, MOVE_SHOVEL max_velocity (0 = default)
    max_shovel_velocity: float = 0.6        #: rad/s
    min_dig_distance: float = 0.01          #: m, COLLECT_SAMPLE dig_distance (0 = default)
    max_dig_distance: float = 0.3           #: m
    min_jpeg_quality: int = 1               #: CAPTURE jpeg_quality, % (0 = default)
    max_jpeg_quality: int = 100             #: %
    min_thumbnail_width: int = 32           #: px, CAPTURE thumbnail_width (0 = default)
    max_thumbnail_width: int = 1280         #: px
    min_list_count: int = 1                 #: LIST_PRODUCTS max_count (0 = default)
    max_list_count: int = 64
    min_hk_interval: float = 0.1            #: s, housekeeping collection interval
    max_hk_interval: float = 3600.0         #: s
    min_time_exponent: int = 0              #: time reports every 2**n s (255 = off)
    max_time_exponent: int = 16
    command_timeout_margin: float = 30.0    #: s added to twice a move's nominal duration
    max_command_duration: float = 600.0     #: s, the longest deadline of any TC

    def __post_init__(self) -> None:
        """Refuse limits that are not finite, not ordered or wider than the TC fields."""
        for name, value in vars(self).items():
            if not math.isfinite(value):
                raise ValueError(f'{name} must be finite, got {value!r}')
        pairs = [(name[4:], name, 'max_' + name[4:]) for name in vars(self)
                 if name.startswith('min_')]
        pairs.append(('shovel angle', 'shovel_min_angle', 'shovel_max_angle'))
        for what, low, high in pairs:
            if not getattr(self, low) <= getattr(self, high):
                raise ValueError(f'{what}: need {low} ({getattr(self, low)}) <= {high} '
                                 f'({getattr(self, high)})')
        positive = ('min_drive_distance', 'min_drive_speed', 'min_turn_angle', 'min_turn_rate',
                    'min_shovel_velocity', 'min_dig_distance', 'min_jpeg_quality',
                    'min_thumbnail_width', 'min_list_count', 'min_hk_interval',
                    'command_timeout_margin')
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f'{name} must be > 0 (0 means "default" or nothing moves), '
                                 f'got {getattr(self, name)}')
        wire = (('max_jpeg_quality', _JPEG_QUALITY_CEILING), ('max_list_count', _U8_MAX),
                ('max_thumbnail_width', _U16_MAX), ('max_time_exponent', TIME_REPORTS_OFF - 1),
                ('max_hk_interval', _U32_MAX_MS / 1000.0))
        for name, ceiling in wire:
            if getattr(self, name) > ceiling:
                raise ValueError(f'{name} must be <= {ceiling:g}, got {getattr(self, name)}')
        if self.min_time_exponent < 0:
            raise ValueError(f'min_time_exponent must be >= 0, got {self.min_time_exponent}')
        if self.command_timeout_margin >= self.max_command_duration:
            raise ValueError(f'command_timeout_margin ({self.command_timeout_margin} s) must '
                             f'be below max_command_duration ({self.max_command_duration} s)')


def motion_timeout(command: Command, margin: float) -> Optional[float]:
    """
    Return the seconds the bridge waits for a DRIVE or TURN, None for any other command.

    Twice the nominal duration (distance / speed, angle / rate) plus ``margin`` (s): a slow
    slope may halve the speed, and a fixed margin covers the start and the final stop.
    """
    if isinstance(command, Drive):
        return 2.0 * abs(command.distance) / command.speed + margin
    if isinstance(command, Turn):
        return 2.0 * abs(command.angle) / command.rate + margin
    return None


def _require(ok: bool, reason: str) -> None:
    if not ok:
        raise CommandError(ErrorCode.ARGUMENT_OUT_OF_RANGE, reason)


def _finite(value: float, name: str) -> None:
    _require(math.isfinite(value), f'{name} must be finite, got {value!r}')


def _show(value: Union[int, float]) -> str:
    """Return a value as the shortest text that reads back the same (1e-300, 0.0049999)."""
    return repr(value) if isinstance(value, float) else str(value)


def _bounded(value: Union[int, float], name: str, unit: str, limits: CommandLimits,
             low: str, high: str, default_zero: bool = False) -> None:
    """Refuse ``value`` outside ``[limits.low, limits.high]``, naming the limit it breaks."""
    if default_zero and value == 0:
        return
    unit = f' {unit}' if unit else ''
    note = ' (or 0)' if default_zero else ''
    floor, ceiling = getattr(limits, low), getattr(limits, high)
    _require(value >= floor, f'{name} {_show(value)}{unit} is below {low} {floor:g}{unit}{note}')
    _require(value <= ceiling,
             f'{name} {_show(value)}{unit} is above {high} {ceiling:g}{unit}{note}')


def _within_duration(command: Command, limits: CommandLimits) -> None:
    timeout = motion_timeout(command, limits.command_timeout_margin)
    _require(timeout <= limits.max_command_duration,
             f'{type(command).__name__.upper()} deadline {timeout:.0f} s is above '
             f'max_command_duration {limits.max_command_duration:g} s')


def validate(command: Command, limits: CommandLimits) -> None:
    """
    Check every argument of ``command`` against ``limits``, and a move's deadline.

    :raises CommandError: ARGUMENT_OUT_OF_RANGE with a reason naming the argument, its value
        and the limit it breaks (short enough for the 96-byte reason of a TM[1,2]).
    """
    lim = limits
    if isinstance(command, Drive):
        _finite(command.distance, 'distance')
        _finite(command.speed, 'speed')
        _bounded(abs(command.distance), '|distance|', 'm', lim, 'min_drive_distance',
                 'max_drive_distance')
        _bounded(command.speed, 'speed', 'm/s', lim, 'min_drive_speed', 'max_drive_speed')
        _within_duration(command, lim)
    elif isinstance(command, Turn):
        _finite(command.angle, 'angle')
        _finite(command.rate, 'rate')
        _bounded(abs(command.angle), '|angle|', 'rad', lim, 'min_turn_angle', 'max_turn_angle')
        _bounded(command.rate, 'rate', 'rad/s', lim, 'min_turn_rate', 'max_turn_rate')
        _within_duration(command, lim)
    elif isinstance(command, MoveShovel):
        _finite(command.angle, 'angle')
        _finite(command.max_velocity, 'max_velocity')
        if command.pose is ShovelPose.ANGLE:
            _bounded(command.angle, 'shovel angle', 'rad', lim, 'shovel_min_angle',
                     'shovel_max_angle')
        _bounded(command.max_velocity, 'max_velocity', 'rad/s', lim, 'min_shovel_velocity',
                 'max_shovel_velocity', default_zero=True)
    elif isinstance(command, CollectSample):
        _finite(command.dig_distance, 'dig_distance')
        _bounded(command.dig_distance, 'dig_distance', 'm', lim, 'min_dig_distance',
                 'max_dig_distance', default_zero=True)
    elif isinstance(command, Capture):
        _bounded(command.jpeg_quality, 'jpeg_quality', '%', lim, 'min_jpeg_quality',
                 'max_jpeg_quality', default_zero=True)
        _bounded(command.thumbnail_width, 'thumbnail_width', 'px', lim, 'min_thumbnail_width',
                 'max_thumbnail_width', default_zero=True)
    elif isinstance(command, ListProducts):
        _bounded(command.max_count, 'max_count', '', lim, 'min_list_count', 'max_list_count',
                 default_zero=True)
    elif isinstance(command, DownlinkProduct):
        _require(PRODUCT_ID_PATTERN.match(command.product_id) is not None,
                 f'product id {command.product_id!r} must match {PRODUCT_ID_PATTERN.pattern}')
    elif isinstance(command, (HkEnable, HkDisable, HkOneShot)):
        _require(len(command.sets) > 0, 'name at least one housekeeping set')
        _require(len(set(command.sets)) == len(command.sets), 'a housekeeping set is repeated')
    elif isinstance(command, HkSetInterval):
        _require(len(command.intervals) > 0, 'name at least one housekeeping set')
        _require(len({sid for sid, _ in command.intervals}) == len(command.intervals),
                 'a housekeeping set is repeated')
        for sid, seconds in command.intervals:
            _finite(seconds, f'interval of set {sid.name}')
            _bounded(seconds, f'interval of set {sid.name}', 's', lim, 'min_hk_interval',
                     'max_hk_interval')
    elif isinstance(command, TimeSetRate):
        if command.exponent != TIME_REPORTS_OFF:
            _bounded(command.exponent, 'time rate exponent', '', lim, 'min_time_exponent',
                     'max_time_exponent')
