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

"""The fill estimate inverts the lift-current model and reports an honest sigma."""

import math
import random

import pytest

from rover_shovel.config import ShovelConfig
from rover_shovel.controller import fill_model
from rover_shovel.fill import FillEstimator

MODEL = fill_model(ShovelConfig.from_overrides())


def lift_current(angle: float, mass: float) -> float:
    """Signed motor current of a steady lift with ``mass`` kg in the scoop (model forward)."""
    m = MODEL
    c = math.cos(angle - m.horizontal_angle)
    c_empty = math.cos(angle - m.empty_horizontal_angle)
    lift = (m.empty_friction_current + m.empty_gravity_current * c_empty
            + mass * m.gravity * m.lever_arm * c / m.torque_constant)
    return -lift


@pytest.mark.parametrize('mass', [0.0, 0.05, 0.15, 0.5])
def test_noise_free_samples_give_the_mass_back(mass):
    estimator = FillEstimator(MODEL)
    for k in range(20):
        angle = 1.2 - 0.01 * k
        assert estimator.add(angle, lift_current(angle, mass), steady=True)
    estimate = estimator.estimate()
    assert estimate.mass_kg == pytest.approx(mass, abs=1e-9)
    assert estimate.samples == 20
    # sigma floor: the baseline uncertainty (5 mA) is about 40 g with these constants
    assert 0.03 < estimate.sigma_kg < 0.06


def test_noisy_samples_scatter_within_sigma():
    rng = random.Random(4)
    errors = []
    for _ in range(50):
        estimator = FillEstimator(MODEL)
        for k in range(15):
            angle = 1.2 - 0.013 * k
            estimator.add(angle, lift_current(angle, 0.2) + rng.gauss(0.0, 0.003), steady=True)
        estimate = estimator.estimate()
        errors.append(abs(estimate.mass_kg - 0.2) / estimate.sigma_kg)
    assert max(errors) < 3.0


def test_unsteady_and_short_lever_samples_are_ignored():
    estimator = FillEstimator(MODEL)
    assert not estimator.add(1.2, -5.0, steady=False)          # accelerating
    assert not estimator.add(MODEL.horizontal_angle + 1.4, -0.1, steady=True)  # cos < 0.5
    assert not estimator.add(1.2, math.nan, steady=True)
    assert estimator.estimate().samples == 0


def test_too_few_samples_give_no_estimate():
    estimator = FillEstimator(MODEL)
    for k in range(MODEL.min_samples - 1):
        estimator.add(1.1, lift_current(1.1, 0.1), steady=True)
    estimate = estimator.estimate()
    assert not estimate.valid and math.isnan(estimate.sigma_kg)
    estimator.add(1.1, lift_current(1.1, 0.1), steady=True)
    assert estimator.estimate().valid
    estimator.reset()
    assert estimator.estimate().samples == 0
