"""The importance rung, written once: Pareto-smoothed weights on the stored draws and their check.

Forgetting weights the draws by ``1/p(D_e | θ)`` and cause scoring by ``p(F | θ)``; moment
matching weights its moved draws the same way. All of them smooth the raw log ratios with
ArviZ's PSIS and judge the result by k̂ against ``min(1 − 1/log10 S, 0.7)`` and by the
weights' effective size (:func:`bayes_unlearn.diagnostics.importance_problems`).
"""

from __future__ import annotations

import dataclasses
from functools import cached_property

import numpy as np

from bayes_unlearn import _ess, _weighted
from bayes_unlearn.diagnostics import importance_problems, pareto_k_threshold

__all__ = ["Importance", "relative_efficiency", "smoothed"]


@dataclasses.dataclass(frozen=True)
class Importance:
    """Normalized log weights of ``S`` draws and what their check found."""

    log_weights: np.ndarray
    pareto_k: float
    ess: float
    min_ess: float

    @property
    def n_draws(self) -> int:
        return int(self.log_weights.size)

    @property
    def pareto_k_threshold(self) -> float:
        return pareto_k_threshold(self.n_draws)

    @cached_property
    def problems(self) -> list[str]:
        """k̂ over its threshold, too small an effective size (empty when reliable)."""
        return importance_problems(self.pareto_k, self.ess, self.n_draws, self.min_ess)

    @property
    def reliable(self) -> bool:
        return not self.problems

    def fields(self) -> dict[str, float]:
        """The diagnostics fields every importance rung reports."""
        return {
            "pareto_k": self.pareto_k,
            "pareto_k_threshold": self.pareto_k_threshold,
            "ess_importance": self.ess,
            "min_ess": self.min_ess,
        }


def smoothed(
    log_ratio: np.ndarray, *, reff: float, min_ess: float, pareto_smoothing: bool = True
) -> Importance:
    """Pareto-smooth raw log importance ratios (:func:`arviz.psislw`) and check them.

    With ``pareto_smoothing=False`` the weights are the raw ratios normalized; k̂ is still
    estimated, so the check says whether they could be trusted.
    """
    import arviz as az

    log_w, k_hat = az.psislw(np.array(log_ratio, dtype=float), reff=reff)
    if not pareto_smoothing:
        log_w = _weighted.normalize_log_weights(log_ratio)
    return Importance(
        log_weights=log_w,
        pareto_k=float(k_hat),
        ess=_weighted.importance_ess(log_w),
        min_ess=float(min_ess),
    )


def relative_efficiency(posterior) -> float:
    """Relative MCMC efficiency ``reff`` for PSIS, exactly as ``arviz.loo`` computes it.

    The mean over every posterior variable of its mean-ESS divided by the number of draws
    (1 for a single chain or too few draws per chain). Like ArviZ (and unlike R's
    ``loo::relative_eff``, which uses each observation's likelihood), one ``reff`` serves
    every importance ratio of a posterior.
    """
    return _ess.relative_efficiency(posterior.idata.posterior)
