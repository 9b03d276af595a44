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

"""Fault detection: each check needs its condition for its time, and the first fault latches."""

import math

import pytest

from rover_shovel.config import ShovelConfig
from rover_shovel.controller import fault_limits
from rover_shovel.faults import FaultMonitor
from rover_shovel.shovel_types import Fault, JointReading

LIMITS = fault_limits(ShovelConfig.from_overrides())  # stall 0.35 A / 0.5 s, over 0.6 A / 0.1 s
STALL = 0.4    # A, above the stall threshold, below overcurrent
OVER = 0.8     # A, above the overcurrent limit


def feed(monitor, seconds, *, angle=1.0, setpoint=1.0, velocity=0.0, current=0.0,
         dt=0.05, start=0.0):
    """Feed identical readings for ``seconds``; return the time reached."""
    t = start
    while t < start + seconds - 1e-9:
        t += dt
        monitor.check(JointReading(t, angle, velocity, current), setpoint, moving=True)
    return t


def test_stall_needs_high_current_at_rest_for_the_stall_time():
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 0.45, current=STALL)
    assert monitor.fault == Fault.NONE
    feed(monitor, 0.1, current=STALL, start=0.45)
    assert monitor.fault == Fault.STALL
    assert '0.400 A' in monitor.reason


def test_high_current_while_moving_is_not_a_stall():
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 2.0, current=STALL, velocity=0.3)
    assert monitor.fault == Fault.NONE


def test_a_current_dip_restarts_the_stall_timer():
    monitor = FaultMonitor(LIMITS)
    t = feed(monitor, 0.4, current=STALL)
    t = feed(monitor, 0.05, current=0.2, start=t)
    feed(monitor, 0.4, current=STALL, start=t)
    assert monitor.fault == Fault.NONE


def test_overcurrent_latches_even_while_moving():
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 0.05, current=-OVER, velocity=0.5)
    assert monitor.fault == Fault.NONE
    feed(monitor, 0.15, current=-OVER, velocity=0.5, start=0.05)
    assert monitor.fault == Fault.OVERCURRENT


def test_position_error_beyond_tolerance_for_its_time():
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 2.0, angle=1.0, setpoint=1.15)
    assert monitor.fault == Fault.NONE
    feed(monitor, 0.6, angle=1.0, setpoint=1.3, start=2.0)
    assert monitor.fault == Fault.POSITION_ERROR


def test_unmeasured_current_skips_the_current_checks_but_not_the_position_error():
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 2.0, current=math.nan, velocity=0.0)
    assert monitor.fault == Fault.NONE, 'NaN current is "not measured", not a stall'
    feed(monitor, 0.6, current=math.nan, angle=1.0, setpoint=1.3, start=2.0)
    assert monitor.fault == Fault.POSITION_ERROR


def test_infinite_current_is_a_broken_sensor_and_latches_overcurrent():
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 0.15, current=math.inf, velocity=0.5)
    assert monitor.fault == Fault.OVERCURRENT


@pytest.mark.parametrize('angle', [math.nan, -0.2, 2.2, math.inf])
def test_sensor_out_of_range_latches_at_once(angle):
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 0.05, angle=angle, setpoint=1.0)
    assert monitor.fault == Fault.SENSOR_RANGE


def test_angle_inside_the_margin_is_accepted():
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 0.05, angle=-0.1, setpoint=-0.1)
    assert monitor.fault == Fault.NONE


def test_failed_reads_in_a_row_latch_communication_and_a_good_read_resets_the_count():
    monitor = FaultMonitor(LIMITS)
    for _ in range(LIMITS.comm_error_limit - 1):
        monitor.on_read_error('timeout')
    feed(monitor, 0.05)
    for _ in range(LIMITS.comm_error_limit - 1):
        monitor.on_read_error('timeout')
    assert monitor.fault == Fault.NONE
    monitor.on_read_error('checksum')
    assert monitor.fault == Fault.COMMUNICATION
    assert 'checksum' in monitor.reason


def test_device_fault_latches_with_its_reason():
    monitor = FaultMonitor(LIMITS)
    monitor.check(JointReading(1.0, 1.0, 0.0, 0.0, (Fault.STALL, 'servo overload')), 1.0,
                  moving=False)
    assert (monitor.fault, monitor.reason) == (Fault.STALL, 'servo overload')


def test_the_first_fault_stays_latched_when_the_condition_goes_away():
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 0.6, current=STALL)
    assert monitor.fault == Fault.STALL
    first_reason = monitor.reason
    feed(monitor, 1.0, current=OVER, velocity=0.5, start=0.6)  # would be overcurrent
    feed(monitor, 5.0, current=0.0, start=1.6)                 # healthy again
    assert (monitor.fault, monitor.reason) == (Fault.STALL, first_reason)


def test_clear_refuses_while_the_cause_persists_then_clears():
    monitor = FaultMonitor(LIMITS)
    feed(monitor, 0.05, angle=3.0)
    assert monitor.fault == Fault.SENSOR_RANGE
    assert 'still out of range' in monitor.clear(JointReading(1.0, 3.0, 0.0, 0.0))
    assert monitor.clear(None) is not None
    assert monitor.fault == Fault.SENSOR_RANGE
    assert monitor.clear(JointReading(1.0, 1.0, 0.0, 0.0)) is None
    assert monitor.fault == Fault.NONE and monitor.reason == ''
    # timers restarted: half a stall time of high current is not a stall
    feed(monitor, 0.3, current=STALL, start=2.0)
    assert monitor.fault == Fault.NONE
