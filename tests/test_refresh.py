"""The refresh (refresh.py): weighted draws become distinct, equally weighted draws of p(θ | D_r)."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

import bayes_unlearn as bu


def test_composition_across_a_save_holds_within_monte_carlo_error(linear_post, tmp_path):
    a, b = [3, 17], [42, 64]
    once = bu.unlearn(linear_post, forget=a + b, method="reweight")
    linear_post_a = bu.unlearn(linear_post, forget=a, method="reweight")
    linear_post_a.save(tmp_path / "a.nc", random_seed=0)
    back = bu.load(tmp_path / "a.nc")
    assert back.draws_source == "refresh" and not back.is_weighted
    step = bu.unlearn(back, forget=b, method="reweight")
    assert [r["row_ids"] for r in step.history] == [a, b]
    s1, s2 = once.summary(), step.summary()
    # Two estimates with independent Monte Carlo errors: their difference has variance
    # sd²(1/ESS_1 + 1/ESS_2), ESS = Kish ESS x the draws' MCMC efficiency.
    efficiency = linear_post.diagnostics.ess / linear_post.n_draws
    se = s1["sd"].max() * np.sqrt(
        1 / (once.diagnostics.ess * efficiency) + 1 / (step.diagnostics.ess * efficiency)
    )
    assert_allclose(s2["mean"], s1["mean"], atol=4.5 * se)


def test_refresh_moves_every_draw_and_reports_its_cost(linear_post):
    un = bu.unlearn(linear_post, forget=[1, 2, 3], method="reweight")
    fresh = un.refresh(random_seed=0)
    d = fresh.diagnostics
    assert fresh.draws_source == "refresh" and d.method == "refresh"
    assert d.distinct_draws == fresh.n_draws and d.ess == fresh.n_draws
    assert d.details["sweeps"] >= 1 and 0 < d.details["acceptance"] <= 1
    assert d.seconds > 0 and not fresh.is_weighted
    # Same seed, same draws; the caller's posterior is untouched.
    again = un.refresh(random_seed=0)
    assert_allclose(again.params["coef"], fresh.params["coef"])
    assert un.draws_source == "reweight"
    # log_joint is h(θ) on the remaining rows only.
    X, y = fresh.training_data()
    h = fresh.log_likelihood().sum(axis=1) + fresh.model.log_prior(fresh.params)
    assert_allclose(fresh.idata.sample_stats["log_joint"].values.ravel(), h)
    assert fresh.refresh() is fresh


def test_a_users_pymc_model_is_refreshed_by_hmc_not_refitted(custom_linear_post, linear_data):
    from tests.conftest import closed_form_posterior

    X, y = linear_data
    forget = np.arange(12)
    un = bu.unlearn(custom_linear_post, forget=forget, method="reweight")
    fresh = un.refresh(random_seed=3)
    d = fresh.diagnostics
    assert fresh.draws_source == "refresh" and "HMC steps" in d.verdict and d.reliable
    # Every saved draw is new: none repeats another or any stored draw of the fit.
    draws = fresh.parameter_draws().to_numpy()
    stored = custom_linear_post.parameter_draws().to_numpy()
    assert np.unique(draws, axis=0).shape[0] == fresh.n_draws
    assert not (draws[:, None, :] == stored[None, :, :]).all(axis=2).any()
    # The closed form of the remaining rows, within 4 Monte Carlo se; the draws are counted
    # as a quarter as many independent ones (SMC's target for its final chains).
    keep = np.setdiff1d(np.arange(len(y)), forget)
    mean, cov = closed_form_posterior(X[keep], y[keep])
    sd, ess = np.sqrt(np.diag(cov)), fresh.n_draws / 4
    table = fresh.summary()
    assert_allclose(table["mean"], mean, rtol=0, atol=4 * sd.max() / np.sqrt(ess))
    assert_allclose(table["sd"], sd, rtol=4 / np.sqrt(2 * ess))


def test_draws_that_still_remember_their_starts_are_refitted_instead(custom_linear_post):
    # Positive control of the stopping rule: one HMC step leaves the draws correlated with
    # the resampled ones they started from, so they are not saved.
    un = bu.unlearn(custom_linear_post, forget=np.arange(12), method="reweight")
    fresh = un.refresh(random_seed=3, max_sweeps=1)
    assert fresh.draws_source == "refit" and "correlate" in fresh.diagnostics.reason
