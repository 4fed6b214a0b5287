"""``smc``: tempered sequential Monte Carlo from the stored posterior to the unlearned one.

The particles start as the stored draws of ``p(θ | D)`` (resampled if weighted), in the
remaining rows' feature scaling, and follow ``p_t(θ) ∝ p(θ | D) · p(D_e | θ)^(−t)`` from
``t = 0`` to ``1``: the engine, its kernels and schedule are :mod:`bayes_unlearn._tempering`.
Where moment matching ran first and moved the draws closer to the target without passing on
its own (``auto``), the first stage may start from its draws instead (``start``).
"""

from __future__ import annotations

import time

import numpy as np

from bayes_unlearn import _weighted, registry
from bayes_unlearn._densities import forget_densities
from bayes_unlearn._forget import forgotten, remaining_idata, remaining_scaling
from bayes_unlearn._kernels import default_threads, remember_origins
from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn._tempering import LIMITS, SCHEDULE, Tempered, problems, temper
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.posterior import Posterior

__all__ = ["smc"]


def smc(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    ess_threshold: float | None = SCHEDULE["ess_threshold"],
    max_stages: int = LIMITS["max_stages"],
    max_steps: int = SCHEDULE["max_steps"],
    target_move: float = SCHEDULE["target_move"],
    min_acceptance: float = LIMITS["min_acceptance"],
    min_ess: float = LIMITS["min_ess"],
    n_threads: int | None = None,
    cores: int | None = None,
    random_seed: RandomSeed = None,
    start: Posterior | None = None,
    requested: str = registry.SMC.name,
) -> Posterior:
    """Move the stored draws to the posterior without ``rows`` by tempered SMC.

    Use through :func:`bayes_unlearn.unlearn` with ``method="smc"``, which validates ``rows``.

    Parameters
    ----------
    posterior : Posterior
        Stored draws (weighted posteriors are resampled first).
    rows : ndarray of int
        Row ids to forget.
    ess_threshold : float, optional
        Fraction of particles the ESS is kept at when choosing each temperature step;
        default 0.5 with independent MH moves, 0.2 with waste-free HMC (which draws only
        ``S / 20`` starting points per stage).
    max_stages : int, default 100
        Give up (unreliable) after this many stages.
    max_steps : int, default 20
        Most independent Metropolis-Hastings sweeps per stage (not used by HMC).
    target_move : float, default 0.99
        Independent MH sweeps continue until each particle has moved with this probability,
        judged from the stage's acceptance rate (not used by HMC).
    min_acceptance : float, default 0.05
        A final-stage acceptance rate below this marks the result unreliable.
    min_ess : float, default 100
        Fewer distinct particles (independent MH) or a smaller ESS of the final chains (HMC:
        the smallest bulk or tail ESS over parameters) than this marks the result unreliable.
    n_threads : int, optional
        Threads that evaluate the likelihood on chunks of particles (NumPy releases the
        GIL); default the number of CPUs, at most 8 and the ``cores`` option. Built-in models
        (independent MH).
    cores : int, optional
        Processes that run the HMC chains of a user's PyMC model (compiled functions hold the
        GIL, so they cannot share threads): the chains are split between this process and
        ``cores - 1`` forked copies of it, with the same results for any number. Default the
        CPUs available, at most 8 and at most the ``cores`` option (``bu.set_options``); 1
        (or a platform without a safe fork, see ``bayes_unlearn._forked``) runs them here.
    random_seed : int, Generator or None
        Seed of resampling and proposals.
    start : Posterior, optional
        A warm start: importance-weighted draws of the same request (moment matching's
        result, which ``auto`` passes on when it was not reliable on its own). Tempering
        starts from them where their weights reach further along the path than the stored
        draws' (``diagnostics.warm_start`` says which).
    requested : str, default "smc"
        The method the user asked for, recorded in the history ("auto" when dispatched).

    Returns
    -------
    Posterior
        Equally weighted particles of ``p(θ | D_r)``, in the remaining rows' feature
        scaling; ``diagnostics`` holds the kernel, the stages (temperature, weights' ESS,
        acceptance, steps), the final chains' ESS (HMC, as ``ess_bulk``) and wall time.
    """
    start_time = time.perf_counter()
    rng = get_random_generator(random_seed)
    n_threads = default_threads() if n_threads is None else int(n_threads)
    forget = np.isin(posterior.row_ids, rows)
    new_scaling = remaining_scaling(posterior, rows)
    densities = forget_densities(posterior, forget, new_scaling, n_threads)
    params = posterior.model.reparametrize(posterior.params, posterior.standardizer, new_scaling)
    Z = densities.pack(params)
    if posterior.is_weighted:
        Z = Z[_weighted.systematic_resample(posterior.weights, rng)]
    res = temper(
        Z,
        densities,
        rng,
        ess_threshold=ess_threshold,
        max_stages=max_stages,
        max_steps=max_steps,
        target_move=target_move,
        start=None if start is None else _warm_draws(start, posterior, forget, densities),
        cores=cores,
    )
    idata = remaining_idata(posterior, forget, densities.dataset(res.Z), new_scaling)
    if res.origins is not None:  # for the refresh before these draws are saved
        remember_origins(idata, res.origins)
    diagnostics = _smc_diagnostics(
        posterior,
        res,
        n_forget=int(rows.size),
        limits={"max_stages": max_stages, "min_acceptance": min_acceptance, "min_ess": min_ess},
        seconds=time.perf_counter() - start_time,
    )
    return forgotten(
        posterior,
        rows,
        idata=idata,
        scaling=new_scaling,
        method=registry.SMC.name,
        requested=requested,
        diagnostics=diagnostics,
    )


