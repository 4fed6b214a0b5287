"""compare: fidelity of an unlearned posterior to a reference."""

from __future__ import annotations

import dataclasses
import warnings

import arviz as az
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp

import bayes_unlearn as bu
from bayes_unlearn.layout import posterior_dataset, replace_sample_stats, shallow_copy
from tests.conftest import closed_form_posterior, mcmc_efficiency


def test_compare_identical_posteriors_is_zero(linear_post, linear_data):
    X, y = linear_data
    c = bu.compare(linear_post, linear_post, X_test=X, y_test=y)
    assert c.max_abs_smd == 0 and c.max_abs_log_sd_ratio == 0 and c.lpd_diff == 0
    with pytest.raises(ValueError, match="same model"):
        other = dataclasses.replace(
            linear_post, idata=az.from_dict(posterior={"z": np.zeros((1, 5))})
        )
        bu.compare(linear_post, other)
    with pytest.raises(ValueError, match="both"):
        bu.compare(linear_post, linear_post, X_test=X)


def _with_draws(post, *, params=None, log_weight=None):
    """``post`` with its draws and/or normalized log weights replaced, through the layout
    helpers every method uses (the draws keep their chain x draw shape)."""
    idata = shallow_copy(post.idata)
    if params is not None:
        idata.posterior = posterior_dataset(post.idata.posterior, params)
    if log_weight is not None:
        idata.sample_stats = replace_sample_stats(idata, log_weight=log_weight)
    return dataclasses.replace(post, idata=idata)


def test_compare_measures_known_shifts_and_scales_exactly(linear_post):
    """Draws moved by known amounts: the SMD and sd ratio are those amounts (no Monte Carlo
    error: both posteriors hold the same draws, only moved), in both directions."""
    params = {name: value.copy() for name, value in linear_post.params.items()}
    intercept, coef0 = params["intercept"], params["coef"][:, 0]
    sd_i, sd_c = intercept.std(), coef0.std()  # population sds, as compare's for equal weights
    params["coef"][:, 0] = coef0 + 1.5 * sd_c  # mean + 1.5 sd, same sd
    params["intercept"] = intercept.mean() + 2.0 * (intercept - intercept.mean()) + 1.0 * sd_i
    moved = _with_draws(linear_post, params=params)

    c = bu.compare(moved, linear_post)
    assert_allclose(c.table["smd"], [1.0, 1.5, 0.0], atol=1e-9)  # intercept, coef[x0], coef[x1]
    assert_allclose(c.table["sd_ratio"], [2.0, 1.0, 1.0], rtol=1e-9)
    assert c.max_abs_smd == pytest.approx(1.5, rel=1e-9)
    assert c.max_abs_log_sd_ratio == pytest.approx(np.log(2.0), rel=1e-9)
    # Reversed: the difference is measured in the reference's sd (2 sd_i for the intercept).
    r = bu.compare(linear_post, moved)
    assert_allclose(r.table["smd"], [-0.5, -1.5, 0.0], atol=1e-9)
    assert_allclose(r.table["sd_ratio"], [0.5, 1.0, 1.0], rtol=1e-9)
    assert r.max_abs_log_sd_ratio == pytest.approx(np.log(2.0), rel=1e-9)


def test_compare_uses_the_importance_weights_of_both_posteriors(linear_post):
    """Draws tilted by ``w ∝ exp(λ z)`` (z: coef[x0] standardized): for a Gaussian posterior
    the weighted mean moves by λ sd and the sd stays, so compare must see an SMD of λ."""
    draws = linear_post.parameter_draws()
    z = ((draws["coef[x0]"] - draws["coef[x0]"].mean()) / draws["coef[x0]"].std()).to_numpy()
    lam = 1.0
    log_w = lam * z - logsumexp(lam * z)
    tilted = _with_draws(linear_post, log_weight=log_w)
    assert tilted.is_weighted

    c = bu.compare(tilted, linear_post)
    w = np.exp(log_w)
    mean = np.average(draws.to_numpy(), axis=0, weights=w)
    sd = np.sqrt(np.average((draws.to_numpy() - mean) ** 2, axis=0, weights=w))
    assert_allclose(c.table["mean"], mean, rtol=1e-10)
    assert_allclose(c.table["sd"], sd, rtol=1e-10)
    assert_allclose(c.table["mean_ref"], draws.mean(), rtol=1e-10)
    # Monte Carlo error of the tilted mean: sd / sqrt(ESS), ESS = Kish ESS of the weights x
    # the chains' efficiency (about 0.37 x 4000 here); 4 standard errors.
    ess = 1 / np.sum(w**2) * mcmc_efficiency(linear_post)
    assert c.table.loc["coef[x0]", "smd"] == pytest.approx(lam, abs=4 / np.sqrt(ess))
    assert c.table.loc["coef[x0]", "sd_ratio"] == pytest.approx(1.0, abs=4 / np.sqrt(2 * ess))
    # The weights of the reference count too (its mean and sd), and equal weights cancel.
    r = bu.compare(linear_post, tilted)
    assert_allclose(r.table["mean_ref"], mean, rtol=1e-10)
    assert_allclose(r.table["sd_ref"], sd, rtol=1e-10)
    assert r.table.loc["coef[x0]", "smd"] == pytest.approx(-lam, abs=4 / np.sqrt(ess))
    assert bu.compare(tilted, tilted).max_abs_smd == 0


def test_a_reweighted_posterior_compares_close_to_the_closed_form(linear_post, linear_data):
    """Forgetting the 5 largest residuals moves the intercept 0.8 sd: compare finds the
    reweighted draws at the exact posterior (drawn i.i.d. from the closed form) only with
    their weights; the same draws with equal weights are far from it."""
    X, y = linear_data
    A = np.column_stack([np.ones(len(y)), X])
    forget = np.argsort(y - A @ closed_form_posterior(X, y)[0])[-5:]
    keep = np.setdiff1d(np.arange(len(y)), forget)
    with warnings.catch_warnings():  # k̂ 0.2 passes; 1360 of 4000 effective draws does not
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        un = bu.unlearn(linear_post, forget=forget, method="reweight")
    mean, cov = closed_form_posterior(X[keep], y[keep])
    exact_draws = np.random.default_rng(0).multivariate_normal(mean, cov, linear_post.n_draws)
    exact = _with_draws(
        linear_post, params={"intercept": exact_draws[:, 0], "coef": exact_draws[:, 1:]}
    )
    # Each SMD ~ N(0, 1/ESS + 1/S) when both are right; 4.5 standard errors over 3 parameters.
    ess = un.diagnostics.ess * mcmc_efficiency(linear_post)
    tolerance = 4.5 * np.sqrt(1 / ess + 1 / exact.n_draws)
    assert bu.compare(un, exact).max_abs_smd < tolerance
    unweighted = _with_draws(un, log_weight=np.full(un.n_draws, -np.log(un.n_draws)))
    assert bu.compare(unweighted, exact).max_abs_smd > 3 * tolerance  # 0.8 sd off
