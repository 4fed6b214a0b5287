"""Weighted predictive, summaries, resampled InferenceData, comparison."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit

import bayes_unlearn as bu


def test_predict_proba_is_weighted_average(logistic_post, logistic_data):
    X, _ = logistic_data
    un = bu.unlearn(logistic_post, forget=[0, 1, 2])
    p = un.params
    draws = expit(p["intercept"][:, None] + p["coef"] @ un.standardizer.transform(X[:5]).T)
    assert_allclose(un.predict_proba(X[:5]), un.weights @ draws)
    assert set(np.unique(un.predict(X))) <= {0, 1}
    interval = un.predict_interval(X[:5], prob=0.9)
    assert list(interval.columns) == ["mean", "lower", "upper"]
    assert np.all((interval["lower"] <= interval["mean"]) & (interval["mean"] <= interval["upper"]))


def test_dataframe_input_is_matched_by_column_name(logistic_post, logistic_data):
    X, _ = logistic_data
    df = pd.DataFrame(X[:4], columns=["x0", "x1", "x2"])
    assert_allclose(
        logistic_post.predict_proba(df[["x2", "x0", "x1"]]), logistic_post.predict_proba(X[:4])
    )
    with pytest.raises(ValueError, match="missing the columns"):
        logistic_post.predict_proba(df[["x0", "x1"]])


@pytest.mark.parametrize(
    ("X", "exc", "match"),
    [
        (np.zeros((2, 4)), ValueError, "must have 3 feature columns"),
        (np.array([[np.nan, 0, 0]]), ValueError, "NaN"),
        (np.zeros((0, 3)), ValueError, "no rows"),
        ([["a", "b", "c"]], TypeError, "must be numeric"),
    ],
)
def test_bad_prediction_input(logistic_post, X, exc, match):
    with pytest.raises(exc, match=match):
        logistic_post.predict_proba(X)


def test_draws_selected_by_chain_are_their_own_posterior(linear_post, linear_data):
    """Dropping chains (a stuck one, ``idata.isel(chain=...)``) leaves stored weights that
    sum to less than one; read normalized, the selection is an unweighted posterior."""
    sub = dataclasses.replace(linear_post, idata=linear_post.idata.isel(chain=[0, 1]))
    assert sub.weights.sum() == pytest.approx(1.0) and not sub.is_weighted
    X, y = linear_data
    ll = sub.pointwise_log_likelihood(X[:5], y[:5])
    by_hand = np.log(np.mean(np.exp(ll), axis=0))
    assert_allclose(sub.log_predictive_density(X[:5], y[:5], pointwise=True), by_hand)


def test_predict_proba_needs_a_classifier(linear_post):
    with pytest.raises(TypeError, match="classification"):
        linear_post.predict_proba(np.zeros((1, 2)))


def test_weighted_summary_matches_resampled_idata(linear_post):
    un = bu.unlearn(linear_post, forget=list(range(6)))
    idata = bu.to_inference_data(un, random_seed=0)
    assert idata.posterior["coef"].shape == linear_post.idata.posterior["coef"].shape
    assert idata.attrs["rows_forgotten"] == 6
    assert idata.attrs["draws_source"] == "refresh"
    assert "log_weight" not in idata.sample_stats
    summary = az.summary(idata, kind="stats")
    ours = un.summary()
    # Resampling adds noise of order sd / sqrt(S) to the mean.
    assert_allclose(
        summary["mean"].to_numpy(),
        ours["mean"].to_numpy(),
        atol=4 * ours["sd"].max() / np.sqrt(un.n_draws),
    )
    assert un.draws_source in ("reweight", "smc")


def test_unweighted_summary_has_mcmc_diagnostics(linear_post):
    table = linear_post.summary()
    assert {"mean", "sd", "eti_3%", "eti_97%", "ess_bulk", "r_hat"} <= set(table.columns)
    assert list(table.index) == ["intercept", "coef[x0]", "coef[x1]"]


def test_import_is_light():
    code = "import sys, bayes_unlearn; print('pymc' in sys.modules, 'arviz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_weighted_quantile_is_hazen_for_equal_weights():
    from bayes_unlearn._weighted import weighted_quantile

    x = np.random.default_rng(0).standard_normal((101, 3))
    w = np.full(101, 1 / 101)
    q = [0.03, 0.5, 0.97]
    assert_allclose(weighted_quantile(x, w, q), np.quantile(x, q, axis=0, method="hazen"))
    # The definition: interpolate between the weighted CDF's midpoints (0.05, 0.15, 0.6).
    vals = np.array([[0.0], [1.0], [2.0]])
    median = weighted_quantile(vals, np.array([0.1, 0.1, 0.8]), [0.5])[0, 0]
    assert median == pytest.approx(1.0 + (0.5 - 0.15) / (0.6 - 0.15))


def test_loo_in_blocks_equals_arviz_loo(logistic_post):
    idata = bu.to_inference_data(logistic_post, resample=False, log_likelihood=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's k̂ warning, if any: not what is tested
        reference = az.loo(idata, pointwise=True)
        with bu.set_options(chunk_rows=7):
            ours = logistic_post.loo(pointwise=True)
    for name in ("elpd_loo", "se", "p_loo"):
        assert ours[name] == pytest.approx(reference[name], rel=1e-10), name
    assert_allclose(ours["pareto_k"].values, reference["pareto_k"].values, rtol=1e-10)
    assert ours["warning"] == reference["warning"] and ours["good_k"] == reference["good_k"]
    assert az.compare({"a": ours, "b": reference}).loc["a", "elpd_loo"] == pytest.approx(
        reference["elpd_loo"]
    )


@pytest.mark.parametrize(
    ("name", "spelling"),
    [("save", r"bayes_unlearn.save\(posterior, path\)"), ("refresh", r"bayes_unlearn.refresh")],
)
def test_a_moved_method_says_where_it_went(linear_post, name, spelling):
    with pytest.raises(AttributeError, match=spelling):
        getattr(linear_post, name)
    with pytest.raises(AttributeError, match="no attribute 'sav'"):
        linear_post.sav  # noqa: B018  any other missing name is an ordinary AttributeError
