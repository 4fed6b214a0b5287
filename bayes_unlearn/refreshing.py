"""Refresh: turn weighted or repeated draws into a fresh, equally weighted sample.

A reweighted posterior is the original fit's draws with importance weights ``1/p(D_e|θ)``;
SMC particles are resampled copies that were moved, some of them not. Both are fine for
analysis in memory, but both carry the forgotten rows: the weights are a function of them,
and which draws were copied depends on them. Before anything leaves the process (a saved
file, :func:`~bayes_unlearn.to_inference_data`, the command line) the
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
time for every draw at once, until every draw is away from where it started, none repeats
another, and the draws have forgotten where they started: no coordinate's correlation
between the starting points and the current draws exceeds ``4 / sqrt(S)`` (what independent
draws show). For reweighted draws the starting points are the resampled draws, so every
draw must move. SMC's draws are states of short HMC chains at the target, each started from
a particle resampled by weights that depend on the forgotten rows; a draw depends on them
only through its chain's start (the chains' kernel leaves ``p(θ | D_r)`` invariant), so
those starts are what the draws must forget, and the refresh begins with SMC's last step
size (:class:`bayes_unlearn._kernels.Origins`). SMC's burn-in has left them forgotten and
nearly every draw away from its start: what the refresh adds is mostly to break the
repeats of rejected steps, with every draw taking at least one step. Their effective size,
counting the draws of one SMC chain as one chain, is ``ess_bulk``.
Only the last state of each chain is kept. Where that takes more than ``max_sweeps`` steps,
the posterior is refitted exactly, and ``diagnostics.reason`` says why.

Where SMC's burn-in already met that bar and its draws are whole chains, stored so that each
stored chain holds whole HMC chains one after another, they need no moves at all: SMC's last
stage *was* a resample-move towards ``p(θ | D_r)`` run until the draws forgot their starts.
They are returned as they are (``draws_source="smc_chains"``), repeats of rejected steps
included, which a file of chains holds as NUTS's files do
(:func:`bayes_unlearn.audit_erasure` counts a repeat of the chain predecessor as a rejection).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from bayes_unlearn import _weighted, registry
from bayes_unlearn._densities import forget_densities
from bayes_unlearn._forked import default_cores
from bayes_unlearn._kernels import (
    TARGET_ACCEPTANCE,
    Packer,
    chains_ess,
    chains_pool,
    default_threads,
    hmc_chains,
    in_chunks,
    independent_mh,
    memory,
    origins_of,
    split_runner,
)
from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn._rowwise import summed_log_likelihood
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.layout import assemble_idata
from bayes_unlearn.posterior import Posterior
from bayes_unlearn.pymc_model import PyMCModel
from bayes_unlearn.sampling import resample_like

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
    if not isinstance(posterior, Posterior):
        raise TypeError(f"refresh expects a Posterior. Got {type(posterior).__name__}.")
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


#: The refresh's HMC while the draws still remember their starts or most have not moved:
#: SMC's trajectories and step-size multipliers (±20%, per step and chain). Once only a few
#: draws that have not moved yet (``STRAGGLERS``, a share of the draws) hold it up, short
#: trajectories (one accepted proposal is all they need) and a wider range of multipliers,
#: so that a draw where the step is too long for its neighbourhood (the neck of a
#: hierarchical model's funnel) soon tries a short one (radon, a county forgotten: the last
#: of 4000 draws moved after 15 steps at ±20%, 6 this way). Short steps for every draw from
#: the start drift the funnel's scale: on radon's SMC draws, 10% of homes forgotten, the
#: saved file's county-intercept scale moved from 0.061 to 0.089-0.105 posterior sd from a
#: refit over 3 seeds, against 0.023-0.051 with long steps until 5% are left.
REMEMBERING = {"trajectory": 1.5, "jitter_range": (0.8, 1.2)}
STRAGGLING = {"trajectory": 0.5, "jitter_range": (0.2, 1.2)}
STRAGGLERS = 0.05


def _refresh_by_hmc(posterior: Posterior, rng, start: float, *, max_sweeps: int) -> Posterior:
    """Resampled draws moved by HMC on the compiled density until they forget their starts."""
    nothing = np.zeros(posterior.row_ids.size, dtype=bool)  # the target is p(θ | D_r)
    densities = forget_densities(posterior, nothing, posterior.standardizer)
    draws = densities.pack(posterior.params)
    # SMC's draws depend on the forgotten rows only through their chains' starts.
    origins = origins_of(posterior.idata, draws)
    if _forgotten_chains(posterior, origins):
        return _as_chains(posterior, origins, start)
    idx = _weighted.systematic_resample(posterior.weights, rng)
    starts = draws[idx] if origins is None else origins.draws[idx]
    n, d = starts.shape
    cholesky = np.linalg.cholesky(np.atleast_2d(np.cov(starts, rowvar=False)) + 1e-9 * np.eye(d))
    reference = starts if origins is None else origins.starts[idx]
    with chains_pool(densities, starts, default_cores()) as pool:
        move = _walk(
            starts,
            reference,
            lambda z: densities.tempered(z, 1.0),
            rng,
            step=min(1.0, 1.2 * d**-0.25) if origins is None else origins.step_size,
            cholesky=cholesky,
            pool=pool,
            max_sweeps=max_sweeps,
            # An SMC draw away from its chain's start need not move again; a resampled draw
            # is its start.
            away=np.any(starts != reference, axis=1),
        )
        # Draws of one SMC chain started close together: count them as such.
        ess = None if origins is None else chains_ess(move.Z, origins.n_chains)
    if not move.done:
        why = f"after {move.sweeps} HMC steps the draws still correlate {move.memory:.2f} with "
        return _refit_instead(posterior, rng, why + _AGAINST[origins is None])
    X, y = posterior.training_data()
    idata = assemble_idata(
        posterior.model,
        densities.dataset(move.Z),
        None,
        X,
        y,
        row_ids=posterior.row_ids,
        standardizer=posterior.standardizer,
        feature_names=posterior.feature_names,
    )
    move = dataclasses.replace(move, ess=ess, against=_AGAINST[origins is None])
    return dataclasses.replace(
        posterior,
        idata=idata,
        draws_source="refresh",
        diagnostics=_diagnostics(posterior, move, n, time.perf_counter() - start),
    )


#: What the refresh's draws must have forgotten: SMC's chain starts, or the resampled draws.
_AGAINST = {False: "their SMC chains' starts", True: "the starting draws"}


def _forgotten_chains(posterior: Posterior, origins) -> bool:
    """Whether SMC's draws are whole HMC chains that forgot their starts, stored so that
    each stored chain holds whole HMC chains (a repeat of a draw's predecessor is then a
    rejected step, as :func:`bayes_unlearn.audit_erasure` reads a file of chains)."""
    if origins is None or origins.chain_draws is None:
        return False
    per_stored_chain = posterior.idata.posterior.sizes["draw"]
    bar = 4 / np.sqrt(origins.draws.shape[0])
    return per_stored_chain % origins.chain_draws == 0 and origins.memory <= bar


def _as_chains(posterior: Posterior, origins, start: float) -> Posterior:
    """SMC's draws as they are (``draws_source="smc_chains"``): nothing left to refresh."""
    step = posterior.diagnostics
    move = _Moved(
        acceptance=step.acceptance if step is not None else float("nan"),
        sweeps=0,
        memory=origins.memory,
        Z=origins.draws,
        done=True,
        ess=step.ess_bulk if step is not None else None,
        against=_AGAINST[False],
    )
    seconds = time.perf_counter() - start
    return dataclasses.replace(
        posterior,
        draws_source=registry.SMC_CHAINS,
        diagnostics=_diagnostics(posterior, move, _distinct(origins.draws), seconds),
    )


