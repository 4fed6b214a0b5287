"""Erasure benchmark: what a saved unlearned posterior gives away, against a refit's file.

Pima logistic regression (80/20 stratified split, 4 x 1000 draws). Forget sets: 1%, 10% and
25% of the training rows at random (5 sets each) and 5 structured sets (the rows above the
80th percentile of Glucose, BMI, Age, Pregnancies and DiabetesPedigreeFunction). For each
set: ``bu.unlearn(method="auto")``, then ``save`` (which refreshes the draws), then
:func:`bayes_unlearn.audit_erasure` on the saved file against an exact refit's file, with the
test split as never-seen rows; a second refit gives the Monte Carlo noise floor.

Run: ``python -m benchmarks.bench_erasure`` (about 5 minutes on 2 cores). Writes
``benchmarks/results/erasure.{json,md}``.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import train_test_split

import bayes_unlearn as bu
from benchmarks._common import machine, markdown_table, write

SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4}
FRACTIONS = (0.01, 0.10, 0.25)
SETS = 5
STRUCTURED = ("Glucose", "BMI", "Age", "Pregnancies", "DiabetesPedigreeFunction")


def forget_sets(post, X_train):
    rng = np.random.default_rng(0)
    for fraction in FRACTIONS:
        for k in range(SETS):
            size = max(1, round(fraction * post.row_ids.size))
            yield (
                f"random {fraction:.0%}",
                k,
                np.sort(rng.choice(post.row_ids, size, replace=False)),
            )
    for column in STRUCTURED:
        values = X_train[column].to_numpy()
        yield "structured top 20%", column, post.row_ids[values > np.quantile(values, 0.8)]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_set(post, X_train, y_train, X_test, y_test, rows, seed, tmp: Path) -> dict:
    pick = np.isin(post.row_ids, rows)
    X_e, y_e = X_train[pick], y_train[pick]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        un, t_unlearn = timed(lambda: bu.unlearn(post, forget=rows, random_seed=seed))
        path = tmp / f"unlearned-{seed}.nc"
        _, t_save = timed(lambda: un.save(path, random_seed=seed))
        ref, t_refit = timed(
            lambda: bu.unlearn(post, forget=rows, method="refit", random_seed=1000 + seed)
        )
        floor = bu.unlearn(post, forget=rows, method="refit", random_seed=2000 + seed)
    audit = bu.audit_erasure(
        path, X_e, y_e, X_unseen=X_test, y_unseen=y_test, reference=ref, random_seed=seed
    )
    saved = bu.load(path)
    fidelity = bu.compare(saved, ref, X_test=X_test, y_test=y_test)
    noise = bu.compare(floor, ref, X_test=X_test, y_test=y_test)
    a = audit.attacks
    per_draw = a[a["attack"].str.startswith("per-draw array: forgotten-row share")]
    aggregate = a[a["attack"].str.startswith("aggregate")]
    m = audit.membership
    return {
        "n_forget": len(rows),
        "method": un.diagnostics.method,
        "refreshed": saved.draws_source == "refresh",
        "auc_file": float(m.loc["audited", "auc"]),
        "auc_refit": float(m.loc["reference", "auc"]),
        "auc_refit_lo": float(m.loc["reference", "ci_low"]),
        "auc_refit_hi": float(m.loc["reference", "ci_high"]),
        "auc_in_refit_interval": bool(
            m.loc["reference", "ci_low"] <= m.loc["audited", "auc"] <= m.loc["reference", "ci_high"]
        ),
        "max_forgotten_share_file": float(per_draw["audited"].max()),
        "max_forgotten_share_refit": float(per_draw["reference"].max()),
        "aggregate_error_file": float(aggregate["audited"].min()),
        "aggregate_error_refit": float(aggregate["reference"].min()),
        "attack_succeeded": bool((a["succeeded"] & ~a["baseline"]).any()),
        "duplicates_file": float(audit.duplicates["audited"]),
        "smd": fidelity.max_abs_smd,
        "log_sd": fidelity.max_abs_log_sd_ratio,
        "floor_smd": noise.max_abs_smd,
        "floor_log_sd": noise.max_abs_log_sd_ratio,
        "seconds_unlearn": t_unlearn,
        "seconds_refresh": t_save,
        "seconds_refit": t_refit,
        "time_fraction": (t_unlearn + t_save) / t_refit,
        "refresh_fraction": t_save / t_refit,
        "passed": audit.passed,
    }


def interval(values) -> str:
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return f"{v.mean():.3f} ({v.mean() - half:.3f} to {v.mean() + half:.3f})"


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for name, g in table.groupby("forget", sort=False):
        rows[name] = {
            "rows": int(g["n_forget"].median()),
            "methods": ", ".join(f"{k} {v}" for k, v in g["method"].value_counts().items()),
            "AUC vs saved file": interval(g["auc_file"]),
            "AUC vs refit file": interval(g["auc_refit"]),
            "AUC within refit's 95% interval": f"{int(g['auc_in_refit_interval'].sum())}/{len(g)}",
            "max forgotten share (file / refit)": f"{g['max_forgotten_share_file'].max():.4f} / "
            f"{g['max_forgotten_share_refit'].max():.4f}",
            "aggregate error (file / refit)": f"{g['aggregate_error_file'].min():.3f} / "
            f"{g['aggregate_error_refit'].min():.3f}",
            "attacks that beat the refit": int(g["attack_succeeded"].sum()),
            "SMD / floor": f"{g['smd'].mean():.3f} / {g['floor_smd'].mean():.3f}",
            "log sd / floor": f"{g['log_sd'].mean():.3f} / {g['floor_log_sd'].mean():.3f}",
            "time / refit": f"{g['time_fraction'].median():.3f} (max {g['time_fraction'].max():.3f})",
            "refresh (s) / refit": f"{g['seconds_refresh'].median():.2f} / "
            f"{g['refresh_fraction'].median():.3f}",
        }
    return pd.DataFrame(rows).T


def main() -> None:
    df = bu.datasets.load_pima(impute=True)
    X, y = df.drop(columns="Outcome"), df["Outcome"].to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0, stratify=y
    )
    post = bu.fit(bu.LogisticRegression(), X_train, y_train, random_seed=0, **SAMPLER)
    bu.unlearn(post, forget=[0], method="refit")  # compile once: refit times are warm
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed, (label, k, rows) in enumerate(forget_sets(post, X_train)):
            result = run_set(
                post, X_train.to_numpy(), y_train, X_test, y_test, rows, seed, Path(tmp)
            )
            records.append({"forget": label, "set": str(k), **result})
            print(
                f"{label} {k}: {result['method']}, AUC {result['auc_file']:.3f} vs "
                f"{result['auc_refit']:.3f}, time/refit {result['time_fraction']:.3f}",
                flush=True,
            )
    table = pd.DataFrame(records)
    summary = summarize(table)
    m = machine()
    fidelity_ok = (
        table.groupby("forget")["smd"].mean() <= 1.5 * table.groupby("forget")["floor_smd"].mean()
    ) & (
        table.groupby("forget")["log_sd"].mean()
        <= 1.5 * table.groupby("forget")["floor_log_sd"].mean()
    )
    markdown = "\n".join(
        [
            "# Erasure: attacks on a saved unlearned posterior vs on a refit's file",
            "",
            f"Data: {df.attrs['source']}; {len(y_train)} training rows, {len(y_test)} test rows "
            f"(the never-seen rows of the membership attack). Pima logistic regression, "
            f"{SAMPLER['chains']} x {SAMPLER['draws']} draws. Each forget set: "
            "`bu.unlearn(method='auto')`, `save` (refresh), `bu.audit_erasure` on the file "
            "against an exact refit's file (seed 1000+k); a second refit (seed 2000+k) is the "
            "noise floor. Intervals: mean and 95% t-interval over the sets. Membership AUC: "
            "forgotten vs never-seen rows scored by log predictive density. Forgotten share: "
            "largest share of any per-draw array's variance explained by log p(D_e | θ) beyond "
            "what the remaining rows explain (1 = the array is a function of the forgotten "
            "rows). Aggregate error: the feature-scaling constants read as means over all rows, "
            "standardized error of the forgotten rows' implied sum (0 = recovered). Time: "
            "(auto + refresh) / a warm refit (build + NUTS); refresh: the save's refresh and write, "
            "in seconds and as a fraction of that refit.",
            "",
            markdown_table(summary),
            "",
            f"Fidelity within 1.5x the noise floor on both measures: "
            f"{', '.join(f'{k} {bool(v)}' for k, v in fidelity_ok.items())}.",
            f"Sets whose audit passed: {int(table['passed'].sum())}/{len(table)}.",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, PyMC {m['pymc']}, "
            f"ArviZ {m['arviz']}, NumPy {m['numpy']}; {m['date']}.",
        ]
    )
    write(
        "erasure",
        {"machine": m, "sampler": SAMPLER, "sets": records, "summary": summary.to_dict()},
        markdown,
    )


if __name__ == "__main__":
    main()
