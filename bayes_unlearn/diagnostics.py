"""Diagnostics attached to every unlearned posterior, and the thresholds they use."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

__all__ = [
    "MIN_BULK_ESS",
    "RHAT_MAX",
    "CauseDiagnostics",
    "MCMCConvergenceWarning",
    "UnlearningDiagnostics",
    "UnreliableScoresWarning",
    "UnreliableUnlearningWarning",
    "importance_problems",
    "pareto_k_threshold",
]


#: MCMC convergence thresholds (Vehtari et al. 2021, "Rank-normalization, folding, and
#: localization"): the largest acceptable R-hat and the smallest acceptable bulk ESS.
RHAT_MAX = 1.01
MIN_BULK_ESS = 400.0


class UnreliableUnlearningWarning(UserWarning):
    """The unlearned posterior's own diagnostics say it cannot be trusted."""


class UnreliableScoresWarning(UserWarning):
    """Cause scores whose own diagnostics say they cannot be trusted."""


class MCMCConvergenceWarning(UserWarning):
    """The MCMC fit's own R-hat, ESS or divergence checks failed.

    Named apart from scikit-learn's ``ConvergenceWarning`` (an optimizer's), which a
    filter on the bare name would also catch; ``bu.ConvergenceWarning`` is its deprecated
    alias until 0.3.
    """


_RENAMED = {"ConvergenceWarning": "MCMCConvergenceWarning"}


