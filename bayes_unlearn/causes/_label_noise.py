"""Each training row's posterior probability that its label was flipped (logistic models).

A label-noise model is fitted to the training rows ``D`` jointly with the trusted rows ``F``,
whose labels are taken as never flipped: the recorded label of a training row is its clean
label ``t``, flipped with a probability that may depend on the features and on ``t``,

    P(y = 1 | x) = p(x) (1 − π₁(x)) + (1 − p(x)) π₀(x),
    logit p(x) = α + zβ + (z² − 1)β₂,   logit π_t(x) = γ_t + zδ_t,

on the features ``z`` standardized over ``D``. The clean logit carries each feature's centred
square, so that curvature a straight logit lacks is not read as flips. Three flip rates,
simplest first: one constant rate (``π₀ = π₁ = σ(γ)``), one that follows the features, and
one per true label following the features; the score is the simplest whose PSIS-LOO ``elpd``
on ``D`` no richer one beats by more than twice the standard error of their pointwise
difference, among the fits that converged (R-hat, ESS and divergences as for any fit: the
LOO of a fit whose chains disagree is no evidence, and the richer rates can settle on an
inverted explanation in some chains, a flipped region read as clean). A row's score is ``E[(1 − p) π₀ / P(y = 1 | x)]`` for a recorded 1 and
``E[p π₁ / P(y = 0 | x)]`` for a recorded 0.

Priors: ``α, β ~ N(0, 2.5)``, ``β₂ ~ N(0, 1)``, ``γ ~ N(−2, 1.5)`` (most labels clean),
``δ ~ N(0, 1)``. Measured in ``benchmarks/results/cause_curved.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_unlearn import _backend
from bayes_unlearn._progress import wants_progress
from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn.options import cores_limit
from bayes_unlearn.sampling import convergence
from bayes_unlearn.scaling import Standardizer

__all__ = ["FLIP_RATES", "flip_probabilities", "simplest_unless_beaten"]

#: The flip rates, simplest first.
FLIP_RATES = ("constant", "regional", "regional per label")
#: Rows a block of the flip probabilities covers (bounded memory: rows x draws per block).
_BLOCK_ROWS = 512


def flip_probabilities(
    posterior, X_f: np.ndarray, y_f: np.ndarray, *, random_seed: RandomSeed, progressbar=None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Each training row's posterior probability of a flipped label, its Monte Carlo
    standard error, and the details: the flip rate chosen, each one's ``elpd``, and the
    chosen fit's R-hat, ESS and problems."""
    import arviz as az

    X, y = posterior.training_data()
    scaling = Standardizer.fit(X)  # over D; a constant feature is only centred
    Z, Z_f = scaling.transform(X), scaling.transform(X_f)
    rng = get_random_generator(random_seed)
    fits, loo = {}, {}
    for rate in FLIP_RATES:
        fits[rate] = _sample(
            _noise_model(rate, Z, y, Z_f, y_f), posterior.sampler, rng, progressbar
        )
        loo[rate] = az.loo(fits[rate], var_name="y", pointwise=True)
    checks = {rate: convergence(fit) for rate, fit in fits.items()}
    chosen, unconverged = _choose(loo, checks)
    probability, se = _flipped(fits[chosen], rate=chosen, Z=Z, y=y)
    details = {
        "flip_rate": chosen,
        "elpd_loo": {rate: float(loo[rate].elpd_loo) for rate in FLIP_RATES},
        "not_converged": unconverged,  # richer rates left out of the choice
        **checks[chosen],
    }
    return probability, se, details


