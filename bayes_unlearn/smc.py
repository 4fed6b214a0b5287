"""Tempered sequential Monte Carlo from the stored posterior to the unlearned one.

The particles start as the stored draws of ``p(θ | D)`` and follow the path
``p_t(θ) ∝ p(θ | D) · p(D_e | θ)^(−t)``, ``t: 0 → 1``. Each stage picks the next ``t`` by
bisection so that the effective sample size of the incremental weights stays at
``ess_threshold · S``, resamples systematically, and rejuvenates every particle with
independent Metropolis-Hastings moves from a Gaussian fitted to the particles (on the
unconstrained scale), all vectorized across particles with the models' NumPy likelihoods.

References
----------
Del Moral, P., Doucet, A. and Jasra, A. (2006). Sequential Monte Carlo samplers. JRSS B 68(3).
Chopin, N. (2002). A sequential particle filter method for static models. Biometrika 89(3).
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import xarray as xr

from bayes_unlearn import _weighted
from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.models import PyMCModel
from bayes_unlearn.posterior import Posterior

__all__ = ["smc"]


class _Packer:
    """Maps posterior variables to one unconstrained matrix (positive ones on the log scale)."""

    def __init__(self, posterior: Posterior):
        post = posterior.idata.posterior
        self.names = list(post.data_vars)
        self.shapes = [post[n].shape[2:] for n in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        positive = getattr(posterior.model, "positive_params", ())
        self.log_scale = [n in positive for n in self.names]

    def pack(self, params: dict[str, np.ndarray]) -> np.ndarray:
        cols = []
        for name, size, log in zip(self.names, self.sizes, self.log_scale, strict=True):
            value = params[name].reshape(-1, size)
            cols.append(np.log(value) if log else value)
        return np.concatenate(cols, axis=1)

    def unpack(self, Z: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Parameters and the log-Jacobian of the transform, per particle."""
        params, log_jac, start = {}, np.zeros(Z.shape[0]), 0
        for name, shape, size, log in zip(
            self.names, self.shapes, self.sizes, self.log_scale, strict=True
        ):
            block = Z[:, start : start + size]
            start += size
            if log:
                log_jac += block.sum(axis=1)
                block = np.exp(block)
            params[name] = block.reshape(Z.shape[0], *shape)
        return params, log_jac


def _next_temperature(log_lik_e: np.ndarray, t: float, target_ess: float) -> float:
    """Largest ``t' ≤ 1`` whose incremental weights ``exp(-(t'-t) L)`` keep the ESS at target."""

    def ess(t_new):
        return _weighted.importance_ess(-(t_new - t) * log_lik_e)

    if ess(1.0) >= target_ess:
        return 1.0
    lo, hi = t, 1.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ess(mid) >= target_ess else (lo, mid)
    return max(lo, t + 1e-6)