def _warm_draws(start: Posterior, posterior: Posterior, forget, densities):
    """A weighted posterior of this request as ``(Z, raw log importance ratios)``."""
    stats = start.idata.get("sample_stats")
    remaining = posterior.row_ids[~forget]
    if (
        stats is None
        or "log_importance_ratio" not in stats
        or not np.array_equal(start.row_ids, remaining)
        or start.n_draws != posterior.n_draws
    ):
        raise ValueError(
            "start must be the in-memory result of moment matching or reweighting of the same "
            f"forget request ({remaining.size} remaining rows, {posterior.n_draws} draws); "
            "pass start=None to temper from the stored draws."
        )
    log_ratio = stats["log_importance_ratio"].values.ravel()
    return densities.pack(start.params), log_ratio


def _smc_diagnostics(posterior, res: Tempered, *, n_forget, limits, seconds):
    found = problems(res, limits)
    return UnlearningDiagnostics(
        method=registry.SMC.name,
        reason="requested",
        n_forget=n_forget,
        n_remaining=int(posterior.row_ids.size - n_forget),
        n_draws=posterior.n_draws,
        reliable=not found,
        verdict=f"SMC ({res.kernel} moves) reached the unlearned posterior with healthy "
        "moves: trustworthy."
        if not found
        else "SMC is unreliable (" + "; ".join(found) + "). Use method='refit'.",
        distinct_draws=res.n_distinct,
        ess_bulk=res.chains_ess,
        min_ess=float(limits["min_ess"]),
        stages=len(res.stages),
        acceptance=res.stages[-1]["acceptance"] if res.stages else 1.0,
        seconds=seconds,
        warm_start=bool(res.warm_start),
        details={
            "kernel": res.kernel,
            "start": "the warm start's draws" if res.warm_start else "the stored draws",
            "processes": res.processes,
            "stages": res.stages,
            "gradient_sweeps" if res.kernel == "HMC" else "likelihood_sweeps": res.sweeps,
            "min_stage_ess": min((s["ess"] for s in res.stages), default=float(posterior.n_draws)),
        },
    )
