"""The two expectations of every row's score and their Monte Carlo error, a block of rows at a time.

``r(z) = E_{p(θ|D)}[log p(z|θ)] − E_{p(θ|D,F)}[log p(z|θ)]`` needs ``log p(z|θ)`` for every
training row under two sets of (weighted) draws; nothing of size draws x rows is kept:
each block of rows is evaluated, reduced to three numbers per row and dropped
(:mod:`bayes_unlearn._rowwise`, which also runs the blocks on Dask when asked).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from bayes_unlearn._ess import ess_mean
from bayes_unlearn._rowwise import map_over_rows

__all__ = ["Conditioned", "expected_under", "monte_carlo_se", "score_rows"]


@dataclasses.dataclass(frozen=True)
class Conditioned:
    """``p(θ | D, F)`` as weighted draws: what a rung of the ladder hands to :func:`score_rows`.

    Attributes
    ----------
    weights : ndarray
        Normalized weights of its draws.
    rows : callable or None
        ``positions ↦ log p(z|θ_s)`` (draws, rows) at its draws; None when they are the
        posterior's own draws, reweighted (the two expectations are then correlated).
    chains : (int, int) or None
        (chain, draw) layout of its draws for the ESS of a mean; None for independent
        draws of effective size ``effective_size`` (SMC).
    effective_size : float or None
    """

    weights: np.ndarray
    rows: Callable[[np.ndarray], np.ndarray] | None = None
    chains: tuple[int, int] | None = None
    effective_size: float | None = None


def score_rows(posterior, conditioned: Conditioned) -> tuple[np.ndarray, ...]:
    """``before``, ``after``, the standard error of ``before − after`` and that of ``after``
    alone, for every row."""
    post = posterior.idata.posterior
    chains = (post.sizes["chain"], post.sizes["draw"])
    w, wa = posterior.weights, conditioned.weights
    rows_ll = posterior.rows_log_likelihood
    positions = np.arange(posterior.row_ids.size)

    def block(rows: slice) -> np.ndarray:
        ll = rows_ll(positions[rows])
        before = w @ ll
        if conditioned.rows is None:  # the same draws: the two estimates' errors correlate
            after = wa @ ll
            # w (ll − before) − w' (ll − after), in place: (w − w') ll − w before + w' after
            infl = ll * (w - wa)[:, None]
            infl -= np.outer(w, before)
            infl += np.outer(wa, after)
            se_after = monte_carlo_se(wa[:, None] * (ll - after), chains)
            return np.stack([before, after, monte_carlo_se(infl, chains), se_after])
        ll_a = conditioned.rows(positions[rows])
        after = wa @ ll_a
        se_before = monte_carlo_se(w[:, None] * (ll - before), chains)
        if conditioned.chains is None:
            se_after = ll_a.std(axis=0) / np.sqrt(conditioned.effective_size)
        else:
            se_after = monte_carlo_se(wa[:, None] * (ll_a - after), conditioned.chains)
        return np.stack([before, after, np.hypot(se_before, se_after), se_after])

    return map_over_rows(
        block,
        positions.size,
        posterior.n_draws,
        "cause scores",
        values=posterior.model.block_values,
    )


def expected_under(alone, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``E[log p(z|θ)]`` under another posterior ``alone`` (a fit on other rows) for every
    row ``(X, y)``, and its Monte Carlo standard error: shape (2, rows)."""
    post = alone.idata.posterior
    chains = (post.sizes["chain"], post.sizes["draw"])
    w = alone.weights

    def block(rows: slice) -> np.ndarray:
        ll = alone.pointwise_log_likelihood(X[rows], y[rows])
        mean = w @ ll
        return np.stack([mean, monte_carlo_se(w[:, None] * (ll - mean), chains)])

    return map_over_rows(
        block, len(y), alone.n_draws, "scores under F alone", values=alone.model.block_values
    )


def monte_carlo_se(influence: np.ndarray, chains: tuple[int, int]) -> np.ndarray:
    """Monte Carlo standard error of ``Σ_s influence[s, j]`` for every column ``j``.

    ``Var ≈ Σ_s influence_s² · S / ESS_j``, with ``ESS_j`` the mean-ESS of column ``j``'s
    own sequence over (chain, draw), as :func:`arviz.mcse` does for a mean (computed for
    all columns at once, :mod:`bayes_unlearn._ess`). A single ESS for every row (the
    parameters' smallest bulk ESS) underestimated the error of these quadratic functionals
    by a factor 1.2-1.4 on the conjugate model. With this estimate the mean of
    ((r̂ − r)/se)² over 40 fits is 1.07 at 4 x 1000 draws and 1.12 at 2 x 1000, but 1.64 at
    2 x 500, where ArviZ's ESS of a short chain is optimistic
    (``benchmarks/results/cause_se.md``). Draws too short for the estimate are taken as
    independent.
    """
    n_chain, n_draw = chains
    n = influence.shape[0]
    var = np.einsum("sj,sj->j", influence, influence)
    if n_draw < 4:
        return np.sqrt(var)
    ess = ess_mean(influence.reshape(n_chain, n_draw, -1), scale=n)
    ess = np.where(np.isfinite(ess) & (ess > 0), ess, n)
    return np.sqrt(var * n / ess)
