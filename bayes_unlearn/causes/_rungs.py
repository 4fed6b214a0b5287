"""The ladder that conditions the posterior on the failures: reweight → moment matching → SMC → refit.

Each rung returns ``p(θ | D, F)`` as weighted draws (:class:`~._scores.Conditioned`) and its
diagnostics; :func:`auto` takes the first whose own diagnostics pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bayes_unlearn import _tempering, _weighted, registry
from bayes_unlearn._densities import conditioning_densities
from bayes_unlearn._importance import Importance, relative_efficiency, smoothed
from bayes_unlearn._kernels import default_threads
from bayes_unlearn._ladder import Rung, Skip, climb
from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn.causes._scores import Conditioned
from bayes_unlearn.compiled import RowsNotInputsError
from bayes_unlearn.diagnostics import CauseDiagnostics
from bayes_unlearn.layout import positions_of
from bayes_unlearn.methods.moment_match import MIN_ESS_MM, MIN_RELATIVE_ESS_MM, match_moments
from bayes_unlearn.posterior import Posterior
from bayes_unlearn.sampling import resample_like

__all__ = ["MIN_ESS", "RUNGS", "Context", "NotApplicable", "auto"]

#: Fewer effective draws than this after reweighting by p(F | θ) make the scores unreliable.
MIN_ESS = 100.0


@dataclasses.dataclass(frozen=True)
class Context:
    """What every rung needs: the posterior and the failures."""

    posterior: Posterior
    X_f: np.ndarray
    y_f: np.ndarray
    random_seed: RandomSeed
    progressbar: bool | None


class NotApplicable(Skip):
    """A rung that does not apply to this posterior (the message says why)."""


def _chains(posterior: Posterior) -> tuple[int, int]:
    post = posterior.idata.posterior
    return post.sizes["chain"], post.sizes["draw"]


def _reweighted(ctx: Context):
    """``p(θ | D, F)``: the stored draws reweighted by ``p(F | θ)``, Pareto-smoothed."""
    posterior = ctx.posterior
    log_lik_f = posterior.pointwise_log_likelihood(ctx.X_f, ctx.y_f).sum(axis=1)
    weights = smoothed(
        posterior.log_weights + log_lik_f, reff=relative_efficiency(posterior), min_ess=MIN_ESS
    )
    diagnostics = _importance_diagnostics(ctx, registry.REWEIGHT.name, weights)
    verdict = (
        "The reweighted scores are reliable: Pareto k̂ and ESS are within bounds."
        if weights.reliable
        else "The reweighted scores are unreliable (" + "; ".join(weights.problems) + "): the "
        "failures move the posterior too far for the stored draws. Use method='auto' or 'refit'."
    )
    return Conditioned(weights=np.exp(weights.log_weights)), dataclasses.replace(
        diagnostics, verdict=verdict
    )


def _refitted(ctx: Context):
    """``p(θ | D, F)`` from an MCMC refit on ``D ∪ F`` with the stored settings."""
    posterior = ctx.posterior
    X, y = posterior.training_data()
    ids = posterior.row_ids
    new_ids = np.arange(ids.max() + 1, ids.max() + 1 + len(ctx.y_f))
    joint = resample_like(
        posterior,
        np.vstack([X, ctx.X_f]),
        np.concatenate([y, ctx.y_f]),
        np.concatenate([ids, new_ids]),
        random_seed=ctx.random_seed,
        progressbar=ctx.progressbar,
    )
    at = positions_of(joint.row_ids, ids)  # the training rows among the joint rows
    d = joint.diagnostics
    diagnostics = CauseDiagnostics(
        method=registry.REFIT.name,
        reason="requested",
        n_failures=len(ctx.y_f),
        n_rows=ids.size,
        n_draws=joint.n_draws,
        reliable=d.reliable,
        verdict=(
            "The refitted scores are reliable: the refit on D ∪ F converged."
            if d.reliable
            else f"The refit on D ∪ F did not converge ({d.verdict}); draw more samples."
        ),
        r_hat=d.r_hat,
        ess_bulk=d.ess_bulk,
    )
    conditioned = Conditioned(
        weights=joint.weights,
        rows=lambda positions: joint.rows_log_likelihood(at[positions]),
        chains=_chains(joint),
    )
    return conditioned, diagnostics


def _moment_matched(ctx: Context, warm_start: dict | None = None):
    """``p(θ | D, F)`` by moment matching the draws towards it (see methods.moment_match).

    Where a map was accepted, its moved draws and raw log ratios are put in ``warm_start``
    (if given) for SMC to start from.
    """
    posterior = ctx.posterior
    n = posterior.n_draws
    min_ess = max(MIN_ESS_MM, MIN_RELATIVE_ESS_MM * n)
    if posterior.is_weighted or n < min_ess:
        raise NotApplicable(
            "it needs equally weighted draws, at least "
            f"{min_ess:.0f} of them effective ({n} draws here)"
        )
    densities = _conditioning(ctx)
    reff = relative_efficiency(posterior)
    Z, log_ratio, details = match_moments(
        densities.pack(posterior.params), densities.parts, reff=reff, min_ess=min_ess
    )
    maps = tuple(step["transform"] for step in details["steps"])
    if warm_start is not None and maps:
        warm_start["start"] = (Z, log_ratio)
    weights = smoothed(log_ratio, reff=reff, min_ess=min_ess)
    conditioned = Conditioned(
        weights=np.exp(weights.log_weights),
        rows=_training_rows(posterior, densities.unpack(Z)),
        chains=_chains(posterior),
    )
    diagnostics = _importance_diagnostics(ctx, registry.MOMENT_MATCH.name, weights)
    return conditioned, dataclasses.replace(diagnostics, moment_maps=maps, details=details)


def _tempered(ctx: Context, start=None):
    """``p(θ | D, F)`` by tempering ``p(F | θ)`` in (see methods.smc), from the stored draws
    or from a warm start ``(Z, log_ratio)`` where that goes further (see _tempering.temper)."""
    posterior = ctx.posterior
    densities = _conditioning(ctx)
    rng = get_random_generator(ctx.random_seed)
    Z = densities.pack(posterior.params)
    if posterior.is_weighted:
        Z = Z[_weighted.systematic_resample(posterior.weights, rng)]
    limits = _tempering.LIMITS
    res = _tempering.temper(
        Z, densities, rng, max_stages=limits["max_stages"], start=start, **_tempering.SCHEDULE
    )
    n = res.Z.shape[0]
    conditioned = Conditioned(
        weights=np.full(n, 1.0 / n),
        rows=_training_rows(posterior, densities.unpack(res.Z)),
        effective_size=res.effective_size,
    )
    details = {
        "kernel": res.kernel,
        "start": "moment matching's draws" if res.warm_start else "the stored draws",
        "stages": res.stages,
    }
    problems = _tempering.problems(res, limits)
    return conditioned, _diagnostics(
        ctx,
        registry.SMC.name,
        problems,
        min_ess=limits["min_ess"],
        warm_start=bool(res.warm_start),
        details=details,
    )


def _conditioning(ctx: Context):
    try:
        return conditioning_densities(ctx.posterior, ctx.X_f, ctx.y_f, default_threads())
    except RowsNotInputsError as err:
        raise NotApplicable(str(err)) from err


def _training_rows(posterior: Posterior, params: dict):
    """``positions ↦ log p(z|θ)`` of training rows at new draws ``params``."""
    X, y = posterior.training_data()
    return posterior.model.rows_log_likelihood(params, posterior.standardizer.transform(X), y)


def _importance_diagnostics(ctx: Context, method: str, weights: Importance) -> CauseDiagnostics:
    """An importance rung's verdict: its k̂ and ESS against their bars."""
    return _diagnostics(ctx, method, weights.problems, **weights.fields())