def __getattr__(name: str):
    if name in _RENAMED:
        import warnings

        warnings.warn(
            f"bayes_unlearn.{name} is renamed {_RENAMED[name]} (0.2); the old name goes in 0.3.",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pareto_k_threshold(n_draws: int) -> float:
    """Sample-size-aware Pareto k̂ threshold ``min(1 - 1/log10(S), 0.7)``, as in ``az.loo``.

    References
    ----------
    Vehtari, A., Simpson, D., Gelman, A., Yao, Y. and Gabry, J. (2024). Pareto smoothed
    importance sampling. Journal of Machine Learning Research, 25(72):1-58.
    """
    if n_draws < 2:
        return 0.0
    return min(1.0 - 1.0 / math.log10(n_draws), 0.7)


def importance_problems(k_hat: float, ess: float, n_draws: int, min_ess: float) -> list[str]:
    """What makes importance weights unreliable: k̂ over its threshold, too small an ESS.

    The one verdict every importance-weighting step uses (unlearning, cause scores).
    """
    problems = []
    k_max = pareto_k_threshold(n_draws)
    if not k_hat <= k_max:
        problems.append(f"Pareto k̂ {k_hat:.2f} > {k_max:.2f}")
    if not ess >= min_ess:
        problems.append(f"ESS {ess:.0f} < {min_ess:.0f}")
    return problems


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Verdict:
    """What every diagnostics record holds: the method, why it ran, and its verdict."""

    method: str
    reason: str
    n_draws: int
    reliable: bool
    verdict: str
    pareto_k: float | None = None
    pareto_k_threshold: float | None = None
    ess_importance: float | None = None
    ess_bulk: float | None = None
    min_ess: float = 100.0
    r_hat: float | None = None
    seconds: float | None = None
    moment_maps: tuple[str, ...] | None = None
    warm_start: bool = False
    details: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnlearningDiagnostics(_Verdict):
    """How a forget request was carried out, and whether the result can be trusted.

    Attributes
    ----------
    method : str
        The method that produced the draws ("reweight", "refit", ...).
    reason : str
        Why that method ran (the user asked for it, or a dispatcher chose it).
    n_forget : int
        Rows removed by this request.
    n_remaining : int
        Training rows still in the posterior.
    n_draws : int
        Posterior draws held.
    pareto_k : float or None
        Pareto k̂ of the importance ratios (reweighting only).
    pareto_k_threshold : float or None
        ``min(1 - 1/log10(S), 0.7)`` for ``S`` draws.
    ess_importance : float or None
        Kish's effective sample size ``1/Σw̃²`` of importance weights (reweighting).
    ess_bulk : float or None
        The smallest bulk ESS over parameters (MCMC draws: fit, refit).
    distinct_draws : int or None
        Distinct particles (SMC) or draws (refresh).
    min_ess : float
        The effective size below which the result is declared unreliable (compared with
        the one of the three above that the method has; see :attr:`ess`).
    r_hat : float or None
        Largest R-hat over parameters (MCMC methods only).
    divergences : int or None
        Divergent transitions (NUTS only).
    stages : int or None
        Tempering stages (SMC only).
    acceptance : float or None
        Metropolis-Hastings acceptance rate of the last SMC stage.
    seconds : float or None
        Wall time of the unlearning step.
    moment_maps : tuple of str or None
        The maps moment matching accepted, in order ("shift", "scale", "covariance"); empty
        when none improved the weights (its draws are then the stored ones).
    warm_start : bool
        SMC started from moment matching's moved draws rather than the stored ones.
    reweighted_draws : str or None
        What produced the draws a reweighting's weights sit on ("fit", "refit", "smc",
        "moment_match", ...), through earlier reweightings.
    inherited_problem : str or None
        A failed check of the fit these draws descend from, carried into every result
        that reuses them (and into a saved file) until a refit.
    details : dict
        Method-specific extras for people and reports (SMC: per-stage temperature, ESS and
        acceptance); nothing decides on them.
    reliable : bool
        Whether every diagnostic passed.
    verdict : str
        One plain-language sentence saying what to do.
    """

    n_forget: int
    n_remaining: int
    distinct_draws: int | None = None
    divergences: int | None = None
    stages: int | None = None
    acceptance: float | None = None
    reweighted_draws: str | None = None
    inherited_problem: str | None = None

    @property
    def ess(self) -> float | None:
        """The effective size the verdict used: importance ESS, else bulk ESS, else distinct draws."""
        for value in (self.ess_importance, self.ess_bulk, self.distinct_draws):
            if value is not None:
                return float(value)
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields, for the posterior file."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnlearningDiagnostics:
        """Inverse of :meth:`to_dict`, ignoring unknown keys from newer files."""
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in names}
        details = fields.get("details") or {}
        if "inherited_problem" in details:  # files written before it was a field
            fields["details"] = {k: v for k, v in details.items() if k != "inherited_problem"}
            fields.setdefault("inherited_problem", details["inherited_problem"])
        return cls(**fields)

    def __str__(self) -> str:
        lines = [
            f"method: {self.method} ({self.reason})",
            f"rows forgotten: {self.n_forget}, remaining: {self.n_remaining}, draws: {self.n_draws}",
        ]
        if self.pareto_k is not None:
            lines.append(f"Pareto k̂: {self.pareto_k:.3f} (threshold {self.pareto_k_threshold:.3f})")
        for label, value in (
            ("importance ESS (Kish)", self.ess_importance),
            ("bulk ESS (smallest over parameters)", self.ess_bulk),
            ("distinct draws", self.distinct_draws),
        ):
            if value is not None:
                lines.append(f"{label}: {value:.0f} (minimum {self.min_ess:.0f})")
        if self.stages is not None:
            lines.append(f"SMC stages: {self.stages}, last-stage acceptance: {self.acceptance:.2f}")
        if self.r_hat is not None:
            lines.append(f"max R-hat: {self.r_hat:.3f}, divergences: {self.divergences}")
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CauseDiagnostics(_Verdict):
    """How the cause scores of :func:`~bayes_unlearn.identify_causes` were computed.

    Attributes
    ----------
    method : str
        How ``p(θ | D, F)`` was obtained: "reweight" or "refit".
    reason : str
        Why that method ran (requested, or what ``method="auto"`` saw).
    n_failures : int
        Rows in the failure set ``F``.
    n_rows : int
        Training rows scored.
    n_draws : int
        Draws behind each expectation.
    reliable : bool
        Whether every diagnostic of the method that ran passed.
    verdict : str
        One plain-language sentence saying what to do.
    pareto_k, pareto_k_threshold : float or None
        Pareto k̂ of the weights ``p(F | θ)`` and its threshold (reweighting).
    ess_importance : float or None
        Kish's effective sample size of those weights (reweighting).
    min_ess : float
        The smallest acceptable importance ESS.
    r_hat, ess_bulk : float or None
        Largest R-hat and smallest bulk ESS of the refit on ``D ∪ F`` (refit).
    seconds : float or None
        Wall time.
    moment_maps : tuple of str or None
        The maps moment matching accepted (moment matching only).
    warm_start : bool
        SMC started from moment matching's moved draws.
    details : dict
        Extras for people and reports; after ``method="auto"`` fell back, the abandoned
        reweighting's ``reweight_pareto_k`` and ``reweight_ess``.
    """

    n_failures: int
    n_rows: int

    def __str__(self) -> str:
        lines = [
            f"method: {self.method} ({self.reason})",
            f"failures: {self.n_failures}, rows scored: {self.n_rows}, draws: {self.n_draws}",
        ]
        if self.pareto_k is not None:
            lines.append(f"Pareto k̂: {self.pareto_k:.3f} (threshold {self.pareto_k_threshold:.3f})")
        if self.ess_importance is not None:
            lines.append(
                f"importance ESS (Kish): {self.ess_importance:.0f} (minimum {self.min_ess:.0f})"
            )
        if self.r_hat is not None:
            lines.append(
                f"refit max R-hat: {self.r_hat:.3f}, smallest bulk ESS: {self.ess_bulk:.0f}"
            )
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)
