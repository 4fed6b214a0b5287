"""The generic compiled path (compiled.py): any PyMC model's densities, batched over draws."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn import compiled
from bayes_unlearn.compiled import CompiledModel, UnsupportedModelError


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    return X, rng


def _prior_draws(pm_model, names, n_draws=100, seed=1):
    """Constrained draws from the prior: any values in the support test the densities."""
    prior = pm.sample_prior_predictive(draws=n_draws, model=pm_model, random_seed=seed).prior
    return {name: prior[name].values[0] for name in names}


BUILTINS = {
    "logistic": lambda X, rng: (
        bu.LogisticRegression(),
        (X[:, 0] + rng.standard_normal(len(X)) > 0).astype(float),
    ),
    "polynomial, learned sigma": lambda X, rng: (
        bu.PolynomialRegression(degree=2),
        1.0 + X[:, 0] + 0.3 * rng.standard_normal(len(X)),
    ),
}


@pytest.fixture(scope="module", params=list(BUILTINS))
def builtin(request):
    X, rng = _data()
    model, y = BUILTINS[request.param](X, rng)
    X_std = (X - X.mean(axis=0)) / X.std(axis=0)
    pm_model = model.build(X_std, y, term_names=model.term_names(["x0", "x1"]))
    cm = CompiledModel(pm_model)
    return model, _prior_draws(pm_model, cm.names), cm, X_std, y


def test_builtin_models_match_the_generic_path_to_1e_8(builtin):
    model, params, cm, X_std, y = builtin
    u = cm.unconstrain(params)
    assert u.shape == (100, cm.dim)
    expected = model.pointwise_log_likelihood(params, X_std, y)
    assert_allclose(cm.pointwise_log_likelihood(u), expected, rtol=0, atol=1e-8)
    # Priors agree up to a normalizing constant (PyMC and SciPy round log(2π) differently).
    diff = cm.log_prior_constrained(u) - model.log_prior(params)
    assert_allclose(diff - diff.mean(), 0.0, atol=1e-8)
    jacobian = np.log(params["sigma"]) if "sigma" in cm.names else 0.0
    assert_allclose(cm.log_prior(u) - cm.log_prior_constrained(u), jacobian, atol=1e-10)
    back = cm.constrain(u)
    for name in cm.names:
        assert_allclose(back[name], params[name], rtol=1e-12)


def test_rows_are_inputs_so_a_subset_needs_no_recompilation(builtin):
    model, params, cm, X_std, y = builtin
    u = cm.unconstrain(params)
    full = cm.pointwise_log_likelihood(u)
    functions = cm._functions
    rows = np.array([3, 5, 7, 40])
    assert_allclose(cm.pointwise_log_likelihood(u, cm.subset(rows)), full[:, rows], atol=1e-12)
    # New rows: the same builder on them gives the row inputs; nothing is recompiled.
    other = cm.rows_of(model.build(X_std[rows], y[rows], term_names=cm.model.coords["term"]))
    assert_allclose(cm.pointwise_log_likelihood(u, other), full[:, rows], atol=1e-12)
    assert cm._functions is functions and len(functions._compiled) >= 2
    twin = CompiledModel(model.build(X_std, y, term_names=cm.model.coords["term"]))
    assert twin._functions is functions  # one compilation per model structure


def test_gradient_matches_central_differences(builtin):
    _, params, cm, *_ = builtin
    u = cm.unconstrain(params)[:5]
    weights = np.linspace(0.0, 1.0, cm.n_rows)  # a tempered likelihood: c_i in [0, 1]
    logp, grad = cm.log_density_and_grad(u, weights)
    expected = (weights * cm.pointwise_log_likelihood(u)).sum(axis=1) + cm.log_prior(u)
    assert_allclose(logp, expected, rtol=1e-12)
    _assert_central_differences(cm, u, weights, grad, atol=1e-5)


def _assert_central_differences(cm, u, weights, grad, atol):
    eps = 1e-5
    for j in range(cm.dim):
        step = np.zeros(cm.dim)
        step[j] = eps
        up = cm.log_density_and_grad(u + step, weights)[0]
        down = cm.log_density_and_grad(u - step, weights)[0]
        assert_allclose(grad[:, j], (up - down) / (2 * eps), rtol=1e-5, atol=atol)


def hierarchical(X, y):
    """Varying intercepts over 8 groups; rows carry their group and one covariate."""
    with pm.Model(coords={"group": range(8)}) as model:
        group = pm.Data("group", X[:, 0].astype("int64"), dims="obs")
        x = pm.Data("x", X[:, 1], dims="obs")
        mu = pm.Normal("mu", 0.0, 2.0)
        tau = pm.HalfNormal("tau", 1.0)
        a = pm.Normal("a", mu, tau, dims="group")
        b = pm.Normal("b", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", a[group] + b * x, sigma, observed=y, dims="obs")
    return model


def _hierarchical_rows(seed):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 8, 120)
    X = np.column_stack([group, rng.standard_normal(120)])
    return X, rng.normal(0.5 * group - 1.0 + 0.7 * X[:, 1], 0.8)


def test_a_hierarchical_model_matches_pymc_in_one_batched_call():
    X, y = _hierarchical_rows(3)
    group = X[:, 0].astype(int)
    model = hierarchical(X, y)
    cm = CompiledModel(model)
    assert set(cm.row_data) == {CompiledModel.OBSERVED, "group", "x"}
    with model:
        idata = pm.sample_prior_predictive(draws=300, random_seed=4)
    prior = idata.prior
    params = {name: prior[name].values[0] for name in cm.names}
    u = cm.unconstrain(params)
    ll = cm.pointwise_log_likelihood(u)  # (300, 120) in one call
    expected = pm.compute_log_likelihood(
        az.InferenceData(posterior=prior),
        model=model,
        extend_inferencedata=False,
        progressbar=False,
    )["y"].values[0]
    assert_allclose(ll, expected, rtol=0, atol=1e-8)
    rows = np.flatnonzero(group == 2)
    assert_allclose(cm.pointwise_log_likelihood(u, cm.subset(rows)), ll[:, rows], atol=1e-12)
    lp = pm.compute_log_prior(
        az.InferenceData(posterior=prior),
        model=model,
        extend_inferencedata=False,
        progressbar=False,
    )
    lp_sum = sum(lp[name].values[0].reshape(300, -1).sum(axis=1) for name in lp.data_vars)
    diff = cm.log_prior_constrained(u) - lp_sum
    assert_allclose(diff - diff.mean(), 0.0, atol=1e-8)


def _with(extra):
    def build():
        X, rng = _data()
        with pm.Model() as model:
            x = pm.Data("x", X[:, 0])
            b = pm.Normal("b")
            extra(model, X, b, x)
        return model

    return build


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            _with(
                lambda m, X, b, x: (
                    pm.Normal("y", b * x, 1.0, observed=X[:, 1]),
                    pm.Potential("pen", -(b**2)),
                )
            ),
            "pm.Potential",
        ),
        (
            _with(
                lambda m, X, b, x: (
                    pm.Poisson("k", 3.0),
                    pm.Normal("y", b * x, 1.0, observed=X[:, 1]),
                )
            ),
            "Discrete free variables",
        ),
        (
            _with(
                lambda m, X, b, x: (
                    pm.Normal("y", b * x, 1.0, observed=X[:, 1]),
                    pm.Normal("z", b, 1.0, observed=X[:, 0]),
                )
            ),
            "2 observed variables",
        ),
    ],
    ids=["potential", "discrete", "two observed"],
)
def test_unsupported_models_are_refused_with_the_reason(build, match):
    with pytest.raises(UnsupportedModelError, match=match):
        cm = CompiledModel(build())
        cm.pointwise_log_likelihood(np.zeros((1, cm.dim)))


def hierarchical_baked(X, y, levels=8):
    """``hierarchical`` as most examples write it: rows as NumPy constants, no pm.Data."""
    group = X[:, 0].astype("int64")
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 2.0)
        tau = pm.HalfNormal("tau", 1.0)
        a = pm.Normal("a", mu, tau, shape=levels)
        b = pm.Normal("b", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", a[group] + b * X[:, 1], sigma, observed=y)
    return model


def test_rows_baked_in_as_constants_are_lifted_into_inputs():
    X, y = _hierarchical_rows(3)
    cm, ref = CompiledModel(hierarchical_baked(X, y)), CompiledModel(hierarchical(X, y))
    assert len(cm.lifted) == 2  # the group index and the covariate
    with hierarchical(X, y):
        prior = pm.sample_prior_predictive(draws=200, random_seed=4).prior
    u = ref.unconstrain({name: prior[name].values[0] for name in ref.names})
    assert_allclose(cm.pointwise_log_likelihood(u), ref.pointwise_log_likelihood(u), atol=1e-10)
    rows = np.arange(10, 70)  # a subset as inputs, the same compiled functions
    assert_allclose(
        cm.pointwise_log_likelihood(u, cm.subset(rows)),
        ref.pointwise_log_likelihood(u, ref.subset(rows)),
        atol=1e-10,
    )
    logp, grad = cm.log_density_and_grad(u, np.linspace(0, 1, 120))
    logp_ref, grad_ref = ref.log_density_and_grad(u, np.linspace(0, 1, 120))
    assert_allclose(logp, logp_ref, atol=1e-8) and assert_allclose(grad, grad_ref, atol=1e-8)
    # New rows through the same builder land in the same places.
    other = cm.rows_of(hierarchical_baked(X[:30], y[:30]))
    assert_allclose(cm.pointwise_log_likelihood(u, other), ref.pointwise_log_likelihood(u)[:, :30])
    cm.confirm_rows(hierarchical_baked(X[:-1], y[:-1]))


def test_a_constant_of_the_rows_length_by_coincidence_is_not_lifted_blindly():
    X, y = _hierarchical_rows(3)
    offsets = np.linspace(-1, 1, 120)  # one per level of 120 levels, not one per row

    def builder(X, y):
        with pm.Model() as model:
            group = pm.Data("group", X[:, 0].astype("int64"))
            b = pm.Normal("b", 0.0, 1.0)
            pm.Normal("y", pt.as_tensor(offsets)[group] + b * X[:, 1], 1.0, observed=y)
        return model

    cm = CompiledModel(builder(X, y))
    with pytest.raises(compiled.RowsNotInputsError, match="not the rows' own"):
        cm.confirm_rows(builder(X[:-1], y[:-1]))


def test_levels_taken_from_the_data_are_refused_with_the_reason():
    X, y = _hierarchical_rows(3)
    X[-1, 0] = 8  # the last row is a level of its own

    def builder(X, y):
        return hierarchical_baked(X, y, levels=int(X[:, 0].max()) + 1)

    cm = CompiledModel(builder(X, y))
    with pytest.raises(compiled.RowsNotInputsError, match="change shape with its rows"):
        cm.confirm_rows(builder(X[:-1], y[:-1]))
    with warnings.catch_warnings():  # a short fit; its convergence is not what is tested
        warnings.simplefilter("ignore", bu.MCMCConvergenceWarning)
        post = bu.fit(bu.PyMCModel(builder), X, y, draws=100, tune=100, chains=1, random_seed=0)
    with pytest.raises(ValueError, match="levels come from the data"):
        post.compiled()


@pytest.fixture(scope="module")
def hierarchical_compiled():
    model = hierarchical(*_hierarchical_rows(5))
    cm = CompiledModel(model)
    with model:
        prior = pm.sample_prior_predictive(draws=300, random_seed=6).prior
    return cm, cm.unconstrain({name: prior[name].values[0] for name in cm.names})


def test_hierarchical_gradient_matches_central_differences_across_batches(
    hierarchical_compiled, monkeypatch
):
    """Indexing a[group] makes the gradient a scatter-add (bayes_unlearn._scatter); 300 draws
    span two batches of CompiledModel.batch_draws."""
    cm, u = hierarchical_compiled
    monkeypatch.setattr(compiled, "CALL_VALUES", 0)  # batches of batch_draws, whatever the rows
    assert u.shape[0] > cm.batch_draws
    weights = np.linspace(0.2, 1.0, cm.n_rows)
    logp, grad = cm.log_density_and_grad(u, weights)
    assert logp.shape == (300,) and grad.shape == (300, cm.dim)
    _assert_central_differences(cm, u, weights, grad, atol=1e-4)


def test_a_draw_out_of_bounds_gets_minus_infinity_alone(hierarchical_compiled):
    """PyMC's parameter checks judge each draw: one scale underflowing to 0 (a wild leapfrog
    step) must not fail or poison the rest of the batch."""
    cm, u = hierarchical_compiled
    u = u[:5].copy()
    sigma = cm.names.index("sigma")
    u[2, cm.blocks[sigma].start] = -800.0  # exp(-800) == 0.0
    logp, grad = cm.log_density_and_grad(u)
    ll = cm.pointwise_log_likelihood(u).sum(axis=1)
    assert np.isneginf(logp[2]) and np.isneginf(ll[2])
    others = np.array([0, 1, 3, 4])
    assert np.isfinite(logp[others]).all() and np.isfinite(grad[others]).all()
    assert_allclose(logp[others], cm.log_density_and_grad(u[others])[0], rtol=1e-12)


def test_blocks_of_rows_on_threads_give_one_blocks_numbers(custom_linear_post, monkeypatch):
    """Blocks run side by side on threads (and Dask's threaded scheduler) share one compiled
    function, whose storage is per function: calls are serialized, so the numbers hold."""
    from bayes_unlearn import _rowwise

    whole = custom_linear_post.log_likelihood()
    # A task per block (these 40 blocks would make one task), on as many threads as the
    # machine has (the suite caps computations at one core).
    monkeypatch.setattr(_rowwise, "TASK_VALUES", 1)
    with bu.set_options(chunk_rows=3, cores=8):
        np.testing.assert_array_equal(custom_linear_post.log_likelihood(), whole)
        with bu.set_options(dask=True):
            np.testing.assert_array_equal(custom_linear_post.log_likelihood(), whole)


def test_calls_into_one_compiled_function_are_serialized(custom_linear_post, monkeypatch):
    """A compiled function keeps its inputs and outputs in storage of its own, so the row
    sweep's threads take turns calling it (``compiled._CALLS``). Without the lock the real
    function fails now and then (4 of 5 threaded sweeps in a trial); a stand-in with storage
    of its own that lets another thread run mid-call makes the race show every time:
    without the lock (planted below) the threads' blocks get each other's numbers, or the
    real function fails."""
    import contextlib
    import time

    from bayes_unlearn import _rowwise

    functions = custom_linear_post.compiled()._functions
    real = functions["loglik"]

    class OwnStorage:
        def __call__(self, *args):
            self.args = args
            time.sleep(0.001)  # another thread may run here
            return real(*self.args)

    monkeypatch.setitem(functions._compiled, "loglik", OwnStorage())

    def loglik(cores):
        with bu.set_options(chunk_rows=10, cores=cores):
            return custom_linear_post.log_likelihood()

    serial = loglik(1)
    monkeypatch.setattr(_rowwise, "TASK_VALUES", 1)  # a task per block: 12 tasks on threads
    np.testing.assert_array_equal(loglik(8), serial)
    monkeypatch.setattr(compiled, "_CALLS", contextlib.nullcontext())
    try:  # the race the lock prevents: mixed numbers, or the real function's storage torn
        raced = not np.array_equal(loglik(8), serial)
    except ValueError:
        raced = True
    assert raced


def test_a_posterior_of_a_custom_model_reuses_its_compiled_model(custom_linear_post):
    """SMC, moment matching and the log-likelihood of one posterior share one compiled model
    (building it took 0.08 s a time on the radon model)."""
    assert custom_linear_post.compiled() is custom_linear_post.compiled()


def test_a_custom_model_keeps_its_compiled_path_by_data(
    custom_linear_post, linear_data, monkeypatch
):
    """A new posterior's log-likelihood and log-prior ask for the same data in turn: the
    model is built and its graphs made once for both (the compiled functions are shared).
    The cache is bounded: here at two entries, the least recently used goes."""
    from bayes_unlearn import compiled
    from bayes_unlearn._cache import LRUCache

    monkeypatch.setattr(compiled, "COMPILED", LRUCache(maxsize=2))
    X, y = linear_data
    model = custom_linear_post.model
    first = model._compiled(X[:50], y[:50])
    assert model._compiled(X[:50].copy(), y[:50].copy()) is first
    other = model._compiled(X[:40], y[:40])
    assert other is not first and other.n_rows == 40
    assert model._compiled(X[:50], y[:50]) is first  # used last: kept over the other
    model._compiled(X[:30], y[:30])
    assert model._compiled(X[:50], y[:50]) is first
    assert model._compiled(X[:40], y[:40]) is not other  # the least recently used went
    params = custom_linear_post.params
    assert_allclose(
        model.log_prior(params, X[:50], y[:50]),
        first.log_prior_constrained(first.unconstrain(params)),
    )


def test_weighted_sums_of_rows_match_the_pointwise_log_likelihood(hierarchical_compiled):
    """Sums over sets of rows in one pass (moment matching's and SMC's two densities), over
    300 draws in two batches, equal the (draws, rows) array summed."""
    cm, u = hierarchical_compiled
    rng = np.random.default_rng(0)
    W = np.stack([rng.random(cm.n_rows) < 0.3, np.ones(cm.n_rows), rng.random(cm.n_rows)], 1)
    ll = cm.pointwise_log_likelihood(u)
    assert_allclose(cm.weighted_log_likelihoods(u, W), ll @ W, rtol=1e-12, atol=1e-9)
    rows = np.arange(10)
    assert_allclose(
        cm.weighted_log_likelihoods(u, np.ones((10, 1)), cm.subset(rows))[:, 0],
        ll[:, rows].sum(axis=1),
        rtol=1e-12,
    )


def _with_row_dim(n):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    with pm.Model(coords={"obs": np.arange(n)}) as model:
        b = pm.Normal("b", 0, 1)
        s = pm.HalfNormal("s", 1)
        pm.Normal("y", b * pm.Data("x", x, dims="obs"), s, observed=x, dims="obs")
    return model


def test_one_compiled_structure_serves_every_row_count_of_a_row_dim():
    """The row dim's length (a shared variable, as Bambi's ``__obs__``) follows the rows: a
    request that leaves 29 of 30 rows reuses the functions compiled for 30."""
    full, fewer = CompiledModel(_with_row_dim(30)), CompiledModel(_with_row_dim(29))
    assert hasattr(full.model.dim_lengths["obs"], "get_value")
    assert compiled._structure_key(full) == compiled._structure_key(fewer)
    u = np.array([[0.5, np.log(1.2)]])
    point = {"b": 0.5, "s_log__": np.log(1.2)}
    (expected,) = fewer.model.compile_logp(vars=[fewer.model["y"]], sum=False)(point)
    assert_allclose(full.pointwise_log_likelihood(u, fewer.row_data)[0], expected, rtol=1e-12)
