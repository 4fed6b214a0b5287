"""Cause identification: which training rows are responsible for a model's failures.

References
----------
Tanno, R., Pradier, M. F., Nori, A. and Li, Y. (2022). Repairing neural networks by leaving
the right past behind. NeurIPS 2022.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from bayes_unlearn import _weighted
from bayes_unlearn._random import RandomSeed
from bayes_unlearn._validation import check_X_y
from bayes_unlearn.diagnostics import importance_problems, pareto_k_threshold
from bayes_unlearn.posterior import Posterior

__all__ = ["identify_causes"]

#: Fewer effective draws than this after reweighting by p(F | θ) make the scores unreliable.
MIN_ESS = 100.0


def identify_causes(
    posterior: Posterior,
    X_fail,
    y_fail,
    *,
    method: Literal["reweight", "refit"] = "reweight",
    top_k: int | None = None,
    threshold: float = 0.0,
    random_seed: RandomSeed = None,
    progressbar: bool = False,
) -> pd.DataFrame:
    """Score every training row by its responsibility for the failure cases ``F``.

    ``r(z) = E_{p(θ|D)}[log p(z|θ)] − E_{p(θ|D,F)}[log p(z|θ)]``: how much less likely a
    training row becomes once the model also learns the failures. Rows with large ``r(z)``
    pull the model towards the failures; forget them to repair it
    (``bu.unlearn(posterior, forget=table.index[table.is_cause])``).

    Parameters
    ----------
    posterior : Posterior
        The model that fails (weighted posteriors are handled).
    X_fail, y_fail : array-like
        The failure cases with their correct targets.
    method : {"reweight", "refit"}, default "reweight"
        How ``p(θ | D, F)`` is obtained: reweighting the stored draws by ``p(F | θ)``
        (Pareto-smoothed, milliseconds; check ``attrs["pareto_k"]``) or MCMC on ``D ∪ F``
        with the stored model and sampler settings (exact).
    top_k : int, optional
        Mark the ``top_k`` highest-scoring rows as causes instead of ``r > threshold``.
    threshold : float, default 0.0
        Rows with ``r(z) > threshold`` are causes (Tanno et al. use 0).
    random_seed : int, Generator or None
        Seed of the refit; None reuses the fit's seed.
    progressbar : bool, default False
        Progress bar of the refit.

    Returns
    -------
    DataFrame
        Indexed by ``row_id``, sorted by decreasing ``r``, with columns ``r``, ``se`` (Monte
        Carlo standard error), ``z`` (``r / se``), ``log_lik`` (``E_{p(θ|D)}[log p(z|θ)]``,
        low for rows the model finds surprising), ``rank`` (1 = strongest) and ``is_cause``.
        ``attrs`` holds ``method``, ``n_failures`` and, for reweighting, ``pareto_k``,
        ``pareto_k_threshold``, ``ess`` and ``reliable``.

    See Also
    --------
    bayes_unlearn.repair : Score with a trusted validation set and choose how many of the top
        causes to forget on it.

    Notes
    -----
    To first order, ``r(z) > 0`` means that removing ``z`` would make ``F`` more likely, so the
    scores are only as informative as ``F``. Misclassified held-out rows are often cases no
    model of this family gets right; under random label noise the mislabeled rows make the
    model less confident, which *helps* on such cases, and they score ``r < 0``. A trusted
    validation set (verified labels, all of its rows) as ``F`` asks instead which rows make
    the model worse on trustworthy data; ``notebooks/pima_repair.ipynb`` measures both.

    For reweighting, ``se`` is the delta-method standard error of the difference of two
    self-normalized estimates from the same draws, inflated by the draws' MCMC
    autocorrelation; for a refit, the two posteriors are independent and their
    variances add.
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(
            f"The 'posterior' parameter must be a Posterior. Got {type(posterior).__name__}."
        )
    if method not in ("reweight", "refit"):
        raise ValueError(f"The 'method' parameter must be 'reweight' or 'refit'. Got {method!r}.")
    n_rows = posterior.row_ids.size
    if top_k is not None and not (isinstance(top_k, int | np.integer) and 1 <= top_k <= n_rows):
        raise ValueError(
            f"The 'top_k' parameter must be an integer in [1, {n_rows}]. Got {top_k!r}."
        )
    X_f, y_f = check_X_y(
        X_fail,
        y_fail,
        binary=posterior.model.binary_target,
        n_features=len(posterior.feature_names),
        feature_names=posterior.feature_names,
        x_name="X_fail",
        y_name="y_fail",
    )
    ll = posterior.log_likelihood()  # (draws, rows) for D
    before = _weighted.weighted_mean(ll, posterior.weights)
    if method == "reweight":
        after, se, attrs = _reweighted_scores(posterior, ll, before, X_f, y_f)
    else:
        after, se, attrs = _refit_scores(posterior, ll, X_f, y_f, random_seed, progressbar)
    attrs = {"method": method, "n_failures": len(y_f), **attrs}
    r = before - after
    table = pd.DataFrame(
        {"r": r, "se": se, "z": r / np.where(se > 0, se, np.nan), "log_lik": before},
        index=pd.Index(posterior.row_ids, name="row_id"),
    )
    table = table.sort_values("r", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    table["is_cause"] = (table["rank"] <= top_k) if top_k is not None else (table["r"] > threshold)
    table.attrs.update(attrs)
    return table


def _reweighted_scores(posterior, ll, before, X_f, y_f):
    """``E_{p(θ|D,F)}[log p(z|θ)]`` by PSIS reweighting with ``p(F | θ)``, its MC error."""
    import arviz as az

    from bayes_unlearn.methods.reweight import relative_efficiency

    lw, w = posterior.log_weights, posterior.weights
    log_lik_f = posterior.pointwise_log_likelihood(X_f, y_f).sum(axis=1)
    lw_f, k_hat = az.psislw(lw + log_lik_f, reff=relative_efficiency(posterior))
    w_f = np.exp(lw_f)
    after = _weighted.weighted_mean(ll, w_f)
    # Influence of each draw on (before - after); Var ≈ Σ_s (w_s (ℓ_s-μ) - w'_s (ℓ_s-μ'))².
    infl = w[:, None] * (ll - before) - w_f[:, None] * (ll - after)
    se = np.sqrt((infl**2).sum(axis=0) / _mcmc_efficiency(posterior))
    ess = _weighted.importance_ess(lw_f)
    problems = importance_problems(float(k_hat), ess, posterior.n_draws, MIN_ESS)
    attrs = {
        "pareto_k": float(k_hat),
        "pareto_k_threshold": pareto_k_threshold(posterior.n_draws),
        "ess": ess,
        "reliable": not problems,
    }
    return after, se, attrs


def _refit_scores(posterior, ll, X_f, y_f, random_seed, progressbar):
    """``E_{p(θ|D,F)}[log p(z|θ)]`` from an MCMC refit on ``D ∪ F``, its MC error."""
    from bayes_unlearn.sampling import resample_like

    X, y = posterior.training_data()
    ids = posterior.row_ids
    new_ids = np.arange(ids.max() + 1, ids.max() + 1 + len(y_f))
    joint = resample_like(
        posterior,
        np.vstack([X, X_f]),
        np.concatenate([y, y_f]),
        np.concatenate([ids, new_ids]),
        random_seed=random_seed,
        progressbar=progressbar,
    )
    ll_f = joint.log_likelihood(ids)
    after = ll_f.mean(axis=0)
    w = posterior.weights
    ess_a = _weighted.importance_ess(posterior.log_weights) * _mcmc_efficiency(posterior)
    ess_b = joint.diagnostics.ess
    se = np.sqrt(_weighted.weighted_sd(ll, w) ** 2 / ess_a + ll_f.var(axis=0) / ess_b)
    return after, se, {"refit_reliable": joint.diagnostics.reliable}


def _mcmc_efficiency(posterior: Posterior) -> float:
    """Smallest relative bulk ESS of the stored draws (1 when unknown)."""
    import arviz as az

    post = posterior.idata.posterior
    if post.sizes["draw"] < 4:
        return 1.0
    ess = float(az.ess(post).to_array().min())
    return min(1.0, ess / posterior.n_draws) if np.isfinite(ess) else 1.0
