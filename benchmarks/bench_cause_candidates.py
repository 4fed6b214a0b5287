"""Candidate default rankings for issue #27, beside r(z), the misfit and the surprise.

A cheap survey that points the next measurement, not a verdict: fewer splits and shorter
chains than ``bench_cause_ranking`` (whose splits, corruptions and data sets it reuses); the
candidates' posteriors are exact NUTS fits. For each fitting row ``z`` with label ``y``:

- **trusted-only misfit** ``−E_{p(θ|F)}[log p(z|θ)]``: the label's fit under a model of the
  trusted rows ``F`` alone (nothing learned from the possibly corrupted rows);
- **balanced misfit** ``−E_{p(θ|D,F^λ)}[log p(z|θ)]`` with ``λ = round(|D| / |F|)``: ``F``
  counts as much as all the fitting rows together (each trusted row repeated ``λ`` times in
  the fit), between the misfit (``λ = 1``) and the trusted-only misfit (``λ → ∞``);
- **r + trusted-only**: the sum of the two rankings' ranks;
- **trimmed misfit**: the misfit under a fit on ``F`` and the half of the fitting rows that
  the trusted-only misfit finds most plausible (a trimmed-likelihood step: more data than
  ``F`` alone, little of it corrupted);
- **trusted-only − surprise**: r(z) with the trusted-only fit in place of ``p(θ|D,F)``, so
  ``E_{p(θ|D)}[log p(z|θ)] − E_{p(θ|F)}[log p(z|θ)]``;
- **elpd-gated**: the misfit, or r(z) where the fitting rows' model predicts ``F`` worse
  than ``F`` predicts itself (PSIS-LOO of the trusted-only fit) by more than two standard
  errors of the pointwise difference: a sign that the corruption has bent the model, which
  is when r(z)'s direction of change carries information;
- **lpd-chosen**: :func:`bayes_unlearn.repair` run with r(z) and with the trusted-only
  ranking (``rule="best"``); the ranking whose repair gives the trusted rows the higher log
  predictive density (what repair already uses to choose ``K``).

Data: ``bench_cause_ranking``'s two data sets and a hold-out one that no candidate was
designed on (carData's Mroz, labour-force participation of 753 women; its subgroup: the
oldest quarter's participants recorded as not participating).

Run: ``python -m benchmarks.bench_cause_candidates`` (``BENCH_SPLITS``, default 3;
``--render`` rebuilds the page from the JSON).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

import bayes_unlearn as bu
from benchmarks.bench_cause_ranking import corrupted_fits, interval, survey_main
from benchmarks.bench_causes import summarize

SPLITS = int(os.environ.get("BENCH_SPLITS", 3))
SAMPLER = dict(draws=500, tune=500, chains=2, progressbar=False)
CANDIDATES = (
    "r",
    "misfit",
    "surprise",
    "trusted-only",
    "balanced",
    "r + trusted-only",
    "trimmed",
    "trusted-only − surprise",
    "elpd-gated",
    "lpd-chosen",
)
#: The elpd-gated candidate takes r(z) below this z-score of the elpd difference.
GATE_Z = -2.0


def _expected_misfit(post, X, y) -> np.ndarray:
    return -(post.weights @ post.pointwise_log_likelihood(X, y))


def _trimmed_misfit(X_fit, y_bad, X_val, y_val, trusted_misfit, seed) -> np.ndarray:
    kept = np.argsort(trusted_misfit, kind="stable")[: len(y_bad) // 2]
    X_kept, y_kept = np.vstack([X_val, X_fit[kept]]), np.concatenate([y_val, y_bad[kept]])
    post = bu.fit(bu.LogisticRegression(), X_kept, y_kept, random_seed=seed, **SAMPLER)
    return _expected_misfit(post, X_fit, y_bad)


def _elpd_z(post, trusted, X_val, y_val) -> float:
    """z-score of elpd(F | fitting rows' model) − elpd_loo(F | trusted-only model)."""
    diff = post.log_predictive_density(X_val, y_val, pointwise=True) - np.asarray(
        trusted.loo(pointwise=True).loo_i
    )
    return float(diff.sum() / (diff.std(ddof=1) * np.sqrt(diff.size)))


def _lpd_choice(post, X_val, y_val, seed) -> tuple[str, dict]:
    """The ranking (``r`` or ``trusted``) whose best repair fits the trusted rows better."""
    best = {}
    for score in ("r", "trusted"):
        fixed = bu.repair(post, X_val, y_val, score=score, rule="best", random_seed=seed + 1)
        best[score] = float(fixed.candidates.loc[fixed.candidates["reliable"], "lpd"].max())
    return max(best, key=best.get), best


def run(name, X, y, kind, rate, seed) -> dict:
    fits = corrupted_fits(name, X, y, kind, rate, seed, SAMPLER)
    post, trusted, flipped, y_bad = fits["post"], fits["trusted"], fits["flipped"], fits["y_bad"]
    X_fit, X_val, y_val = fits["X_fit"].to_numpy(float), fits["X_val"], fits["y_val"]
    table = fits["causes"].table.loc[post.row_ids]
    lam = max(1, round(len(y_bad) / len(y_val)))
    X_bal = np.vstack([X_fit, *[X_val.to_numpy(float)] * lam])
    y_bal = np.concatenate([y_bad, *[y_val] * lam])
    balanced = bu.fit(bu.LogisticRegression(), X_bal, y_bal, random_seed=seed, **SAMPLER)
    only = _expected_misfit(trusted, X_fit, y_bad)
    chosen, best_lpd = _lpd_choice(post, X_val, y_val, seed)
    scores = {
        "r": table["r"].to_numpy(),
        "misfit": table["misfit"].to_numpy(),
        "surprise": table["surprise"].to_numpy(),
        "trusted-only": only,
        "balanced": _expected_misfit(balanced, X_fit, y_bad),
        "r + trusted-only": rankdata(table["r"]) + rankdata(only),
        "trimmed": _trimmed_misfit(X_fit, y_bad, X_val.to_numpy(float), y_val, only, seed),
        "trusted-only − surprise": only - table["surprise"].to_numpy(),
    }
    scores["lpd-chosen"] = scores["r" if chosen == "r" else "trusted-only"]
    gate = _elpd_z(post, trusted, X_val, y_val)
    scores["elpd-gated"] = scores["r" if gate < GATE_Z else "misfit"]
    is_bad = np.isin(np.arange(len(y_bad)), flipped)
    return {
        **fits["setting"],
        "lambda": lam,
        "lpd_chose": chosen,
        "best_lpd": best_lpd,
        "elpd_z": gate,
        **{c: float(roc_auc_score(is_bad, scores[c])) for c in CANDIDATES},
    }


def summary(table: pd.DataFrame) -> list[str]:
    lines = [
        "| data | corruption | corrupted | "
        + " | ".join(CANDIDATES)
        + " | better of r, surprise | lpd chose r |",
        "|---|---|---:|" + "---:|" * (len(CANDIDATES) + 2),
    ]
    for (name, kind, _), g in table.groupby(
        ["data", "corruption", "level"], sort=False, dropna=False
    ):
        better = "r" if g["r"].mean() >= g["surprise"].mean() else "surprise"
        _, low, _ = interval(g[better])
        cells = [
            summarize(g[c]) + (" ✓" if c not in ("r", "surprise") and g[c].mean() >= low else "")
            for c in CANDIDATES
        ]
        lines.append(
            f"| {name} | {kind} | {g['rate'].mean():.0%} | "
            + " | ".join(cells)
            + f" | {better} | {(g['lpd_chose'] == 'r').sum()} of {len(g)} |"
        )
    return lines


def render(payload: dict) -> str:
    """The result page from the measured payload (``--render`` rebuilds it from the JSON)."""
    info = payload["machine"]
    intro = [p if p.startswith("- ") else p.replace("\n", " ") for p in __doc__.split("\n\n")[:4]]
    lines = [
        "# Cause rankings: candidates for a default (survey)",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}. Wall time "
        f"{payload['seconds']:.0f} s.",
        "",
        *[line for p in intro for line in (p, "")],
        f"{payload['splits']} splits each; NUTS {SAMPLER['chains']} x {SAMPLER['draws']} draws; "
        "r(z), the misfit and the surprise from `identify_causes` (method auto). ROC AUC for "
        "the corrupted rows, means with 95% t-intervals over splits; ✓: the candidate's mean "
        "is within the interval of the better of r(z) and the surprise, or above it (that one "
        "chosen after the fact, as in cause_ranking.md). With so few splits the intervals are "
        "wide: a ✓ here is a lead, not the target met.",
        "",
        *summary(pd.DataFrame(payload["runs"])),
    ]
    return "\n".join(lines)


def main():
    survey_main("cause_candidates", run, render, SPLITS)


if __name__ == "__main__":
    main()