def _noise_model(rate: str, Z, y, Z_f, y_f):
    pm = _backend.pymc()
    labels = 2 if rate == "regional per label" else 1
    with pm.Model() as model:
        alpha = pm.Normal("alpha", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 2.5, shape=Z.shape[1])
        curve = pm.Normal("beta2", 0.0, 1.0, shape=Z.shape[1])

        def clean_logit(features):
            return alpha + features @ beta + (features**2 - 1) @ curve

        flip_logit = pm.Normal("gamma", -2.0, 1.5, shape=(labels, 1)) * np.ones(len(y))
        if rate != "constant":
            delta = pm.Normal("delta", 0.0, 1.0, shape=(labels, Z.shape[1]))
            flip_logit = flip_logit + delta @ Z.T
        flip = pm.math.sigmoid(flip_logit)
        p = pm.math.sigmoid(clean_logit(Z))
        pm.Bernoulli("y", p=p * (1 - flip[-1]) + (1 - p) * flip[0], observed=y)
        pm.Bernoulli("y_trusted", logit_p=clean_logit(Z_f), observed=y_f)
    return model


def _sample(model, sampler: dict, rng, progressbar):
    pm = _backend.pymc()
    with model:
        return pm.sample(
            draws=sampler["draws"],
            tune=sampler["tune"],
            chains=sampler["chains"],
            cores=cores_limit(int(sampler["cores"])),
            target_accept=sampler["target_accept"],
            random_seed=int(rng.integers(2**31)),
            progressbar=wants_progress(progressbar),
            compute_convergence_checks=False,
            idata_kwargs={"log_likelihood": True},
        )


def _choose(loo: dict, checks: dict) -> tuple[str, list[str]]:
    """The flip rate chosen by :func:`simplest_unless_beaten` among those whose fits
    converged (``checks``: :func:`~bayes_unlearn.sampling.convergence` of each fit), and the
    richer rates left out. The constant rate always takes part: it is the fallback, and its
    own problems reach the verdict."""
    unconverged = [rate for rate in FLIP_RATES[1:] if checks[rate]["problems"]]
    usable = {rate: loo[rate] for rate in FLIP_RATES if rate not in unconverged}
    return simplest_unless_beaten(usable), unconverged


def simplest_unless_beaten(loo: dict) -> str:
    """The first of ``loo``'s models unless a later one's ``elpd`` exceeds the current
    choice's by more than twice the standard error of their pointwise difference (the
    caller leaves out the models whose fits did not converge)."""
    rates = list(loo)
    chosen = rates[0]
    for rate in rates[1:]:
        diff = loo[rate].loo_i.to_numpy() - loo[chosen].loo_i.to_numpy()
        if diff.sum() > 2 * np.sqrt(diff.size * diff.var()):
            chosen = rate
    return chosen


def _flipped(idata, *, rate: str, Z, y) -> tuple[np.ndarray, np.ndarray]:
    """The posterior mean of each row's flip probability and its MCSE, a block of rows at a
    time, from the parameter draws."""
    import arviz as az

    post = idata.posterior
    chains, draws = post.sizes["chain"], post.sizes["draw"]

    def draws_of(name):  # (chains * draws, ...)
        return post[name].to_numpy().reshape(chains * draws, *post[name].shape[2:])

    alpha, beta, curve, gamma = (draws_of(v) for v in ("alpha", "beta", "beta2", "gamma"))
    delta = draws_of("delta") if rate != "constant" else None
    probability, se = np.empty(len(y)), np.empty(len(y))
    for start in range(0, len(y), _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        z = Z[rows]
        p = _sigmoid(alpha[:, None] + beta @ z.T + curve @ (z**2 - 1).T)  # (S, rows)
        flip_logit = gamma  # (S, labels, 1)
        if delta is not None:
            flip_logit = flip_logit + delta @ z.T
        flip = _sigmoid(flip_logit)
        flip0, flip1 = flip[:, 0], flip[:, -1]
        flipped = np.where(y[rows] == 1, (1 - p) * flip0, p * flip1)
        kept = np.where(y[rows] == 1, p * (1 - flip1), (1 - p) * (1 - flip0))
        chance = (flipped / (flipped + kept)).reshape(chains, draws, -1)
        probability[rows] = chance.mean(axis=(0, 1))
        se[rows] = az.mcse(az.convert_to_dataset(chance))["x"].to_numpy()
    return probability, se


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))
