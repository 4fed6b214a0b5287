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

A user's PyMC model has gradients on its compiled density, so its draws are moved by HMC
instead (:func:`bayes_unlearn._kernels.hmc_chains`, SMC's kernel: the resampled draws'
covariance as mass matrix, the step size tuned towards an acceptance of 0.8), one step at a
time for every draw at once, until every draw has moved, none repeats another, and the draws
have forgotten where they started: no coordinate's correlation between the resampled
starting draws and the current ones exceeds ``4 / sqrt(S)`` (what independent draws show).
Only the last state of each chain is kept. Where that takes more than ``max_sweeps`` steps,
the posterior is refitted exactly, and ``diagnostics.reason`` says why.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np

from bayes_unlearn import _weighted
from bayes_unlearn._densities import forget_densities
from bayes_unlearn._forked import default_cores
from bayes_unlearn._kernels import (
    TARGET_ACCEPTANCE,
    Packer,
    chains_pool,
    default_threads,
    hmc_chains,
    in_chunks,
    independent_mh,
    split_runner,
)
from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn._rowwise import summed_log_likelihood
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.layout import assemble_idata
from bayes_unlearn.pymc_model import PyMCModel
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
        Sweeps (HMC steps, for a user's PyMC model) before giving up; draws that never moved
        (or still remember their starting draws) are then not saved: the posterior is
        refitted exactly instead, and ``diagnostics.reason`` says so.
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
    rng = get_random_generator(random_seed)
    if isinstance(posterior.model, PyMCModel):
        return _refresh_by_hmc(posterior, rng, start, max_sweeps=max_sweeps)
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


def _refresh_by_hmc(posterior: Posterior, rng, start: float, *, max_sweeps: int) -> Posterior:
    """Resampled draws moved by HMC on the compiled density until they forget their starts."""
    nothing = np.zeros(posterior.row_ids.size, dtype=bool)  # the target is p(θ | D_r)
    densities = forget_densities(posterior, nothing, posterior.standardizer)
    starts = densities.pack(posterior.params)[_weighted.systematic_resample(posterior.weights, rng)]
    n, d = starts.shape
    cholesky = np.linalg.cholesky(np.atleast_2d(np.cov(starts, rowvar=False)) + 1e-9 * np.eye(d))
    step, Z, moved = min(1.0, 1.2 * d**-0.25), starts, np.zeros(n, dtype=bool)
    sweeps, acceptance, memory = 0, [], np.inf
    with chains_pool(densities, starts, default_cores()) as pool:
        while sweeps < max_sweeps:
            chains = hmc_chains(
                Z,
                lambda z: densities.tempered(z, 1.0),
                rng,
                length=2,
                step_size=step,
                cholesky=cholesky,
                run=None if pool is None else split_runner(pool, 1.0),
            )
            moved |= np.any(chains.last != Z, axis=1)
            Z, sweeps = chains.last, sweeps + 1
            acceptance.append(chains.acceptance)
            step *= float(np.exp(2.0 * (chains.acceptance - TARGET_ACCEPTANCE)))
            memory = _memory(starts, Z)
            if moved.all() and memory <= 4 / np.sqrt(n) and _distinct(Z) == n:
                break
    if not (moved.all() and memory <= 4 / np.sqrt(n)):
        why = f"after {sweeps} HMC steps the draws still correlate {memory:.2f} with their starts"
        return _refit_instead(posterior, rng, why)
    X, y = posterior.training_data()
    idata = assemble_idata(
        posterior.model,
        densities.dataset(Z),
        None,
        X,
        y,
        row_ids=posterior.row_ids,
        standardizer=posterior.standardizer,
        feature_names=posterior.feature_names,
    )
    move = _Moved(float(np.mean(acceptance)), sweeps, memory)
    return dataclasses.replace(
        posterior,
        idata=idata,
        draws_source="refresh",
        diagnostics=_diagnostics(posterior, move, n, time.perf_counter() - start),
    )


@dataclasses.dataclass(frozen=True)
class _Moved:
    """The HMC refresh's record, in the independent-MH refresh's terms."""

    acceptance: float
    sweeps: int  # HMC steps every draw took
    memory: float  # largest |correlation| of a coordinate with the starting draws


def _memory(starts: np.ndarray, Z: np.ndarray) -> float:
    """Largest |correlation| over coordinates between the starting draws and ``Z``."""
    a, b = starts - starts.mean(axis=0), Z - Z.mean(axis=0)
    scale = np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (a * b).sum(axis=0) / scale
    return float(np.nanmax(np.abs(corr))) if np.isfinite(corr).any() else 0.0


def _distinct(Z: np.ndarray) -> int:
    return int(np.unique(Z, axis=0).shape[0])


def _diagnostics(posterior: Posterior, move, distinct: int, seconds: float):
    step = posterior.diagnostics
    reliable = step.reliable if step is not None else True
    how = (
        f"{move.sweeps} HMC steps (correlation with the starting draws {move.memory:.3f})"
        if isinstance(move, _Moved)
        else "every draw moved (≥ 1 accepted proposal)"
    )
    verdict = (
        f"Refreshed: {how} towards p(θ | D_r); the {posterior.draws_source} step it refreshes "
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
