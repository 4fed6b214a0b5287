"""The refresh (refreshing.py): weighted draws become distinct, equally weighted draws of p(θ | D_r)."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from tests.conftest import short_refits


def test_composition_across_a_save_holds_within_monte_carlo_error(linear_post, tmp_path):
    a, b = [3, 17], [42, 64]
    once = bu.unlearn(linear_post, forget=a + b, method="reweight")
    linear_post_a = bu.unlearn(linear_post, forget=a, method="reweight")
    bu.save(linear_post_a, tmp_path / "a.nc", random_seed=0)
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
    fresh = bu.refresh(un, random_seed=0)
    d = fresh.diagnostics
    assert fresh.draws_source == "refresh" and d.method == "refresh"
    assert d.distinct_draws == fresh.n_draws and d.ess == fresh.n_draws
    assert d.details["sweeps"] >= 1 and 0 < d.details["acceptance"] <= 1
    assert d.seconds > 0 and not fresh.is_weighted
    # Same seed, same draws; the caller's posterior is untouched.
    again = bu.refresh(un, random_seed=0)
    assert_allclose(again.params["coef"], fresh.params["coef"])
    assert un.draws_source == "reweight"
    # log_joint is h(θ) on the remaining rows only.
    X, y = fresh.training_data()
    h = fresh.log_likelihood().sum(axis=1) + fresh.model.log_prior(fresh.params)
    assert_allclose(fresh.idata.sample_stats["log_joint"].values.ravel(), h)
    assert bu.refresh(fresh) is fresh


def test_a_users_pymc_model_is_refreshed_by_hmc_not_refitted(custom_linear_post, linear_data):
    from tests.conftest import closed_form_posterior

    X, y = linear_data
    forget = np.arange(12)
    un = bu.unlearn(custom_linear_post, forget=forget, method="reweight")
    fresh = bu.refresh(un, random_seed=3)
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
    post = short_refits(custom_linear_post)  # the check: the fallback ran, not its draws
    un = bu.unlearn(post, forget=np.arange(12), method="reweight")
    fresh = bu.refresh(un, random_seed=3, max_sweeps=1)
    assert fresh.draws_source == "refit" and "correlate" in fresh.diagnostics.reason


def test_smc_chains_that_forgot_their_starts_are_saved_as_they_are(
    custom_linear_post, linear_data, tmp_path
):
    from bayes_unlearn._kernels import memory, origins_of
    from bayes_unlearn.audit import _duplicate_fraction
    from tests.conftest import closed_form_posterior

    X, y = linear_data
    forget = np.arange(40)
    un = bu.unlearn(custom_linear_post, forget=forget, method="smc", random_seed=1)
    origins = origins_of(un.idata, un.compiled().unconstrain(un.params))
    # 4 x 1000 draws: 200 chains of 20 kept states, 50 whole chains in each stored chain.
    assert origins.chain_draws == 20 and origins.memory <= 4 / np.sqrt(un.n_draws)
    assert origins.memory == memory(origins.starts, origins.draws)
    saved = bu.save(un, tmp_path / "smc.nc", random_seed=0)
    d = saved.diagnostics
    assert saved.draws_source == "smc_chains" and d.method == "refresh" and d.reliable
    assert d.details["sweeps"] == 0 and "forgotten their starts" in d.verdict
    assert_allclose(saved.params["coef"], un.params["coef"], rtol=0, atol=0)  # not moved
    back = bu.load(tmp_path / "smc.nc", model=custom_linear_post.model)
    assert back.draws_source == "smc_chains" and back.is_saveable
    # Rejected HMC steps repeat a draw's predecessor: the file has repeats, and the audit
    # reads them as a chain's rejections (as in a NUTS file) ...
    flat = back.parameter_draws().to_numpy()
    assert d.distinct_draws == np.unique(flat, axis=0).shape[0] < back.n_draws
    assert _duplicate_fraction(back) == 0.0
    # ... but counts a copy of a draw of another stored chain (the planted control).
    planted = back.idata.copy()
    for name in ("intercept", "coef"):
        planted.posterior[name][1, 7] = planted.posterior[name][0, 3]
    assert _duplicate_fraction(dataclasses.replace(back, idata=planted)) == 1 / back.n_draws
    # The draws are p(θ | D_r): the closed form within 4 Monte Carlo se at SMC's own ESS.
    keep = np.setdiff1d(np.arange(len(y)), forget)
    mean, cov = closed_form_posterior(X[keep], y[keep])
    sd, ess = np.sqrt(np.diag(cov)), un.diagnostics.ess_bulk
    table = back.summary()
    assert_allclose(table["mean"], mean, rtol=0, atol=4 * sd.max() / np.sqrt(ess))
    assert_allclose(table["sd"], sd, rtol=4 / np.sqrt(2 * ess))


def test_chains_are_saved_as_they_are_only_when_whole_and_forgotten():
    from types import SimpleNamespace

    from bayes_unlearn._kernels import Origins
    from bayes_unlearn.refreshing import _forgotten_chains

    draws = np.zeros((4000, 2))

    def posterior(per_stored_chain):
        return SimpleNamespace(idata=SimpleNamespace(posterior=SimpleNamespace(
            sizes={"draw": per_stored_chain})))  # fmt: skip

    whole = Origins(draws, draws, 200, 0.5, memory=0.05)
    assert _forgotten_chains(posterior(1000), whole)
    assert not _forgotten_chains(posterior(1000), None)  # no record: not SMC's chains
    assert not _forgotten_chains(posterior(1010), whole)  # a stored chain splits an HMC one
    # Remembering their starts (above 4 / sqrt(4000) = 0.063), or thinned across chains.
    assert not _forgotten_chains(posterior(1000), dataclasses.replace(whole, memory=0.07))
    assert not _forgotten_chains(posterior(1000), dataclasses.replace(whole, n_chains=201))


def test_smc_draws_are_refreshed_against_their_chains_starts(
    custom_linear_post, linear_data, monkeypatch
):
    """Where SMC's chains cannot be saved as they are, the refresh moves them."""
    from bayes_unlearn import refreshing
    from bayes_unlearn._kernels import memory, origins_of
    from tests.conftest import closed_form_posterior

    monkeypatch.setattr(refreshing, "_forgotten_chains", lambda posterior, origins: False)
    X, y = linear_data
    forget = np.arange(40)
    un = bu.unlearn(custom_linear_post, forget=forget, method="smc", random_seed=1)
    draws = un.compiled().unconstrain(un.params)
    origins = origins_of(un.idata, draws)
    # SMC recorded, for each particle, the resampled particle its final chain started from;
    # its burn-in left the particles forgetting them to what independent draws show.
    assert origins is not None and origins.starts.shape == draws.shape
    assert origins.step_size > 0 and origins.n_chains == -(-un.n_draws // 20)
    assert memory(origins.starts, origins.draws) <= 4 / np.sqrt(un.n_draws)
    # The record belongs to these draws only: other draws or another object get none.
    assert origins_of(un.idata, draws + 1e-6) is None
    assert origins_of(un.idata.copy(), draws) is None
    fresh = bu.refresh(un, random_seed=0)
    d = fresh.diagnostics
    assert fresh.draws_source == "refresh" and "SMC chains' starts" in d.verdict
    assert d.distinct_draws == fresh.n_draws
    # The refreshed draws still remember nothing of the starts, and are counted by SMC's
    # chains: an ESS between SMC's own smallest one and the independent draws' 4000 (ArviZ's
    # estimate of antithetic chains can exceed it by a little).
    new = fresh.compiled().unconstrain(fresh.params)
    assert memory(origins.starts, new) <= 4 / np.sqrt(un.n_draws)
    assert 0.5 * un.diagnostics.ess_bulk <= d.ess_bulk <= 1.2 * fresh.n_draws
    keep = np.setdiff1d(np.arange(len(y)), forget)
    mean, cov = closed_form_posterior(X[keep], y[keep])
    sd = np.sqrt(np.diag(cov))
    table = fresh.summary()
    assert_allclose(table["mean"], mean, rtol=0, atol=4 * sd.max() / np.sqrt(d.ess_bulk))
    assert_allclose(table["sd"], sd, rtol=4 / np.sqrt(2 * d.ess_bulk))


def test_chains_ess_is_arviz_smallest_bulk_or_tail_ess():
    import warnings

    import arviz as az

    from bayes_unlearn._kernels import chains_ess

    rng = np.random.default_rng(0)
    states = np.zeros((200, 20, 6))
    noise = rng.standard_normal(states.shape)
    for t in range(20):  # AR(1) chains, two coordinates skewed
        states[:, t] = (0.6 * states[:, t - 1] if t else 0.0) + noise[:, t]
    states[..., :2] = np.exp(states[..., :2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = az.convert_to_dataset(states)
        expected = min(float(az.ess(data, method=m)["x"].min()) for m in ("bulk", "tail"))
    assert_allclose(chains_ess(states.reshape(-1, 6), 200), expected, rtol=1e-10)


def _funnel(z):
    """Neal's funnel in 2-D: v ~ N(0, 1), x | v ~ N(0, e^v); log density and gradient."""
    v, x = z[:, 0], z[:, 1]
    log_p = -0.5 * v**2 - 0.5 * x**2 * np.exp(-v) - 0.5 * v
    grad = np.column_stack([-v + 0.5 * x**2 * np.exp(-v) - 0.5, -x * np.exp(-v)])
    return log_p, grad


def test_draws_in_a_funnels_neck_move_sooner_with_short_jittered_steps(monkeypatch):
    from bayes_unlearn import refreshing as module

    rng = np.random.default_rng(4)
    v = rng.standard_normal(2000)
    starts = np.column_stack([v, np.exp(v / 2) * rng.standard_normal(2000)])
    far = rng.permutation(starts)  # already forgotten: only moving every draw is left
    options = {"step": 0.5, "cholesky": np.diag(starts.std(axis=0)), "pool": None}

    def steps():
        walk = module._walk(
            starts, far, _funnel, np.random.default_rng(1), max_sweeps=60, **options
        )
        assert walk.done
        return walk.sweeps

    with_stragglers = steps()  # 6 steps
    monkeypatch.setattr(module, "STRAGGLING", module.REMEMBERING)
    assert with_stragglers < 0.7 * steps()  # 13 steps


def test_short_steps_wait_until_few_draws_are_left_unmoved(monkeypatch):
    """Draws that already forgot their starts (SMC's) still take long steps while most have
    not moved: short steps for every draw drift a funnel's scale (radon's county intercepts)."""
    from bayes_unlearn import refreshing as module

    taken = []
    hmc = module.hmc_chains

    def recording(Z, *args, trajectory, **kwargs):
        taken.append(trajectory)
        return hmc(Z, *args, trajectory=trajectory, **kwargs)

    monkeypatch.setattr(module, "hmc_chains", recording)
    rng = np.random.default_rng(6)
    starts = rng.standard_normal((2000, 2))
    forgotten = rng.standard_normal((2000, 2))  # independent of the draws
    walk = module._walk(
        starts, forgotten, _normal, np.random.default_rng(1), step=0.9, cholesky=np.eye(2),
        pool=None, max_sweeps=60,
    )  # fmt: skip
    assert walk.done and len(taken) == walk.sweeps >= 3
    long, short = module.REMEMBERING["trajectory"], module.STRAGGLING["trajectory"]
    # Long steps until at most 5% are unmoved (about 20% after one step, 4% after two).
    assert taken[:2] == [long, long] and set(taken[2:]) == {short}


def test_draws_already_away_from_their_starts_need_only_break_their_repeats():
    """SMC's draws reach the refresh forgetting their chains' starts and nearly all away
    from them: left are the repeats of rejected steps and the odd draw at its start."""
    from bayes_unlearn import refreshing as module

    rng = np.random.default_rng(5)
    starts = rng.standard_normal((2000, 2))
    starts[1::12] = starts[0::12][: starts[1::12].shape[0]]  # 8% repeat a neighbour
    reference = rng.standard_normal((2000, 2))  # independent of the draws: forgotten
    reference[::50] = starts[::50]  # 2% are still where their chains started

    def walk(away):
        return module._walk(
            starts, reference, _normal, np.random.default_rng(1), step=0.9,
            cholesky=np.eye(2), pool=None, max_sweeps=60, away=away,
        )  # fmt: skip

    short, every = walk(np.any(starts != reference, axis=1)), walk(None)
    for w in (short, every):
        assert w.done and np.unique(w.Z, axis=0).shape[0] == 2000
        assert np.any(w.Z != reference, axis=1).all()  # none is left at its start
    # Control: where every draw must move (resampled draws), the walk takes longer.
    assert 1 <= short.sweeps < every.sweeps


def _normal(z):
    return -0.5 * (z**2).sum(axis=1), -z
