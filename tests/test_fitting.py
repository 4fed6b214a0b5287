"""fit: input checks and row ids."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu


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
    with pytest.raises(ValueError, match=r"BlackJAX 1\.7"):
        bu.fit(model, X, y, nuts_sampler="blackjax")


def test_a_fit_by_nutpie_is_stored_and_its_refits_use_it_again(tmp_path, linear_data):
    pytest.importorskip("nutpie")
    X, y = linear_data
    model = bu.PolynomialRegression(sigma=1.0, standardize=False)
    post = bu.fit(
        model, X, y, draws=1000, tune=1000, chains=4, nuts_sampler="nutpie", random_seed=1
    )
    assert post.sampler["nuts_sampler"] == "nutpie"
    assert post.diagnostics.reliable
    post.save(tmp_path / "p.nc")
    back = bu.load(tmp_path / "p.nc")
    assert back.sampler["nuts_sampler"] == "nutpie"
    ref = bu.unlearn(back, forget=[0, 1, 2], method="refit", random_seed=2)
    assert ref.sampler["nuts_sampler"] == "nutpie" and ref.diagnostics.reliable
    # nutpie's own per-draw statistics (PyMC's NUTS has no "mean_tree_accept")
    assert "mean_tree_accept" in ref.idata.sample_stats
