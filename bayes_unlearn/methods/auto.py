"""``auto``: the cheapest method whose own diagnostics pass: reweight, else SMC, else refit."""

from __future__ import annotations

import dataclasses

import numpy as np

from bayes_unlearn._random import RandomSeed
from bayes_unlearn.methods.refit import refit
from bayes_unlearn.methods.reweight import reweight
from bayes_unlearn.methods.smc import smc
from bayes_unlearn.models import PyMCModel
from bayes_unlearn.posterior import Posterior

__all__ = ["auto"]


def auto(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    random_seed: RandomSeed = None,
    smc_options: dict | None = None,
    progressbar: bool = False,
    **reweight_options,
) -> Posterior:
    """Cheapest method whose own diagnostics pass: reweight, else SMC, else refit.

    Reweighting is kept only when k̂ passes and the weights keep at least
    ``min_relative_ess`` (0.75) of the draws' effective size; SMC costs about a tenth of a
    refit. The reason for the choice is recorded in ``diagnostics.reason``.
    """
    first = reweight(posterior, rows, requested="auto", **reweight_options)
    d = first.diagnostics
    if d.reliable:
        return _with_reason(
            first,
            f"auto: k̂ {d.pareto_k:.2f} ≤ {d.pareto_k_threshold:.2f} and "
            f"ESS {d.ess:.0f} ≥ {d.min_ess:.0f} of {d.n_draws} draws",
        )
    why = f"reweighting unreliable (k̂ {d.pareto_k:.2f}, ESS {d.ess:.0f} of {d.n_draws})"
    if not isinstance(posterior.model, PyMCModel):
        second = smc(
            posterior, rows, random_seed=random_seed, requested="auto", **(smc_options or {})
        )
        if second.diagnostics.reliable:
            return _with_reason(second, f"auto: {why}; SMC diagnostics passed")
        why += f"; SMC unreliable ({second.diagnostics.verdict})"
    else:
        why += "; SMC needs a built-in model"
    return _with_reason(
        refit(posterior, rows, random_seed=random_seed, progressbar=progressbar, requested="auto"),
        f"auto: {why}; exact refit",
    )


def _with_reason(result: Posterior, reason: str) -> Posterior:
    return dataclasses.replace(
        result, diagnostics=dataclasses.replace(result.diagnostics, reason=reason)
    )
