"""Label-noise models whose clean model may curve, for issue #27 (survey).

The label-noise survey (``bench_cause_noise``) chose among a constant, a regional and a
per-label regional flip rate by LOO with a 2-se margin and met 25 of 27 settings, missing
Mroz's sparse random flips: there the regional rates won LOO without finding flips, since a
straight clean logit misfits Mroz (a misfit that a flip rate following the features soaks up).
Here the clean model's logit adds each standardized feature's centred square, ``z² − 1`` with a
``N(0, 1)`` coefficient, so that curvature is fitted as curvature; the noise models and the
trusted rows' role are as in ``bench_cause_noise``:

    P(y = 1 | x) = p(x) (1 − π₁(x)) + (1 − p(x)) π₀(x),   logit p(x) = α + zβ + (z² − 1)β₂.

- **flip²**, **flip(x)²**, **flip(x, y)²**: a constant flip rate, one that follows the
  features, one per true label following the features; a row's score is its posterior
  probability of a flipped label;
- **flip², LOO 2 se**: the simplest of the three unless a richer one predicts the fitting rows'
  labels better by more than twice the standard error of the pointwise ``elpd`` difference
  (PSIS-LOO, ``az.loo``), without knowing which rows are corrupted;
- **flip², LOO**: whichever of the three has the highest ``elpd``.

The linear clean model's numbers for the same splits are in ``cause_noise.md``. Same splits,
corruptions, data sets and criterion as ``bench_cause_blends`` (a survey: a ✓ is a lead, not
the target met). Run: ``python -m benchmarks.bench_cause_curved`` (``BENCH_PROCESSES=2`` runs
two settings side by side; ``--render`` rebuilds the page from the JSON).
"""

from __future__ import annotations

import os

import arviz as az
import numpy as np
from sklearn.metrics import roc_auc_score

from bayes_unlearn.causes._label_noise import simplest_unless_beaten
from benchmarks.bench_cause_blends import survey_page
from benchmarks.bench_cause_candidates import SAMPLER
from benchmarks.bench_cause_noise import MODELS, flip_fit
from benchmarks.bench_cause_ranking import corrupted_fits, survey_main, trusted_misfit

SPLITS = int(os.environ.get("BENCH_SPLITS", 5))
CURVED = tuple(f"{model}²" for model in MODELS)
CANDIDATES = ("r", "surprise", "TO", *CURVED, "flip², LOO 2 se", "flip², LOO")


def run(name, X, y, kind, rate, seed) -> dict:
    fits = corrupted_fits(name, X, y, kind, rate, seed, SAMPLER)
    post, flipped, y_bad = fits["post"], fits["flipped"], fits["y_bad"]
    table = fits["causes"].table.loc[post.row_ids]
    scores = {
        "r": table["r"].to_numpy(),
        "surprise": table["surprise"].to_numpy(),
        "TO": trusted_misfit(fits["trusted"], fits["X_fit"], y_bad),
    }
    data = [np.asarray(a, dtype=float) for a in (fits["X_fit"], y_bad, fits["X_val"])]
    data.append(np.asarray(fits["y_val"], dtype=float))
    loo = {}
    for model, label in zip(MODELS, CURVED, strict=True):
        scores[label], idata = flip_fit(*data, model=model, seed=seed, clean="quadratic")
        loo[label] = az.loo(idata, var_name="y_fit", pointwise=True)
    careful = simplest_unless_beaten(loo)
    best = max(loo, key=lambda label: loo[label].elpd_loo)
    scores["flip², LOO 2 se"], scores["flip², LOO"] = scores[careful], scores[best]
    is_bad = np.isin(np.arange(len(y_bad)), flipped)
    return {
        **fits["setting"],
        **{c: float(roc_auc_score(is_bad, scores[c])) for c in CANDIDATES},
        "LOO 2 se chose": careful,
        "LOO chose": best,
        **{f"{label} elpd": float(loo[label].elpd_loo) for label in CURVED},
    }


def render(payload: dict) -> str:
    """The result page from the measured payload."""
    title = "Cause rankings: label-noise models with a curved clean model (survey)"
    return survey_page(payload, title, __doc__, CANDIDATES)


def main():
    survey_main("cause_curved", run, render, SPLITS)


if __name__ == "__main__":
    main()