def _walk(starts, reference, target, rng, *, step, cholesky, pool, max_sweeps, away=None) -> _Moved:
    """One HMC step at a time for every draw until every draw has moved (or was ``away``
    already), none repeats, and no coordinate correlates more than ``4 / sqrt(S)`` with
    ``reference``.

    ``away`` marks draws that count as moved from the start (SMC's draws away from their
    chains' starts); short steps still wait until few draws have moved in this walk.
    """
    n = starts.shape[0]
    Z, moved, acceptance = starts, np.zeros(n, dtype=bool), []
    away = np.zeros(n, dtype=bool) if away is None else np.asarray(away, dtype=bool)
    bar = 4 / np.sqrt(n)  # what independent draws show
    remembered = memory(reference, Z)
    while len(acceptance) < max_sweeps:
        straggling = remembered <= bar and (~moved).mean() <= STRAGGLERS
        chains = hmc_chains(
            Z,
            target,
            rng,
            length=2,
            step_size=step,
            cholesky=cholesky,
            **(STRAGGLING if straggling else REMEMBERING),
            run=None if pool is None else split_runner(pool, 1.0),
        )
        moved |= np.any(chains.last != Z, axis=1)
        Z = chains.last
        acceptance.append(chains.acceptance)
        if not straggling:  # short steps would push the step size up, away from the stragglers
            step *= float(np.exp(2.0 * (chains.acceptance - TARGET_ACCEPTANCE)))
        remembered = memory(reference, Z)
        if (moved | away).all() and remembered <= bar and _distinct(Z) == n:
            break
    done = bool((moved | away).all() and remembered <= bar)
    return _Moved(float(np.mean(acceptance)), len(acceptance), remembered, Z, done)


