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

"""Low-sun auto-exposure: metering, convergence, limits, dead band."""

import numpy as np
import pytest
from rover_cams.exposure import AutoExposure, AutoExposureLimits, meter
from rover_cams.fake_source import FakeSource
from rover_cams.frames import Exposure


def _run(source: FakeSource, ae: AutoExposure, steps: int) -> list:
    history = []
    for n in range(steps):
        source.set_exposure(ae.exposure)
        history.append(ae.update(source.render(n)))
    return history


def test_meter_ignores_sky_and_counts_clipping():
    image = np.zeros((100, 100, 3), np.uint8)
    image[60:] = 128           # lit ground in the metered part
    image[95:, :50] = 255      # glare
    m = meter(image, meter_from=0.4, stride=1)
    assert m.level == pytest.approx(128 / 255, abs=0.01)
    assert m.clipped == pytest.approx(250 / 6000, abs=0.005)
    assert meter(np.zeros((10, 10), np.uint8)).level == 0.0


@pytest.mark.parametrize('start', [0.0005, 0.04])
def test_converges_on_the_fake_scene(start):
    source = FakeSource('left', width=320, height=180)
    ae = AutoExposure(AutoExposureLimits(target=0.45), Exposure(start))
    _run(source, ae, 12)
    source.set_exposure(ae.exposure)
    level = meter(source.render(12)).level
    assert level == pytest.approx(0.45, abs=0.45 * 0.1)


def test_holds_still_in_the_dead_band():
    source = FakeSource('left', width=320, height=180)
    ae = AutoExposure(AutoExposureLimits(), Exposure(0.01))
    history = _run(source, ae, 15)
    assert len(set(history[-5:])) == 1


def test_step_is_bounded():
    ae = AutoExposure(AutoExposureLimits(max_step=2.0), Exposure(0.001))
    dark = np.full((100, 100), 12, np.uint8)
    assert ae.update(dark).exposure_s == pytest.approx(0.002)


def test_time_first_then_gain_within_limits():
    limits = AutoExposureLimits(max_exposure_s=0.02, max_gain=3.0)
    ae = AutoExposure(limits, Exposure(0.01))
    dark = np.full((100, 100), 12, np.uint8)
    results = [ae.update(dark) for _ in range(8)]
    assert results[0] == Exposure(0.02, 1.0)
    assert results[1].exposure_s == 0.02 and results[1].gain == pytest.approx(2.0)
    assert results[-1] == Exposure(0.02, pytest.approx(3.0))


def test_clipping_steps_down_even_when_mean_is_low():
    ae = AutoExposure(AutoExposureLimits(max_clipped=0.02), Exposure(0.01))
    image = np.full((100, 100), 30, np.uint8)
    image[50:60] = 255  # 10 % of the frame blown out by a sunlit rock
    assert ae.update(image).exposure_s < 0.01


def test_limits_are_validated():
    with pytest.raises(ValueError, match='target'):
        AutoExposureLimits(target=1.0)
    with pytest.raises(ValueError, match='min_exposure_s'):
        AutoExposureLimits(min_exposure_s=0.1, max_exposure_s=0.01)
    with pytest.raises(ValueError, match='max_gain'):
        AutoExposureLimits(max_gain=0.5)
