"""Calibration of the cause scores' Monte Carlo standard errors against the closed form.

A conjugate model (known-noise linear regression, 150 rows, 2 failure rows) has exact
``r(z)``; over R independent NUTS fits, ``z = (r̂ − r) / se`` should have mean square 1 for
every row. Reported per sampler configuration: the mean of z², the median over rows of the
sd of z across fits, and the effective degrees of freedom per fit ``2 / var(per-fit mean z²)``
(about 1: the rows' errors within one fit move together, which is why a single fit cannot
check its own standard errors and the test suite replicates fits).

Run: ``python -m benchmarks.bench_cause_se``. Writes ``benchmarks/results/cause_se.{json,md}``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

import bayes_unlearn as bu
from benchmarks._common import machine, markdown_table, write
from tests.conftest import closed_form_cause_scores

FITS = 40
CONFIGS = ((2, 500), (2, 1000), (4, 1000))  # (chains, draws per chain); tune = 500


def _problem():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (150, 1))
    y = 1.0 + 2.0 * X[:, 0] + 0.5 * rng.standard_normal(150)
    X_fail = rng.uniform(1, 2, (2, 1))
    y_fail = 2.0 + 2.0 * X_fail[:, 0] + 0.5 * rng.standard_normal(2)
    return X, y, X_fail, y_fail


def calibration(chains: int, draws: int) -> dict:
    X, y, X_fail, y_fail = _problem()
    exact = closed_form_cause_scores(X, y, X_fail, y_fail, sigma=0.5, prior_sd=10.0)
    model = bu.PolynomialRegression(
        sigma=0.5, intercept_prior_sd=10.0, coef_prior_sd=10.0, standardize=False
    )
    z, k_hat = [], []
    start = time.perf_counter()
    for seed in range(FITS):
        post = bu.fit(
            model, X, y, draws=draws, tune=500, chains=chains, random_seed=seed, progressbar=False
        )
        causes = bu.identify_causes(post, X_fail, y_fail, method="reweight")
        table = causes.table.loc[post.row_ids]
        z.append((table["r"].to_numpy() - exact) / table["se"].to_numpy())
        k_hat.append(causes.diagnostics.pareto_k)
    z = np.asarray(z)
    per_fit = np.mean(z**2, axis=1)
    return {
        "chains x draws": f"{chains} x {draws}",
        "fits": FITS,
        "mean z²": round(float(np.mean(z**2)), 3),
        "median sd of z": round(float(np.median(z.std(axis=0, ddof=1))), 3),
        "median mean z": round(float(np.median(z.mean(axis=0))), 3),
        "df per fit": round(float(2 / np.var(per_fit, ddof=1)), 2),
        "max k̂": round(float(np.max(k_hat)), 3),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    warnings.simplefilter("ignore", bu.MCMCConvergenceWarning)
    rows = [calibration(c, d) for c, d in CONFIGS]
    info = machine()
    table = pd.DataFrame(rows).set_index("chains x draws")
    markdown = "\n".join(
        [
            "# Cause scores: are the Monte Carlo standard errors calibrated?",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}; PyMC "
            f"{info['pymc']}, ArviZ {info['arviz']}.",
            "Known-noise linear regression (150 rows, σ = 0.5, N(0, 10²) priors), 2 failure "
            "rows, `identify_causes(method='reweight')` against the closed-form r(z); "
            f"{FITS} independent NUTS fits per configuration (tune 500).",
            "",
            markdown_table(table),
            "",
            "Calibrated standard errors give mean z² = 1 and sd of z = 1. With one effective "
            "degree of freedom per fit, the mean of z² over 40 fits has a Monte Carlo sd of "
            "about √(2/40) = 0.22.",
        ]
    )
    write("cause_se", {"machine": info, "rows": rows}, markdown)


if __name__ == "__main__":
    main()
