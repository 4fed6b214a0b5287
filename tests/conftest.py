"""Shared fitted posteriors (session-scoped: MCMC runs once per test session)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
from pathlib import Path

# One core per computation: the suite already keeps both cores busy with two workers, and
# PyMC's chain processes spend more CPU for the same draws (benchmarks/results/overheads.md).
# Set before bayes_unlearn is imported, so that notebook kernels and command-line processes
# started by the tests inherit it; the tests of parallel paths ask for their cores.
os.environ.setdefault("BAYES_UNLEARN_CORES", "1")

import numpy as np
import pytest
import threadpoolctl
from filelock import FileLock
from hypothesis import HealthCheck, settings

import bayes_unlearn as bu
from bayes_unlearn import _random
from bayes_unlearn._forked import fork_unavailable

# And BLAS's threads shared out between the workers (as scikit-learn's conftest does): OpenBLAS
# starts one thread per CPU in every worker, and its threads spin while they wait.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    threadpoolctl.threadpool_limits(
        limits=max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    )


# Every draw the package makes in a test comes from a ``random_seed`` the test gave: an
# unseeded call passes or fails by chance (a CI run once diverged where no local run did).
# The package's two entry points to randomness are wrapped before any of its modules (loaded
# lazily) imports them by name; inside a test or fixture, ``random_seed=None`` reaching them
# fails, unless the test is marked ``unseeded`` (where the default itself is the point).
_SEEDS = {"required": False}


def _seeded_only(fn):
    @functools.wraps(fn)
    def seeded_only(random_seed=None, *args, **kwargs):
        if random_seed is None and _SEEDS["required"]:
            raise AssertionError(
                f"{fn.__name__}(None): bayes_unlearn drew random numbers without a random_seed "
                "from the test; pass one (or mark the test 'unseeded')"
            )
        return fn(random_seed, *args, **kwargs)

    return seeded_only


for _name in ("get_random_generator", "seed_to_int"):
    setattr(_random, _name, _seeded_only(getattr(_random, _name)))


@contextlib.contextmanager
def _seeds_required(node):
    before = _SEEDS["required"]
    _SEEDS["required"] = node.get_closest_marker("unseeded") is None
    try:
        yield
    finally:
        _SEEDS["required"] = before


def pytest_configure(config):
    """Faster C compilation of PyTensor's modules, in each process that runs tests.

    On a fresh machine the suite compiles about 250 PyTensor C modules: compile each without
    debug symbols and with the headers they all share precompiled (tests/_compile_flags.py;
    the same machine code). Set here for this process and, through ``PYTENSOR_FLAGS``, the
    notebook kernels and command-line processes it starts; not where the caller sets the
    compiler flags. Not in the process that only hands tests out to xdist's workers: the flags
    need PyMC imported (4-5 s), and each worker sets them for itself.
    """
    distributing = (
        config.getoption("numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ
    )
    if distributing or "gcc__cxxflags" in os.environ.get("PYTENSOR_FLAGS", ""):
        return
    from tests._compile_flags import fast_compile_flags

    os.environ["PYTENSOR_FLAGS"] = ",".join(
        filter(None, [os.environ.get("PYTENSOR_FLAGS"), f"gcc__cxxflags={fast_compile_flags()}"])
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    with _seeds_required(request.node):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    with _seeds_required(pyfuncitem):
        yield


def pytest_collection_modifyitems(config, items):
    """Slow tests and tests that fork first, then tests that start JAX, then the rest.

    xdist hands tests out in this order, so each worker runs its share in it. Slow ones first:
    a minute-long test started near the end would leave the other worker idle. Forking before
    JAX: once JAX's threads exist, this process no longer forks (``bayes_unlearn._forked``).
    JAX's tests (10-20 s each) before the many short ones, which then even out the workers'
    ends.
    """

    def rank(item):
        if item.get_closest_marker("jax"):
            return 1
        return 0 if item.get_closest_marker("slow") or item.get_closest_marker("forks") else 2

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _forks_where_it_must(request):
    # Not a skip: on Linux a test marked ``forks`` must fork (the order above ensures it can).
    if request.node.get_closest_marker("forks") and sys.platform == "linux":
        assert fork_unavailable() is None, fork_unavailable()


def blas_threads() -> int:
    """The most threads a loaded BLAS library may run now (threadpoolctl's view)."""
    return max(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")


def short_refits(post, draws: int = 200, tune: int = 200, chains: int = 2):
    """``post`` whose refits (``method="refit"``, ``auto``'s last rung) run short chains:
    for tests whose checks do not depend on how many draws a refit makes."""
    sampler = {**post.sampler, "draws": draws, "tune": tune, "chains": chains}
    return dataclasses.replace(post, sampler=sampler)


# Known-noise linear regression: the posterior is Gaussian in closed form for any subset.
SIGMA = 1.0
PRIOR_SD = 10.0
N_LINEAR = 120


@pytest.fixture(scope="session")
def linear_data():
    return bu.datasets.make_linear_regression(
        n=N_LINEAR, coef=(1.0, -0.5), intercept=0.5, sigma=SIGMA, random_seed=20261122
    )


@pytest.fixture(scope="session")
def linear_post(linear_data):
    X, y = linear_data
    model = bu.PolynomialRegression(
        degree=1,
        sigma=SIGMA,
        intercept_prior_sd=PRIOR_SD,
        coef_prior_sd=PRIOR_SD,
        standardize=False,
    )
    return bu.fit(model, X, y, draws=1000, tune=1000, chains=4, random_seed=11)


@pytest.fixture(scope="session")
def logistic_data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((150, 3))
    p = 1 / (1 + np.exp(-(0.3 + X @ np.array([1.0, -1.0, 0.5]))))
    return X, (rng.random(150) < p).astype(float)


@pytest.fixture(scope="session")
def logistic_post(logistic_data):
    X, y = logistic_data
    return bu.fit(bu.LogisticRegression(), X, y, draws=500, tune=500, chains=2, random_seed=3)


def closed_form_posterior(X, y, sigma=SIGMA, prior_sd=PRIOR_SD):
    """Exact N(mean, cov) of (intercept, coef) for y ~ N(a + X b, sigma²), independent N(0, prior_sd²) priors."""
    A = np.column_stack([np.ones(len(y)), X])
    precision = A.T @ A / sigma**2 + np.eye(A.shape[1]) / prior_sd**2
    cov = np.linalg.inv(precision)
    return cov @ A.T @ y / sigma**2, cov


def unlearn_against_closed_form(post, X, y, forget, method, random_seed=0):
    """``bu.unlearn`` with ``method``; its largest errors in mean and log-sd (in posterior
    sds) against the closed form of the remaining rows, and whether it warned unreliable."""
    import warnings

    keep = np.setdiff1d(np.arange(len(y)), forget)
    mean, cov = closed_form_posterior(X[keep], y[keep])
    sd = np.sqrt(np.diag(cov))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        un = bu.unlearn(post, forget=forget, method=method, random_seed=random_seed)
    warned = any(issubclass(w.category, bu.UnreliableUnlearningWarning) for w in caught)
    table = un.summary()
    mean_err = np.max(np.abs(table["mean"].to_numpy() - mean) / sd)
    log_sd_err = np.max(np.abs(np.log(table["sd"].to_numpy() / sd)))
    return un, mean_err, log_sd_err, warned


def closed_form_cause_scores(X, y, X_fail, y_fail, sigma=SIGMA, prior_sd=PRIOR_SD, *, misfit=False):
    """Exact ``r(z) = E_{p(θ|D)}[log p(z|θ)] − E_{p(θ|D,F)}[log p(z|θ)]`` for every row of ``D``
    (with ``misfit``, also the exact misfit ``−E_{p(θ|D,F)}[log p(z|θ)]``).

    For the Gaussian posterior ``N(m, C)`` and ``z = (x, y)``:
    ``E[log p(z|θ)] = −log(2πσ²)/2 − ((y − a·m)² + a·C·a) / (2σ²)`` with ``a = (1, x)``.
    """
    before = expected_log_likelihood(X, y, *closed_form_posterior(X, y, sigma, prior_sd), sigma)
    joint = closed_form_posterior(
        np.vstack([X, X_fail]), np.concatenate([y, y_fail]), sigma, prior_sd
    )
    after = expected_log_likelihood(X, y, *joint, sigma)
    return (before - after, -after) if misfit else before - after


def expected_log_likelihood(X, y, mean, cov, sigma=SIGMA):
    """``E[log p(z|θ)]`` of every row ``z = (x, y)`` under the Gaussian posterior ``N(mean, cov)``
    of (intercept, coef) (the closed form in :func:`closed_form_cause_scores`)."""
    A = np.column_stack([np.ones(len(y)), X])
    fitted_sq = (y - A @ mean) ** 2 + np.einsum("ij,jk,ik->i", A, cov, A)
    return -0.5 * np.log(2 * np.pi * sigma**2) - fitted_sq / (2 * sigma**2)


@pytest.fixture(scope="session")
def shifted():
    """Linear data where 15 training rows with x0 > 1 carry a +4 offset: the model fails there."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (150, 1))
    y = 1.0 + 2.0 * X[:, 0] + 0.5 * rng.standard_normal(150)
    bad = rng.choice(np.flatnonzero(X[:, 0] > 1), size=15, replace=False)
    y[bad] += 4.0
    X_fail = rng.uniform(1, 2, (10, 1))
    y_fail = 1.0 + 2.0 * X_fail[:, 0] + 0.5 * rng.standard_normal(10)
    post = bu.fit(
        bu.PolynomialRegression(sigma=0.5), X, y, draws=500, tune=500, chains=2, random_seed=1
    )
    return post, bad, X_fail, y_fail


@pytest.fixture(scope="session")
def trusted():
    """Fresh rows from the true line over the whole range: a trusted validation set."""
    rng = np.random.default_rng(5)
    X_val = rng.uniform(-2, 2, (40, 1))
    return X_val, 1.0 + 2.0 * X_val[:, 0] + 0.5 * rng.standard_normal(40)


def mcmc_efficiency(post):
    """Smallest bulk ESS / S of the original draws: reweighted draws inherit this autocorrelation."""
    return post.diagnostics.ess / post.n_draws


#: Hypothesis settings shared by the property-based tests (function-scoped fixtures are safe:
#: none of them is mutated).
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def linear_builder(X, y):
    """The conjugate linear model as a user would write it, rows in pm.Data."""
    import pymc as pm

    with pm.Model() as model:
        x = pm.Data("x", X)
        intercept = pm.Normal("intercept", 0.0, 10.0)
        coef = pm.Normal("coef", 0.0, 10.0, shape=X.shape[1])
        pm.Normal("y", intercept + x @ coef, 1.0, observed=y)
    return model


@pytest.fixture(scope="session")
def custom_linear_post(linear_data):
    """``linear_post``'s model written as a user's PyMC model: the same NUTS draws."""
    X, y = linear_data
    return bu.fit(
        bu.PyMCModel(linear_builder), X, y, draws=1000, tune=1000, chains=4, random_seed=11
    )


def made_once(tmp_path_factory, name: str, make) -> Path:
    """``make(path)`` run by the first xdist worker to get here; the others wait and reuse it.

    For fixtures too slow to build on every worker (a Bambi fit, the docs site); the
    directory above each worker's base temp is shared by the run's workers.
    """
    root = tmp_path_factory.getbasetemp().parent
    path = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not path.exists():
            make(path)
    return path