@dataclasses.dataclass(frozen=True)
class _Moved:
    """The HMC refresh's record, in the independent-MH refresh's terms."""

    acceptance: float
    sweeps: int  # HMC steps every draw took
    memory: float  # largest |correlation| of a coordinate with what the draws must forget
    Z: np.ndarray
    done: bool  # every draw moved (or was away) and the memory is below 4 / sqrt(S)
    ess: float | None = None  # smallest bulk or tail ESS, counting SMC's chains as chains
    against: str = _AGAINST[True]


def _distinct(Z: np.ndarray) -> int:
    return int(np.unique(Z, axis=0).shape[0])


def _diagnostics(posterior: Posterior, move, distinct: int, seconds: float):
    step = posterior.diagnostics
    reliable = step.reliable if step is not None else True
    passed = "passed its diagnostics." if reliable else "did NOT pass its diagnostics."
    if isinstance(move, _Moved) and move.sweeps == 0:
        verdict = (
            "Saved as they are: SMC's final HMC chains at p(θ | D_r) have forgotten their "
            f"starts (correlation {move.memory:.3f}); a draw that repeats its predecessor "
            f"is a rejected step of its chain. The SMC step {passed}"
        )
        reason = "SMC's final HMC chains, which forgot their starts: no refresh needed"
    else:
        how = (
            f"{move.sweeps} HMC steps (correlation with {move.against} {move.memory:.3f})"
            if isinstance(move, _Moved)
            else "every draw moved (≥ 1 accepted proposal)"
        )
        verdict = (
            f"Refreshed: {how} towards p(θ | D_r); the {posterior.draws_source} step it "
            f"refreshes {passed}"
        )
        reason = f"resample-move of {posterior.draws_source} draws towards p(θ | D_r)"
    return UnlearningDiagnostics(
        method="refresh",
        reason=reason,
        n_forget=step.n_forget if step is not None else 0,
        n_remaining=int(posterior.row_ids.size),
        n_draws=posterior.n_draws,
        reliable=reliable,
        verdict=verdict,
        distinct_draws=distinct,
        ess_bulk=getattr(move, "ess", None),
        acceptance=move.acceptance,
        seconds=seconds,
        details={
            "sweeps": move.sweeps,
            "acceptance": move.acceptance,
            "seconds": seconds,
            "refreshed": posterior.draws_source,
        },
        inherited_problem=step.inherited_problem if step is not None else None,
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
