"""Reweighting vs exact refit on the Pima logistic model: wall time for 1, 10, 100 forgotten rows.

Run: ``make bench`` (or ``python benchmarks/bench_reweight.py``). Uses $BAYES_UNLEARN_DATA
for the 768-row Pima CSV when set, else the offline default. Writes
``benchmarks/results/reweight_vs_refit.{json,md}``.
"""

from __future__ import annotations

import statistics
import time
import warnings

import numpy as np
from sklearn.model_selection import train_test_split

import bayes_unlearn as bu
from benchmarks._common import machine, write

SIZES = (1, 10, 100)
REWEIGHT = {"method": "reweight"}  # the default is "auto"; this benchmark times reweighting
REWEIGHT_REPEATS = 25
REFIT_REPEATS = 3


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    df = bu.datasets.load_pima(impute=True)
    X, y = df.drop(columns="Outcome"), df["Outcome"].to_numpy()
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    post = bu.fit(
        bu.LogisticRegression(), X_train, y_train, draws=1000, tune=1000, chains=4, random_seed=0
    )
    rng = np.random.default_rng(0)
    rows = []
    for size in SIZES:
        forget = rng.choice(post.row_ids, size=size, replace=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
            bu.unlearn(post, forget=forget, **REWEIGHT)  # warm-up (imports)
            rw, _ = _median_time(
                lambda f=forget: bu.unlearn(post, forget=f, **REWEIGHT), REWEIGHT_REPEATS
            )
            un = bu.unlearn(post, forget=forget, **REWEIGHT)
        # A refit builds, compiles and samples a new PyMC model: all of it is its cost.
        rf, rf_all = _median_time(
            lambda f=forget: bu.unlearn(post, forget=f, method="refit", random_seed=1),
            REFIT_REPEATS,
        )
        rows.append(
            {
                "n_forget": size,
                "reweight_ms": 1e3 * rw,
                "refit_s": rf,
                "refit_runs_s": rf_all,
                "speedup": rf / rw,
                "pareto_k": un.diagnostics.pareto_k,
                "ess": un.diagnostics.ess,
                "reliable": un.diagnostics.reliable,
            }
        )
    info = machine()
    lines = [
        "# Reweighting vs refit (Pima logistic regression)",
        "",
        f"Data: {df.attrs['source']}; {len(y_train)} training rows; 4 chains x 1000 draws "
        f"(+1000 tuning). Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, "
        f"PyMC {info['pymc']}, ArviZ {info['arviz']}; {info['date']}.",
        f"Medians over {REWEIGHT_REPEATS} reweightings and {REFIT_REPEATS} refits (refit = model "
        "build + compile + NUTS).",
        "",
        "| rows forgotten | reweight (ms) | refit (s) | speed-up | Pareto k̂ | ESS | reliable |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['n_forget']} | {r['reweight_ms']:.1f} | {r['refit_s']:.2f} | "
        f"{r['speedup']:.0f}x | {r['pareto_k']:.2f} | {r['ess']:.0f} | {r['reliable']} |"
        for r in rows
    ]
    lines += [
        "",
        "reliable: k̂ within min(1 - 1/log10 S, 0.7) and ESS >= 75% of the draws; where it is "
        "not, bu.unlearn's default (auto) climbs to moment matching, then SMC.",
    ]
    write("reweight_vs_refit", {"machine": info, "results": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
