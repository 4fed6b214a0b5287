"""auto (methods/auto.py): the cheapest method whose diagnostics pass, and it says why."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from tests.conftest import closed_form_posterior, short_refits


def test_default_method_is_auto(linear_post, linear_data):
    X, _ = linear_data
    small = bu.unlearn(linear_post, forget=[0])
    assert small.history[-1]["requested"] == "auto" and small.diagnostics.reason.startswith("auto")
    forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 0.8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default never hands back an unreliable result
        big = bu.unlearn(linear_post, forget=forget, random_seed=0)
    assert big.diagnostics.method in ("moment_match", "smc", "refit") and big.diagnostics.reliable


def test_auto_picks_reweighting_for_small_forget_sets(linear_post):
    un = bu.unlearn(linear_post, forget=[1, 2], method="auto")
    assert un.diagnostics.method == "reweight" and un.diagnostics.reliable
    assert un.diagnostics.reason.startswith("auto: k̂")


def test_auto_climbs_to_moment_matching_when_reweighting_breaks(linear_post, linear_data):
    X, _ = linear_data
    forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 0.75))  # plain k̂ 0.91
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        un = bu.unlearn(linear_post, forget=forget, random_seed=0)
    d = un.diagnostics
    assert d.method == "moment_match" and d.reliable
    assert d.reason.startswith("auto: reweighting unreliable (k̂ 0.91")
    assert d.reason.endswith("moment matching diagnostics passed")


def test_auto_switches_to_smc_when_moment_matching_fails(linear_post, linear_data):
    X, _ = linear_data
    forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 0.7))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto must not hand back an unreliable result silently
        un = bu.unlearn(  # no map allowed: moment matching is plain reweighting, and fails
            linear_post, forget=forget, random_seed=0, moment_match_options={"max_iterations": 0}
        )
    d = un.diagnostics
    assert d.method == "smc" and d.reliable
    assert "reweighting unreliable" in d.reason and "moment matching unreliable" in d.reason


def test_auto_falls_back_to_refit_when_smc_fails(linear_post, linear_data):
    X, _ = linear_data
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))
    un = bu.unlearn(
        short_refits(linear_post, draws=500, tune=500),  # the check: which rung ran
        forget=forget,
        method="auto",
        random_seed=0,
        smc_options={"max_stages": 1},
        moment_match_options={"max_iterations": 1},
    )
    d = un.diagnostics
    assert d.method == "refit" and "SMC unreliable" in d.reason and "exact refit" in d.reason
    assert "moment matching unreliable" in d.reason


def test_auto_skips_moment_matching_for_weighted_draws(linear_post, linear_data):
    X, _ = linear_data
    first = bu.unlearn(linear_post, forget=[0, 1], method="reweight")
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))
    forget = forget[~np.isin(forget, [0, 1])]
    un = bu.unlearn(first, forget=forget, random_seed=0)
    assert "moment matching skipped: the draws are already weighted" in un.diagnostics.reason


def test_auto_moves_a_users_own_model_by_smc(custom_linear_post, linear_data):
    X, y = linear_data
    forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 0.7))
    un = bu.unlearn(
        custom_linear_post, forget=forget, random_seed=0, moment_match_options={"max_iterations": 0}
    )
    d = un.diagnostics
    assert d.method == "smc" and d.reliable and d.details["kernel"] == "HMC"
    assert "moment matching unreliable" in d.reason and "SMC diagnostics passed" in d.reason
    keep = np.setdiff1d(np.arange(len(y)), forget)
    mean, cov = closed_form_posterior(X[keep], y[keep])
    atol = 4 * np.sqrt(np.diag(cov)).max() / np.sqrt(d.ess)
    assert_allclose(un.summary()["mean"], mean, rtol=0, atol=atol)


def test_auto_starts_smc_from_moment_matchings_draws(custom_linear_post, linear_data):
    """Moment matching moved the draws part of the way (one map): SMC starts from them."""
    X, y = linear_data
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))
    un = bu.unlearn(
        custom_linear_post, forget=forget, random_seed=0, moment_match_options={"max_iterations": 1}
    )
    d = un.diagnostics
    assert d.method == "smc" and d.reliable and d.warm_start
    assert d.details["start"] == "the warm start's draws"
    assert d.reason.endswith("SMC diagnostics passed (from moment matching's draws)")
    keep = np.setdiff1d(np.arange(len(y)), forget)
    mean, cov = closed_form_posterior(X[keep], y[keep])
    atol = 4 * np.sqrt(np.diag(cov)).max() / np.sqrt(d.ess)
    assert_allclose(un.summary()["mean"], mean, rtol=0, atol=atol)
