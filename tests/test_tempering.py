"""The tempering engine (bayes_unlearn._tempering): schedule and warm starts."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_unlearn._tempering import _next_temperature


def test_next_temperature_from_a_warm_start_finds_the_far_side():
    """A warm start's weights can make the ESS rise, then fall: the largest passing t wins."""
    L = np.random.default_rng(0).standard_normal(4000) * 20.0
    step = _next_temperature(L, 0.0, 2000.0)  # from equal weights
    assert 0 < step < 0.2
    # Particles of p_{0.5} (weights exp(0.5 L) from p_0): equal weights at t = 0.5.
    t = _next_temperature(L, 0.0, 2000.0, offset=0.5 * L)
    assert t == pytest.approx(0.5 + step, abs=1e-6)
    assert _next_temperature(L, 0.0, 4001.0, offset=0.5 * L) is None  # nothing passes
