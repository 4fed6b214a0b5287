"""The importance rung (bayes_unlearn._importance): PSIS weights and their one check."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from numpy.testing import assert_allclose

from bayes_unlearn._importance import smoothed


def test_smoothed_weights_are_arviz_psis_and_judged_by_k_hat_and_ess():
    rng = np.random.default_rng(0)
    mild = rng.normal(size=4000) * 0.3
    weights = smoothed(mild, reff=1.0, min_ess=100.0)
    expected, k_hat = az.psislw(mild.copy(), reff=1.0)
    assert_allclose(weights.log_weights, expected)
    assert weights.pareto_k == pytest.approx(float(k_hat))
    assert weights.reliable and weights.pareto_k_threshold == pytest.approx(0.7)
    assert weights.fields()["ess_importance"] == weights.ess
    heavy = rng.standard_cauchy(4000) * 5.0  # a heavy right tail: k̂ far above 0.7
    bad = smoothed(heavy, reff=1.0, min_ess=100.0)
    assert not bad.reliable and any(p.startswith("Pareto k̂") for p in bad.problems)
    assert not smoothed(mild, reff=1.0, min_ess=5000.0).reliable  # more than S asked for


def test_raw_weights_are_the_normalized_ratios_with_the_same_k_hat():
    ratios = np.random.default_rng(1).normal(size=1000)
    raw = smoothed(ratios, reff=1.0, min_ess=10.0, pareto_smoothing=False)
    assert_allclose(np.exp(raw.log_weights), np.exp(ratios) / np.exp(ratios).sum())
    assert raw.pareto_k == smoothed(ratios, reff=1.0, min_ess=10.0).pareto_k
