"""Cause identification finds rows that pull the model towards its failures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import chi2
from sklearn.metrics import roc_auc_score

import bayes_unlearn as bu
from bayes_unlearn.cli import main
from tests.conftest import closed_form_cause_scores


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
@pytest.mark.filterwarnings("ignore::bayes_unlearn.UnreliableScoresWarning")
def test_causes_rank_the_corrupted_rows_first(shifted, method):
    post, bad, X_fail, y_fail = shifted
    causes = bu.identify_causes(post, X_fail, y_fail, method=method, random_seed=2)
    table = causes.table
    is_bad = np.isin(table.index, bad)
    assert roc_auc_score(is_bad, table["r"]) > 0.95
    assert list(table["rank"]) == list(range(1, 151))
    assert table["r"].is_monotonic_decreasing
    assert (table["is_cause"] == (table["r"] > 0)).all()
    assert list(causes.row_ids) == list(table.index[table["r"] > 0])
    assert causes.diagnostics.method == method and causes.diagnostics.n_failures == 10


def test_reweight_and_refit_scores_agree_within_monte_carlo_error(shifted):
    post, _, X_fail, y_fail = shifted
    X_fail, y_fail = X_fail[:2], y_fail[:2]  # few failures: the reweighting stays reliable
    scores = bu.identify_causes(post, X_fail, y_fail)
    assert scores.diagnostics.method == "reweight" and scores.reliable, scores.diagnostics
    assert scores.diagnostics.reason.startswith("auto: k̂")
    rw = scores.table
    rf = bu.identify_causes(post, X_fail, y_fail, method="refit", random_seed=3).table
    rf = rf.loc[rw.index]
    z = (rw["r"] - rf["r"]) / np.sqrt(rw["se"] ** 2 + rf["se"] ** 2)
    # Standard normal if both are right: |z| > 3.5 has probability 5e-4 per row.
    assert (np.abs(z) < 3.5).mean() > 0.98


def test_auto_refits_where_reweighted_scores_are_unreliable(shifted, recwarn):
    post, _, X_fail, y_fail = shifted  # 10 failures: k̂ 0.70 > 0.67, ESS 58 < 100
    with pytest.warns(bu.UnreliableScoresWarning, match="method='auto' or 'refit'"):
        cheap = bu.identify_causes(post, X_fail, y_fail, method="reweight")
    assert not cheap.reliable and cheap.diagnostics.method == "reweight"
    recwarn.clear()
    auto = bu.identify_causes(post, X_fail, y_fail, random_seed=2)
    assert not [w for w in recwarn if issubclass(w.category, bu.UnreliableScoresWarning)]
    d = auto.diagnostics
    assert d.method == "refit" and d.reliable and d.r_hat is not None
    assert d.reason.startswith("auto: reweighting unreliable (k̂ 0.70")
    assert d.details["reweight_pareto_k"] == cheap.diagnostics.pareto_k
    exact = bu.identify_causes(post, X_fail, y_fail, method="refit", random_seed=2)
    pd.testing.assert_frame_equal(auto.table, exact.table)  # the same refit, the same seed
    assert "verdict" in str(d) and "Causes(" in repr(auto)


def test_a_causes_result_still_reads_as_the_old_dataframe(shifted):
    post, _, X_fail, y_fail = shifted
    causes = bu.identify_causes(post, X_fail[:2], y_fail[:2])
    with pytest.warns(FutureWarning, match="result.table"):
        assert causes["r"].equals(causes.table["r"])
    with pytest.warns(FutureWarning):
        assert causes.attrs["pareto_k"] == causes.diagnostics.pareto_k
    with pytest.warns(FutureWarning):
        assert causes.loc[causes.row_ids[0], "rank"] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        causes.table = None


#: Independent fits in the calibration test. Within one fit every row's error follows one
#: direction (the per-fit mean of z² varies as χ²₁: 1.06 effective degrees of freedom,
#: benchmarks/results/cause_se.md), so the mean of z² over R fits is about χ²_R / R.
CALIBRATION_FITS = 20


@pytest.mark.slow
def test_standard_errors_are_calibrated_against_the_closed_form():
    """``(r̂ − r) / se`` over independent fits of a conjugate model has mean square ≈ 1.

    Two-sided: the mean of z² must lie in the central 0.998 interval of χ²_R / R
    ([0.30, 2.27] for R = 20), so a standard error deflated twofold (mean z² 4) or
    inflated 2.5-fold (0.16) fails, not only one that is too small.
    """
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (150, 1))
    y = 1.0 + 2.0 * X[:, 0] + 0.5 * rng.standard_normal(150)
    X_fail = rng.uniform(1, 2, (2, 1))
    y_fail = 2.0 + 2.0 * X_fail[:, 0] + 0.5 * rng.standard_normal(2)
    exact = closed_form_cause_scores(X, y, X_fail, y_fail, sigma=0.5, prior_sd=10.0)
    model = bu.PolynomialRegression(
        sigma=0.5, intercept_prior_sd=10.0, coef_prior_sd=10.0, standardize=False
    )
    z = []
    for seed in range(CALIBRATION_FITS):
        post = bu.fit(model, X, y, draws=1000, tune=300, chains=2, random_seed=seed)
        causes = bu.identify_causes(post, X_fail, y_fail, method="reweight")
        table = causes.table.loc[post.row_ids]
        z.append((table["r"].to_numpy() - exact) / table["se"].to_numpy())
    mean_sq = float(np.mean(np.square(z)))
    low, high = chi2.ppf([0.001, 0.999], CALIBRATION_FITS) / CALIBRATION_FITS
    assert low < mean_sq < high, f"mean z² {mean_sq:.2f} outside [{low:.2f}, {high:.2f}]"


def test_top_k_and_repair(shifted):
    post, bad, X_fail, y_fail = shifted
    causes = bu.identify_causes(post, X_fail, y_fail, top_k=15, random_seed=2).row_ids
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
    assert "row_id" in text and "method: refit (auto: reweighting unreliable" in text
    table = pd.read_csv(out)
    assert len(table) == 150 and table["is_cause"].sum() > 0
    cheap = ["causes", str(tmp_path / "post.nc"), "--failures", str(tmp_path / "fail.csv")]
    assert main([*cheap, "--method", "reweight"]) == 3  # unreliable scores: exit code 3
    assert "The reweighted scores are unreliable" in capsys.readouterr().out


@pytest.fixture(scope="module")
def trusted():
    """Fresh rows from the true line over the whole range: a trusted validation set."""
    rng = np.random.default_rng(5)
    X_val = rng.uniform(-2, 2, (40, 1))
    return X_val, 1.0 + 2.0 * X_val[:, 0] + 0.5 * rng.standard_normal(40)


def test_repair_forgets_the_top_causes_chosen_on_the_trusted_rows(shifted, trusted):
    post, bad, *_ = shifted
    X_val, y_val = trusted
    fixed = bu.repair(post, X_val, y_val, fractions=(0.25, 1.0), method="refit", random_seed=6)
    table = fixed.candidates
    n_pos = int((fixed.scores.table["r"] > 0).sum())
    assert list(table.index) == sorted({0, round(0.25 * n_pos), n_pos})
    assert table["reliable"].all() and (table["method"].iloc[1:] == "refit").all()
    # The table's numbers, recomputed independently: each candidate refitted with the same
    # seed (the same draws), its lpd on the trusted rows, and the SE of the pointwise difference.
    pointwise = {
        k: (
            post
            if k == 0
            else bu.unlearn(
                post, forget=fixed.scores.table.index[:k], method="refit", random_seed=6
            )
        ).log_predictive_density(X_val, y_val, pointwise=True)
        for k in table.index
    }
    assert_allclose(table["lpd"], [pointwise[k].sum() for k in table.index], rtol=1e-10)
    top = max(pointwise, key=lambda k: pointwise[k].sum())
    dse = [np.std(pointwise[top] - pointwise[k], ddof=1) * np.sqrt(len(y_val)) for k in table.index]
    assert_allclose(table["dse"], dse, rtol=1e-10)
    # One-SE rule: the smallest K whose lpd is within one standard error of the best.
    best = table["lpd"].idxmax()
    assert table.loc[best, "dse"] == 0 and (table["dse"].drop(best) > 0).all()
    within = table.index[table["lpd"] >= table.loc[best, "lpd"] - table["dse"]]
    assert table["chosen"].sum() == 1 and table.index[table["chosen"]][0] == within.min()
    assert fixed.n_causes == within.min() > 0
    assert list(fixed.causes) == list(fixed.scores.table.index[: fixed.n_causes])
    assert set(fixed.posterior.forgotten_row_ids) == set(fixed.causes)
    assert np.isin(fixed.causes, bad).mean() >= 0.8
    rng = np.random.default_rng(7)
    X_new = rng.uniform(-2, 2, (200, 1))
    y_new = 1.0 + 2.0 * X_new[:, 0] + 0.5 * rng.standard_normal(200)
    lpd_new = fixed.posterior.log_predictive_density(X_new, y_new)
    assert lpd_new > post.log_predictive_density(X_new, y_new)


def test_repair_best_rule_takes_the_highest_lpd(shifted, trusted):
    post, *_ = shifted
    fixed = bu.repair(
        post, *trusted, fractions=(0.25, 1.0), rule="best", method="refit", random_seed=6
    )
    assert fixed.n_causes == fixed.candidates["lpd"].idxmax()


def test_repair_refuses_unreliable_cause_scores(shifted, trusted):
    post, *_ = shifted  # the 40 trusted rows: k̂ 1.14 for the reweighted scores
    with (
        pytest.warns(bu.UnreliableScoresWarning),
        pytest.raises(ValueError, match="allow_unreliable=True"),
    ):
        bu.repair(post, *trusted, cause_method="reweight")
    with pytest.warns(bu.UnreliableScoresWarning):
        fixed = bu.repair(
            post,
            *trusted,
            cause_method="reweight",
            allow_unreliable=True,
            method="refit",
            fractions=(1.0,),
            random_seed=6,
        )
    assert not fixed.scores.reliable and fixed.candidates["reliable"].all()


def test_repair_skips_unreliable_candidates(shifted, trusted):
    post, *_ = shifted
    X_val, y_val = trusted
    with pytest.warns(bu.UnreliableUnlearningWarning, match="not considered"):
        fixed = bu.repair(post, X_val, y_val, fractions=(1.0,), method="reweight")
    assert not fixed.candidates["reliable"].iloc[1]
    assert fixed.n_causes == 0 and fixed.posterior is post


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fractions": ()}, "'fractions'"),
        ({"fractions": (0.5, 1.5)}, "'fractions'"),
        ({"fractions": "half"}, "'fractions'"),
        ({"method": "mcmc"}, "'method'"),
        ({"rule": "1se"}, "'rule'"),
        ({"cause_method": "mcmc"}, "'method'"),
    ],
)
def test_repair_bad_arguments(shifted, trusted, kwargs, match):
    post, *_ = shifted
    with pytest.raises(ValueError, match=match):
        bu.repair(post, *trusted, **kwargs)


def test_cli_repair(shifted, trusted, tmp_path, capsys):
    post, bad, *_ = shifted
    X_val, y_val = trusted
    post.save(tmp_path / "post.nc")
    pd.DataFrame({"x0": X_val[:, 0], "y": y_val}).to_csv(tmp_path / "val.csv", index=False)
    args = ["repair", str(tmp_path / "post.nc"), "--validation", str(tmp_path / "val.csv")]
    args += ["--method", "refit", "--seed", "6", "--no-progress"]
    args += ["--causes", str(tmp_path / "causes.csv"), "-o", str(tmp_path / "fixed.nc")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "candidates" in text and "forgetting the top" in text
    fixed = bu.load(tmp_path / "fixed.nc")
    causes = pd.read_csv(tmp_path / "causes.csv", index_col="row_id")
    assert set(fixed.forgotten_row_ids) == set(causes.index[causes["forgotten"]])
    assert np.isin(fixed.forgotten_row_ids, bad).mean() >= 0.8
    assert (
        main(["repair", str(tmp_path / "post.nc"), "--validation", "nope.csv", "-o", "x.nc"]) == 1
    )
    assert "No CSV file" in capsys.readouterr().err
