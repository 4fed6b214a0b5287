"""``auto``: the cheapest method whose own diagnostics pass: reweight → moment matching → SMC → refit."""

from __future__ import annotations

import dataclasses

import numpy as np

from bayes_unlearn._random import RandomSeed
from bayes_unlearn.compiled import RowsNotInputsError
from bayes_unlearn.methods.moment_match import MIN_ESS_MM, moment_match
from bayes_unlearn.methods.refit import refit
from bayes_unlearn.methods.reweight import reweight
from bayes_unlearn.methods.smc import smc
from bayes_unlearn.posterior import Posterior

__all__ = ["auto"]


def auto(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    random_seed: RandomSeed = None,
    smc_options: dict | None = None,
    moment_match_options: dict | None = None,
    progressbar: bool | None = None,
    **reweight_options,
) -> Posterior:
    """Cheapest method whose own diagnostics pass: reweight → moment matching → SMC → refit.

    Reweighting is kept only when k̂ passes and the weights keep at least
    ``min_relative_ess`` (0.75) of the draws' effective size; moment matching moves the
    draws by affine maps (a few likelihood sweeps); SMC costs about a tenth of a refit.
    Each rung left is named in ``diagnostics.reason`` with why.
    """
    first = reweight(posterior, rows, requested="auto", **reweight_options)
    d = first.diagnostics
    if d.reliable:
        return _with_reason(
            first,
            f"auto: k̂ {d.pareto_k:.2f} ≤ {d.pareto_k_threshold:.2f} and "
            f"ESS {d.ess:.0f} ≥ {d.min_ess:.0f} of {d.n_draws} draws",
        )
    why = [f"reweighting unreliable (k̂ {d.pareto_k:.2f}, ESS {d.ess:.0f} of {d.n_draws})"]
    rungs = (
        ("moment matching", lambda: _moment_match(posterior, rows, moment_match_options)),
        ("SMC", lambda: _smc(posterior, rows, random_seed, smc_options)),
    )
    for name, run in rungs:
        result, note = _try(name, run)
        if result is not None and result.diagnostics.reliable:
            return _with_reason(result, f"auto: {'; '.join(why)}; {name} diagnostics passed")
        why.append(note if result is None else f"{name} unreliable ({_short(result)})")
    return _with_reason(
        refit(posterior, rows, random_seed=random_seed, progressbar=progressbar, requested="auto"),
        f"auto: {'; '.join(why)}; exact refit",
    )


def _moment_match(posterior, rows, options):
    if posterior.is_weighted:
        raise _Skip("moment matching skipped: the draws are already weighted")
    needed = (options or {}).get("min_ess", MIN_ESS_MM)
    if posterior.n_draws < needed:
        raise _Skip(
            f"moment matching skipped: it needs {needed:.0f} effective draws, the posterior "
            f"has {posterior.n_draws} draws"
        )
    return moment_match(posterior, rows, requested="auto", **(options or {}))


def _smc(posterior, rows, random_seed, options):
    return smc(posterior, rows, random_seed=random_seed, requested="auto", **(options or {}))


class _Skip(Exception):
    """A rung that does not apply to this posterior (the message says why)."""


def _try(name, run):
    """The rung's result, or None and why it could not run."""
    try:
        return run(), ""
    except _Skip as skip:
        return None, str(skip)
    except RowsNotInputsError:
        return None, f"{name} needs the model's row arrays in pm.Data"


def _short(result: Posterior) -> str:
    d = result.diagnostics
    if d.pareto_k is not None:
        return f"k̂ {d.pareto_k:.2f}, ESS {d.ess:.0f}"
    return d.verdict


def _with_reason(result: Posterior, reason: str) -> Posterior:
    return dataclasses.replace(
        result, diagnostics=dataclasses.replace(result.diagnostics, reason=reason)
    )