def smc(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    ess_threshold: float = 0.5,
    max_stages: int = 100,
    max_steps: int = 20,
    target_move: float = 0.99,
    min_acceptance: float = 0.05,
    min_ess: float = 100.0,
    n_threads: int | None = None,
    random_seed: RandomSeed = None,
) -> Posterior:
    """Move the stored draws to the posterior without ``rows`` by tempered SMC.

    Use through :func:`bayes_unlearn.unlearn` with ``method="smc"``, which validates ``rows``.

    Parameters
    ----------
    posterior : Posterior
        Stored draws (weighted posteriors are resampled first).
    rows : ndarray of int
        Row ids to forget.
    ess_threshold : float, default 0.5
        Fraction of particles the ESS is kept at when choosing each temperature step.
    max_stages : int, default 100
        Give up (unreliable) after this many stages.
    max_steps : int, default 20
        Most Metropolis-Hastings sweeps per stage.
    target_move : float, default 0.99
        Sweeps continue until each particle has moved with this probability, judged from the
        stage's acceptance rate.
    min_acceptance : float, default 0.05
        A final-stage acceptance rate below this marks the result unreliable.
    min_ess : float, default 100
        Fewer distinct particles than this marks the result unreliable.
    n_threads : int, optional
        Threads that evaluate the likelihood on chunks of particles (NumPy releases the
        GIL); default the number of CPUs, at most 8.
    random_seed : int, Generator or None
        Seed of resampling and proposals.

    Returns
    -------
    Posterior
        Equally weighted particles of ``p(θ | D_r)``; ``diagnostics`` holds the stages,
        acceptance rates, ESS and wall time.
    """
    if isinstance(posterior.model, PyMCModel):
        raise NotImplementedError(
            "SMC unlearning needs a built-in model with a vectorized NumPy likelihood; "
            "for a custom PyMC model use method='refit'."
        )
    from bayes_unlearn.fitting import assemble_idata

    start_time = time.perf_counter()
    rng = get_random_generator(random_seed)
    n_threads = max(1, min(os.cpu_count() or 1, 8)) if n_threads is None else int(n_threads)
    packer = _Packer(posterior)
    X, y = posterior.training_data()
    forget = np.isin(posterior.row_ids, rows)
    X_r, y_r = posterior.standardizer.transform(X[~forget]), y[~forget]
    X_e, y_e = posterior.standardizer.transform(X[forget]), y[forget]
    model = posterior.model

    def parts(Z):
        params, log_jac = packer.unpack(Z)
        base = (
            model.log_prior(params)
            + log_jac
            + model.pointwise_log_likelihood(params, X_r, y_r).sum(axis=1)
        )
        return base, model.pointwise_log_likelihood(params, X_e, y_e).sum(axis=1)

    def log_density_parts(Z):
        """(log prior + log p(D_r | θ) + log|J|, log p(D_e | θ)) per particle."""
        return _in_chunks(parts, Z, n_threads)

    n = posterior.n_draws
    Z = packer.pack(posterior.params)
    if posterior.is_weighted:
        Z = Z[_weighted.systematic_resample(posterior.weights, rng)]
    base, log_lik_e = log_density_parts(Z)
    t, stages, n_evals = 0.0, [], 1
    while t < 1.0 and len(stages) < max_stages:
        t_new = _next_temperature(log_lik_e, t, ess_threshold * n)
        log_w = _weighted.normalize_log_weights(-(t_new - t) * log_lik_e)
        stage_ess = _weighted.importance_ess(log_w)
        idx = _weighted.systematic_resample(np.exp(log_w), rng)
        Z, base, log_lik_e = Z[idx], base[idx], log_lik_e[idx]
        t = t_new
        Z, base, log_lik_e, acc, steps = _rejuvenate(
            Z, base, log_lik_e, t, log_density_parts, rng, max_steps, target_move
        )
        n_evals += steps
        stages.append({"t": t, "ess": stage_ess, "acceptance": acc, "steps": steps})

    n_unique = int(np.unique(Z, axis=0).shape[0])
    problems = []
    if t < 1.0:
        problems.append(f"stopped at t={t:.3f} after {max_stages} stages")
    last_acc = stages[-1]["acceptance"] if stages else 1.0
    if last_acc < min_acceptance:
        problems.append(f"acceptance {last_acc:.3f} < {min_acceptance}")
    if n_unique < min_ess:
        problems.append(f"only {n_unique} distinct particles")
    verdict = (
        "SMC reached the unlearned posterior with healthy moves: trustworthy."
        if not problems
        else "SMC is unreliable (" + "; ".join(problems) + "). Use method='refit'."
    )

    params, _ = packer.unpack(Z)
    template = posterior.idata.posterior
    shape = (template.sizes["chain"], template.sizes["draw"])
    post_ds = xr.Dataset(
        {
            name: (template[name].dims, params[name].reshape(*shape, *params[name].shape[1:]))
            for name in packer.names
        },
        coords=template.coords,
    )
    idata = assemble_idata(
        model,
        post_ds,
        None,
        X[~forget],
        y[~forget],
        row_ids=posterior.row_ids[~forget],
        standardizer=posterior.standardizer,
        feature_names=posterior.feature_names,
    )
    diagnostics = UnlearningDiagnostics(
        method="smc",
        reason="requested",
        n_forget=int(rows.size),
        n_remaining=int((~forget).sum()),
        n_draws=n,
        reliable=not problems,
        verdict=verdict,
        ess=float(n_unique),
        min_ess=float(min_ess),
        stages=len(stages),
        acceptance=last_acc,
        seconds=time.perf_counter() - start_time,
        details={
            "stages": stages,
            "likelihood_sweeps": n_evals,
            "min_stage_ess": min((s["ess"] for s in stages), default=float(n)),
        },
    )
    from bayes_unlearn.unlearning import _record

    return dataclasses.replace(
        posterior, idata=idata, history=_record(posterior, rows, "smc"), diagnostics=diagnostics
    )


def _in_chunks(fn, Z: np.ndarray, n_threads: int):
    """``fn(Z)`` evaluated on row chunks of ``Z`` in threads; outputs concatenated."""
    if n_threads == 1 or Z.shape[0] < 2 * n_threads:
        return fn(Z)
    chunks = np.array_split(Z, n_threads)
    with ThreadPoolExecutor(n_threads) as pool:
        results = list(pool.map(fn, chunks))
    return tuple(np.concatenate(parts) for parts in zip(*results, strict=True))


def _rejuvenate(Z, base, log_lik_e, t, log_density_parts, rng, max_steps, target_move):
    """Independent MH sweeps targeting ``p_t``, proposing from a Gaussian fit to the particles."""
    n, d = Z.shape
    mean = Z.mean(axis=0)
    cov = np.atleast_2d(np.cov(Z, rowvar=False)) + 1e-9 * np.eye(d)
    chol = np.linalg.cholesky(cov)
    inv_chol = np.linalg.inv(chol)
    log_det = np.log(np.diag(chol)).sum()

    def log_q(W):
        u = (W - mean) @ inv_chol.T
        return -0.5 * np.einsum("ij,ij->i", u, u) - log_det

    target = base + (1.0 - t) * log_lik_e
    current_q = log_q(Z)
    accepted, steps, needed = 0, 0, 1
    while steps < min(needed, max_steps):
        proposal = mean + rng.standard_normal((n, d)) @ chol.T
        base_p, lik_p = log_density_parts(proposal)
        target_p = base_p + (1.0 - t) * lik_p
        q_p = log_q(proposal)
        log_alpha = target_p - target + current_q - q_p
        accept = np.log(rng.random(n)) < log_alpha
        Z = np.where(accept[:, None], proposal, Z)
        base = np.where(accept, base_p, base)
        log_lik_e = np.where(accept, lik_p, log_lik_e)
        target = np.where(accept, target_p, target)
        current_q = np.where(accept, q_p, current_q)
        accepted += int(accept.sum())
        steps += 1
        rate = accepted / (steps * n)
        # Sweeps until a particle has moved at least once with probability target_move.
        needed = (
            max_steps
            if rate <= 0
            else int(np.ceil(np.log1p(-target_move) / np.log1p(-min(rate, 0.999))))
        )
    return Z, base, log_lik_e, accepted / (steps * n), steps
