"""Reweighting (methods/reweight.py): exact on conjugate models, honest where it is not."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn.methods.reweight import relative_efficiency
from tests.conftest import closed_form_posterior, mcmc_efficiency, unlearn_against_closed_form


@pytest.mark.parametrize("fraction", [0.01, 0.03, 0.05])
def test_reweighting_recovers_closed_form_posterior(linear_post, linear_data, fraction):
    X, y = linear_data
    rng = np.random.default_rng(int(fraction * 1000))
    forget = np.sort(rng.choice(len(y), size=max(1, round(fraction * len(y))), replace=False))
    keep = np.setdiff1d(np.arange(len(y)), forget)
    mean, cov = closed_form_posterior(X[keep], y[keep])
    sd = np.sqrt(np.diag(cov))

    # The estimator's accuracy is checked whatever its verdict; the verdict itself is
    # checked in test_honesty.py (here the 3% and 5% sets keep < 75% of the draws' ESS).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        un = bu.unlearn(linear_post, forget=forget, method="reweight")
    assert un.diagnostics.pareto_k <= un.diagnostics.pareto_k_threshold
    assert un.diagnostics.reliable == (un.diagnostics.ess >= 0.75 * un.n_draws)
    table = un.summary()
    # Monte Carlo error of a weighted mean: sd / sqrt(ESS), with ESS = IS ESS x MCMC efficiency;
    # of an sd estimate for a Gaussian: sd / sqrt(2 ESS). 4 standard errors each.
    ess = un.diagnostics.ess * mcmc_efficiency(linear_post)
    assert_allclose(table["mean"], mean, rtol=0, atol=4 * sd.max() / np.sqrt(ess))
    assert_allclose(table["sd"], sd, rtol=4 / np.sqrt(2 * ess), atol=0)


def test_large_structured_forget_set_is_flagged(linear_post, linear_data):
    X, _ = linear_data
    forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 0.5))  # half the rows, one side of x0
    with pytest.warns(bu.UnreliableUnlearningWarning, match="method='refit'"):
        un = bu.unlearn(linear_post, forget=forget, method="reweight")
    d = un.diagnostics
    assert not d.reliable
    assert d.pareto_k > d.pareto_k_threshold == pytest.approx(min(1 - 1 / np.log10(4000), 0.7))
    assert "refit" in d.verdict


@pytest.mark.parametrize("reff", [None, 1.0], ids=["default reff", "reff=1"])
def test_single_row_forget_matches_psis_loo(linear_post, linear_data, reff):
    X, y = linear_data
    idata = bu.to_inference_data(linear_post, resample=False, log_likelihood=True)
    loo = az.loo(idata, pointwise=True, reff=reff)  # None: az.loo's own estimate
    for i in (0, 7, 42, 119):
        un = bu.unlearn(linear_post, forget=[i], reff=reff, method="reweight")
        lpd = un.log_predictive_density(X[[i]], y[[i]])
        assert lpd == pytest.approx(float(loo.loo_i[i]), abs=1e-8)
        assert un.diagnostics.pareto_k == pytest.approx(float(loo.pareto_k[i]), abs=1e-10)


def test_raw_importance_weights_option(linear_post):
    raw = bu.unlearn(linear_post, forget=[1, 2, 3], pareto_smoothing=False, method="reweight")
    psis = bu.unlearn(linear_post, forget=[1, 2, 3], method="reweight")
    assert raw.diagnostics.reason.endswith("(raw IS)")
    # Small forget set: smoothing touches only the largest weights.
    assert_allclose(raw.summary()["mean"], psis.summary()["mean"], atol=0.01)


def test_forget_log_ratios_are_the_reweighting_ratios(linear_post):
    from bayes_unlearn.methods.reweight import forget_log_ratios

    un = bu.unlearn(linear_post, forget=[2, 5], method="reweight")
    assert_allclose(
        forget_log_ratios(linear_post, np.array([2, 5])),
        un.idata.sample_stats["log_importance_ratio"].values.ravel(),
    )


TOLERANCE = 0.2  # posterior sds, on every mean and log-sd


def _honesty_case(seed):
    rng = np.random.default_rng(100 + seed)
    X = rng.standard_normal((400, 2))
    y = 0.5 + X @ np.array([1.0, -0.5]) + rng.standard_normal(400)
    return X, y


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::bayes_unlearn.ConvergenceWarning")
@pytest.mark.parametrize("chains, draws", [(2, 500), (4, 1000)], ids=["S=1000", "S=4000"])
@pytest.mark.parametrize("seed", range(6))
def test_reweighting_is_accurate_or_says_it_is_not(seed, chains, draws):
    """Reweighting never calls a biased answer reliable (conjugate Gaussian model, closed form).

    n = 400 rows, y = 0.5 + X (1, −0.5) + N(0, 1), known noise; the rows with the largest first
    feature are forgotten (20% and 50%), which widens the posterior along that coefficient: the
    case where plain PSIS k̂ can pass while the estimates are off. For each of 6 seeds and
    S = 1000 (2 x 500) and S = 4000 (4 x 1000) NUTS draws, the reweighted means and log-sds are
    within 0.2 posterior sd of the closed form on every parameter, or the result says it is
    unreliable and warns. And it is not honest by refusing everything: forgetting 2 random
    rows (k̂ small, most of the ESS kept) is called reliable, without a warning, and matches
    the closed form within Monte Carlo error.
    """
    X, y = _honesty_case(seed)
    model = bu.PolynomialRegression(
        sigma=1.0, intercept_prior_sd=10.0, coef_prior_sd=10.0, standardize=False
    )
    post = bu.fit(model, X, y, draws=draws, tune=500, chains=chains, random_seed=seed)
    easy = np.random.default_rng(seed).choice(len(y), size=2, replace=False)
    un, mean_err, log_sd_err, warned = unlearn_against_closed_form(post, X, y, easy, "reweight")
    assert un.diagnostics.reliable and not warned, un.diagnostics
    assert un.diagnostics.pareto_k < 0.5
    # Monte Carlo error, in posterior sds: 1 / sqrt(ESS) for a mean, 1 / sqrt(2 ESS) for a
    # log-sd, ESS = importance ESS x MCMC efficiency; 4.5 standard errors (3 parameters).
    ess = un.diagnostics.ess * mcmc_efficiency(post)
    assert mean_err < 4.5 / np.sqrt(ess) and log_sd_err < 4.5 / np.sqrt(2 * ess), (
        f"2 rows forgotten: mean error {mean_err:.3f} sd, log-sd error {log_sd_err:.3f}, "
        f"ESS {ess:.0f}"
    )
    for fraction in (0.2, 0.5):
        forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 1 - fraction))
        un, mean_err, log_sd_err, warned = unlearn_against_closed_form(
            post, X, y, forget, "reweight"
        )
        accurate = mean_err <= TOLERANCE and log_sd_err <= TOLERANCE
        assert accurate or (warned and not un.diagnostics.reliable), (
            f"{fraction:.0%} forgotten: mean error {mean_err:.2f} sd, log-sd error "
            f"{log_sd_err:.2f}, yet reliable (k̂ {un.diagnostics.pareto_k:.2f}, "
            f"ESS {un.diagnostics.ess:.0f} of {un.n_draws})"
        )


def test_relative_efficiency_is_arviz_loos(logistic_post):
    """reff as az.loo computes it: the mean over every scalar of ArviZ's mean-ESS over S."""
    ess = az.ess(logistic_post.idata.posterior, method="mean")
    expected = np.hstack([ess[v].values.ravel() for v in ess.data_vars]).mean()
    assert relative_efficiency(logistic_post) == pytest.approx(
        expected / logistic_post.n_draws, rel=1e-10
    )
