"""Tests for bayes_unlearn.export: a posterior as ArviZ InferenceData."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr
from numpy.testing import assert_allclose

import bayes_unlearn as bu


def test_only_a_posterior_is_exported(linear_post):
    with pytest.raises(TypeError, match=r"expects a Posterior\. Got InferenceData"):
        bu.to_inference_data(linear_post.idata)


def test_in_memory_inference_data_keeps_the_weights(linear_post):
    un = bu.unlearn(linear_post, forget=[0, 1], method="reweight")
    raw = bu.to_inference_data(un, resample=False)
    assert_allclose(np.exp(raw.sample_stats["log_weight"].values.ravel()), un.weights)
    assert "log_importance_ratio" in raw.sample_stats
    exported = bu.to_inference_data(un, random_seed=0)
    assert "log_weight" not in exported.sample_stats  # what leaves the process: refreshed


def test_arviz_gets_its_log_likelihood_group_on_request(logistic_post):
    idata = bu.to_inference_data(logistic_post, log_likelihood=True)
    assert idata.log_likelihood["y"].shape[-1] == logistic_post.row_ids.size
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
    assert "log_likelihood" not in bu.to_inference_data(logistic_post).groups()


def test_a_log_likelihood_group_too_big_for_memory_comes_as_dask(monkeypatch, logistic_post):
    import dask.array as da

    from bayes_unlearn import _rowwise, export

    eager = bu.to_inference_data(logistic_post, resample=False, log_likelihood=True)
    monkeypatch.setattr(export, "LAZY_VALUES", 10)  # every group is "too big" now
    monkeypatch.setattr(_rowwise, "TASK_VALUES", 50 * logistic_post.n_draws)  # a task per block
    with bu.set_options(chunk_rows=50):
        lazy = bu.to_inference_data(logistic_post, resample=False, log_likelihood=True)
    assert isinstance(lazy.log_likelihood["y"].data, da.Array)
    assert lazy.log_likelihood["y"].data.numblocks[-1] > 1  # chunks of rows
    xr.testing.assert_identical(lazy.log_likelihood.compute(), eager.log_likelihood)
    # ArviZ 0.23's loo does not take Dask arrays: it reads the group once it is loaded.
    lazy.log_likelihood.load()
    assert az.loo(lazy).elpd_loo == pytest.approx(az.loo(eager).elpd_loo, abs=1e-10)
