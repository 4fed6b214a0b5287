"""The vectorized ESS of the mean equals ArviZ's, sequence by sequence."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from numpy.testing import assert_allclose

from bayes_unlearn._ess import ess_mean


def _ar1(rng, n_chain, n_draw, phis):
    """AR(1) sequences, one per coefficient: antithetic (φ < 0) to strongly correlated."""
    x = np.empty((n_chain, n_draw, phis.size))
    noise = rng.standard_normal(x.shape)
    x[:, 0] = noise[:, 0]
    for t in range(1, n_draw):
        x[:, t] = phis * x[:, t - 1] + noise[:, t]
    return x


@pytest.mark.parametrize("shape", [(4, 1000), (2, 51), (1, 8), (3, 4), (4, 201)])
def test_ess_mean_equals_arviz(shape):
    rng = np.random.default_rng(sum(shape))
    x = _ar1(rng, *shape, np.linspace(-0.95, 0.98, 40))
    x[:, :, 0] = 0.1  # constant: ArviZ returns the number of draws
    x[:, :, 1] += 0.05 * np.arange(shape[1])  # a trend: long autocorrelation
    reference = az.ess(az.convert_to_dataset(x), method="mean")["x"].values
    assert_allclose(ess_mean(x), reference, rtol=1e-10)


def test_ess_mean_is_nan_where_arviz_is():
    x = _ar1(np.random.default_rng(0), 2, 100, np.full(3, 0.5))
    x[1, 7, 2] = np.nan
    assert np.isnan(ess_mean(x)).tolist() == [False, False, True]
    assert np.isnan(ess_mean(x[:, :3])).all()  # fewer than 4 draws
