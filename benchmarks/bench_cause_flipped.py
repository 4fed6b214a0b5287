"""The package's ``score="flipped"`` where its choice of flip rate decides, for issue #27 (survey).

``bench_cause_curved`` surveyed the label-noise ranking with its fits at 2 x 500 draws, too
few for R-hat to judge a fit, and met 25 of 27 settings: on one split each of Pima's 10% and
breast cancer's 30% regional flips the per-label flip rate settled on an inverted
explanation and LOO preferred it. Here the package's own ``identify_causes(score="flipped")``
runs at the stored fit's sampler settings (NUTS 4 x 1000 draws after 1000 tuning steps, as
``bench_cause_ranking``'s fits), which leaves a richer flip rate out of the choice where its
fit did not converge (R-hat, ESS and divergences judged as for any fit).

Settings (``SETTINGS``): the two the curved survey missed; the three corrupted subgroups,
where the per-label rate must still be chosen; Mroz's 10% random flips, where the constant
rate must be kept. Same splits, corruptions and criterion as the other surveys; ``chose``
counts the flip rates chosen over the splits, ``left out`` the richer rates whose fits did
not converge. Run: ``python -m benchmarks.bench_cause_flipped`` (``--render`` rebuilds the
page from the JSON).
"""

from __future__ import annotations

import collections
import os

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

import bayes_unlearn as bu
from benchmarks.bench_cause_blends import summary
from benchmarks.bench_cause_ranking import SAMPLER, corrupted_fits, survey_main

SPLITS = int(os.environ.get("BENCH_SPLITS", 5))
SETTINGS = (
    ("pima", "region", 0.1),
    ("breast cancer", "region", 0.3),
    ("pima", "subgroup", None),
    ("breast cancer", "subgroup", None),
    ("mroz", "subgroup", None),
    ("mroz", "random", 0.1),
)
CANDIDATES = ("r", "surprise", "flipped")


def run(name, X, y, kind, rate, seed) -> dict:
    fits = corrupted_fits(name, X, y, kind, rate, seed)
    post, flipped = fits["post"], fits["flipped"]
    causes = bu.identify_causes(
        post, fits["X_val"], fits["y_val"], method="reweight", score="flipped", random_seed=seed
    )
    # r(z) and the surprise as in the other surveys (method auto); the flipped score's own
    # call conditions by reweighting only for the columns it ranks after.
    scores = fits["causes"].table.loc[post.row_ids, ["r", "surprise"]]
    scores["flipped"] = causes.table.loc[post.row_ids, "flipped"]
    details = causes.diagnostics.details["label_noise"]
    is_bad = np.isin(np.arange(post.row_ids.size), flipped)
    return {
        **fits["setting"],
        **{c: float(roc_auc_score(is_bad, scores[c])) for c in CANDIDATES},
        "chose": details["flip_rate"],
        "left out": list(details["not_converged"]),
        "r_hat": details["r_hat"],
    }


def render(payload: dict) -> str:
    """The result page from the measured payload."""
    info, runs = payload["machine"], pd.DataFrame(payload["runs"])
    intro = [p.replace("\n", " ") for p in __doc__.split("\n\n")[:2]]
    lines = [
        "# Cause rankings: the package's flipped score at the fit's draws (survey)",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}. Wall time "
        f"{payload['seconds']:.0f} s.",
        "",
        *[line for p in intro for line in (p, "")],
        f"{payload['splits']} splits each; NUTS {SAMPLER['chains']} x {SAMPLER['draws']} draws "
        "for every fit; r(z) and the surprise from `identify_causes` (method auto). ROC AUC "
        "for the corrupted rows, means with 95% t-intervals over splits; ✓: within the interval "
        "of the better of r(z) and the surprise, or above it.",
        "",
        *summary(runs, CANDIDATES),
        "",
        "| data | corruption | corrupted | chose (splits) | left out, not converged (splits) |",
        "|---|---|---:|---|---|",
    ]
    for (name, kind, _), g in runs.groupby(
        ["data", "corruption", "level"], sort=False, dropna=False
    ):
        chose = collections.Counter(g["chose"])
        left = collections.Counter(rate for rates in g["left out"] for rate in rates)
        lines.append(
            f"| {name} | {kind} | {g['rate'].mean():.0%} "
            f"| {', '.join(f'{k} {v}' for k, v in chose.items())} "
            f"| {', '.join(f'{k} {v}' for k, v in left.items()) or 'none'} |"
        )
    return "\n".join(lines) + "\n"


def main():
    survey_main("cause_flipped", run, render, SPLITS, SETTINGS)


if __name__ == "__main__":
    main()
