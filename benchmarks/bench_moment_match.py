"""Moment matching against the closed form: when does it rescue a failed reweighting?

Known-noise linear regression (n = 400, two features, N(0, 10²) priors), the 10/20/30/50% of
rows with the largest first feature forgotten (the posterior moves and widens), seeds 0-5,
S = 1000 (2 x 500) and 4000 (4 x 1000) NUTS draws: 48 requests. For each, plain reweighting
and moment matching (split and not): Pareto k̂, relative ESS, the largest error in mean
(posterior sds) and in log-sd against the closed form, and the verdict.

Run: ``python -m benchmarks.bench_moment_match``. Writes ``benchmarks/results/moment_match.{json,md}``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

import bayes_unlearn as bu
from benchmarks._common import machine, markdown_table, write
from tests.conftest import closed_form_posterior

SEEDS = range(6)
FRACTIONS = (0.1, 0.2, 0.3, 0.5)
SIZES = ((2, 500), (4, 1000))
TOLERANCE = 0.2  # posterior sds


def _errors(un, mean, sd) -> dict:
    table = un.summary()
    d = un.diagnostics
    return {
        "k": d.pareto_k,
        "rel_ess": d.ess / un.n_draws,
        "mean_err": float(np.max(np.abs(table["mean"].to_numpy() - mean) / sd)),
        "log_sd_err": float(np.max(np.abs(np.log(table["sd"].to_numpy() / sd)))),
        "reliable": bool(d.reliable),
    }


def one_fit(seed, chains, draws):
    rng = np.random.default_rng(100 + seed)
    X = rng.standard_normal((400, 2))
    y = 0.5 + X @ np.array([1.0, -0.5]) + rng.standard_normal(400)
    model = bu.PolynomialRegression(
        sigma=1.0, intercept_prior_sd=10.0, coef_prior_sd=10.0, standardize=False
    )
    post = bu.fit(model, X, y, draws=draws, tune=500, chains=chains, random_seed=seed)
    rows = []
    for fraction in FRACTIONS:
        forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 1 - fraction))
        keep = np.setdiff1d(np.arange(len(y)), forget)
        mean, cov = closed_form_posterior(X[keep], y[keep])
        sd = np.sqrt(np.diag(cov))
        row = {"seed": seed, "S": chains * draws, "fraction": fraction}
        plain = _errors(bu.unlearn(post, forget=forget, method="reweight"), mean, sd)
        row |= {f"reweight_{k}": v for k, v in plain.items()}
        for split in (True, False):
            start = time.perf_counter()
            mm = bu.unlearn(post, forget=forget, method="moment_match", split=split)
            tag = "mm" if split else "mm_nosplit"
            row |= {f"{tag}_{k}": v for k, v in _errors(mm, mean, sd).items()}
            row[f"{tag}_steps"] = len(mm.diagnostics.details["steps"])
            row[f"{tag}_seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    accurate = (df["mm_mean_err"] <= TOLERANCE) & (df["mm_log_sd_err"] <= TOLERANCE)
    hard = df["reweight_k"].between(0.7, 1.0)
    full = df["S"] == 4000
    return pd.DataFrame(
        {
            "requests": [len(df)],
            "plain k̂ in [0.7, 1.0]": [int(hard.sum())],
            "of those, moment matching reliable": [int((hard & df["mm_reliable"]).sum())],
            "plain k̂ in [0.7, 1.0], S = 4000": [int((hard & full).sum())],
            "of those, moment matching reliable ": [int((hard & full & df["mm_reliable"]).sum())],
            "reliable moment matchings": [int(df["mm_reliable"].sum())],
            "reliable but off by > 0.2 sd": [int((df["mm_reliable"] & ~accurate).sum())],
            "unreliable and off by > 0.2 sd": [int((~df["mm_reliable"] & ~accurate).sum())],
            "largest error of a reliable result (sd)": [
                round(
                    float(df.loc[df["mm_reliable"], ["mm_mean_err", "mm_log_sd_err"]].max().max()),
                    3,
                )
            ],
            "median seconds": [round(float(df["mm_seconds"].median()), 3)],
        }
    ).T.rename(columns={0: "value"})


def main() -> None:
    warnings.simplefilter("ignore")
    rows = [r for seed in SEEDS for c, d in SIZES for r in one_fit(seed, c, d)]
    df = pd.DataFrame(rows)
    info = machine()
    shown = (
        df[
            [
                "seed",
                "S",
                "fraction",
                "reweight_k",
                "mm_k",
                "mm_rel_ess",
                "mm_mean_err",
                "mm_log_sd_err",
                "mm_reliable",
                "mm_steps",
                "mm_nosplit_rel_ess",
                "mm_nosplit_mean_err",
                "mm_nosplit_log_sd_err",
            ]
        ]
        .round(3)
        .set_index("seed")
    )
    markdown = "\n".join(
        [
            "# Moment matching vs the closed form",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}; PyMC {info['pymc']}.",
            __doc__.split("\n\n")[1].replace("\n", " "),
            "",
            markdown_table(summarize(df)),
            "",
            "Every request (errors in posterior sds; `mm` = split moment matching, the default):",
            "",
            markdown_table(shown),
        ]
    )
    write("moment_match", {"machine": info, "rows": rows}, markdown)


if __name__ == "__main__":
    main()
