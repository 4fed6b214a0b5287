"""Cause identification finds rows that pull the model towards its failures."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2
from sklearn.metrics import roc_auc_score

import bayes_unlearn as bu
from bayes_unlearn.cli import main
from bayes_unlearn.methods.reweight import relative_efficiency
from tests.conftest import SIGMA, closed_form_cause_scores, closed_form_posterior


@pytest.mark.parametrize("method", ["reweight", "refit"])
@pytest.mark.filterwarnings("ignore::bayes_unlearn.UnreliableScoresWarning")
def test_causes_rank_the_corrupted_rows_first(shifted, method):
    post, bad, X_fail, y_fail = shifted
    causes = bu.identify_causes(post, X_fail, y_fail, method=method, random_seed=2)
    table = causes.table
    is_bad = np.isin(table.index, bad)
    assert causes.score == "r"
    for score in ("r", "misfit"):
        assert roc_auc_score(is_bad, table[score]) > 0.95
    assert list(table["rank"]) == list(range(1, 151))
    assert table["r"].is_monotonic_decreasing
    assert (table["is_cause"] == (table["r"] > 0)).all()
    assert list(causes.row_ids) == list(table.index[table["r"] > 0])
    assert causes.diagnostics.method == method and causes.diagnostics.n_failures == 10
    # misfit = −E_{D,F}[log p] = r + surprise, surprise = −E_D[log p]
    np.testing.assert_allclose(table["misfit"], table["r"] + table["surprise"], atol=1e-9)
    np.testing.assert_allclose(table["surprise"], -table["log_lik"])
    # Another ranking of the same scores: as many causes (r > 0), in its order.
    by_misfit = bu.identify_causes(
        post, X_fail, y_fail, method=method, score="misfit", random_seed=2
    )
    assert by_misfit.score == "misfit" and by_misfit.table["misfit"].is_monotonic_decreasing
    n_pos = int(causes.table["is_cause"].sum())
    assert list(by_misfit.row_ids) == list(by_misfit.table.index[:n_pos])
    pd.testing.assert_frame_equal(by_misfit.table, causes.ranked_by("misfit").table)
    assert set(by_misfit.row_ids) != set(causes.row_ids)  # the orders differ where it matters


def test_an_unknown_ranking_is_refused_naming_the_choices(shifted):
    post, _, X_fail, y_fail = shifted
    with pytest.raises(ValueError, match=r"'score' parameter of identify_causes .*'misfit'"):
        bu.identify_causes(post, X_fail, y_fail, score="influence")


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


def test_auto_climbs_where_reweighted_scores_are_unreliable(shifted, recwarn):
    post, _, X_fail, y_fail = shifted  # 10 failures: k̂ 0.70 > 0.67, ESS 58 < 100
    with pytest.warns(bu.UnreliableScoresWarning, match="method='auto' or 'refit'"):
        cheap = bu.identify_causes(post, X_fail, y_fail, method="reweight")
    assert not cheap.reliable and cheap.diagnostics.method == "reweight"
    recwarn.clear()
    auto = bu.identify_causes(post, X_fail, y_fail, random_seed=2)
    assert not [w for w in recwarn if issubclass(w.category, bu.UnreliableScoresWarning)]
    d = auto.diagnostics
    # 1000 draws: too few for moment matching, so SMC tempers the failures in.
    assert d.method == "smc" and d.reliable
    assert d.reason.startswith("auto: reweighting unreliable (k̂ 0.70")
    assert "moment matching skipped: it needs equally weighted draws, at least 2000" in d.reason
    assert d.details["reweight_pareto_k"] == cheap.diagnostics.pareto_k
    smc = bu.identify_causes(post, X_fail, y_fail, method="smc", random_seed=2)
    pd.testing.assert_frame_equal(auto.table, smc.table)  # the same rung, the same seed
    assert "verdict" in str(d) and "Causes(" in repr(auto)
    with pytest.raises(ValueError, match=r"method='moment_match'.* at least 2000"):
        bu.identify_causes(post, X_fail, y_fail, method="moment_match")


def _log_lik_sd(X, y, mean, cov, sigma=SIGMA):
    """Exact sd of ``log p(z|θ)`` for every row under ``θ ~ N(mean, cov)`` (the conjugate
    model): with ``u = y − a·θ ~ N(μ, v)``, ``log p = c − u²/2σ²`` and ``Var u² = 2v² + 4μ²v``."""
    A = np.column_stack([np.ones(len(y)), X])
    mu = y - A @ mean
    v = np.einsum("ij,jk,ik->i", A, cov, A)
    return np.sqrt(2 * v**2 + 4 * mu**2 * v) / (2 * sigma**2)


def test_moment_matching_and_smc_scores_match_the_closed_form(linear_post, linear_data):
    """The conjugate model (4000 draws): each rung's r(z) against the exact scores, within a
    Monte Carlo error that does not come from the rung's own ``se``.

    ``r̂ = mean_before − mean_after``; each mean's error is at most ``sd(log p(z|θ)) / √ESS``
    per standard error, the sds exact (closed form under p(θ|D) and p(θ|D,F)), the ESS the
    stored chains' (before) and the rung's draws' (after: moment matching's importance ESS x
    reff, SMC's last stage's weights), the latter held to at least 1000 so the tolerance
    cannot widen with a poor sample. The two errors are added (not in quadrature), which
    bounds the difference whatever their correlation (the moment-matched draws are the stored
    ones, moved); 4 such standard errors. A rung whose se were too large would pass the
    old check (r̂ within 4 of its own se of a refit); this one does not read se at all.
    """
    X, y = linear_data
    rng = np.random.default_rng(9)
    X_fail = rng.uniform(1.0, 2.0, (8, 2))
    y_fail = 0.5 + X_fail @ np.array([1.0, -0.5]) + 2.0  # failures the model underpredicts
    exact = closed_form_cause_scores(X, y, X_fail, y_fail)
    joint = closed_form_posterior(np.vstack([X, X_fail]), np.concatenate([y, y_fail]))
    sd_before = _log_lik_sd(X, y, *closed_form_posterior(X, y))
    sd_after = _log_lik_sd(X, y, *joint)
    ess_before = linear_post.diagnostics.ess
    for method in ("moment_match", "smc"):
        with warnings.catch_warnings():  # moment matching keeps 1840 of the 2000 it asks for
            warnings.simplefilter("ignore", bu.UnreliableScoresWarning)
            causes = bu.identify_causes(linear_post, X_fail, y_fail, method=method, random_seed=4)
        d = causes.diagnostics
        if method == "smc":
            assert d.reliable, d
            ess_after = d.details["stages"][-1]["ess"]
        else:
            ess_after = d.ess_importance * relative_efficiency(linear_post)
        ess_after = min(ess_after, linear_post.n_draws)
        assert ess_after >= 1000, (method, d)
        se = sd_before / np.sqrt(ess_before) + sd_after / np.sqrt(ess_after)
        err = causes.table["r"].loc[linear_post.row_ids].to_numpy() - exact
        assert (np.abs(err) < 4 * se).all(), (method, float(np.abs(err / se).max()), d)


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


#: Independent fits in the calibration test. Within one fit the rows' errors follow a few
#: directions (the per-fit mean of z² has 2.4 effective degrees of freedom at 2 x 1000 draws,
#: benchmarks/results/cause_se.md), so taking χ²_R / R (one per fit) errs on the wide side.
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
    exact, exact_misfit = closed_form_cause_scores(
        X, y, X_fail, y_fail, sigma=0.5, prior_sd=10.0, misfit=True
    )
    model = bu.PolynomialRegression(
        sigma=0.5, intercept_prior_sd=10.0, coef_prior_sd=10.0, standardize=False
    )
    z, z_misfit = [], []
    for seed in range(CALIBRATION_FITS):
        # The fit warns at R-hat 1.01, which 2 x 1000 draws of this two-parameter model reach
        # by chance (1.001-1.008 over these seeds on one machine; which seed lands where
        # depends on the machine's BLAS): the convergence asked of them is checked here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bu.MCMCConvergenceWarning)
            post = bu.fit(model, X, y, draws=1000, tune=300, chains=2, random_seed=seed)
        assert post.diagnostics.r_hat < 1.02 and post.diagnostics.divergences == 0
        causes = bu.identify_causes(post, X_fail, y_fail, method="reweight")
        table = causes.table.loc[post.row_ids]
        z.append((table["r"].to_numpy() - exact) / table["se"].to_numpy())
        z_misfit.append((table["misfit"].to_numpy() - exact_misfit) / table["misfit_se"].to_numpy())
    low, high = chi2.ppf([0.001, 0.999], CALIBRATION_FITS) / CALIBRATION_FITS
    for name, errors in (("r", z), ("misfit", z_misfit)):
        mean_sq = float(np.mean(np.square(errors)))
        assert low < mean_sq < high, (
            f"{name}: mean z² {mean_sq:.2f} outside [{low:.2f}, {high:.2f}]"
        )


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
    bu.save(post, tmp_path / "post.nc")
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
                "--seed",
                "0",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "row_id" in text and "method: smc (auto: reweighting unreliable" in text
    table = pd.read_csv(out)
    assert len(table) == 150 and table["is_cause"].sum() > 0
    cheap = ["causes", str(tmp_path / "post.nc"), "--failures", str(tmp_path / "fail.csv")]
    assert main([*cheap, "--method", "reweight"]) == 3  # unreliable scores: exit code 3
    assert "The reweighted scores are unreliable" in capsys.readouterr().out
    assert table["r"].is_monotonic_decreasing  # r(z) ranks by default
    by_misfit = tmp_path / "misfit.csv"
    assert main([*cheap, "--score", "misfit", "--seed", "2", "-o", str(by_misfit)]) == 0
    assert pd.read_csv(by_misfit)["misfit"].is_monotonic_decreasing
