"""repair: forget the top causes, with K chosen on trusted rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn.cli import main
from bayes_unlearn.repairing import DEFAULT_SCORE


def test_repair_forgets_the_top_causes_chosen_on_the_trusted_rows(shifted, trusted):
    post, bad, *_ = shifted
    X_val, y_val = trusted
    fixed = bu.repair(post, X_val, y_val, fractions=(0.25, 1.0), method="refit", random_seed=6)
    assert fixed.scores.score == DEFAULT_SCORE == "trusted"
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


@pytest.mark.parametrize("score", ["misfit", "r"])
def test_repair_takes_its_top_rows_from_the_ranking_asked_for(shifted, trusted, score):
    post, *_ = shifted
    fixed = bu.repair(
        post,
        *trusted,
        fractions=(0.5,),
        rule="best",
        score=score,
        method="refit",
        random_seed=6,
    )
    assert fixed.scores.score == score and fixed.scores.table[score].is_monotonic_decreasing
    n_pos = int((fixed.scores.table["r"] > 0).sum())
    assert list(fixed.candidates.index) == [0, round(0.5 * n_pos)]
    k = fixed.candidates.index[-1]
    forgotten = bu.unlearn(
        post, forget=fixed.scores.table.index[:k], method="refit", random_seed=6
    ).log_predictive_density(*trusted)
    assert np.isclose(fixed.candidates.loc[k, "lpd"], forgotten, rtol=1e-10)


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
        fixed = bu.repair(post, X_val, y_val, fractions=(1.0,), method="reweight", random_seed=0)
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
        ({"score": "influence"}, "'score' parameter of repair"),
    ],
)
def test_repair_bad_arguments(shifted, trusted, kwargs, match):
    post, *_ = shifted
    with pytest.raises(ValueError, match=match):
        bu.repair(post, *trusted, **kwargs)


def test_cli_repair(shifted, trusted, tmp_path, capsys):
    post, bad, *_ = shifted
    X_val, y_val = trusted
    bu.save(post, tmp_path / "post.nc")
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
