"""A label-noise model whose flip rate follows the features (and the label), for issue #27
(survey).

The fixed blends (``bench_cause_blends``) showed that no one weight serves both sparse random
flips and corrupted subgroups. This survey measures models that learn from the data which
regime they are in: the fitting rows' labels are a clean logistic model's labels ``t``, each
flipped with a probability that may depend on the features and on the true label,

    P(y = 1 | x) = p(x) (1 − π₁(x)) + (1 − p(x)) π₀(x),   p(x) = σ(α + xβ),   π_t(x) = σ(γ_t + xδ_t),

fitted jointly with the trusted rows ``F``, whose labels are never flipped (they anchor the
clean model: without them a flipped region and a changed slope explain the data equally well).
A row's score is its posterior probability of a flipped label, ``E[(1 − p) π₀ / P(y = 1 | x)]``
for a recorded 1 and ``E[p π₁ / P(y = 0 | x)]`` for a recorded 0. Where flips are random the
fit needs no ``δ`` and the score ranks as the trusted misfit does; where a region was
corrupted ``δ`` raises the flip rate there, so that its rows count as flips rather than bending
the clean model; where a subgroup lost one label, only that label's rate ``π_t`` need rise.

- **flip**: one constant flip rate (``π₀ = π₁ = σ(γ)``, ``γ ~ N(−2, 1.5)``: most labels clean);
- **flip(x)**: one rate that follows the features (``π₀ = π₁``, ``δ_j ~ N(0, 1)`` on
  standardized features);
- **flip(x, y)**: a rate per true label, each following the features;
- **flip, LOO**: the scores of whichever of the three predicts the fitting rows' labels best
  (PSIS-LOO ``elpd``, ``az.loo``): the regime chosen by the data, without knowing which rows
  are corrupted;
- **flip, LOO 2 se**: the simplest of the three unless a richer one predicts better by more
  than twice the standard error of the difference (pointwise ``elpd`` differences), richer
  models taken in the order above;
- **flip, trusted lpd**: the scores of whichever of the three gives the trusted rows' labels the
  highest log predictive density under its clean model ``p(x)`` (a misspecified clean model
  can make a richer noise model fit the fitting rows better without finding flips);
- **flip, stacked**: the three models' scores averaged with their stacking weights
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
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from bayes_unlearn.causes._label_noise import simplest_unless_beaten
from benchmarks.bench_cause_blends import survey_page
from benchmarks.bench_cause_candidates import SAMPLER
from benchmarks.bench_cause_ranking import corrupted_fits, survey_main, trusted_misfit

SPLITS = int(os.environ.get("BENCH_SPLITS", 5))
#: The noise models, simplest first.
MODELS = ("flip", "flip(x)", "flip(x, y)")
#: The rankings compared; the last four choose among or blend the models.
CANDIDATES = ("r", "surprise", "TO", *MODELS)
CANDIDATES += ("flip, LOO", "flip, LOO 2 se", "flip, trusted lpd", "flip, stacked")


def flip_fit(X_fit, y_fit, X_val, y_val, *, model: str, seed: int, clean: str = "linear"):
    """Each fitting row's posterior probability that its label was flipped under ``model``
    (one of :data:`MODELS`), and the fit (with the fitting rows' pointwise log-likelihood).

    ``clean="quadratic"`` adds each standardized feature's centred square to the clean model's
    logit, ``z² − 1`` with a ``N(0, 1)`` coefficient (``bench_cause_curved``).
    """
    mean, sd = X_fit.mean(axis=0), X_fit.std(axis=0)
    Z, Z_val = (X_fit - mean) / sd, (X_val - mean) / sd
    labels = 2 if model == "flip(x, y)" else 1  # a flip rate per true label, or one for both
    with pm.Model():
        alpha = pm.Normal("alpha", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 2.5, shape=Z.shape[1])
        logit, logit_val = alpha + Z @ beta, alpha + Z_val @ beta
        if clean == "quadratic":
            curve = pm.Normal("beta2", 0.0, 1.0, shape=Z.shape[1])
            logit, logit_val = logit + (Z**2 - 1) @ curve, logit_val + (Z_val**2 - 1) @ curve
        flip_logit = pm.Normal("gamma", -2.0, 1.5, shape=(labels, 1)) * np.ones(len(y_fit))
        if model != "flip":
            flip_logit = flip_logit + pm.Normal("delta", 0.0, 1.0, shape=(labels, Z.shape[1])) @ Z.T
        pi = pm.math.sigmoid(flip_logit)
        p = pm.math.sigmoid(logit)
        pi0, pi1 = pm.Deterministic("pi0", pi[0]), pm.Deterministic("pi1", pi[-1])
        pm.Bernoulli("y_fit", p=p * (1 - pi1) + (1 - p) * pi0, observed=y_fit)
        pm.Bernoulli("y_val", logit_p=logit_val, observed=y_val)
        pm.Deterministic("p", p)
        idata = pm.sample(random_seed=seed, idata_kwargs={"log_likelihood": True}, **SAMPLER)
    post = idata.posterior.stack(s=("chain", "draw"))
    p, pi0, pi1 = (post[v].to_numpy().T for v in ("p", "pi0", "pi1"))  # (draws, rows)
    flipped = np.where(y_fit == 1, (1 - p) * pi0, p * pi1)
    kept = np.where(y_fit == 1, p * (1 - pi1), (1 - p) * (1 - pi0))
    return (flipped / (flipped + kept)).mean(axis=0), idata


def trusted_lpd(idata) -> float:
    """The trusted rows' log predictive density under the fit's clean model."""
    log_lik = idata.log_likelihood["y_val"].stack(s=("chain", "draw")).to_numpy()  # (rows, S)
    return float((logsumexp(log_lik, axis=1) - np.log(log_lik.shape[1])).sum())


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
    for model in MODELS:
        scores[model], models[model] = flip_fit(*data, model=model, seed=seed)
    loo = {
        model: az.loo(idata, var_name="y_fit", pointwise=True) for model, idata in models.items()
    }
    best = max(loo, key=lambda model: loo[model].elpd_loo)
    careful = simplest_unless_beaten(loo)
    scores["flip, LOO"], scores["flip, LOO 2 se"] = scores[best], scores[careful]
    lpd = {model: trusted_lpd(idata) for model, idata in models.items()}
    anchored = max(lpd, key=lpd.get)
    scores["flip, trusted lpd"] = scores[anchored]
    weights = az.compare(loo, method="stacking")["weight"]  # the LOO above, not again
    scores["flip, stacked"] = sum(weights[model] * scores[model] for model in MODELS)
    is_bad = np.isin(np.arange(len(y_bad)), flipped)
    return {
        **fits["setting"],
        **{c: float(roc_auc_score(is_bad, scores[c])) for c in CANDIDATES},
        "LOO chose": best,
        "LOO 2 se chose": careful,
        "trusted lpd chose": anchored,
        **{f"{model} weight": float(weights[model]) for model in MODELS},
    }


def render(payload: dict) -> str:
    """The result page from the measured payload."""
    title = "Cause rankings: label-noise models with regional and per-label flip rates (survey)"
    return survey_page(payload, title, __doc__, CANDIDATES)


def main():
    survey_main("cause_noise", run, render, SPLITS)


if __name__ == "__main__":
    main()
