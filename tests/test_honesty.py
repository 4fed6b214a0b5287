"""Reweighting never calls a biased answer reliable (conjugate Gaussian model, closed form).

n = 400 rows, y = 0.5 + X (1, −0.5) + N(0, 1), known noise; the rows with the largest first
feature are forgotten (20% and 50%), which widens the posterior along that coefficient: the
case where plain PSIS k̂ can pass while the estimates are off. For each of 6 seeds and
S = 1000 (2 x 500) and S = 4000 (4 x 1000) NUTS draws, the reweighted means and log-sds are
within 0.2 posterior sd of the closed form on every parameter, or the result says it is
unreliable and warns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bayes_unlearn as bu
from tests.conftest import closed_form_posterior

TOLERANCE = 0.2  # posterior sds, on every mean and log-sd

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::bayes_unlearn.ConvergenceWarning"),
]


def _case(seed):
    rng = np.random.default_rng(100 + seed)
    X = rng.standard_normal((400, 2))
    y = 0.5 + X @ np.array([1.0, -0.5]) + rng.standard_normal(400)
    return X, y


@pytest.mark.parametrize("chains, draws", [(2, 500), (4, 1000)], ids=["S=1000", "S=4000"])
@pytest.mark.parametrize("seed", range(6))
def test_reweighting_is_accurate_or_says_it_is_not(seed, chains, draws):
    X, y = _case(seed)
    model = bu.PolynomialRegression(
        sigma=1.0, intercept_prior_sd=10.0, coef_prior_sd=10.0, standardize=False
    )
    post = bu.fit(model, X, y, draws=draws, tune=500, chains=chains, random_seed=seed)
    for fraction in (0.2, 0.5):
        forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 1 - fraction))
        keep = np.setdiff1d(np.arange(len(y)), forget)
        mean, cov = closed_form_posterior(X[keep], y[keep])
        sd = np.sqrt(np.diag(cov))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            un = bu.unlearn(post, forget=forget, method="reweight")
        warned = any(issubclass(w.category, bu.UnreliableUnlearningWarning) for w in caught)
        table = un.summary()
        mean_err = np.max(np.abs(table["mean"].to_numpy() - mean) / sd)
        log_sd_err = np.max(np.abs(np.log(table["sd"].to_numpy() / sd)))
        accurate = mean_err <= TOLERANCE and log_sd_err <= TOLERANCE
        assert accurate or (warned and not un.diagnostics.reliable), (
            f"{fraction:.0%} forgotten: mean error {mean_err:.2f} sd, log-sd error "
            f"{log_sd_err:.2f}, yet reliable (k̂ {un.diagnostics.pareto_k:.2f}, "
            f"ESS {un.diagnostics.ess:.0f} of {un.n_draws})"
        )
