"""fit: input checks and row ids."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from tests.conftest import PRIOR_SD, SIGMA, closed_form_posterior


def test_fit_input_validation(logistic_data):
    X, y = logistic_data
    with pytest.raises(ValueError, match="0/1 labels"):
        bu.fit(bu.LogisticRegression(), X, y * 2)
    with pytest.raises(ValueError, match="same number of rows"):
        bu.fit(bu.LogisticRegression(), X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        bu.fit(bu.LogisticRegression(), np.where(X > 2, np.nan, X), y)
    with pytest.raises(TypeError, match="bayes_unlearn model"):
        bu.fit("logistic", X, y)
    with pytest.raises(ValueError, match="'draws'"):
        bu.fit(bu.LogisticRegression(), X, y, draws=0)


def test_fit_with_row_ids_names_rows_by_them(linear_data):
    X, y = linear_data
    ids = np.arange(1000, 1000 + len(y))
    post = bu.fit(
        bu.PolynomialRegression(sigma=1.0),
        X,
        y,
        draws=200,
        tune=200,
        chains=2,
        random_seed=0,
        row_ids=ids,
    )
    assert_allclose(post.row_ids, ids)
    un = bu.unlearn(post, forget=[1003], method="reweight")
    assert 1003 not in un.row_ids and un.history[0]["row_ids"] == [1003]
    with pytest.raises(ValueError, match=r"row ids in \[1000, 1119\]"):
        bu.unlearn(post, forget=[3])


def test_nuts_sampler_is_checked_with_the_fix(linear_data):
    X, y = linear_data
    model = bu.PolynomialRegression(sigma=1.0)
    with pytest.raises(ValueError, match=r"'nuts_sampler' parameter must be one of"):
        bu.fit(model, X, y, nuts_sampler="stan")


@pytest.mark.jax
def test_blackjax_nuts_recovers_the_closed_form_and_refits_with_it(tmp_path, linear_data):
    """BlackJAX's NUTS is driven by our own code (PyMC 5.28's path fails): check its draws."""
    pytest.importorskip("blackjax")
    X, y = linear_data
    model = bu.PolynomialRegression(
        sigma=SIGMA, intercept_prior_sd=PRIOR_SD, coef_prior_sd=PRIOR_SD, standardize=False
    )
    post = bu.fit(
        model, X, y, draws=500, tune=500, chains=2, nuts_sampler="blackjax", random_seed=1
    )
    d = post.diagnostics
    assert post.sampler["nuts_sampler"] == "blackjax" and d.reliable
    assert post.idata.posterior.attrs["inference_library"] == "blackjax"
    assert post.idata.posterior.sizes == {"chain": 2, "draw": 500, "term": 2}
    mean, cov = closed_form_posterior(X, y)
    sd = np.sqrt(np.diag(cov))
    table = post.summary()
    assert_allclose(table["mean"], mean, atol=4 * sd.max() / np.sqrt(d.ess))
    assert_allclose(table["sd"], sd, rtol=4 / np.sqrt(2 * d.ess))
    again = bu.fit(
        model, X, y, draws=500, tune=500, chains=2, nuts_sampler="blackjax", random_seed=1
    )
    assert_allclose(again.params["coef"], post.params["coef"])  # the seed fixes the draws
    bu.save(post, tmp_path / "p.nc")
    ref = bu.unlearn(bu.load(tmp_path / "p.nc"), forget=[0, 1, 2], method="refit", random_seed=2)
    assert ref.sampler["nuts_sampler"] == "blackjax" and ref.diagnostics.reliable
    assert {"diverging", "step_size", "tree_depth"} <= set(ref.idata.sample_stats)


@pytest.mark.parametrize("sampler", ["nutpie", pytest.param("numpyro", marks=pytest.mark.jax)])
@pytest.mark.filterwarnings("ignore:There are not enough devices:UserWarning")  # NumPyro on CPU
def test_a_fit_by_another_sampler_is_stored_and_its_refits_use_it_again(
    tmp_path, linear_data, sampler
):
    pytest.importorskip(sampler)
    X, y = linear_data
    model = bu.PolynomialRegression(sigma=1.0, standardize=False)
    # 4 x 500 draws leave both reliable (ESS over 1000); what the test checks is where the
    # draws come from, and nutpie's time beyond its compilation grows with the draws.
    post = bu.fit(model, X, y, draws=500, tune=300, chains=4, nuts_sampler=sampler, random_seed=1)
    assert post.sampler["nuts_sampler"] == sampler and post.diagnostics.reliable
    assert post.idata.posterior.attrs["inference_library"] == sampler  # not PyMC's own NUTS
    bu.save(post, tmp_path / "p.nc")
    back = bu.load(tmp_path / "p.nc")
    assert back.sampler["nuts_sampler"] == sampler
    ref = bu.unlearn(back, forget=[0, 1, 2], method="refit", random_seed=2)
    assert ref.sampler["nuts_sampler"] == sampler and ref.diagnostics.reliable
