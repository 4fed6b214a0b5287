"""Refresh: turn weighted or repeated draws into a fresh, equally weighted sample.

A reweighted posterior is the original fit's draws with importance weights ``1/p(D_e|θ)``;
SMC particles are resampled copies that were moved, some of them not. Both are fine for
analysis in memory, but both carry the forgotten rows: the weights are a function of them,
and which draws were copied depends on them. Before anything leaves the process (a saved
file, :meth:`~bayes_unlearn.posterior.Posterior.to_inference_data`, the command line) the
draws are *refreshed*, the resample-move step of SMC samplers (Chopin 2002; Del Moral,
Doucet and Jasra 2006):

1. resample the draws by their weights (systematic resampling);
2. move every draw with independent Metropolis-Hastings proposals from a Gaussian fitted to
   the draws (on the unconstrained scale), a kernel whose target is ``p(θ | D_r)``, until
   each draw has accepted at least ``min_moves`` proposals.

A draw that accepted a proposal *is* that proposal, so once every draw has moved there are
no duplicates and no draw is a copy of an original one. The result is recomputed from the
new draws and the remaining rows only (``log_joint`` = log p(D_r | θ) + log p(θ)).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

from bayes_unlearn import _weighted
from bayes_unlearn._kernels import Packer, default_threads, in_chunks, independent_mh
from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn._rowwise import summed_log_likelihood
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.layout import assemble_idata
from bayes_unlearn.models import PyMCModel
from bayes_unlearn.sampling import resample_like

if TYPE_CHECKING:  # pragma: no cover
    from bayes_unlearn.posterior import Posterior

__all__ = ["refresh"]


def refresh(
    posterior: Posterior,
    *,
    random_seed: RandomSeed = None,
    min_moves: int = 1,
    max_sweeps: int = 100,
    n_threads: int | None = None,
) -> Posterior:
    """Resample and move the draws by MCMC towards ``p(θ | D_r)`` until none is a copy.

    Parameters
    ----------
    posterior : Posterior
        A reweighted or SMC posterior (fit, refit and refreshed ones are returned as they are).
    random_seed : int, Generator or None
        Seed of resampling and proposals.
    min_moves : int, default 1
        Accepted proposals each draw needs before the refresh stops.
    max_sweeps : int, default 100
        Sweeps before giving up; draws that never moved are then not saved: the posterior
        is refitted exactly instead, and ``diagnostics.reason`` says so.
    n_threads : int, optional
        Threads for the likelihood (default: as for SMC, the CPUs, at most 8).

    Returns
    -------
    Posterior
        Equally weighted draws (``draws_source="refresh"``, or ``"refit"`` after a
        fallback); ``diagnostics.details`` holds ``sweeps``, ``acceptance``,
        ``seconds`` (the refresh's cost), and ``diagnostics.distinct_draws``.
    """
    if posterior.is_saveable:
        return posterior
    start = time.perf_counter()
    if isinstance(posterior.model, PyMCModel):
        return _refit_instead(posterior, random_seed, "custom PyMC models are refitted exactly")
    rng = get_random_generator(random_seed)
    n_threads = default_threads() if n_threads is None else int(n_threads)
    packer, model = Packer(posterior), posterior.model
    X, y = posterior.training_data()
    X_std = posterior.standardizer.transform(X)

    def evaluate(Z):
        params, log_jac = packer.unpack(Z)
        ll = summed_log_likelihood(model, params, X_std, y)
        return (model.log_prior(params) + log_jac + ll,)

    idx = _weighted.systematic_resample(posterior.weights, rng)
    Z = packer.pack(posterior.params)[idx]
    # The stored h(θ) = log p(D_r | θ) + log p(θ) is the target at the starting draws: no
    # likelihood sweep is needed before the first proposal.
    log_joint = posterior.idata.sample_stats["log_joint"].values.ravel()[idx]
    parts = (log_joint + packer.unpack(Z)[1],)
    move = independent_mh(
        Z,
        parts,
        lambda W: in_chunks(evaluate, W, n_threads),
        lambda p: p[0],
        rng,
        max_sweeps=max_sweeps,
        min_moves=min_moves,
    )
    if move.moved.min() < min_moves:
        stuck = int((move.moved < min_moves).sum())
        return _refit_instead(
            posterior,
            random_seed,
            f"{stuck} of {Z.shape[0]} draws did not move in {move.sweeps} sweeps",
        )
    idata = assemble_idata(
        model,
        packer.dataset(move.Z),
        None,
        X,
        y,
        row_ids=posterior.row_ids,
        standardizer=posterior.standardizer,
        feature_names=posterior.feature_names,
    )
    distinct = int(np.unique(move.Z, axis=0).shape[0])
    seconds = time.perf_counter() - start
    return dataclasses.replace(
        posterior,
        idata=idata,
        draws_source="refresh",
        diagnostics=_diagnostics(posterior, move, distinct, seconds),
    )


def _diagnostics(posterior: Posterior, move, distinct: int, seconds: float):
    step = posterior.diagnostics
    reliable = step.reliable if step is not None else True
    verdict = (
        f"Refreshed: every draw moved (≥ 1 accepted proposal) towards p(θ | D_r); the "
        f"{posterior.draws_source} step it refreshes "
        + ("passed its diagnostics." if reliable else "did NOT pass its diagnostics.")
    )
    return UnlearningDiagnostics(
        method="refresh",
        reason=f"resample-move of {posterior.draws_source} draws towards p(θ | D_r)",
        n_forget=step.n_forget if step is not None else 0,
        n_remaining=int(posterior.row_ids.size),
        n_draws=posterior.n_draws,
        reliable=reliable,
        verdict=verdict,
        distinct_draws=distinct,
        acceptance=move.acceptance,
        seconds=seconds,
        details={
            "sweeps": move.sweeps,
            "acceptance": move.acceptance,
            "seconds": seconds,
            "refreshed": posterior.draws_source,
            **(
                {"inherited_problem": step.details["inherited_problem"]}
                if step is not None and "inherited_problem" in step.details
                else {}
            ),
        },
    )


def _refit_instead(posterior: Posterior, random_seed: RandomSeed, why: str) -> Posterior:
    """An exact refit on the remaining rows, for draws that cannot be refreshed."""
    X, y = posterior.training_data()
    n_forget = posterior.diagnostics.n_forget if posterior.diagnostics else 0
    return resample_like(
        posterior,
        X,
        y,
        posterior.row_ids,
        random_seed=random_seed,
        history=posterior.history,
        reason=f"refresh by exact refit ({why})",
        n_forget=n_forget,
    )