def _diagnostics(ctx: Context, method: str, problems, **fields) -> CauseDiagnostics:
    label = registry.METHODS[method].label
    return CauseDiagnostics(
        method=method,
        reason="requested",
        n_failures=len(ctx.y_f),
        n_rows=ctx.posterior.row_ids.size,
        n_draws=ctx.posterior.n_draws,
        reliable=not problems,
        verdict=f"The {label} scores are reliable: their diagnostics pass."
        if not problems
        else f"The {label} scores are unreliable (" + "; ".join(problems) + "). Use "
        "method='auto' or 'refit'.",
        **fields,
    )


def auto(ctx: Context):
    """The first rung whose own diagnostics pass: reweight → moment matching → SMC → refit."""
    first, warm = {}, {}

    def reweighted():
        conditioned, d = _reweighted(ctx)
        first.update(reweight_pareto_k=d.pareto_k, reweight_ess=d.ess_importance)
        return conditioned, d

    rungs = (
        Rung(registry.REWEIGHT.label, reweighted, quotes_weights=True),
        Rung(registry.MOMENT_MATCH.label, lambda: _moment_matched(ctx, warm)),
        Rung(registry.SMC.label, lambda: _tempered(ctx, warm.get("start"))),
    )
    found = climb(rungs, diagnostics=lambda result: result[1])
    conditioned, d = found.result if found.result is not None else _refitted(ctx)
    return conditioned, dataclasses.replace(d, reason=found.reason, details={**d.details, **first})


RUNGS = {
    registry.REWEIGHT.name: _reweighted,
    registry.MOMENT_MATCH.name: _moment_matched,
    registry.SMC.name: _tempered,
    registry.REFIT.name: _refitted,
}
