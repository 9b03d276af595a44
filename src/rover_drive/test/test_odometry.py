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

"""Wheel odometry against ground truth: straight, arc and spin, with and without slip."""

import math

from conftest import Rig
import pytest
from rover_drive.arbitration import Source
from rover_drive.odometry import (Pose2D, quaternion_to_yaw, UNOBSERVED_VARIANCE,
                                  WheelOdometry, wrap_angle, yaw_to_quaternion)
from rover_drive.skid_steer import SkidSteerGeometry

GEOMETRY = SkidSteerGeometry(0.06, 0.26, 1.5)


def make_odometry(**kwargs):
    kwargs.setdefault('wheel_noise', 1e-4)
    return WheelOdometry(GEOMETRY, twist_variance=(1e-4, 1e-3), max_wheel_speed=3.0,
                         **kwargs)


def drive_analytic(odometry, linear, angular, duration, dt=0.05):
    """Feed wheel positions of a constant body twist; return the last estimate."""
    wheels = GEOMETRY.body_to_wheels(linear, angular)
    estimate = odometry.update([0.0] * 4, 0.0)
    steps = int(round(duration / dt))
    for i in range(1, steps + 1):
        t = i * dt
        estimate = odometry.update([w * t for w in wheels], t)
    return estimate


def test_straight_line():
    estimate = drive_analytic(make_odometry(), 0.1, 0.0, 10.0)
    assert estimate.pose.x == pytest.approx(1.0, abs=1e-9)
    assert estimate.pose.y == pytest.approx(0.0, abs=1e-12)
    assert estimate.linear == pytest.approx(0.1) and estimate.angular == pytest.approx(0.0)


def test_arc_matches_closed_form():
    v, w, t = 0.08, 0.3, 7.0
    estimate = drive_analytic(make_odometry(), v, w, t)
    assert estimate.pose.x == pytest.approx(v / w * math.sin(w * t), abs=1e-9)
    assert estimate.pose.y == pytest.approx(v / w * (1.0 - math.cos(w * t)), abs=1e-9)
    assert estimate.pose.yaw == pytest.approx(wrap_angle(w * t), abs=1e-9)


def test_spin_in_place():
    estimate = drive_analytic(make_odometry(), 0.0, -0.5, 8.0)
    assert estimate.pose.x == pytest.approx(0.0, abs=1e-12)
    assert estimate.pose.yaw == pytest.approx(wrap_angle(-4.0), abs=1e-9)
    assert estimate.angular == pytest.approx(-0.5)


def test_covariance_grows_with_distance_and_is_symmetric():
    odometry = make_odometry()
    short = drive_analytic(odometry, 0.1, 0.05, 2.0).pose_covariance
    odometry = make_odometry()
    long = drive_analytic(odometry, 0.1, 0.05, 10.0).pose_covariance
    for index in (0, 7, 35):
        assert long[index] > short[index] > 0.0
    for i in range(6):
        for j in range(6):
            assert long[i * 6 + j] == pytest.approx(long[j * 6 + i])
    assert long[14] == UNOBSERVED_VARIANCE


def test_zero_noise_keeps_zero_covariance():
    estimate = drive_analytic(make_odometry(wheel_noise=0.0), 0.1, 0.1, 2.0)
    assert estimate.pose_covariance[0] == 0.0


def test_position_jump_is_discarded_and_counted():
    odometry = make_odometry()
    odometry.update([0.0] * 4, 0.0)
    odometry.update([0.1] * 4, 0.05)
    x = odometry.pose.x
    estimate = odometry.update([500.0, 0.1, 0.1, 0.1], 0.1)
    assert odometry.jumps_discarded == 1
    assert estimate.pose.x == x
    # the new positions are the base of the next increment
    assert odometry.update([500.05, 0.15, 0.15, 0.15], 0.15).pose.x > x


def test_resync_keeps_pose():
    odometry = make_odometry()
    drive_analytic(odometry, 0.1, 0.0, 1.0)
    odometry.resync()
    odometry.update([0.0] * 4, 2.0)
    assert odometry.pose.x == pytest.approx(0.1)
    assert odometry.jumps_discarded == 0


def test_wrong_wheel_count_refused():
    with pytest.raises(ValueError):
        make_odometry().update([0.0] * 3, 0.0)


@pytest.mark.parametrize('yaw', [0.0, 0.7, -2.5, math.pi])
def test_quaternion_round_trip(yaw):
    x, y, z, w = yaw_to_quaternion(yaw)
    assert x == 0.0 and y == 0.0
    assert z * z + w * w == pytest.approx(1.0)
    assert wrap_angle(quaternion_to_yaw(x, y, z, w) - yaw) == pytest.approx(0.0, abs=1e-12)


def drive_rig(rig, linear, angular, seconds):
    rig.step(int(seconds / 0.05), command=lambda now: rig.controller.command_velocity(
        Source.TELEOP, linear, angular, now=now))
    rig.step(20)


@pytest.mark.parametrize('linear, angular', [(0.1, 0.0), (0.08, 0.2), (0.0, 0.4)])
def test_fake_rover_odometry_follows_ground_truth_without_slip(linear, angular):
    rig = Rig()
    drive_rig(rig, linear, angular, 6.0)
    pose, truth = rig.controller.odometry.pose, rig.wheels.ground_truth
    assert pose.x == pytest.approx(truth.x, abs=2e-3)
    assert pose.y == pytest.approx(truth.y, abs=2e-3)
    assert wrap_angle(pose.yaw - truth.yaw) == pytest.approx(0.0, abs=5e-3)
    assert abs(pose.x) + abs(pose.yaw) > 0.3


def test_slip_makes_odometry_overestimate_by_the_slip_ratio():
    rig = Rig(slip=0.2)
    drive_rig(rig, 0.1, 0.0, 6.0)
    assert rig.controller.odometry.pose.x == pytest.approx(
        rig.wheels.ground_truth.x / 0.8, rel=1e-3)


def test_slip_on_spin_overestimates_yaw_by_the_slip_ratio():
    rig = Rig(slip=0.25)
    drive_rig(rig, 0.0, 0.4, 4.0)
    assert rig.controller.odometry.pose.yaw == pytest.approx(
        rig.wheels.ground_truth.yaw / 0.75, rel=1e-3)


def test_encoder_noise_keeps_odometry_close():
    rig = Rig(noise=0.002)
    drive_rig(rig, 0.1, 0.1, 5.0)
    pose, truth = rig.controller.odometry.pose, rig.wheels.ground_truth
    assert math.hypot(pose.x - truth.x, pose.y - truth.y) < 0.01


def test_reset_to_pose():
    odometry = make_odometry()
    odometry.reset(Pose2D(1.0, 2.0, 0.5))
    assert odometry.pose == Pose2D(1.0, 2.0, 0.5)
