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

"""The Dynamixel bus wrapper against the emulator, through the real SDK over a pty pair."""

import math
import time

import dynamixel_sdk
import pytest
from rover_common.dynamixel_bus import (BusTimeout, ChecksumError, DeviceError, DynamixelBus,
                                        Field, HardwareError, MotorGroup, OperatingMode,
                                        PortError, XM430_W350, XSeries)
from rover_common.dynamixel_emulator import (build_packet, crc16, DynamixelEmulator, stuff,
                                             unstuff)

IDS = [1, 2, 3, 4]


@pytest.fixture
def emulator():
    with DynamixelEmulator(IDS) as emu:
        yield emu


@pytest.fixture
def bus(emulator):
    # A margin for a loaded CI host; the emulator answers in well under a millisecond idle.
    with DynamixelBus(emulator.port_name, retries=0, timeout_margin=0.25) as b:
        yield b


def test_crc_matches_sdk():
    sdk = dynamixel_sdk.PacketHandler(2.0)
    for data in (b'', b'\xff\xff\xfd\x00\x01\x07\x00\x02\x84\x00\x04\x00',
                 bytes(range(256))):
        assert crc16(data) == sdk.updateCRC(0, list(data), len(data))


def test_stuffing_round_trip_and_matches_sdk():
    payload = bytes([0x03, 0x10, 0x00, 0xFF, 0xFF, 0xFD, 0x01, 0xFF, 0xFF, 0xFD])
    stuffed = stuff(payload)
    assert stuffed.count(0xFD) == payload.count(0xFD) * 2
    assert unstuff(stuffed) == payload
    sdk = dynamixel_sdk.PacketHandler(2.0)
    packet = [0xFF, 0xFF, 0xFD, 0x00, 1, (len(payload) + 2) & 0xFF, 0] + list(payload) + [0, 0]
    sdk_stuffed = sdk.addStuffing(packet)
    assert bytes(sdk_stuffed[7:-2]) == stuffed


def test_emulator_answers_crc_error_code_to_corrupt_instruction(emulator):
    packet = bytearray(build_packet(1, 0x01))
    packet[-1] ^= 0x55
    reply = emulator.feed(bytes(packet))
    assert reply[7] == 0x55 and reply[8] & 0x7F == 3
    assert emulator.crc_errors_received == 1


def test_ping_read_write(bus):
    assert bus.ping(3) == XM430_W350.model_number
    bus.write(2, XSeries.PROFILE_VELOCITY, 77)
    assert bus.read(2, XSeries.PROFILE_VELOCITY) == 77
    assert bus.read(1, XSeries.PROFILE_VELOCITY) == 0


def test_signed_fields_round_trip(bus):
    bus.write(1, XSeries.OPERATING_MODE, int(OperatingMode.VELOCITY))
    bus.write(1, XSeries.GOAL_VELOCITY, -150)
    assert bus.read(1, XSeries.GOAL_VELOCITY) == -150


def test_eeprom_write_with_torque_on_is_an_access_error(bus):
    bus.write(1, XSeries.TORQUE_ENABLE, 1)
    with pytest.raises(DeviceError) as info:
        bus.write(1, XSeries.OPERATING_MODE, int(OperatingMode.VELOCITY))
    assert info.value.code == 7 and info.value.motor_id == 1
    assert bus.read(1, XSeries.OPERATING_MODE) == int(OperatingMode.POSITION)
    assert bus.counters.device_errors == 1


def test_read_only_field_refuses_writes(bus):
    with pytest.raises(DeviceError):
        bus.write(1, XSeries.PRESENT_POSITION, 5)


def test_goal_velocity_beyond_limit_is_data_limit_error(bus):
    bus.write(1, XSeries.OPERATING_MODE, int(OperatingMode.VELOCITY))
    with pytest.raises(DeviceError) as info:
        bus.write(1, XSeries.GOAL_VELOCITY, 201)
    assert info.value.code == 6


def test_silent_motor_times_out(bus, emulator):
    emulator.set_silent(2)
    with pytest.raises(BusTimeout) as info:
        bus.read(2, XSeries.PRESENT_POSITION)
    assert info.value.motor_id == 2
    assert bus.counters.timeouts == 1
    emulator.set_silent(2, False)
    assert bus.ping(2) == XM430_W350.model_number


def test_corrupt_status_is_a_checksum_error(bus, emulator):
    emulator.corrupt_replies(1)
    with pytest.raises(ChecksumError):
        bus.ping(1)
    assert bus.counters.checksum_errors == 1
    assert bus.ping(1) == XM430_W350.model_number


def test_acknowledged_transactions_are_retried(emulator):
    with DynamixelBus(emulator.port_name, retries=2) as bus:
        emulator.corrupt_replies(2)
        assert bus.ping(1) == XM430_W350.model_number
        assert bus.counters.checksum_errors == 2
        emulator.corrupt_replies(3)
        with pytest.raises(ChecksumError):
            bus.ping(1)


def test_sync_read_reports_each_motor_and_alert(bus, emulator):
    emulator.inject_hardware_error(3, HardwareError.OVERHEATING)
    fields = (XSeries.PRESENT_CURRENT, XSeries.PRESENT_POSITION)
    blocks = bus.sync_read(IDS, fields)
    assert sorted(blocks) == IDS
    assert [blocks[i].alert for i in IDS] == [False, False, True, False]
    assert set(blocks[1].values) == {'present_current', 'present_position'}
    assert bus.read(3, XSeries.HARDWARE_ERROR_STATUS) == int(HardwareError.OVERHEATING)
    assert 3 in bus.alerting


