"""How ``repair`` chooses how many causes to forget: the one-SE rule against the best lpd.

A short survey, not a verdict (few splits, short chains): the protocol of
``bench_cause_repair`` (Pima, random flips of the fitting labels, the trusted rows never
corrupted), the causes ranked by the trusted-only misfit (``repair``'s default). One
``bu.repair`` per split gives every candidate ``K`` and its trusted rows' lpd; the
one-standard-error rule (the default) takes the smallest ``K`` within one standard error
of the best, ``rule="best"`` the best itself. The posterior for the best ``K`` is the same
``bu.unlearn`` call ``repair`` makes (same seed), so both rules are read from one ranking.
Test accuracy of each choice beside the clean and corrupted models, means with 95%
t-intervals over splits, and the paired difference best − one-SE.

Run: ``python -m benchmarks.bench_repair_rules`` (``BENCH_REPAIR_SPLITS``, default 4).
Writes ``benchmarks/results/repair_rules.{json,md}``.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pandas as pd

import bayes_unlearn as bu
from benchmarks._common import report_head, write
from benchmarks.bench_cause_repair import flipped_fits, run_splits
from benchmarks.bench_causes import summarize

SPLITS = int(os.environ.get("BENCH_REPAIR_SPLITS", 4))
RATES = (0.1, 0.2, 0.3)
SAMPLER = dict(draws=500, tune=500, chains=2)


def run(X, y, rate, seed) -> dict:
    data, flipped, clean, post, accuracy = flipped_fits(X, y, rate, seed, SAMPLER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        warnings.simplefilter("ignore", bu.UnreliableScoresWarning)
        fixed = bu.repair(
            post, data["X_val"], data["y_val"], allow_unreliable=True, random_seed=seed + 1
        )
        table = fixed.candidates
        best = int(table.loc[table["reliable"], "lpd"].idxmax())
        ranked = fixed.scores.table.index.to_numpy()
        best_post = (
            fixed.posterior
            if best == fixed.n_causes
            else post
            if best == 0
            else bu.unlearn(post, forget=ranked[:best], random_seed=seed + 1)
        )
    bad_ids = post.row_ids[flipped]
    return {
        "rate": rate,
        "seed": seed,
        "clean": accuracy(clean),
        "corrupted": accuracy(post),
        "one-SE": accuracy(fixed.posterior),
        "best": accuracy(best_post),
        "K one-SE": fixed.n_causes,
        "K best": best,
        "flipped in K one-SE": int(np.isin(ranked[: fixed.n_causes], bad_ids).sum()),
        "flipped in K best": int(np.isin(ranked[:best], bad_ids).sum()),
        "candidates": [int(k) for k in table.index],
    }


def main():
    start = time.perf_counter()
    rows = run_splits(run, RATES, SPLITS)
    df = pd.DataFrame(rows)
    lines = [
        "| flipped | clean | corrupted | repair, one-SE (default) | repair, best lpd "
        "| best − one-SE | best − clean | K (one-SE, best) | of them flipped (one-SE, best) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate, g in df.groupby("rate"):
        lines.append(
            f"| {rate:.0%} | {summarize(g['clean'])} | {summarize(g['corrupted'])} "
            f"| {summarize(g['one-SE'])} | {summarize(g['best'])} "
            f"| {summarize(g['best'] - g['one-SE'])} | {summarize(g['best'] - g['clean'])} "
            f"| {g['K one-SE'].mean():.0f}, {g['K best'].mean():.0f} "
            f"| {g['flipped in K one-SE'].sum() / max(g['K one-SE'].sum(), 1):.0%}, "
            f"{g['flipped in K best'].sum() / max(g['K best'].sum(), 1):.0%} |"
        )
    info, head = report_head(
        "# Repair: the one-SE rule against the best lpd (survey)",
        __doc__,
        start,
        f"{SPLITS} splits per rate; NUTS {SAMPLER['chains']} x {SAMPLER['draws']} draws.",
    )
    write(
        "repair_rules",
        {"machine": info, "splits": SPLITS, "runs": rows},
        "\n".join([*head, *lines]),
    )


if __name__ == "__main__":
    main()
