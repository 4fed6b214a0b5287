"""Bringing an existing PyMC fit: ``bu.from_pymc`` wraps ``pm.sample``'s draws without a refit."""

from __future__ import annotations

import arviz as az
import numpy as np
import pymc as pm
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from tests.conftest import linear_builder, unlearn_against_closed_form

FORGET = [2, 5, 7, 11, 13]


@pytest.fixture(scope="module")
def sampled(linear_data):
    """What a PyMC user has: the model's own ``pm.sample`` output."""
    X, y = linear_data
    with linear_builder(X, y):
        idata = pm.sample(1000, tune=1000, chains=4, cores=1, random_seed=7, progressbar=False)
    return idata


def test_an_existing_fit_is_wrapped_without_a_refit_and_forgets_exactly(linear_data, sampled):
    X, y = linear_data
    post = bu.from_pymc(linear_builder, sampled, X, y, random_seed=1)
    assert post.draws_source == "fit" and post.diagnostics.reliable
    # The draws are the user's own, not new ones.
    assert_allclose(post.idata.posterior["coef"].values, sampled.posterior["coef"].values)
    assert post.sampler["draws"] == 1000 and post.sampler["tune"] == 1000
    # Tolerance: 4 x 1000 NUTS draws, bulk ESS > 1000, so the MC error of a mean is
    # under 0.03 sd; reweighting 5 of 120 rows costs a little ESS more (as in test_reweight).
    _, mean_err, log_sd_err, warned = unlearn_against_closed_form(post, X, y, FORGET, "reweight")
    assert not warned and mean_err < 0.15 and log_sd_err < 0.1


def test_h_theta_matches_a_fit_through_the_toolkit(custom_linear_post, linear_data):
    X, y = linear_data
    draws = az.InferenceData(posterior=custom_linear_post.idata.posterior)
    post = bu.from_pymc(bu.PyMCModel(linear_builder), draws, X, y, random_seed=0)
    assert_allclose(
        post.idata.sample_stats["log_joint"].values,
        custom_linear_post.idata.sample_stats["log_joint"].values,
        rtol=1e-10,
    )


def test_draws_of_another_model_or_other_rows_are_refused(linear_data, sampled):
    X, y = linear_data
    with pytest.raises(ValueError, match="shape"):
        bu.from_pymc(linear_builder, sampled, np.column_stack([X, X[:, :1]]), y)
    with pytest.raises(ValueError, match="is not the 'y' given"):
        bu.from_pymc(linear_builder, sampled, X, y + 1.0)
    extra = sampled.posterior.assign(other=sampled.posterior["intercept"] * 2)
    with pytest.raises(ValueError, match=r"variables \['other'\]"):
        bu.from_pymc(linear_builder, az.InferenceData(posterior=extra), X, y)
    missing = sampled.posterior.drop_vars("intercept")
    with pytest.raises(ValueError, match=r"lacks the model's free variables \['intercept'\]"):
        bu.from_pymc(linear_builder, az.InferenceData(posterior=missing), X, y)
    with pytest.raises(TypeError, match=r"the pm\.Model that was sampled"):
        bu.from_pymc(object(), sampled, X, y)
    with pytest.raises(TypeError, match="posterior group"):
        bu.from_pymc(linear_builder, {"posterior": None}, X, y)


def test_a_wrapped_fit_saves_loads_and_refits_with_its_builder(linear_data, sampled, tmp_path):
    X, y = linear_data
    post = bu.from_pymc(linear_builder, sampled, X, y, random_seed=1)
    bu.save(post, tmp_path / "mine.nc")
    back = bu.load(tmp_path / "mine.nc", trusted=["tests.conftest:linear_builder"])
    assert back.sampler == post.sampler
    refit = bu.unlearn(back, forget=FORGET, method="refit")
    assert refit.draws_source == "refit" and refit.diagnostics.reliable


def test_a_model_object_is_wrapped_by_its_rows_and_forgets_exactly(linear_data, sampled):
    """``from_pymc(model, idata)``: the model holds its rows; every subset by graph rebuild."""
    X, y = linear_data
    model = linear_builder(X, y)
    post = bu.from_pymc(model, sampled, random_seed=1)
    assert post.feature_names == ("model_row",)
    assert_allclose(post.idata.constant_data["X"].values[:, 0], np.arange(len(y)))
    # Same tolerance argument as the builder's test above.
    for method in ("reweight", "smc"):
        _, mean_err, log_sd_err, warned = unlearn_against_closed_form(post, X, y, FORGET, method)
        assert not warned and mean_err < 0.15 and log_sd_err < 0.1, method
    with pytest.raises(ValueError, match="must be left out"):
        bu.from_pymc(model, sampled, X, y)
    with pytest.raises(ValueError, match="is not the model's observed"):
        bu.from_pymc(model, sampled, y=y + 1.0)


def test_a_file_of_a_model_object_loads_only_with_that_model(linear_data, sampled, tmp_path):
    X, y = linear_data
    model = linear_builder(X, y)
    gone = bu.unlearn(bu.from_pymc(model, sampled, random_seed=1), forget=FORGET, random_seed=2)
    bu.save(gone, tmp_path / "obj.nc", random_seed=3)
    without = bu.load(tmp_path / "obj.nc")
    with pytest.raises(ValueError, match=r"bu.load\(path, model=model\)"):
        bu.unlearn(without, forget=[0], method="refit")
    back = bu.load(tmp_path / "obj.nc", model=model)
    refit = bu.unlearn(back, forget=[0], method="refit")
    assert refit.diagnostics.reliable
    assert refit.diagnostics.n_remaining == len(y) - len(FORGET) - 1
    other = linear_builder(X, y + 1.0)
    with pytest.raises(ValueError, match="not the model this file was wrapped from"):
        bu.load(tmp_path / "obj.nc", model=other)
    with pytest.raises(TypeError, match="only for a file wrapped from one"):
        bu.save(bu.from_pymc(linear_builder, sampled, X, y, random_seed=1), tmp_path / "b.nc")
        bu.load(tmp_path / "b.nc", model=model)
