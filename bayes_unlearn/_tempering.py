"""The tempering rung, written once: SMC along a shift of the data, from ``t = 0`` to ``1``.

Forgetting follows ``p_t(θ) ∝ p(θ | D) · p(D_e | θ)^(−t)`` (:func:`bayes_unlearn.methods.smc.smc`);
cause scoring follows ``p(θ | D) · p(F | θ)^t`` (:mod:`bayes_unlearn.causes`). Both hand
:func:`temper` the stored draws, packed, and the densities of their shift
(:mod:`bayes_unlearn._densities`). Each stage picks the next ``t`` by
bisection so that the effective sample size of the incremental weights stays at
``ess_threshold`` times the number of particles, resamples, and moves the particles with a
kernel that leaves ``p_t`` invariant, vectorized across particles. Where moment matching ran
first and moved the draws closer to the target without passing on its own (``auto``), the
first stage may start from its draws instead (``start``; :func:`_warm_start`).

* **HMC, waste-free** (any PyMC model, through the generic compiled path
  :mod:`bayes_unlearn.compiled`, which gives gradients on the unconstrained space): each
  stage resamples ``S / 20`` starting points (half as many below ``t = 1``), runs that many
  HMC chains of 20 states side by side and keeps every state as a particle (Dau and Chopin
  2022), so a stage costs about one HMC move per particle. The mass matrix is the inverse
  of the particles' weighted covariance, the step size is retuned after each stage towards
  an acceptance of 0.8 and jittered by ±20%, trajectories are about 1.5 whitened units long.
  The final chains are extended, by the steps predicted from their ESS so far, until their
  smallest bulk or tail ESS (ArviZ) reaches a quarter of the draws, then thinned to ``S``.
  The chains are split over ``cores`` forked processes (the compiled functions hold the
  GIL); their random numbers are drawn here, so the draws do not depend on ``cores``. The
  final chains then run on until the states kept have forgotten the resampled particles
  their chains started from (:func:`_final_chains`), and the thinned states (each chain on
  its own where the chains divide ``S``) are recorded with those starts
  (:class:`bayes_unlearn._kernels.Origins`) for the refresh, which saves whole chains that
  forgot their starts as they are.
* **Independent Metropolis-Hastings** (the built-in models, whose NumPy likelihoods have no
  gradients): proposals from a Gaussian fitted to the particles, sweeps until nearly every
  particle has moved.

The HMC kernel was chosen over BlackJAX's ``adaptive_tempered_smc`` by measured speed and
fidelity on the radon models (benchmarks/results/smc_engines.md).

References
----------
Del Moral, P., Doucet, A. and Jasra, A. (2006). Sequential Monte Carlo samplers. JRSS B 68(3).
Chopin, N. (2002). A sequential particle filter method for static models. Biometrika 89(3).
Dau, H.-D. and Chopin, N. (2022). Waste-free sequential Monte Carlo. JRSS B 84(1).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from bayes_unlearn import _weighted
from bayes_unlearn._forked import default_cores
from bayes_unlearn._kernels import (
    TARGET_ACCEPTANCE,
    Origins,
    chains_ess,
    chains_pool,
    hmc_chains,
    independent_mh,
    memory,
    split_runner,
)
from bayes_unlearn._progress import progress, wants_progress
from bayes_unlearn.diagnostics import pareto_k_threshold

__all__ = ["LIMITS", "SCHEDULE", "Tempered", "problems", "temper"]


#: The tempering schedule's and moves' defaults (smc's keyword defaults, shared with causes).
SCHEDULE = {"ess_threshold": None, "max_steps": 20, "target_move": 0.99}


#: The limits SMC's verdict checks, at their defaults.
LIMITS = {"max_stages": 100, "min_acceptance": 0.05, "min_ess": 100.0}


def _next_temperature(
    log_lik_e: np.ndarray, t: float, target_ess: float, offset: np.ndarray | None = None
) -> float | None:
    """Largest ``t' ≤ 1`` whose weights ``exp(offset − (t'−t) L)`` keep the ESS at target.

    Without ``offset`` (equally weighted particles of ``p_t``) the ESS falls as ``t'`` grows,
    so bisection finds it. A warm start's weights (``offset``) can make the ESS rise first:
    the largest passing point of a grid is refined by bisection, and None means none passes.
    """

    def ess(t_new):
        log_w = -(t_new - t) * log_lik_e
        return _weighted.importance_ess(log_w if offset is None else offset + log_w)

    if ess(1.0) >= target_ess:
        return 1.0
    lo, hi = t, 1.0
    if offset is not None:
        grid = t + (1.0 - t) * np.linspace(0.0, 1.0, 17)
        passing = [g for g in grid if ess(g) >= target_ess]
        if not passing:
            return None
        lo = passing[-1]
        hi = grid[np.searchsorted(grid, lo) + 1]
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ess(mid) >= target_ess else (lo, mid)
    return max(lo, t + 1e-6)


def problems(res: Tempered, limits: dict) -> list[str]:
    """SMC's own checks: reached t = 1, moves still accepted, and enough distinct particles
    (independent MH) or a large enough ESS of the final HMC chains."""
    last_acc = res.stages[-1]["acceptance"] if res.stages else 1.0
    problems = []
    if res.t < 1.0:
        problems.append(f"stopped at t={res.t:.3f} after {limits['max_stages']} stages")
    if last_acc < limits["min_acceptance"]:
        problems.append(f"acceptance {last_acc:.3f} < {limits['min_acceptance']}")
    if res.chains_ess is not None and res.chains_ess < limits["min_ess"]:
        problems.append(f"the final chains' ESS is {res.chains_ess:.0f}")
    if res.chains_ess is None and res.n_distinct < limits["min_ess"]:
        problems.append(f"only {res.n_distinct} distinct particles")
    return problems


@dataclasses.dataclass(frozen=True)
class Tempered:
    """Where tempering ended: particles, temperature, per-stage records and cost."""

    Z: np.ndarray
    t: float
    stages: list
    sweeps: float  # likelihood sweeps (independent MH) or gradient sweeps (HMC) per particle
    kernel: str  # "independent MH" or "HMC"
    chains_ess: float | None = None  # HMC: the final chains' smallest bulk or tail ESS
    warm_start: bool = False  # whether the first stage started from a warm start's draws
    processes: int = 1  # that ran the HMC chains (see ``cores``)
    origins: Origins | None = None  # HMC at t = 1: each particle's chain start

    @functools.cached_property
    def n_distinct(self) -> int:
        """Distinct particles (resampling duplicates them; accepted moves make them distinct)."""
        return int(np.unique(self.Z, axis=0).shape[0])

    @property
    def effective_size(self) -> float:
        """Particles counted as independent: distinct ones, at most the HMC chains' ESS."""
        if self.chains_ess is None:
            return float(self.n_distinct)
        return min(float(self.n_distinct), self.chains_ess)


