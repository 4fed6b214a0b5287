"""Tempered SMC (methods/smc.py) recovers exact posteriors where reweighting breaks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from tests.conftest import closed_form_posterior


def _bounded_ess(un):
    """The ESS behind the tolerances of the closed-form checks, bounded both ways.

    ``diagnostics.ess`` is SMC's own count (distinct particles for independent-MH moves, the
    final chains' bulk/tail ESS for HMC). Left as it is, a run that reported few effective
    draws would get a tolerance wide enough to pass a biased answer (at the reliability bar
    of 100 draws: 0.4 sd), and one that reported more than its S draws (HMC's antithetic
    chains: 4300 of 4000) a tolerance below the Monte Carlo error of S independent draws.
    So the ESS must reach S/4 (asserted: the tolerance is then at most 4 sd / √(S/4),
    0.13 sd at S = 4000) and is taken as at most S (the tolerance at least 4 sd / √S).
    """
    ess, n = un.diagnostics.ess, un.n_draws
    assert ess >= 0.25 * n, f"SMC's ESS {ess:.0f} of {n} draws: too few to judge it by"
    return min(ess, n)


def _assert_closed_form(un, X, y, forget):
    """Means and sds within 4 Monte Carlo se (sd / √ESS for a mean, 1 / √(2 ESS) relative
    for a Gaussian sd; ESS from ``_bounded_ess``) of the closed form."""
    keep = np.setdiff1d(np.arange(len(y)), forget)
    mean, cov = closed_form_posterior(X[keep], y[keep])
    sd, ess = np.sqrt(np.diag(cov)), _bounded_ess(un)
    table = un.summary()
    assert_allclose(table["mean"], mean, rtol=0, atol=4 * sd.max() / np.sqrt(ess))
    assert_allclose(table["sd"], sd, rtol=4 / np.sqrt(2 * ess))
    return keep


def test_smc_recovers_closed_form_for_half_the_data(linear_post, linear_data):
    X, y = linear_data
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))  # structured 50%: k̂ fails here
    un = bu.unlearn(linear_post, forget=forget, method="smc", random_seed=0)
    d = un.diagnostics
    assert d.method == "smc" and d.reliable and d.stages >= 2
    keep = _assert_closed_form(un, X, y, forget)  # ESS: distinct particles, equal weights
    assert not un.is_weighted and un.row_ids.size == keep.size
    assert un.history[-1]["method"] == "smc"
    assert [s["t"] for s in d.details["stages"]][-1] == 1.0


def test_smc_with_learned_sigma_and_polynomial_terms():
    X, y = bu.datasets.make_polynomial_regression(n=120, random_seed=3)
    post = bu.fit(
        bu.PolynomialRegression(degree=2), X, y, draws=500, tune=500, chains=2, random_seed=3
    )
    forget = np.flatnonzero(X[:, 0] > 0.5)
    un = bu.unlearn(post, forget=forget, method="smc", random_seed=1)
    ref = bu.unlearn(post, forget=forget, method="refit", random_seed=2)
    assert un.diagnostics.reliable
    assert (un.params["sigma"] > 0).all()
    c = bu.compare(un, ref)
    # Standardized mean difference ~ N(0, 1/ESS_a + 1/ESS_b) per parameter; 4.5 SE over 4 params.
    assert c.max_abs_smd < 4.5 * np.sqrt(1 / _bounded_ess(un) + 1 / _bounded_ess(ref))


def test_smc_is_reproducible_and_leaves_global_state(linear_post):
    state = np.random.get_state()[1].copy()
    a = bu.unlearn(linear_post, forget=list(range(40)), method="smc", random_seed=7)
    b = bu.unlearn(linear_post, forget=list(range(40)), method="smc", random_seed=7)
    assert_allclose(a.params["coef"], b.params["coef"])
    assert np.array_equal(np.random.get_state()[1], state)


def test_unreliable_smc_warns(linear_post, linear_data):
    X, _ = linear_data
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))
    with pytest.warns(bu.UnreliableUnlearningWarning, match="stopped at t="):
        un = bu.unlearn(linear_post, forget=forget, method="smc", max_stages=1, random_seed=0)
    assert not un.diagnostics.reliable


def test_smc_moves_a_users_own_model_by_hmc_to_the_closed_form(custom_linear_post, linear_data):
    """Any PyMC model: waste-free HMC on the compiled log density and gradient."""
    X, y = linear_data
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))
    un = bu.unlearn(custom_linear_post, forget=forget, method="smc", random_seed=1)
    d = un.diagnostics
    assert d.reliable and d.details["kernel"] == "HMC" and d.stages >= 2
    assert d.ess == d.ess_bulk >= 0.25 * un.n_draws  # the final chains were extended to it
    _assert_closed_form(un, X, y, forget)  # the chains' bulk/tail ESS as independent draws


@pytest.mark.forks
def test_hmc_smc_gives_the_same_draws_on_any_number_of_cores(custom_linear_post, linear_data):
    """The chains and their ESS split over forked processes (``cores``): same result, to
    rounding, as in one process (the random numbers are drawn in the parent)."""
    X, _ = linear_data
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))
    one, two = (
        bu.unlearn(custom_linear_post, forget=forget, method="smc", random_seed=3, cores=c)
        for c in (1, 2)
    )
    for name in one.params:
        assert_allclose(two.params[name], one.params[name], rtol=1e-9, atol=1e-12)
    assert two.diagnostics.ess_bulk == pytest.approx(one.diagnostics.ess_bulk, rel=1e-9)
    assert one.diagnostics.details["processes"] == 1
    assert two.diagnostics.details["processes"] == (2 if sys.platform == "linux" else 1)
    for a, b in zip(
        two.diagnostics.details["stages"], one.diagnostics.details["stages"], strict=True
    ):
        assert a == pytest.approx(b, rel=1e-9)


def test_hmc_stages_keep_the_ess_at_a_share_of_their_particles(custom_linear_post, linear_data):
    """Each stage below t = 1 keeps the weights' ESS at 0.2 of the particles they are on:
    the S draws at first, the S/2 states of the intermediate chains after."""
    X, _ = linear_data
    forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 0.2))  # 80%: five stages
    un = bu.unlearn(custom_linear_post, forget=forget, method="smc", random_seed=1)
    stages = un.diagnostics.details["stages"]
    assert un.diagnostics.reliable and len(stages) >= 3
    for i, stage in enumerate(stages):
        target = 0.2 * un.n_draws / (1 if i == 0 else 2)
        if stage["t"] < 1.0:
            assert stage["ess"] == pytest.approx(target, rel=1e-3)
        else:
            assert stage["ess"] >= target * (1 - 1e-3)


def test_hmc_smc_reports_chains_that_did_not_mix(custom_linear_post, linear_data):
    X, _ = linear_data
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))
    with pytest.warns(bu.UnreliableUnlearningWarning, match="final chains' ESS"):
        un = bu.unlearn(custom_linear_post, forget=forget, method="smc", min_ess=1e5, random_seed=0)
    assert not un.diagnostics.reliable


def _baked_builder(X, y):
    """The conjugate linear model with its rows as NumPy constants, as most examples write it."""
    import pymc as pm

    with pm.Model() as m:
        intercept = pm.Normal("intercept", 0.0, 10.0)
        coef = pm.Normal("coef", 0.0, 10.0, shape=X.shape[1])
        pm.Normal("y", intercept + X @ coef, 1.0, observed=y)
    return m


def test_smc_moves_a_model_with_rows_baked_in_as_it_moves_pm_data(custom_linear_post, linear_data):
    X, y = linear_data
    # custom_linear_post's model and fit, its rows written as constants instead of pm.Data.
    post = bu.fit(
        bu.PyMCModel(_baked_builder), X, y, draws=1000, tune=1000, chains=4, random_seed=11
    )
    assert post.compiled().lifted  # the rows were constants, now inputs
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))
    un = bu.unlearn(post, forget=forget, method="smc", random_seed=1)
    assert un.diagnostics.method == "smc" and un.diagnostics.reliable
    _assert_closed_form(un, X, y, forget)
    same = bu.unlearn(custom_linear_post, forget=forget, method="smc", random_seed=1)
    assert_allclose(un.params["coef"], same.params["coef"], rtol=1e-6)


def test_smc_from_a_weighted_posterior_matches_the_closed_form(linear_post, linear_data):
    X, y = linear_data
    first = bu.unlearn(linear_post, forget=[0, 1], method="reweight")
    assert first.is_weighted
    forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 0.7))
    forget = forget[~np.isin(forget, [0, 1])]
    un = bu.unlearn(first, forget=forget, method="smc", random_seed=2)
    keep = np.setdiff1d(np.arange(len(y)), [0, 1, *forget])
    mean, cov = closed_form_posterior(X[keep], y[keep])
    sd, ess = np.sqrt(np.diag(cov)), _bounded_ess(un)
    table = un.summary()
    assert un.diagnostics.reliable
    assert_allclose(table["mean"], mean, rtol=0, atol=4 * sd.max() / np.sqrt(ess))
    assert_allclose(table["sd"], sd, rtol=4 / np.sqrt(2 * ess))


def test_smc_starts_from_moment_matching_where_it_goes_further(custom_linear_post, linear_data):
    """Moment matching's moved draws, unreliable alone, are a valid first SMC stage."""
    X, y = linear_data
    forget = np.flatnonzero(X[:, 0] > np.median(X[:, 0]))
    with pytest.warns(bu.UnreliableUnlearningWarning):  # one map: k̂ 0.80 -> 0.68, ESS 387
        mm = bu.unlearn(custom_linear_post, forget=forget, method="moment_match", max_iterations=1)
    assert mm.diagnostics.details["steps"]
    plain = bu.unlearn(custom_linear_post, forget=forget, method="smc", random_seed=1)
    warm = bu.unlearn(custom_linear_post, forget=forget, method="smc", start=mm, random_seed=1)
    d = warm.diagnostics
    assert d.reliable and d.warm_start and d.details["start"] == "the warm start's draws"
    assert (
        not plain.diagnostics.warm_start
        and plain.diagnostics.details["start"] == "the stored draws"
    )
    assert d.details["stages"][0]["t"] > plain.diagnostics.details["stages"][0]["t"]
    _assert_closed_form(warm, X, y, forget)


def test_smc_refuses_a_start_from_another_request(custom_linear_post):
    other = bu.unlearn(custom_linear_post, forget=list(range(5)), method="moment_match")
    with pytest.raises(ValueError, match=r"start must be .* same forget request"):
        bu.unlearn(
            custom_linear_post, forget=list(range(50)), method="smc", start=other, random_seed=0
        )
