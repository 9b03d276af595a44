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
How much regolith is in the scoop, from the joint current during the lift.

Model. While the shovel lifts at a steady speed (no acceleration), the motor torque balances
gravity on the shovel and its load plus friction::

    tau = k_t * i_lift
    i_lift(theta) = i_friction + i_empty_gravity * c_e + m * g * L * c / k_t
    c = cos(theta - theta_h),  c_e = cos(theta - theta_e)

``i_lift = -current`` (lifting drives the joint negative, so a lifting current is negative),
``k_t`` the torque constant at the joint, ``g`` lunar gravity, ``L`` the lever arm from the
joint axis to the regolith centroid and ``theta_h`` the joint angle at which that lever is
horizontal; ``i_friction``, ``i_empty_gravity`` and ``theta_e`` (where the empty shovel's
centre of mass is level with the axis) the empty-shovel baseline measured on the ground by
lifting the empty shovel the same way. The two angles differ: the scoop is open at the far
end of its arm (rover_description), and while the mouth faces up-and-back during the lift
the regolith settles in the corner of the back wall and the bottom, behind the arm's line
(about 0.11 m at 0.95 rad), while the empty shovel's centre of mass is nearer that line
(1.23 rad). Each steady sample gives::

    m_k = k_t * (i_lift_k - i_friction - i_empty_gravity * c_e_k) / (g * L * c_k)

and the estimate is their mean. Its 1-sigma combines the scatter of the samples (standard
error), the torque-constant uncertainty (relative) and the baseline uncertainty (friction
drifts with temperature in vacuum), the last being the largest for small samples::

    sigma^2 = s^2 / n + (m * rel_sigma_kt)^2 + (k_t * sigma_baseline / (g * L * mean(c)))^2

Limits. Only samples at cruise speed, clear of the ground (angle at most ``pose_ready``) and
with ``c >= fill_min_cos`` are used: acceleration torque, the soil's resistance while the
blade is still in it, and short lever arms are excluded. Regolith spilling during the
lift, a centroid far from ``L``, cohesion holding the scoop to the ground, or a friction
change since calibration bias
the estimate; a negative estimate is reported as it is (within its sigma of zero it means
"empty"). With the defaults (k_t 1.78 N*m/A, L 0.11 m, baseline sigma 5 mA) the baseline
term alone is about 0.05 kg: the estimate tells "about 0.15 kg" from "empty", not grams.
"""

from dataclasses import dataclass
import math
from typing import List


@dataclass(frozen=True)
class FillModel:
    """Constants of the model (the ``torque_constant``, ``gravity``... parameters)."""

    torque_constant: float
    torque_constant_rel_sigma: float
    gravity: float
    lever_arm: float
    horizontal_angle: float
    empty_friction_current: float
    empty_gravity_current: float
    empty_horizontal_angle: float
    baseline_current_sigma: float
    min_cos: float
    min_samples: int


@dataclass(frozen=True)
class FillEstimate:
    """Estimated regolith mass (kg) with its 1-sigma, and how many samples it rests on."""

    mass_kg: float
    sigma_kg: float
    samples: int

    @property
    def valid(self) -> bool:
        """Return True when there were enough samples for an estimate."""
        return math.isfinite(self.mass_kg)


class FillEstimator:
    """
    Collects steady-lift samples and turns them into a mass estimate.

    :param model: the model constants.
    """

    def __init__(self, model: FillModel) -> None:
        self._model = model
        self._masses: List[float] = []
        self._cosines: List[float] = []

    def reset(self) -> None:
        """Forget the samples (a new lift starts)."""
        self._masses.clear()
        self._cosines.clear()

    def add(self, angle: float, current: float, *, steady: bool) -> bool:
        """
        Offer one reading taken during the lift; return True when it was used.

        :param angle: measured joint angle (rad).
        :param current: measured signed current (A).
        :param steady: True while the lift runs at cruise speed (not accelerating).
        """
        m = self._model
        c = math.cos(angle - m.horizontal_angle)
        if not steady or c < m.min_cos or not math.isfinite(current):
            return False
        lift_current = -current
        baseline = (m.empty_friction_current
                    + m.empty_gravity_current * math.cos(angle - m.empty_horizontal_angle))
        self._masses.append(m.torque_constant * (lift_current - baseline)
                            / (m.gravity * m.lever_arm * c))
        self._cosines.append(c)
        return True

    def estimate(self) -> FillEstimate:
        """Return the estimate; NaN mass and sigma when there are too few samples."""
        m = self._model
        n = len(self._masses)
        if n < max(1, m.min_samples):
            return FillEstimate(math.nan, math.nan, n)
        mean = sum(self._masses) / n
        scatter = (sum((x - mean) ** 2 for x in self._masses) / (n - 1)) if n > 1 else 0.0
        mean_cos = sum(self._cosines) / n
        baseline_term = (m.torque_constant * m.baseline_current_sigma
                         / (m.gravity * m.lever_arm * mean_cos))
        sigma = math.sqrt(scatter / n + (mean * m.torque_constant_rel_sigma) ** 2
                          + baseline_term ** 2)
        return FillEstimate(mean, sigma, n)