def temper(
    Z, densities, rng, *, ess_threshold, max_stages, max_steps, target_move, start=None, cores=None
):
    """Tempering stages from t = 0 to 1: reweight, resample, move.

    ``start``, optional, is a warm start ``(Z_s, log_ratio)``: draws of another proposal with
    their raw log importance ratios towards the target (``t = 1``), such as moment matching's.
    The first stage starts from them instead of ``Z`` when their weights reach a higher
    temperature at the same ESS with k̂ passing (:func:`_warm_start`).

    With gradients (``densities.tempered``, the compiled path) the moves are HMC in waste-free
    form (Dau and Chopin 2022): each stage resamples ``S / CHAIN_LENGTH`` particles (half as
    many below t = 1), runs that many HMC chains of ``CHAIN_LENGTH`` states side by side, and
    keeps every state, so a stage costs about one HMC move per particle. The chains are split
    over ``cores`` processes (default :func:`~bayes_unlearn._forked.default_cores`; the same
    states for any number). Otherwise independent MH sweeps move every particle.
    """
    if densities.tempered is not None:
        threshold = HMC_ESS_THRESHOLD if ess_threshold is None else ess_threshold
        cores = default_cores() if cores is None else int(cores)
        with chains_pool(densities, Z, cores) as pool:
            return _temper_hmc(
                Z,
                densities,
                rng,
                ess_threshold=threshold,
                max_stages=max_stages,
                start=start,
                pool=pool,
            )
    ess_threshold = 0.5 if ess_threshold is None else ess_threshold
    n = Z.shape[0]
    Z, (base, log_lik_e), first = _warm_start(
        Z, densities.parts(Z), start, densities.parts, ess_threshold * n
    )
    warm = "offset" in first
    t, stages, n_evals = 0.0, [], 1 + bool(start)
    with progress("SMC: tempering", 1.0, show=wants_progress()) as bar:
        while t < 1.0 and len(stages) < max_stages:
            t_before = t
            t, w, stage_ess = _next_stage(log_lik_e, t, ess_threshold * n, **first)
            first = {}
            bar.advance(t - t_before)
            idx = _weighted.systematic_resample(w, rng)
            Z, base, log_lik_e = Z[idx], base[idx], log_lik_e[idx]
            move = independent_mh(
                Z,
                (base, log_lik_e),
                densities.parts,
                lambda parts, t=t: parts[0] + (1.0 - t) * parts[1],
                rng,
                max_sweeps=max_steps,
                target_move=target_move,
            )
            Z, (base, log_lik_e) = move.Z, move.parts
            n_evals += move.sweeps
            stages.append(
                {"t": t, "ess": stage_ess, "acceptance": move.acceptance, "steps": move.sweeps}
            )
    return Tempered(Z, t, stages, n_evals, "independent MH", warm_start=warm)


