"""A saved unlearned posterior gives no forgotten row back: the attack suite, every method.

Each file is attacked by :func:`bayes_unlearn.audit_erasure` beside an exact refit's file;
planted leaks (an importance ratio or the first fit's feature scaling left in the file)
show that the attacks do work when there is something to find.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn import layout
from bayes_unlearn.methods import refit as refit_method
from bayes_unlearn.models import Standardizer
from tests.conftest import closed_form_posterior

FORGET = [7]  # one row: the reconstruction attack then solves for its values


def _data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal([5.0, 0.0, 1.0], [1.0, 2.0, 3.0], size=(n, 3))
    y = 0.5 + X @ np.array([1.0, -0.5, 0.2]) + rng.standard_normal(n)
    return X, y


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module", params=[True, False], ids=["standardized", "raw"])
def fitted(request, data):
    X, y = data
    model = bu.PolynomialRegression(standardize=request.param)
    return bu.fit(model, X[:120], y[:120], draws=500, tune=500, chains=2, random_seed=1)


@pytest.fixture(scope="module")
def references(fitted):
    """Exact refits, one per forget set, shared by the audits of every method."""
    cache = {}

    def get(rows):
        key = tuple(sorted(rows))
        if key not in cache:
            cache[key] = bu.unlearn(fitted, forget=list(key), method="refit", random_seed=9)
        return cache[key]

    return get


def _forget(post, method, tmp_path):
    if method == "sequential":
        first = bu.unlearn(post, forget=[3], method="reweight")
        return bu.unlearn(first, forget=FORGET, method="reweight"), [3, *FORGET]
    if method == "load-forget-save":
        post.save(tmp_path / "fit.nc")
        return bu.unlearn(bu.load(tmp_path / "fit.nc"), forget=FORGET), FORGET
    return bu.unlearn(post, forget=FORGET, method=method, random_seed=0), FORGET


@pytest.mark.parametrize(
    "method", ["auto", "reweight", "smc", "refit", "sequential", "load-forget-save"]
)
def test_every_attack_fails_against_every_method(method, fitted, references, data, tmp_path):
    X, y = data
    un, rows = _forget(fitted, method, tmp_path)
    path = tmp_path / "unlearned.nc"
    un.save(path, random_seed=3)
    audit = bu.audit_erasure(
        path,
        X[rows],
        y[rows],
        X_unseen=X[120:],
        y_unseen=y[120:],
        reference=references(rows),
        n_bootstrap=200,
    )
    assert audit.passed, str(audit)
    kinds = set(audit.attacks["attack"])
    assert {
        "per-draw array: forgotten-row share of variance",
        "aggregate read as a mean over all rows",
        "rows stored verbatim",
        "unkeyed SHA-256 fingerprints of forgotten rows",
    } <= kinds
    assert audit.duplicates["audited"] == 0.0
    _assert_file_within_allowlist(path)


def _assert_file_within_allowlist(path):
    """Enumerate the file with h5py (not our loader) against the layout's allowlists."""
    with h5py.File(path, "r") as fh:
        assert set(fh.attrs) - {"_NCProperties"} == {"bayes_unlearn"}  # + netCDF4 version
        meta = json.loads(fh.attrs["bayes_unlearn"])
        groups = {k for k in fh if isinstance(fh[k], h5py.Group)}
        assert groups == set(layout.SAVED_GROUPS)
        stats = set(fh["sample_stats"]) - {"chain", "draw"}
        assert stats <= layout.allowed_sample_stats(meta["draws_source"])
        assert set(fh["observed_data"]) - {"obs_id"} == {"y"}
        assert set(fh["constant_data"]) - {"obs_id", "feature"} == {"X"}
    assert set(meta) <= layout.METADATA_KEYS
    assert meta["draws_source"] in ("fit", "refit", "refresh")
    for req in meta["history"]:
        assert set(req) <= set(layout.HISTORY_KEYS)
    assert set(meta["diagnostics"]) <= set(layout.DIAGNOSTICS_KEYS)
    text = json.dumps(meta)
    for word in ("pareto_k", "log_weight", "importance", "acceptance", "k̂"):
        assert word not in text