def test_sync_read_fails_when_one_motor_is_silent(bus, emulator):
    emulator.set_silent(4)
    with pytest.raises(BusTimeout) as info:
        bus.sync_read(IDS, (XSeries.PRESENT_POSITION,))
    assert info.value.motor_id == 4


def test_sync_read_with_corrupt_answer_raises(bus, emulator):
    emulator.corrupt_replies(1, motor_id=2)
    with pytest.raises(ChecksumError):
        bus.sync_read(IDS, (XSeries.PRESENT_POSITION,))


def test_open_missing_port_raises_port_error():
    with pytest.raises(PortError):
        DynamixelBus('/dev/does-not-exist-rover').connect()


def test_field_encode_refuses_overflow():
    with pytest.raises(OverflowError):
        Field('x', 0, 1).encode(300)


def wait_until(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_motor_group_velocity_mode_moves_and_reads_back(bus, emulator):
    group = MotorGroup(bus, IDS, OperatingMode.VELOCITY, directions=[1, -1, 1, -1])
    group.configure()
    assert group.velocity_limit == pytest.approx(200 * XM430_W350.velocity_unit)
    group.write_velocities([1.0, 1.0, -0.5, 0.0])
    assert wait_until(lambda: abs(group.read_state()[0].velocity - 1.0) < 0.05)
    states = group.read_state()
    assert states[1].velocity == pytest.approx(1.0, abs=0.05)
    assert states[2].velocity == pytest.approx(-0.5, abs=0.05)
    assert states[0].position > 0.0 and states[1].position > 0.0
    assert states[0].current > 0.0
    assert not any(s.alert for s in states)
    # motor 2 is mirrored: the emulator saw a negative goal
    assert emulator.motor(2).get(XSeries.GOAL_VELOCITY) < 0


def test_motor_group_refuses_velocity_beyond_limit(bus):
    group = MotorGroup(bus, IDS, OperatingMode.VELOCITY)
    group.configure()
    with pytest.raises(ValueError, match='velocity limit'):
        group.write_velocities([10.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError):
        group.write_velocities([math.nan, 0.0, 0.0, 0.0])


def test_motor_group_position_mode_reaches_goal_and_reports_stall_current(bus, emulator):
    group = MotorGroup(bus, [3], OperatingMode.POSITION)
    group.configure()
    group.write_positions([0.5])
    assert wait_until(lambda: abs(group.read_state()[0].position - 0.5) < 0.01)
    emulator.set_stalled(3)
    group.write_positions([1.0])
    time.sleep(0.1)
    state = group.read_state()[0]
    assert state.position == pytest.approx(0.5, abs=0.01)
    assert state.current == pytest.approx(1.4, abs=0.01)


def test_hardware_error_latches_until_reboot(bus, emulator):
    group = MotorGroup(bus, IDS, OperatingMode.VELOCITY)
    group.configure()
    emulator.inject_hardware_error(2, HardwareError.OVERLOAD | HardwareError.OVERHEATING)
    states = group.read_state()
    assert [s.alert for s in states] == [False, True, False, False]
    errors = group.hardware_errors([2])
    assert errors[2].describe() == 'overheating, overload'
    # torque cannot come back while the error is latched
    with pytest.raises(DeviceError):
        bus.write(2, XSeries.TORQUE_ENABLE, 1)
    group.reboot([2])
    group.configure()
    assert not any(s.alert for s in group.read_state())
    assert emulator.motor(2).torque


def test_configure_refuses_another_model(emulator):
    with DynamixelBus(emulator.port_name) as bus:
        bus.write(1, XSeries.TORQUE_ENABLE, 0)
        emulator.motor(1).table[0:2] = (1060).to_bytes(2, 'little')
        with pytest.raises(DeviceError, match='model 1060'):
            MotorGroup(bus, [1], OperatingMode.VELOCITY).configure()


def test_bus_watchdog_stops_a_motor_when_the_host_goes_quiet(bus, emulator):
    group = MotorGroup(bus, [1], OperatingMode.VELOCITY, bus_watchdog_s=0.1)
    group.configure()
    group.write_velocities([1.0])
    # reading keeps the watchdog fed
    assert wait_until(lambda: group.read_state()[0].velocity > 0.9)
    time.sleep(0.25)
    state = group.read_state()[0]
    assert state.watchdog_expired
    assert abs(emulator.motor(1).velocity) < 0.1
    # goals are refused until the watchdog is re-armed by configure()
    with pytest.raises(DeviceError):
        bus.write(1, XSeries.GOAL_VELOCITY, 10)
    group.configure()
    assert not group.read_state()[0].watchdog_expired


def test_motor_group_validates_construction(bus):
    with pytest.raises(ValueError):
        MotorGroup(bus, [1, 1], OperatingMode.VELOCITY)
    with pytest.raises(ValueError):
        MotorGroup(bus, [1, 2], OperatingMode.VELOCITY, directions=[1, 0])
    with pytest.raises(ValueError):
        MotorGroup(bus, [1], OperatingMode.VELOCITY, bus_watchdog_s=5.0)
    with pytest.raises(RuntimeError):
        _ = MotorGroup(bus, [1], OperatingMode.VELOCITY).velocity_limit
