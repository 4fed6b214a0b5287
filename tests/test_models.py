"""NumPy likelihoods and priors agree with PyMC's own evaluation."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu

# Short fits: these tests check likelihoods and priors, not convergence.
pytestmark = pytest.mark.filterwarnings("ignore::bayes_unlearn.MCMCConvergenceWarning")


def _pymc_pointwise(post):
    X, y = post.training_data()
    model = post.model.build(
        post.standardizer.transform(X), y, term_names=post.model.term_names(post.feature_names)
    )
    ll = pm.compute_log_likelihood(
        post.idata, model=model, extend_inferencedata=False, progressbar=False
    )
    lp = pm.compute_log_prior(
        post.idata, model=model, extend_inferencedata=False, progressbar=False
    )
    n_draws = post.n_draws
    log_prior = sum(lp[v].values.reshape(n_draws, -1).sum(axis=1) for v in lp.data_vars)
    return ll["y"].values.reshape(n_draws, -1), log_prior


@pytest.fixture(scope="module")
def poly_post():
    X, y = bu.datasets.make_polynomial_regression(n=80, random_seed=2)
    return bu.fit(
        bu.PolynomialRegression(degree=3), X, y, draws=200, tune=300, chains=2, random_seed=4
    )


@pytest.fixture(scope="module")
def noisy_label_post(logistic_data):
    # The label-noise model of benchmarks/bench_label_noise.py, checked like the built-ins.
    from benchmarks.bench_label_noise import NoisyLabelLogisticRegression

    X, y = logistic_data
    return bu.fit(
        NoisyLabelLogisticRegression(), X, y, draws=200, tune=300, chains=2, random_seed=5
    )


@pytest.mark.parametrize("name", ["logistic_post", "linear_post", "poly_post", "noisy_label_post"])
def test_numpy_loglik_and_log_joint_match_pymc(name, request):
    post = request.getfixturevalue(name)
    ll_pymc, log_prior_pymc = _pymc_pointwise(post)
    assert_allclose(post.log_likelihood(), ll_pymc, rtol=0, atol=1e-8)
    h = post.idata.sample_stats["log_joint"].values.ravel()
    # PyMC's Normal logp carries log sqrt(2π) rounded to float32 (~3e-8 per prior term); a
    # constant offset in h cancels in every weight, so compare h relatively.
    assert_allclose(h, ll_pymc.sum(axis=1) + log_prior_pymc, rtol=1e-8, atol=0)


def test_polynomial_design_and_names():
    model = bu.PolynomialRegression(degree=3)
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    assert_allclose(model.design(X), np.column_stack([X, X**2, X**3]))
    assert model.term_names(["a", "b"]) == ["a^1", "b^1", "a^2", "b^2", "a^3", "b^3"]


def test_logistic_loglik_is_stable_for_extreme_linear_predictors():
    model = bu.LogisticRegression(standardize=False)
    params = {"intercept": np.array([0.0]), "coef": np.array([[800.0]])}
    ll = model.pointwise_log_likelihood(params, np.array([[1.0], [-1.0]]), np.array([1.0, 1.0]))
    assert np.all(np.isfinite(ll))
    assert_allclose(ll[0], [0.0, -800.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"degree": 0}, "degree"),
        ({"degree": 2.5}, "degree"),
        ({"sigma": -1.0}, "sigma"),
        ({"coef_prior_sd": 0.0}, "coef_prior_sd"),
        ({"intercept_prior_sd": float("nan")}, "intercept_prior_sd"),
    ],
)
def test_bad_model_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bu.PolynomialRegression(**kwargs)


def test_custom_pymc_model_matches_builtin(linear_data, linear_post):
    X, y = linear_data

    def builder(X, y):
        with pm.Model(coords={"term": [f"x{j}" for j in range(X.shape[1])]}) as m:
            a = pm.Normal("intercept", 0, 10.0)
            b = pm.Normal("coef", 0, 10.0, dims="term")
            pm.Normal("y", a + X @ b, 1.0, observed=y)
        return m

    custom = bu.PyMCModel(builder, mean_fn=lambda p, X: p["intercept"][:, None] + p["coef"] @ X.T)
    # Same draws, custom likelihood path: must equal the built-in NumPy likelihood.
    ll = custom.pointwise_log_likelihood(linear_post.params, X, y)
    assert_allclose(ll, linear_post.log_likelihood(), rtol=0, atol=1e-8)
    post = bu.fit(custom, X, y, draws=500, tune=500, chains=2, random_seed=1)
    assert post.diagnostics.reliable
    un = bu.unlearn(post, forget=[0, 1])
    assert un.diagnostics.reliable
    assert un.predict(X[:3]).shape == (3,)


def _row_constants(model) -> list:
    """Constants in the model's log density with one entry per row (60 rows here)."""
    from pytensor.graph.basic import Constant, ancestors

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int) if model.kind == "logistic" else X[:, 0]
    graph = model.build(X, y, term_names=model.term_names(["a", "b"])).logp()
    return [v for v in ancestors([graph]) if isinstance(v, Constant) and 60 in v.type.shape]


@pytest.mark.parametrize("model", [bu.LogisticRegression(), bu.PolynomialRegression()])
def test_the_compiled_density_does_not_depend_on_the_rows(model):
    """Rows in the graph as constants fix its shapes, so every refit on another number of rows
    compiled its own C modules (about 1 s each); as data they do not."""
    assert _row_constants(model) == []


def test_observations_baked_in_as_constants_are_seen(monkeypatch):
    """The positive control: the same search finds observations passed as a constant."""
    from bayes_unlearn import models

    monkeypatch.setattr(models, "_data_containers", lambda pm, design, y: (pm.Data("X", design), y))
    assert len(_row_constants(bu.PolynomialRegression())) == 1