def test_a_planted_importance_ratio_is_found(fitted, references, data, monkeypatch, tmp_path):
    X, y = data
    un = bu.unlearn(fitted, forget=FORGET, method="reweight")
    allowed = layout.allowed_sample_stats
    monkeypatch.setattr(
        layout, "allowed_sample_stats", lambda s: allowed(s) | {"log_importance_ratio"}
    )
    leaky = dataclasses.replace(un, draws_source="refit")  # skip the refresh
    audit = bu.audit_erasure(leaky, X[FORGET], y[FORGET], reference=references(FORGET))
    assert not audit.passed
    hit = audit.attacks.set_index(["attack", "target"])
    solved = hit.loc[
        ("per-draw array: solve for the forgotten row", "sample_stats/log_importance_ratio")
    ]
    assert solved["succeeded"] and solved["audited"] < 1e-3 and not solved["baseline"]


def test_a_planted_first_fit_scaling_is_found(data, monkeypatch):
    X, y = data
    post = bu.fit(
        bu.PolynomialRegression(), X[:120], y[:120], draws=500, tune=500, chains=2, random_seed=1
    )
    monkeypatch.setattr(refit_method, "remaining_scaling", lambda p, rows: p.standardizer)
    with warnings.catch_warnings():  # the refit's own convergence is not what is tested
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        un = bu.unlearn(post, forget=FORGET, method="refit", random_seed=1)
    audit = bu.audit_erasure(un, X[FORGET], y[FORGET])
    row = audit.attacks.set_index("target").loc["metadata.standardizer.mean"]
    assert row["succeeded"] and row["audited"] < 1e-8 and not row["baseline"]
    assert not audit.passed


def test_forgetting_moves_to_the_remaining_rows_scaling(data):
    """Reweighting, SMC and refit all end in D_r's scaling and match D_r's closed form."""
    X, y = data
    model = bu.PolynomialRegression(sigma=1.0, standardize=True)
    post = bu.fit(model, X[:120], y[:120], draws=1000, tune=500, chains=4, random_seed=4)
    forget = [2, 40, 77]
    keep = np.setdiff1d(np.arange(120), forget)
    scaling = Standardizer.fit(X[keep])
    # Priors are on standardized coefficients: the closed form in D_r's own scaling.
    mean, cov = closed_form_posterior(scaling.transform(X[keep]), y[keep])
    sd = np.sqrt(np.diag(cov))
    for method in ("reweight", "smc", "refit"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
            un = bu.unlearn(post, forget=forget, method=method, random_seed=5)
        assert un.standardizer == scaling
        table = un.summary()
        # Effective draws: Kish ESS x the fit's MCMC efficiency (reweight), distinct
        # particles (SMC), bulk ESS (refit).
        efficiency = post.diagnostics.ess / post.n_draws if method == "reweight" else 1.0
        ess = min(un.diagnostics.ess, un.n_draws) * efficiency
        assert_allclose(table["mean"], mean, rtol=0, atol=4.5 * sd.max() / np.sqrt(ess))
        assert_allclose(table["sd"], sd, rtol=4.5 / np.sqrt(2 * ess))


def test_stored_log_joint_is_the_refresh_target(linear_post, data):
    """h(θ) stored in memory after reweighting and SMC equals a fresh evaluation."""
    for un in (
        bu.unlearn(linear_post, forget=[1, 2], method="reweight"),
        bu.unlearn(linear_post, forget=list(range(20)), method="smc", random_seed=0),
    ):
        X, y = un.training_data()
        ll = un.model.pointwise_log_likelihood(un.params, un.standardizer.transform(X), y)
        h = ll.sum(axis=1) + un.model.log_prior(un.params)
        assert_allclose(un.idata.sample_stats["log_joint"].values.ravel(), h, rtol=1e-12)
