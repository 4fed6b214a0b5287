"""Erasure benchmark: what a saved unlearned posterior gives away, against a refit's file.

Pima logistic regression (80/20 stratified split, 4 x 1000 draws). Forget sets: 1%, 10% and
25% of the training rows at random (5 sets each) and 5 structured sets (the rows above the
80th percentile of Glucose, BMI, Age, Pregnancies and DiabetesPedigreeFunction). For each
set: ``bu.unlearn(method="auto")``, then ``save`` (which refreshes the draws), then
:func:`bayes_unlearn.audit_erasure` on the saved file against an exact refit's file, with the
test split as never-seen rows; a second refit gives the Monte Carlo noise floor. The
original, pre-forget file is audited the same way beside them (the positive control: its
rows are stored, so the attacks must find them there).

Every rung: the first 1% and 10% sets forgotten by each method (reweight, moment matching,
SMC, refit, auto), each file saved and audited.

A custom PyMC model with membership signal: one effect per group without pooling, the
forgotten groups with one row each (so the fit follows those rows), two fresh rows of each
forgotten group never seen. Pima's logistic model cannot tell its training rows from new
ones, so there the membership attack has no power even on the original file; here it must
succeed on the original file and fail on the unlearned one.

Run: ``python -m benchmarks.bench_erasure`` (about 12 minutes on 2 cores). Writes
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
RUNGS = ("reweight", "moment_match", "smc", "refit", "auto")
N_GROUPS = 60
N_FORGOTTEN_GROUPS = 30
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


def run_set(post, X_train, y_train, X_test, y_test, rows, seed, tmp: Path, original: Path) -> dict:
    pick = np.isin(post.row_ids, rows)
    X_e, y_e = X_train[pick], y_train[pick]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        un, t_unlearn = timed(lambda: bu.unlearn(post, forget=rows, random_seed=seed))
        path = tmp / f"unlearned-{seed}.nc"
        _, t_save = timed(lambda: bu.save(un, path, random_seed=seed))
        ref, t_refit = timed(
            lambda: bu.unlearn(post, forget=rows, method="refit", random_seed=1000 + seed)
        )
        floor = bu.unlearn(post, forget=rows, method="refit", random_seed=2000 + seed)
    audit = bu.audit_erasure(
        path, X_e, y_e, X_unseen=X_test, y_unseen=y_test, reference=ref, random_seed=seed
    )
    before = bu.audit_erasure(
        original, X_e, y_e, X_unseen=X_test, y_unseen=y_test, reference=ref, random_seed=seed
    )
    saved = bu.load(path)
    fidelity = bu.compare(saved, ref, X_test=X_test, y_test=y_test)
    noise = bu.compare(floor, ref, X_test=X_test, y_test=y_test)
    a = audit.attacks
    per_draw = a[a["attack"].str.startswith("per-draw array: forgotten-row share")]
    aggregate = a[a["attack"].str.startswith("aggregate")]
    m, mo = audit.membership, before.membership
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
        "auc_original": float(mo.loc["audited", "auc"]),
        "auc_original_in_refit_interval": bool(
            m.loc["reference", "ci_low"]
            <= mo.loc["audited", "auc"]
            <= m.loc["reference", "ci_high"]
        ),
        "verbatim_rows_original": int(_value(before, "rows stored verbatim")),
        "verbatim_rows_file": int(_value(audit, "rows stored verbatim")),
        "original_passed": before.passed,
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


def _value(audit, attack: str) -> float:
    a = audit.attacks
    return float(a.loc[a["attack"] == attack, "audited"].sum())


def run_rungs(post, X_train, y_train, X_test, y_test, rows, label, tmp: Path) -> list[dict]:
    """One forget set by every method: each file saved and audited against one refit."""
    pick = np.isin(post.row_ids, rows)
    X_e, y_e = X_train[pick], y_train[pick]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        ref = bu.unlearn(post, forget=rows, method="refit", random_seed=3000)
        for k, method in enumerate(RUNGS):
            un, t_unlearn = timed(
                lambda m=method, k=k: bu.unlearn(post, forget=rows, method=m, random_seed=k)
            )
            path = tmp / f"rung-{label.split()[-1].rstrip('%')}-{method}.nc"
            _, t_save = timed(lambda u=un, p=path, k=k: bu.save(u, p, random_seed=k))
            audit = bu.audit_erasure(
                path, X_e, y_e, X_unseen=X_test, y_unseen=y_test, reference=ref, random_seed=k
            )
            m = audit.membership
            out.append(
                {
                    "forget": label,
                    "rung": method,
                    "ran": un.diagnostics.method,
                    "file_draws": bu.load(path).draws_source,
                    "auc_file": float(m.loc["audited", "auc"]),
                    "auc_refit": float(m.loc["reference", "auc"]),
                    "max_forgotten_share": float(
                        audit.attacks.loc[
                            audit.attacks["attack"].str.contains("share"), "audited"
                        ].max()
                    ),
                    "verbatim_rows": int(_value(audit, "rows stored verbatim")),
                    "fingerprints": int(
                        _value(audit, "unkeyed SHA-256 fingerprints of forgotten rows")
                    ),
                    "duplicates_file": float(audit.duplicates["audited"]),
                    "seconds_unlearn_and_save": t_unlearn + t_save,
                    "passed": audit.passed,
                }
            )
            print(f"rung {label} {method}: passed {audit.passed}", flush=True)
    return out


def group_effects(X, y):
    """``y ~ N(a[group] + b x, 1)``, ``a ~ N(0, 5)``: one effect per group, no pooling."""
    import pymc as pm

    X = np.asarray(X, dtype=np.float64)
    with pm.Model() as model:
        group = pm.Data("group", X[:, 0].astype(np.int64), dims="row")
        x = pm.Data("x", X[:, 1], dims="row")
        a = pm.Normal("a", 0.0, 5.0, shape=N_GROUPS)
        b = pm.Normal("b", 0.0, 5.0)
        pm.Normal("y", a[group] + b * x, 1.0, observed=np.asarray(y, np.float64), dims="row")
    return model


def run_custom(tmp: Path) -> list[dict]:
    """The group model's original, unlearned and refit files, audited against one refit."""
    X, y, X_u, y_u, forgotten = bu.datasets.make_group_membership(
        N_GROUPS, N_FORGOTTEN_GROUPS, random_seed=0
    )
    model = bu.PyMCModel(group_effects)
    post = bu.fit(model, X, y, draws=1000, tune=1000, chains=2, random_seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        ref = bu.unlearn(post, forget=forgotten, method="refit", random_seed=2)
        files = {
            "original (pre-forget)": post,
            "unlearned (auto, saved)": bu.unlearn(post, forget=forgotten, random_seed=3),
            "second exact refit": bu.unlearn(post, forget=forgotten, method="refit", random_seed=4),
        }
    out = []
    for name, obj in files.items():
        audit = bu.audit_erasure(
            obj,
            X[forgotten],
            y[forgotten],
            X_unseen=X_u,
            y_unseen=y_u,
            reference=ref,
            model=model,
            random_seed=5,
        )
        m = audit.membership
        out.append(
            {
                "file": name,
                "auc_file": float(m.loc["audited", "auc"]),
                "auc_file_ci": [
                    float(m.loc["audited", "ci_low"]),
                    float(m.loc["audited", "ci_high"]),
                ],
                "auc_refit": float(m.loc["reference", "auc"]),
                "auc_refit_ci": [
                    float(m.loc["reference", "ci_low"]),
                    float(m.loc["reference", "ci_high"]),
                ],
                "verbatim_rows": int(_value(audit, "rows stored verbatim")),
                "duplicates_file": float(audit.duplicates["audited"]),
                "passed": audit.passed,
                "verdict": audit.verdict,
            }
        )
        print(f"custom {name}: {audit.verdict}", flush=True)
    return out


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
            "AUC vs original file": interval(g["auc_original"]),
            "forgotten rows stored verbatim (original / file)": f"{int(g['verbatim_rows_original'].median())} / {int(g['verbatim_rows_file'].max())}",
            "original file's audit failed": f"{int((~g['original_passed']).sum())}/{len(g)}",
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
    sets = list(forget_sets(post, X_train))
    first = {}
    for label, _, rows in sets:
        if label in ("random 1%", "random 10%"):
            first.setdefault(label, rows)
    records, rungs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        custom = run_custom(Path(tmp))
        for label, rows in first.items():
            rungs += run_rungs(
                post, X_train.to_numpy(), y_train, X_test, y_test, rows, label, Path(tmp)
            )
        original = Path(tmp) / "original.nc"
        bu.save(post, original)
        for seed, (label, k, rows) in enumerate(sets):
            result = run_set(
                post, X_train.to_numpy(), y_train, X_test, y_test, rows, seed, Path(tmp), original
            )
            records.append({"forget": label, "set": str(k), **result})
            print(
                f"{label} {k}: {result['method']}, AUC {result['auc_file']:.3f} vs "
                f"{result['auc_refit']:.3f} (original {result['auc_original']:.3f}), "
                f"time/refit {result['time_fraction']:.3f}",
                flush=True,
            )
    table = pd.DataFrame(records)
    summary = summarize(table)
    rung_table = pd.DataFrame(rungs).set_index(["forget", "rung"])
    rung_table["auc file / refit"] = [
        f"{a:.3f} / {b:.3f}"
        for a, b in zip(rung_table["auc_file"], rung_table["auc_refit"], strict=True)
    ]
    rung_view = rung_table[
        [
            "ran",
            "file_draws",
            "auc file / refit",
            "max_forgotten_share",
            "verbatim_rows",
            "fingerprints",
            "duplicates_file",
            "passed",
        ]
    ].round(4)
    rung_view.index = [f"{f}, {r}" for f, r in rung_view.index]
    custom_view = pd.DataFrame(custom).set_index("file")
    custom_view["AUC (95% bootstrap)"] = [
        f"{a:.3f} ({lo:.3f} to {hi:.3f})"
        for a, (lo, hi) in zip(custom_view["auc_file"], custom_view["auc_file_ci"], strict=True)
    ]
    custom_view["refit's AUC (95% bootstrap)"] = [
        f"{a:.3f} ({lo:.3f} to {hi:.3f})"
        for a, (lo, hi) in zip(custom_view["auc_refit"], custom_view["auc_refit_ci"], strict=True)
    ]
    custom_view = custom_view[
        ["AUC (95% bootstrap)", "refit's AUC (95% bootstrap)", "verbatim_rows", "passed"]
    ]
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
            "Every rung, one forget set each (the first random 1% and 10% sets), each file "
            "saved and audited against one exact refit (seed 3000). `ran`: the method that "
            "ran; `file_draws`: the saved draws' source.",
            "",
            markdown_table(rung_view),
            "",
            f"A custom PyMC model with membership signal (`group_effects`: {N_GROUPS} groups, "
            f"no pooling; the {N_FORGOTTEN_GROUPS} forgotten groups have one training row each, "
            f"the others three; two fresh rows of each forgotten group are the never-seen rows; "
            "2 x 1000 draws). Each file audited against one exact refit (seed 2).",
            "",
            markdown_table(custom_view),
            "",
            f"Fidelity within 1.5x the noise floor on both measures: "
            f"{', '.join(f'{k} {bool(v)}' for k, v in fidelity_ok.items())}.",
            f"Sets whose audit passed: {int(table['passed'].sum())}/{len(table)}; audits of the "
            f"original file that failed (rows stored verbatim): "
            f"{int((~table['original_passed']).sum())}/{len(table)}.",
            "",
            f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, PyMC {m['pymc']}, "
            f"ArviZ {m['arviz']}, NumPy {m['numpy']}; {m['date']}.",
        ]
    )
    write(
        "erasure",
        {
            "machine": m,
            "sampler": SAMPLER,
            "sets": records,
            "summary": summary.to_dict(),
            "rungs": rungs,
            "custom_model": custom,
        },
        markdown,
    )


if __name__ == "__main__":
    main()
