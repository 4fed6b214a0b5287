"""Cause scores a block of rows at a time: the same numbers in any blocks, on NumPy or Dask."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn import _rowwise
from bayes_unlearn.causes._scores import monte_carlo_se
from tests.conftest import closed_form_posterior, expected_log_likelihood, short_refits


def _scores(post, X_f, y_f, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableScoresWarning)
        table = bu.identify_causes(post, X_f, y_f, method=method, random_seed=2).table
    return table.sort_index()[["r", "se", "log_lik"]].to_numpy()


@pytest.mark.parametrize("method", ["reweight", "moment_match", "smc", "refit"])
def test_scores_do_not_depend_on_the_blocks(linear_post, linear_data, method):
    """Every rung's scores, in one block of rows and in blocks of 7 (the last one short)."""
    post = short_refits(linear_post)  # the refit's two runs must agree, however short
    X, _ = linear_data
    X_f = X[:6] + 1.5
    y_f = 0.5 + X_f @ np.array([1.0, -0.5]) + 2.0
    whole = _scores(post, X_f, y_f, method)
    with bu.set_options(chunk_rows=7):
        blocked = _scores(post, X_f, y_f, method)
    assert_allclose(blocked, whole, rtol=1e-9, atol=1e-12)


def test_monte_carlo_se_uses_each_rows_arviz_ess():
    rng = np.random.default_rng(4)
    chains = (2, 300)
    infl = rng.standard_normal((600, 5)).cumsum(axis=0) / 600  # autocorrelated columns
    ess = az.ess(az.convert_to_dataset(600 * infl.reshape(*chains, 5)), method="mean")["x"]
    expected = np.sqrt((infl**2).sum(axis=0) * 600 / ess.values)
    assert_allclose(monte_carlo_se(infl, chains), expected, rtol=1e-10)


def _causes_and_unlearning(post, X_f, y_f):
    causes = _scores(post, X_f, y_f, "reweight")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        un = bu.unlearn(post, forget=np.arange(0, 150, 10), method="reweight")
    return causes, un.log_weights


def test_dask_threads_give_the_numpy_numbers(shifted):
    post, _, X_f, y_f = shifted
    with bu.set_options(chunk_rows=16):
        causes, log_w = _causes_and_unlearning(post, X_f, y_f)
        with bu.set_options(dask=True):
            dask_causes, dask_log_w = _causes_and_unlearning(post, X_f, y_f)
    assert_allclose(dask_causes, causes, rtol=1e-10, atol=1e-12)
    assert_allclose(dask_log_w, log_w, rtol=1e-10)


def test_a_two_worker_local_cluster_gives_the_numpy_numbers(shifted, monkeypatch):
    distributed = pytest.importorskip("distributed")
    post, _, X_f, y_f = shifted
    monkeypatch.setattr(_rowwise, "TASK_VALUES", 16 * post.n_draws)  # a task per block
    with bu.set_options(chunk_rows=16):
        causes, log_w = _causes_and_unlearning(post, X_f, y_f)
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True
            ) as cluster,
            distributed.Client(cluster) as client,
            bu.set_options(dask=True),
            distributed.get_task_stream(client) as tasks,
        ):
            remote_causes, remote_log_w = _causes_and_unlearning(post, X_f, y_f)
    workers = {task["worker"] for task in tasks.data}
    assert len(workers) == 2  # the blocks ran on the cluster's two worker processes
    assert_allclose(remote_causes, causes, rtol=1e-10, atol=1e-12)
    assert_allclose(remote_log_w, log_w, rtol=1e-10)


def test_the_trusted_ranking_is_the_misfit_under_a_fit_on_the_trusted_rows_alone(
    linear_post, linear_data
):
    """``trusted`` = −E_{p(θ|F)}[log p(z|θ)] against the closed form of the conjugate model
    fitted on ``F`` alone, every row within 4.5 of its own standard error."""
    X, y = linear_data
    X_f, y_f = bu.datasets.make_linear_regression(
        n=40, coef=(1.0, -0.5), intercept=0.5, sigma=1.0, random_seed=3
    )
    causes = bu.identify_causes(linear_post, X_f, y_f, score="trusted", random_seed=4)
    table = causes.table.loc[linear_post.row_ids]
    exact = -expected_log_likelihood(X, y, *closed_form_posterior(X_f, y_f))
    errors = (table["trusted"] - exact) / table["trusted_se"]
    assert np.abs(errors).max() < 4.5, errors.abs().max()
    assert causes.score == "trusted" and causes.table["trusted"].is_monotonic_decreasing
    assert causes.diagnostics.details["fit_on_f"]["r_hat"] < 1.01


def test_the_trusted_ranking_is_asked_for_up_front(linear_post, linear_data):
    """Without a fit on F alone there is no ``trusted`` column to rank by: said, with the fix."""
    X, y = linear_data
    causes = bu.identify_causes(linear_post, X[:3], y[:3] + 2.0, method="reweight")
    assert "trusted" not in causes.table
    with pytest.raises(ValueError, match=r"identify_causes\(\.\.\., score='trusted'\)"):
        causes.ranked_by("trusted")
