"""Cause identification finds rows that pull the model towards its failures."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import bayes_unlearn as bu
from bayes_unlearn.cli import main


@pytest.fixture(scope="module")
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


@pytest.mark.parametrize("method", ["reweight", "refit"])
def test_causes_rank_the_corrupted_rows_first(shifted, method):
    post, bad, X_fail, y_fail = shifted
    table = bu.identify_causes(post, X_fail, y_fail, method=method, random_seed=2)
    is_bad = np.isin(table.index, bad)
    assert roc_auc_score(is_bad, table["r"]) > 0.95
    assert list(table["rank"]) == list(range(1, 151))
    assert table["r"].is_monotonic_decreasing
    assert (table["is_cause"] == (table["r"] > 0)).all()
    assert table.attrs["method"] == method and table.attrs["n_failures"] == 10


def test_reweight_and_refit_scores_agree_within_monte_carlo_error(shifted):
    post, _, X_fail, y_fail = shifted
    X_fail, y_fail = X_fail[:2], y_fail[:2]  # few failures: the reweighting stays reliable
    rw = bu.identify_causes(post, X_fail, y_fail)
    rf = bu.identify_causes(post, X_fail, y_fail, method="refit", random_seed=3).loc[rw.index]
    assert rw.attrs["reliable"], rw.attrs
    z = (rw["r"] - rf["r"]) / np.sqrt(rw["se"] ** 2 + rf["se"] ** 2)
    # Standard normal if both are right: |z| > 3.5 has probability 5e-4 per row.
    assert (np.abs(z) < 3.5).mean() > 0.98


def test_top_k_and_repair(shifted):
    post, bad, X_fail, y_fail = shifted
    table = bu.identify_causes(post, X_fail, y_fail, top_k=15)
    causes = table.index[table["is_cause"]].to_numpy()
    assert causes.size == 15 and np.isin(causes, bad).mean() >= 0.8
    repaired = bu.unlearn(post, forget=causes, method="refit", random_seed=4)
    err_before = np.abs(post.predict(X_fail) - y_fail).mean()
    assert np.abs(repaired.predict(X_fail) - y_fail).mean() < 0.5 * err_before


def test_bad_arguments(shifted):
    post, _, X_fail, y_fail = shifted
    with pytest.raises(ValueError, match="'top_k'"):
        bu.identify_causes(post, X_fail, y_fail, top_k=0)
    with pytest.raises(ValueError, match="'method'"):
        bu.identify_causes(post, X_fail, y_fail, method="mcmc")
    with pytest.raises(ValueError, match="'X_fail' and 'y_fail' must have the same number"):
        bu.identify_causes(post, X_fail, y_fail[:-1])
    with pytest.raises(ValueError, match="'X_fail' parameter must have 1 feature"):
        bu.identify_causes(post, np.zeros((3, 2)), y_fail[:3])


def test_cli_causes(shifted, tmp_path, capsys):
    post, _, X_fail, y_fail = shifted
    post.save(tmp_path / "post.nc")
    import pandas as pd

    pd.DataFrame({"x0": X_fail[:, 0], "y": y_fail}).to_csv(tmp_path / "fail.csv", index=False)
    out = tmp_path / "causes.csv"
    assert (
        main(
            [
                "causes",
                str(tmp_path / "post.nc"),
                "--failures",
                str(tmp_path / "fail.csv"),
                "--top",
                "5",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "row_id" in text and "causes" in text
    table = pd.read_csv(out)
    assert len(table) == 150 and table["is_cause"].sum() > 0
