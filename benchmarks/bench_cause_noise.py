"""A label-noise model whose flip rate follows the features, for issue #27 (survey).

The fixed blends (``bench_cause_blends``) showed that no one weight serves both sparse random
flips and corrupted subgroups. This survey measures a model that learns which regime it is in
from the data: the fitting rows' labels are a clean logistic model's labels flipped with a
probability that depends on the features,

    P(y = 1 | x) = (1 − π(x)) p(x) + π(x) (1 − p(x)),   p(x) = σ(α + xβ),   π(x) = σ(γ + xδ),

fitted jointly with the trusted rows ``F``, whose labels are never flipped (they anchor the
clean model: without them a flipped region and a changed slope explain the data equally well).
A row's score is its posterior probability of having been flipped,
``E[π(x)(1 − p_y(x)) / P(y | x)]`` with ``p_y`` the clean model's probability of the recorded
label. The idea measured: where flips are random the fit needs ``δ ≈ 0`` and the score ranks
as the trusted misfit does; where a region or subgroup was corrupted ``δ`` can raise the flip
rate there, so that its rows' recorded labels count as flips rather than bending the clean
model. (The flip rate does not depend on the true label, while the subgroups here flip one
label only: the table shows what that costs.)

- **flip(x)**: the model above (``γ ~ N(−2, 1.5)``: most labels clean; ``δ_j ~ N(0, 1)`` on
  standardized features);
- **flip**: the same with a constant flip rate (``δ = 0``), for comparison;
- **flip, LOO**: the scores of whichever of the two predicts the fitting rows' labels better
  (PSIS-LOO ``elpd``, ``az.loo``): the regime chosen by the data, without knowing which rows
  are corrupted;
- **flip, stacked**: the two models' scores averaged with their stacking weights
  (``az.compare``).

Same splits, corruptions, data sets and criterion as ``bench_cause_blends`` (a survey: a ✓ is
a lead, not the target met). Run: ``python -m benchmarks.bench_cause_noise`` (``--render``
rebuilds the page from the JSON).
"""

from __future__ import annotations

import os

import arviz as az
import numpy as np
import pymc as pm
from sklearn.metrics import roc_auc_score

from benchmarks.bench_cause_blends import survey_page
from benchmarks.bench_cause_candidates import SAMPLER
from benchmarks.bench_cause_ranking import corrupted_fits, survey_main, trusted_misfit

SPLITS = int(os.environ.get("BENCH_SPLITS", 5))
CANDIDATES = ("r", "surprise", "TO", "flip(x)", "flip", "flip, LOO", "flip, stacked")


def flip_fit(X_fit, y_fit, X_val, y_val, *, regional: bool, seed: int):
    """Each fitting row's posterior probability that its label was flipped, and the fit
    (with the fitting rows' pointwise log-likelihood, for LOO)."""
    mean, sd = X_fit.mean(axis=0), X_fit.std(axis=0)
    Z, Z_val = (X_fit - mean) / sd, (X_val - mean) / sd
    with pm.Model():
        alpha = pm.Normal("alpha", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 2.5, shape=Z.shape[1])
        gamma = pm.Normal("gamma", -2.0, 1.5)
        flip_logit = gamma
        if regional:
            flip_logit = flip_logit + Z @ pm.Normal("delta", 0.0, 1.0, shape=Z.shape[1])
        p = pm.math.sigmoid(alpha + Z @ beta)
        pi = pm.Deterministic("pi", pm.math.sigmoid(flip_logit) * np.ones(len(y_fit)))
        pm.Bernoulli("y_fit", p=(1 - pi) * p + pi * (1 - p), observed=y_fit)
        pm.Bernoulli("y_val", logit_p=alpha + Z_val @ beta, observed=y_val)
        pm.Deterministic("p", p)
        idata = pm.sample(random_seed=seed, idata_kwargs={"log_likelihood": True}, **SAMPLER)
    post = idata.posterior.stack(s=("chain", "draw"))
    p, pi = post["p"].to_numpy().T, post["pi"].to_numpy().T  # (draws, rows)
    p_label = np.where(y_fit == 1, p, 1 - p)
    flipped = pi * (1 - p_label)
    return (flipped / (flipped + (1 - pi) * p_label)).mean(axis=0), idata


def run(name, X, y, kind, rate, seed) -> dict:
    fits = corrupted_fits(name, X, y, kind, rate, seed, SAMPLER)
    post, trusted, flipped, y_bad = fits["post"], fits["trusted"], fits["flipped"], fits["y_bad"]
    table = fits["causes"].table.loc[post.row_ids]
    scores = {
        "r": table["r"].to_numpy(),
        "surprise": table["surprise"].to_numpy(),
        "TO": trusted_misfit(trusted, fits["X_fit"], y_bad),
    }
    data = [np.asarray(a, dtype=float) for a in (fits["X_fit"], y_bad, fits["X_val"])]
    data.append(np.asarray(fits["y_val"], dtype=float))
    models = {}
    for label, regional in (("flip(x)", True), ("flip", False)):
        scores[label], models[label] = flip_fit(*data, regional=regional, seed=seed)
    loo = {label: az.loo(idata, var_name="y_fit").elpd_loo for label, idata in models.items()}
    scores["flip, LOO"] = scores[max(loo, key=loo.get)]
    weights = az.compare(models, var_name="y_fit", method="stacking")["weight"]
    scores["flip, stacked"] = sum(weights[label] * scores[label] for label in models)
    is_bad = np.isin(np.arange(len(y_bad)), flipped)
    return {
        **fits["setting"],
        **{c: float(roc_auc_score(is_bad, scores[c])) for c in CANDIDATES},
        "regional chosen": bool(loo["flip(x)"] > loo["flip"]),
        "regional weight": float(weights["flip(x)"]),
    }


def render(payload: dict) -> str:
    """The result page from the measured payload."""
    title = "Cause rankings: a label-noise model with a regional flip rate (survey)"
    return survey_page(payload, title, __doc__, CANDIDATES)


def main():
    survey_main("cause_noise", run, render, SPLITS)


if __name__ == "__main__":
    main()
