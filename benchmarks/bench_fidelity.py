"""Fidelity and cost of every unlearning method against an exact refit (issue: SMC rescue).

For the Pima logistic model and a synthetic cubic regression, forget random subsets of 1, 5,
10, 25 and 50% of the training rows (3 seeds each) and one structured subset (the rows above
the 80th percentile of Glucose / of x). Each method is compared with a refit (seed A); a second
refit (seed B) gives the Monte Carlo noise floor.

Run: ``python -m benchmarks.bench_fidelity`` (about 10 minutes on 2 cores). Writes
``benchmarks/results/fidelity.{json,md}``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

import bayes_unlearn as bu
from benchmarks._common import machine, write

FRACTIONS = (0.01, 0.05, 0.10, 0.25, 0.50)
SEEDS = (0, 1, 2)
SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4}
METHODS = {
    "IS": {"method": "reweight", "pareto_smoothing": False},
    "PSIS": {"method": "reweight"},
    "SMC": {"method": "smc"},
    "auto": {"method": "auto"},
}


def pima():
    df = bu.datasets.load_pima(impute=True)
    X, y = df.drop(columns="Outcome"), df["Outcome"].to_numpy()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    post = bu.fit(bu.LogisticRegression(), X_tr, y_tr, random_seed=0, **SAMPLER)
    structured = post.row_ids[X_tr["Glucose"].to_numpy() > np.quantile(X_tr["Glucose"], 0.8)]
    return post, X_te, y_te, structured, df.attrs["source"]


def cubic():
    X, y = bu.datasets.make_polynomial_regression(n=500, coef=(0.5, -1.0, 0.3, 0.2), random_seed=0)
    X_te, y_te = bu.datasets.make_polynomial_regression(
        n=200, coef=(0.5, -1.0, 0.3, 0.2), random_seed=1
    )
    post = bu.fit(bu.PolynomialRegression(degree=3), X, y, random_seed=0, **SAMPLER)
    structured = post.row_ids[X[:, 0] > np.quantile(X[:, 0], 0.8)]
    return post, X_te, y_te, structured, "synthetic cubic, 500 rows, learned sigma"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_case(model_name, post, X_te, y_te, forget, label, seed):
    ref, t_ref = timed(
        lambda: bu.unlearn(post, forget=forget, method="refit", random_seed=100 + seed)
    )
    sampling = float(ref.idata.sample_stats.attrs.get("sampling_time", np.nan))
    floor = bu.unlearn(post, forget=forget, method="refit", random_seed=200 + seed)
    rows = []

    def record(name, result, seconds):
        c = bu.compare(result, ref, X_test=X_te, y_test=y_te)
        d = result.diagnostics
        rows.append(
            {
                "model": model_name,
                "forget": label,
                "n_forget": len(forget),
                "seed": seed,
                "method": name,
                "ran": d.method,
                "reliable": d.reliable,
                "seconds": seconds,
                "rel_time_incl_compile": seconds / t_ref,
                "rel_time_excl_compile": seconds / sampling,
                "pareto_k": d.pareto_k,
                "ess": d.ess,
                "max_abs_smd": c.max_abs_smd,
                "max_abs_log_sd_ratio": c.max_abs_log_sd_ratio,
                "lpd_diff": c.lpd_diff,
            }
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        for name, options in METHODS.items():
            result, seconds = timed(
                lambda o=options: bu.unlearn(post, forget=forget, random_seed=seed, **o)
            )
            record(name, result, seconds)
    record("refit (seed B)", floor, t_ref)  # the noise floor: refit vs refit
    rows[-1]["rel_time_excl_compile"] = 1.0
    return rows


def main() -> None:
    rows, sources = [], {}
    for model_name, make in (("pima-logistic", pima), ("cubic-regression", cubic)):
        post, X_te, y_te, structured, source = make()
        sources[model_name] = source
        for frac in FRACTIONS:
            for seed in SEEDS:
                rng = np.random.default_rng([seed, int(frac * 1000)])
                forget = rng.choice(
                    post.row_ids, size=max(1, round(frac * post.row_ids.size)), replace=False
                )
                rows += run_case(model_name, post, X_te, y_te, forget, f"{frac:.0%}", seed)
                print(model_name, frac, seed, flush=True)
        rows += run_case(model_name, post, X_te, y_te, structured, "structured (top 20%)", 0)
    table = pd.DataFrame(rows)
    agg = (
        table.groupby(["model", "forget", "method"], sort=False)
        .agg(
            max_abs_smd=("max_abs_smd", "mean"),
            max_abs_log_sd=("max_abs_log_sd_ratio", "mean"),
            lpd_diff=("lpd_diff", "mean"),
            pareto_k=("pareto_k", "mean"),
            ess=("ess", "mean"),
            rel_time_excl=("rel_time_excl_compile", "median"),
            rel_time_incl=("rel_time_incl_compile", "median"),
            ran=("ran", lambda s: "/".join(sorted(set(s)))),
        )
        .reset_index()
    )
    info = machine()
    lines = [
        "# Unlearning fidelity vs an exact refit",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, PyMC {info['pymc']}, "
        f"ArviZ {info['arviz']}; {info['date']}. Sampler: {SAMPLER['chains']} chains x "
        f"{SAMPLER['draws']} draws (+{SAMPLER['tune']} tuning).",
        f"Data: {sources['pima-logistic']} (80/20 split, 614 training rows); {sources['cubic-regression']}.",
        "Metrics are means over 3 seeds (1 for the structured subset) of the worst standardized mean "
        "difference over parameters, the worst |log sd ratio|, and the mean test log predictive density "
        "difference per row, all against a refit; 'refit (seed B)' is a second refit, the noise floor. "
        "Times are medians, relative to the refit's wall time excluding / including model build and "
        "compilation. `ran` is what `auto` chose.",
        "",
        "| model | forget | method | max abs SMD | max abs log sd ratio | lpd diff | k̂ | ESS | time / refit (excl. compile) | time / refit (incl.) | ran |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in agg.itertuples():
        k = "" if pd.isna(r.pareto_k) else f"{r.pareto_k:.2f}"
        lines.append(
            f"| {r.model} | {r.forget} | {r.method} | {r.max_abs_smd:.3f} | {r.max_abs_log_sd:.3f} | "
            f"{r.lpd_diff:+.4f} | {k} | {r.ess:.0f} | {r.rel_time_excl:.3f} | {r.rel_time_incl:.3f} | {r.ran} |"
        )
    write("fidelity", {"machine": info, "sampler": SAMPLER, "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
