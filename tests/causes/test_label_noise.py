"""The ``flipped`` ranking: each row's posterior probability of a flipped label."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.metrics import roc_auc_score

import bayes_unlearn as bu
from bayes_unlearn.causes import _label_noise


def _by_hand(draws: dict, rate: str, z: np.ndarray, y: float) -> float:
    """One row's flip probability averaged over the draws, one draw at a time."""
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    chances = []
    for s in range(len(draws["alpha"])):
        p = sigmoid(draws["alpha"][s] + z @ draws["beta"][s] + (z**2 - 1) @ draws["beta2"][s])
        logit = draws["gamma"][s][:, 0]
        if rate != "constant":
            logit = logit + draws["delta"][s] @ z
        flip0, flip1 = sigmoid(logit[0]), sigmoid(logit[-1])
        flipped, kept = (
            ((1 - p) * flip0, p * (1 - flip1)) if y == 1 else (p * flip1, (1 - p) * (1 - flip0))
        )
        chances.append(flipped / (flipped + kept))
    return float(np.mean(chances))


@pytest.mark.parametrize("rate", _label_noise.FLIP_RATES)
def test_the_flip_probability_is_the_models_in_any_blocks(rate, monkeypatch):
    rng = np.random.default_rng(0)
    chains, draws, features = 2, 5, 3
    labels = 2 if rate == "regional per label" else 1
    shapes = {"alpha": (), "beta": (features,), "beta2": (features,), "gamma": (labels, 1)}
    if rate != "constant":
        shapes["delta"] = (labels, features)
    posterior = {k: rng.normal(size=(chains, draws, *s)) for k, s in shapes.items()}
    idata = az.from_dict(posterior=posterior)
    Z = rng.normal(size=(11, features))
    y = (rng.random(11) < 0.5).astype(float)
    flat = {k: v.reshape(chains * draws, *v.shape[2:]) for k, v in posterior.items()}
    expected = [_by_hand(flat, rate, Z[i], y[i]) for i in range(len(y))]
    whole, se = _label_noise._flipped(idata, rate=rate, Z=Z, y=y)
    assert_allclose(whole, expected, rtol=1e-12)
    assert np.all(se > 0) and np.all((whole > 0) & (whole < 1))
    monkeypatch.setattr(_label_noise, "_BLOCK_ROWS", 4)  # three blocks, the last one short
    assert_allclose(_label_noise._flipped(idata, rate=rate, Z=Z, y=y)[0], whole, rtol=1e-12)


def _loo(*gains) -> dict:
    """Pointwise elpd of the flip rates in order, each the previous one's plus a difference
    whose sum is ``gain`` standard errors of itself (sd 0.1 over 400 rows)."""
    rng = np.random.default_rng(1)
    n, sd = 400, 0.1
    values = [rng.normal(-0.5, 0.2, n)]
    for gain in gains:
        e = rng.standard_normal(n)
        values.append(values[-1] + gain * sd / np.sqrt(n) + sd * (e - e.mean()) / e.std())
    rates = _label_noise.FLIP_RATES
    return {r: SimpleNamespace(loo_i=pd.Series(v)) for r, v in zip(rates, values, strict=True)}


def test_a_richer_flip_rate_is_chosen_only_when_it_wins_by_two_standard_errors():
    choose = _label_noise.simplest_unless_beaten
    assert choose(_loo(1.5, 0.0)) == "constant"  # the best elpd, but within 2 se
    assert choose(_loo(3.0, 0.0)) == "regional"
    assert choose(_loo(3.0, 3.0)) == "regional per label"
    # Against the constant rate, the last one wins by 4.5 / sqrt(2) se.
    assert choose(_loo(1.5, 3.0)) == "regional per label"


def test_a_richer_flip_rate_whose_fit_did_not_converge_is_not_chosen():
    ok, bad = {"problems": []}, {"problems": ["R-hat 1.025 > 1.01"]}
    loo = _loo(3.0, 3.0)  # each richer rate wins by 3 se
    choose = _label_noise._choose
    assert choose(loo, dict.fromkeys(loo, ok)) == ("regional per label", [])
    by_label = {**dict.fromkeys(loo, ok), "regional per label": bad}
    assert choose(loo, by_label) == ("regional", ["regional per label"])
    # The per-label rate still beats the constant one where the regional fit failed.
    regional = {**dict.fromkeys(loo, ok), "regional": bad}
    assert choose(loo, regional) == ("regional per label", ["regional"])
    # The constant rate is the fallback, converged or not (its problems reach the verdict).
    assert choose(loo, {"constant": bad, "regional": bad, "regional per label": bad})[0] == (
        "constant"
    )


@pytest.fixture(scope="module")
def flipped_labels():
    """A logistic model fitted to 220 rows of which 30 carry flipped labels, and 80 clean
    trusted rows."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((300, 2))
    y = (rng.random(300) < 1 / (1 + np.exp(-(0.2 + X @ np.array([2.0, -1.5]))))).astype(float)
    X_fit, y_fit, X_f, y_f = X[:220], y[:220].copy(), X[220:], y[220:]
    bad = rng.choice(220, size=30, replace=False)
    y_fit[bad] = 1 - y_fit[bad]
    post = bu.fit(
        bu.LogisticRegression(), X_fit, y_fit, draws=500, tune=500, chains=2, random_seed=3
    )
    return post, bad, X_f, y_f


@pytest.mark.slow
def test_flipped_labels_rank_first(flipped_labels):
    post, bad, X_f, y_f = flipped_labels
    causes = bu.identify_causes(post, X_f, y_f, method="reweight", score="flipped", random_seed=4)
    table = causes.table.loc[post.row_ids]
    # Chance ranks at AUC 0.5 with a standard error of sqrt((n₁ + n₀ + 1) / (12 n₁ n₀)) = 0.056
    # for 30 flipped and 190 kept rows: four of them above chance.
    auc = roc_auc_score(np.isin(post.row_ids, bad), table["flipped"])
    assert auc > 0.5 + 4 * 0.056, auc
    assert causes.score == "flipped" and causes.reliable
    assert table["flipped"].between(0, 1).all() and (table["flipped_se"] > 0).all()
    details = causes.diagnostics.details["label_noise"]
    assert details["flip_rate"] in _label_noise.FLIP_RATES
    assert set(details["elpd_loo"]) == set(_label_noise.FLIP_RATES)
    assert set(details["not_converged"]) <= set(_label_noise.FLIP_RATES[1:])
    assert details["r_hat"] <= 1.01


def test_flipped_needs_a_logistic_model_and_is_asked_for_up_front(linear_post, flipped_labels):
    X, _ = linear_post.training_data()
    with pytest.raises(ValueError, match=r"score='flipped'.*LogisticRegression"):
        bu.identify_causes(linear_post, X[:5], X[:5, 0], score="flipped", random_seed=0)
    post, _, X_f, y_f = flipped_labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableScoresWarning)
        causes = bu.identify_causes(post, X_f, y_f, method="reweight", random_seed=0)
    with pytest.raises(ValueError, match="label-noise fits"):
        causes.ranked_by("flipped")
