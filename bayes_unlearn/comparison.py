"""Fidelity of an unlearned posterior to a reference (normally an exact refit)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from bayes_unlearn import _weighted
from bayes_unlearn.posterior import Posterior

__all__ = ["Comparison", "compare"]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Per-parameter and predictive agreement between two posteriors.

    Attributes
    ----------
    table : DataFrame
        Per scalar parameter: ``mean``/``sd`` of both, ``smd`` (standardized mean difference
        ``(mean - mean_ref) / sd_ref``) and ``sd_ratio`` (``sd / sd_ref``).
    max_abs_smd : float
        Worst standardized mean difference.
    max_abs_log_sd_ratio : float
        Worst ``|log(sd / sd_ref)|``.
    lpd_diff : float or None
        Mean per-row difference in log predictive density on the evaluation rows
        (``lpd - lpd_ref``); None when no evaluation data was given.
    n_eval : int
        Rows the predictive difference was computed on.
    """

    table: pd.DataFrame
    max_abs_smd: float
    max_abs_log_sd_ratio: float
    lpd_diff: float | None
    n_eval: int

    def __str__(self) -> str:
        lpd = (
            "n/a" if self.lpd_diff is None else f"{self.lpd_diff:+.4f} per row ({self.n_eval} rows)"
        )
        return (
            f"max |SMD|: {self.max_abs_smd:.3f}, max |log sd ratio|: "
            f"{self.max_abs_log_sd_ratio:.3f}, test lpd difference: {lpd}"
        )


def compare(posterior: Posterior, reference: Posterior, *, X_test=None, y_test=None) -> Comparison:
    """Measure how far ``posterior`` is from ``reference`` (e.g. an unlearned posterior vs a refit).

    Parameters
    ----------
    posterior, reference : Posterior
        Posteriors of the same model with the same parameters.
    X_test, y_test : array-like, optional
        Held-out rows for the log predictive density difference.

    Returns
    -------
    Comparison

    Notes
    -----
    The noise floor of these numbers is obtained the same way: compare two refits made
    with different ``random_seed``.

    Examples
    --------
    >>> ref = bu.unlearn(post, forget=rows, method="refit")           # doctest: +SKIP
    >>> bu.compare(bu.unlearn(post, forget=rows), ref).max_abs_smd    # doctest: +SKIP
    """
    for name, value in (("posterior", posterior), ("reference", reference)):
        if not isinstance(value, Posterior):
            raise TypeError(
                f"The {name!r} parameter of compare must be a Posterior. Got {type(value).__name__}."
            )
    a, b = posterior.parameter_draws(), reference.parameter_draws()
    if list(a.columns) != list(b.columns):
        raise ValueError(
            "compare needs posteriors of the same model: their parameters differ "
            f"({list(a.columns)[:5]} vs {list(b.columns)[:5]})."
        )
    mean_a = _weighted.weighted_mean(a.to_numpy(), posterior.weights)
    mean_b = _weighted.weighted_mean(b.to_numpy(), reference.weights)
    sd_a = _weighted.weighted_sd(a.to_numpy(), posterior.weights)
    sd_b = _weighted.weighted_sd(b.to_numpy(), reference.weights)
    table = pd.DataFrame(
        {
            "mean": mean_a,
            "mean_ref": mean_b,
            "sd": sd_a,
            "sd_ref": sd_b,
            "smd": (mean_a - mean_b) / sd_b,
            "sd_ratio": sd_a / sd_b,
        },
        index=a.columns,
    )
    lpd_diff, n_eval = None, 0
    if (X_test is None) != (y_test is None):
        raise ValueError("Pass both 'X_test' and 'y_test', or neither.")
    if X_test is not None:
        lpd_a = posterior.log_predictive_density(X_test, y_test, pointwise=True)
        lpd_b = reference.log_predictive_density(X_test, y_test, pointwise=True)
        lpd_diff, n_eval = float(np.mean(lpd_a - lpd_b)), int(lpd_a.size)
    return Comparison(
        table=table,
        max_abs_smd=float(np.abs(table["smd"]).max()),
        max_abs_log_sd_ratio=float(np.abs(np.log(table["sd_ratio"])).max()),
        lpd_diff=lpd_diff,
        n_eval=n_eval,
    )
