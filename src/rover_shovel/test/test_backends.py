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

"""The fake joint model and the Gazebo-bridged joint (both ROS-free)."""

from dataclasses import fields
import math
import time

import pytest

from rover_shovel.backends import fake_actuator, fake_params
from rover_shovel.config import PARAMS
from rover_shovel.fake_joint import FakeJointActuator, FakeJointParams
from rover_shovel.shovel_types import ActuatorError
from rover_shovel.sim_joint import BridgedJointActuator

QUIET = FakeJointParams(current_noise=0.0)


def settle(joint, angle, t, seconds=1.0, dt=0.05):
    joint.command(angle, t)
    end = t + seconds
    while t < end:
        t += dt
        joint.command(angle, t)
    return t


def test_the_fake_servo_follows_its_command_with_a_speed_limit():
    joint = FakeJointActuator(QUIET)
    joint.command(1.0, 0.0)
    reading = joint.read(0.1)
    assert 0.0 < reading.angle <= QUIET.servo_max_velocity * 0.1 + 1e-9
    assert joint.read(1.0).angle == pytest.approx(1.0, abs=1e-3)


def test_current_rises_in_the_regolith():
    joint = FakeJointActuator(QUIET)
    t = settle(joint, QUIET.ground_angle - 0.1, 0.0)
    above = joint.read(t).current
    t = settle(joint, QUIET.ground_angle + 0.3, t)
    below = joint.read(t).current
    expected = QUIET.soil_stiffness * 0.3 / QUIET.torque_constant
    assert below - above == pytest.approx(expected, rel=0.2)


def dig(joint, t, params=QUIET):
    """Bite to the dig depth and lift back to the hold pose; return the time."""
    t = settle(joint, params.bite_angle + 0.03, t)
    assert joint.load_kg == 0.0  # in the soil: nothing is a sample yet
    return settle(joint, 0.8, t)


def test_the_scoop_fills_at_dig_depth_and_keeps_the_sample_mouth_up():
    joint = FakeJointActuator(QUIET)
    t = dig(joint, 0.0)
    assert joint.load_kg == pytest.approx(QUIET.sample_mass, rel=0.5)
    held = joint.read(t).current
    empty_hold = -QUIET.empty_gravity_current * math.cos(0.8 - QUIET.empty_horizontal_angle)
    assert held < empty_hold  # more current against gravity with the sample in
    # Mouth up (stowed, travel, ready) or level: the sample stays in.
    for angle in (0.0, 0.2, 1.2, QUIET.spill_angle - 0.05, 0.8):
        t = settle(joint, angle, t)
        assert joint.load_kg > 0.0, angle


def test_the_mouth_tipped_down_past_the_spill_angle_empties_the_scoop():
    joint = FakeJointActuator(QUIET)
    t = dig(joint, 0.0)
    t = settle(joint, QUIET.spill_angle + 0.05, t)
    assert joint.load_kg == 0.0
    settle(joint, 0.0, t)  # back up to stowed: nothing is picked up on the way
    assert joint.load_kg == 0.0


@pytest.mark.parametrize('depth', [1.6, 1.8, 1.88])
def test_no_sample_without_reaching_the_dig_depth(depth):
    # Above the ground, or the rim only just in it (a dump): the scoop does not fill.
    joint = FakeJointActuator(QUIET)
    t = settle(joint, depth, 0.0)
    settle(joint, 0.8, t)
    assert joint.load_kg == 0.0


def test_the_fake_is_deterministic_for_a_seed():
    def trace(seed):
        params = FakeJointParams(seed=seed)
        joint = FakeJointActuator(params)
        t = dig(joint, 0.0, params)
        return joint.load_kg, joint.read(t + 2.0).current
    assert trace(7) == trace(7)
    assert trace(7) != trace(8)


def test_a_jam_blocks_lowering_and_the_servo_pushes():
    joint = FakeJointActuator(QUIET)
    joint.jam(0.5)
    t = settle(joint, 1.0, 0.0)
    joint.read(t)
    reading = joint.read(t + 0.1)
    assert reading.angle == 0.5 and abs(reading.velocity) < 1e-9
    assert reading.current == pytest.approx(QUIET.servo_current_limit, abs=0.05)
    settle(joint, 0.2, t)
    assert joint.angle == pytest.approx(0.2, abs=1e-3)  # lifting away from the rock works


def test_injected_read_failures_and_bad_commands():
    joint = FakeJointActuator(QUIET)
    joint.fail_reads(2)
    for _ in range(2):
        with pytest.raises(ActuatorError):
            joint.read(0.1)
    assert joint.read(0.2).angle == 0.0
    with pytest.raises(ActuatorError):
        joint.command(math.nan, 0.3)


def test_fake_backend_built_from_the_parameters():
    values = PARAMS.validated({'fake_sample_mass': 0.3, 'fake_seed': 9})
    params = fake_params(values)
    assert params.sample_mass == 0.3 and params.seed == 9
    assert values['pose_hold'] < params.spill_angle < values['pose_dump']
    assert values['pose_dump'] < params.bite_angle <= values['pose_dig']
    assert params.empty_horizontal_angle == values['empty_horizontal_angle']
    joint = fake_actuator(values, start_time=5.0)
    assert joint.read(5.0).angle == values['pose_stowed']


def test_the_fake_joint_defaults_are_the_parameter_defaults():
    # Test rigs build FakeJointParams() directly: it must be the shovel the node builds.
    from_table = fake_params(PARAMS.defaults())
    for field in fields(FakeJointParams):
        assert getattr(FakeJointParams(), field.name) == pytest.approx(
            getattr(from_table, field.name)), field.name


def test_bridged_joint_reads_fresh_states_and_publishes_commands():
    sent = []
    joint = BridgedJointActuator(sent.append, state_timeout=0.5)
    with pytest.raises(ActuatorError, match='no shovel_joint state'):
        joint.read(1.0)
    joint.feed(1.0, 0.7, -0.1)
    reading = joint.read(1.2)
    assert (reading.angle, reading.velocity) == (0.7, -0.1)
    assert math.isnan(reading.current), 'Gazebo measures no effort: current is not measured'
    with pytest.raises(ActuatorError, match='old'):
        joint.read(1.6)
    joint.feed(2.0, 0.7, math.nan)
    assert joint.read(2.0).velocity == 0.0
    joint.command(1.1, 2.0)
    assert sent == [1.1]
    with pytest.raises(ActuatorError):
        joint.command(math.inf, 2.0)
    with pytest.raises(ValueError):
        BridgedJointActuator(sent.append, state_timeout=0.0)


def test_a_clock_jump_is_not_replayed_step_by_step():
    joint = FakeJointActuator(QUIET)
    joint.command(1.0, 0.0)
    start = time.perf_counter()
    reading = joint.read(1.0e6)  # sim time starting after the node
    assert time.perf_counter() - start < 0.5
    assert reading.angle == pytest.approx(1.0, abs=1e-3)