#: Waste-free HMC (see temper; the step size is tuned to ``_kernels.TARGET_ACCEPTANCE``):
#: states per chain; the share of chains run at temperatures below 1 (their particles only pick the next
#: stage's starts); the final chains' smallest bulk or tail ESS sought, as a share of the
#: draws, by extending them by at most ``MAX_EXTENSIONS`` chain lengths, each extension
#: aiming ``EXTENSION_MARGIN`` above the target; the ESS each stage's weights keep.
CHAIN_LENGTH = 20


INTERMEDIATE_SHARE = 0.5


FINAL_ESS = 0.25


MAX_EXTENSIONS = 3


EXTENSION_MARGIN = 1.2


HMC_ESS_THRESHOLD = 0.2


def _temper_hmc(Z, densities, rng, *, ess_threshold, max_stages, start, pool):
    n, d = Z.shape
    n_chains = -(-n // CHAIN_LENGTH)
    Z, (removed,), first = _warm_start(
        Z, (densities.removed(Z),), start, lambda z: (densities.removed(z),), ess_threshold * n
    )
    warm = "offset" in first
    # HMC's step size shrinks like d^(-1/4) at a fixed acceptance; retuned after each stage.
    t, step, stages, sweeps, chains = 0.0, min(1.0, 1.2 * d**-0.25), [], 0.0, None
    with progress("SMC: tempering (HMC)", 1.0, show=wants_progress()) as bar:
        while t < 1.0 and len(stages) < max_stages:
            t_before = t
            # The ESS is a share of the particles the weights are on (S/2 below t = 1).
            t, w, stage_ess = _next_stage(removed, t, ess_threshold * Z.shape[0], **first)
            first = {}
            bar.advance(t - t_before)
            cov = np.atleast_2d(np.cov(Z, rowvar=False, aweights=w)) + 1e-9 * np.eye(d)
            move = functools.partial(
                hmc_chains,
                log_density_and_grad=lambda z, t=t: densities.tempered(z, t),
                rng=rng,
                length=CHAIN_LENGTH,
                step_size=step,
                cholesky=np.linalg.cholesky(cov),
                run=None if pool is None else split_runner(pool, t),
            )
            m = n_chains if t >= 1.0 else max(2, round(INTERMEDIATE_SHARE * n_chains))
            chains = move(Z[_weighted.systematic_resample(w, rng, m)])
            if t >= 1.0:
                chains, final_ess, burn = _final_chains(chains, move, n)
            Z = chains.Z
            if t < 1.0:  # the next stage's weights
                removed = densities.removed(Z)
            sweeps += chains.gradient_sweeps * chains.Z.shape[0] / n
            stages.append(
                {
                    "t": t,
                    "ess": stage_ess,
                    "acceptance": chains.acceptance,
                    "steps": chains.length - 1,
                    "leapfrog": chains.leapfrog_steps,
                    "step_size": step,
                }
            )
            step *= float(np.exp(2.0 * (chains.acceptance - TARGET_ACCEPTANCE)))
    processes = 1 if pool is None else pool.size
    if chains is None:
        return Tempered(Z, t, stages, sweeps, "HMC", float(n), warm, processes)
    if t < 1.0:  # stopped early: unreliable anyway, but its ESS is still reported
        final_ess = chains_ess(_thinned(Z, n), chains.n_chains)
        return Tempered(_thinned(Z, n), t, stages, sweeps, "HMC", final_ess, warm, processes)
    draws, starts = _kept(chains, n, burn)
    origins = Origins(draws, starts, chains.n_chains, step, memory(starts, draws))
    return Tempered(origins.draws, t, stages, sweeps, "HMC", final_ess, warm, processes, origins)


#: The final chains' burn-in (:func:`_final_chains`): at most ``MAX_BURN`` steps, added
#: ``BURN_STEP`` at a time.
MAX_BURN, BURN_STEP = 3 * CHAIN_LENGTH, 5


def _final_chains(chains, move, n: int):
    """The final chains: extended to ESS (:func:`_extended_to_ess`), then run on until the
    states kept have forgotten their chains' starts. Returns them, their ESS and the steps
    dropped from the start of each (the burn-in).

    Each chain starts from a particle resampled by weights that depend on the forgotten rows;
    a saved draw must not remember it (:mod:`bayes_unlearn.refreshing`: no coordinate correlates
    more than ``4 / sqrt(S)`` with it). Steps of these ``S / CHAIN_LENGTH`` chains cost a
    twentieth of the refresh's steps of every draw, and where the draws are whole chains the
    refresh then saves them as they are, with no steps at all.
    """
    chains, ess = _extended_to_ess(chains, move, n)
    burn = 0
    while burn < MAX_BURN and memory(*_kept(chains, n, burn)[::-1]) > 4 / np.sqrt(n):
        chains = chains.extended(move(chains.last, length=BURN_STEP + 1))
        burn += BURN_STEP
    if burn:
        ess = chains_ess(_kept(chains, n, burn)[0], chains.n_chains)
    return chains, ess, burn


def _kept(chains, n: int, burn: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` states thinned from the chains' states after the first ``burn`` steps, and the
    start of each one's chain.

    Where the chains divide ``n`` (as when ``S`` is a multiple of ``CHAIN_LENGTH``), each
    chain is thinned on its own to ``n / chains`` states: the draws are whole chains, one
    after another, which the refresh can save as they are (:mod:`bayes_unlearn.refreshing`).
    Otherwise the states are thinned evenly along all chains.
    """
    d = chains.Z.shape[1]
    states = chains.Z.reshape(chains.n_chains, chains.length, d)
    first, states = states[:, 0], states[:, burn:]
    per_chain, rest = divmod(n, chains.n_chains)
    if rest == 0:
        kept = states[:, _thinned_positions(states.shape[1], per_chain)]
        return kept.reshape(-1, d), np.repeat(first, per_chain, axis=0)
    keep = _thinned_positions(states.shape[0] * states.shape[1], n)
    return states.reshape(-1, d)[keep], first[keep // states.shape[1]]


def _extended_to_ess(chains, move, n):
    """The final chains, extended until the thinned draws' ESS reaches ``FINAL_ESS · n``.

    ESS grows about linearly with chain length, so each extension adds the steps predicted
    to reach the target from the ESS so far, with a margin of ``EXTENSION_MARGIN`` (ArviZ's
    ESS over hundreds of coordinates is not free to recompute), at most
    ``MAX_EXTENSIONS · (CHAIN_LENGTH − 1)`` steps in all.
    """
    target, budget = FINAL_ESS * n, MAX_EXTENSIONS * (CHAIN_LENGTH - 1)
    ess = chains_ess(_thinned(chains.Z, n), chains.n_chains)
    while ess < target and budget > 0:
        growth = EXTENSION_MARGIN * target / max(ess, 1.0) - 1.0
        more = min(budget, max(1, int(np.ceil((chains.length - 1) * growth))))
        chains = chains.extended(move(chains.last, length=more + 1))
        budget -= more
        ess = chains_ess(_thinned(chains.Z, n), chains.n_chains)
    return chains, ess


def _thinned(Z: np.ndarray, n: int) -> np.ndarray:
    """``n`` states evenly spaced along chain-major ``Z`` (so each chain is thinned evenly)."""
    return Z[_thinned_positions(Z.shape[0], n)]


def _thinned_positions(total: int, n: int) -> np.ndarray:
    return np.linspace(0, total - 1, n).round().astype(int)


def _next_stage(removed, t, target_ess, offset=None, t_new=None):
    """The next temperature (``t_new`` if given), the normalized weights that reach it
    (particles weighted by ``offset`` before the stage, if given), and their ESS."""
    if t_new is None:
        t_new = _next_temperature(removed, t, target_ess)
    log_w = -(t_new - t) * removed + (0.0 if offset is None else offset)
    log_w = _weighted.normalize_log_weights(log_w)
    return t_new, np.exp(log_w), _weighted.importance_ess(log_w)


def _warm_start(Z, values, start, evaluate, target_ess):
    """The particles tempering starts from: ``Z`` or the warm start's, whichever goes further.

    ``values = evaluate(Z)`` is a tuple whose last array is ``removed``; ``start`` is
    ``(Z_s, log_ratio)`` or None (see :func:`temper`). The warm start's weights at ``t`` are
    ``log p_t − log q = log_ratio + (1 − t) · removed``; it is taken when they keep the stage's
    ESS at a higher first temperature than ``Z``'s and their Pareto k̂ passes there (k̂ guards
    against an ESS estimate fooled by a heavy tail, which equally weighted ``Z`` cannot have).
    Returns the particles, their values, and the first stage's ``t_new`` (with the warm
    start's ``offset`` when it is taken; empty without a start).
    """
    if start is None:
        return Z, values, {}
    import arviz as az

    Z_s, log_ratio = start
    values_s = evaluate(Z_s)
    offset = log_ratio + values_s[-1]  # log p_0 − log q, up to a constant
    t_plain = _next_temperature(values[-1], 0.0, target_ess)
    t_warm = _next_temperature(values_s[-1], 0.0, target_ess, offset)
    k_max = pareto_k_threshold(Z_s.shape[0])
    while t_warm is not None and t_warm > t_plain:
        log_w = offset - t_warm * values_s[-1]
        if _weighted.importance_ess(log_w) >= target_ess and az.psislw(log_w)[1] <= k_max:
            return Z_s, values_s, {"offset": offset, "t_new": t_warm}
        # k̂ fails this far along: try halfway back towards the stored draws' temperature.
        t_warm = 0.5 * (t_warm + t_plain) if t_warm - t_plain > 0.01 else None
    return Z, values, {"t_new": t_plain}  # already found: the first stage need not search again
