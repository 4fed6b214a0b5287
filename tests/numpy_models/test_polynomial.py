"""PolynomialRegressor with the EMSE objective (numpy_models/polynomial.py)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn.numpy_models import (
    PolynomialRegressor,
    emse_objective,
    fair_r2,
    r2,
)


@pytest.fixture(scope="module")
def mixed():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 200)
    y = 0.5 * x**3 - x**2 + 2 + rng.normal(0, 1, 200)
    bad = np.flatnonzero(rng.random(200) < 0.3)
    y[bad] = -(0.5 * x[bad] ** 3 - x[bad] ** 2 + 2) + 10 + rng.normal(0, 1, bad.size)
    return x[:, None], y, bad, PolynomialRegressor(degree=3).fit(x[:, None], y)


def test_polynomial_regressor_matches_numpy_polyfit():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, 50)
    y = 1 + 2 * x - x**3 + rng.normal(0, 0.1, 50)
    model = PolynomialRegressor(degree=3).fit(x[:, None], y)
    assert_allclose(model.predict(x[:, None]), np.polyval(np.polyfit(x, y, 3), x), atol=1e-8)


def test_emse_gradient_matches_finite_differences(mixed):
    X, y, bad, model = mixed
    A = model.design(X)
    mask = np.isin(np.arange(len(y)), bad)
    coef = model.coef_ + 0.1
    for sigma in (1.0, None):

        def f(c, sigma=sigma):
            return emse_objective(c, A[~mask], y[~mask], A[mask], y[mask], mu=0.5, sigma=sigma)

        _, grad = f(coef)
        numeric = [(f(coef + e)[0] - f(coef - e)[0]) / 2e-6 for e in 1e-6 * np.eye(coef.size)]
        assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_emse_with_mu_zero_is_the_exact_refit(mixed):
    X, y, bad, model = mixed
    ref = bu.unlearn(model, forget=bad, method="retrain")
    un = bu.unlearn(model, forget=bad, method="emse", mu=0.0, tol=1e-14, max_iter=200_000)
    assert_allclose(un.coef_, ref.coef_, rtol=1e-5, atol=1e-5)


def test_emse_unlearns_the_unwanted_rows(mixed):
    X, y, bad, model = mixed
    wanted = np.setdiff1d(np.arange(len(y)), bad)
    before = r2(y[wanted], model.predict(X[wanted]))
    un = bu.unlearn(model, forget=bad, method="emse", mu=1.0, sigma=1.0)
    after = r2(y[wanted], un.predict(X[wanted]))
    assert before < 0.6 and after > 0.95
    assert fair_r2(y[wanted], un.predict(X[wanted]), y[bad], un.predict(X[bad])) > 0.95
    assert np.all(np.diff(un.emse_history_) <= 1e-9)  # gradient descent never went uphill
    assert un.forget_history_ == [bad.tolist()] and un.X_fit_.shape[0] == wanted.size


def test_unbounded_squared_reward_is_refused(mixed):
    X, y, bad, model = mixed
    with pytest.raises(ValueError, match=r"unbounded below for mu=5.*Use mu < "):
        bu.unlearn(model, forget=bad, method="emse", mu=5.0, sigma=None)
    un = bu.unlearn(model, forget=bad, method="emse", mu=0.1, sigma=None)  # below the bound: fine
    assert np.isfinite(un.coef_).all()


def test_point_model_errors(mixed):
    X, y, bad, model = mixed
    with pytest.raises(ValueError, match="Did you mean 'emse'"):
        bu.unlearn(model, forget=bad, method="emsee")
    with pytest.raises(ValueError, match="unknown ids"):
        bu.unlearn(model, forget=[999], method="emse")
    with pytest.raises(ValueError, match="'sigma'"):
        bu.unlearn(model, forget=bad, method="emse", sigma=-1.0)
    with pytest.raises(ValueError, match="not fitted"):
        PolynomialRegressor().predict(X)
    twice = bu.unlearn(model, forget=[1], method="retrain")
    with pytest.raises(ValueError, match="already forgotten"):
        bu.unlearn(twice, forget=[1], method="retrain")
