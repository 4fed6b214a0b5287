"""The one façade for forgetting training rows: :func:`unlearn`, and its methods.

References
----------
Nguyen, Q. P., Oikawa, R., Divakaran, D. M., Chan, M. C. and Low, B. K. H. (2022).
Markov chain Monte Carlo-based machine unlearning: unlearning what needs to be forgotten.
ASIA CCS '22.

Vehtari, A., Simpson, D., Gelman, A., Yao, Y. and Gabry, J. (2024). Pareto smoothed
importance sampling. Journal of Machine Learning Research, 25(72):1-58.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import warnings
from typing import Literal

import numpy as np

from bayes_unlearn import _weighted
from bayes_unlearn._random import RandomSeed
from bayes_unlearn._validation import check_forget
from bayes_unlearn.diagnostics import (
    UnlearningDiagnostics,
    UnreliableUnlearningWarning,
    pareto_k_threshold,
)
from bayes_unlearn.posterior import Posterior, replace_sample_stats, with_rows_removed

__all__ = ["METHODS", "unlearn"]

Method = Literal["reweight", "smc", "auto", "refit"]
METHODS: tuple[str, ...] = ("reweight", "smc", "auto", "refit")


def unlearn(
    posterior,
    forget,
    *,
    method: Method | str = "reweight",
    random_seed: RandomSeed = None,
    **options,
) -> Posterior:
    """Remove training rows from a posterior, as if the model had never seen them.

    Parameters
    ----------
    posterior : Posterior or NumPy model
        From :func:`bayes_unlearn.fit`, :func:`bayes_unlearn.load` or an earlier ``unlearn``;
        or a fitted :class:`~bayes_unlearn.numpy_models.PolynomialRegressor` (methods "emse",
        "retrain") or :class:`~bayes_unlearn.numpy_models.MLPClassifier` (methods in
        ``bayes_unlearn.numpy_models.neural.METHODS``), which keep their training rows.
    forget : array-like of int
        Training row ids to forget (see :meth:`Posterior.find_rows` to name rows by content).
    method : {"reweight", "smc", "auto", "refit"}, default "reweight"
        ``"reweight"``: importance-reweight the stored draws by ``1 / p(D_e | θ)``
        (Nguyen et al. 2022), Pareto-smoothed (milliseconds). ``"smc"``: move the stored draws
        to the new posterior by tempered SMC (:func:`bayes_unlearn.smc.smc`). ``"auto"``:
        reweighting when its k̂ and ESS pass, else SMC, else a refit when SMC's own
        diagnostics fail. ``"refit"``: exact MCMC on the remaining rows with the stored model
        and sampler settings (the reference).
    random_seed : int, Generator or None
        Seed of SMC or a refit; for a refit None reuses the seed stored at fit time.
    **options
        Method options. reweight: ``pareto_smoothing`` (bool, default True), ``reff``
        (relative MCMC efficiency for PSIS; default estimated as ``az.loo`` does),
        ``min_ess`` (default 100). smc: see :func:`bayes_unlearn.smc.smc`.
        refit: ``progressbar``. auto: ``smc_options`` and ``progressbar``.

    Returns
    -------
    Posterior
        The unlearned posterior; ``.diagnostics`` says which method ran, why, and whether it
        can be trusted. Requests compose: forgetting A then B equals forgetting A ∪ B.

    Warns
    -----
    UnreliableUnlearningWarning
        When Pareto k̂ exceeds ``min(1 - 1/log10 S, 0.7)`` or the ESS is too small.

    Raises
    ------
    ValueError
        For unknown, repeated or already forgotten row ids, an empty forget set, or one
        that removes every row; for an unknown method.

    Examples
    --------
    >>> un = bu.unlearn(post, forget=[3, 17, 42])              # doctest: +SKIP
    >>> un.diagnostics.reliable                                # doctest: +SKIP
    True
    """
    from bayes_unlearn.numpy_models.facade import is_point_model, unlearn_point_model

    if is_point_model(posterior):
        return unlearn_point_model(
            posterior, forget, method=method, random_seed=random_seed, **options
        )
    if not isinstance(posterior, Posterior):
        raise TypeError(
            "The 'posterior' parameter of unlearn must be a Posterior or a fitted NumPy model "
            f"(bayes_unlearn.numpy_models). Got {type(posterior).__name__}."
        )
    if method not in METHODS:
        hint = difflib.get_close_matches(str(method), METHODS, n=1)
        raise ValueError(
            f"The 'method' parameter of unlearn must be one of {list(METHODS)}. "
            f"Got {method!r}." + (f" Did you mean {hint[0]!r}?" if hint else "")
        )
    rows = check_forget(
        forget,
        remaining=posterior.row_ids,
        history=[req["row_ids"] for req in posterior.history],
    )
    if method == "reweight":
        result = reweight(posterior, rows, **options)
    elif method == "smc":
        from bayes_unlearn.smc import smc

        result = smc(posterior, rows, random_seed=random_seed, **options)
    elif method == "auto":
        result = auto(posterior, rows, random_seed=random_seed, **options)
    else:
        result = refit(posterior, rows, random_seed=random_seed, **options)
    if not result.diagnostics.reliable:
        warnings.warn(result.diagnostics.verdict, UnreliableUnlearningWarning, stacklevel=2)
    return result


def auto(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    random_seed: RandomSeed = None,
    min_relative_ess: float = 0.75,
    smc_options: dict | None = None,
    progressbar: bool = False,
) -> Posterior:
    """Cheapest method that is as faithful as a refit: reweight, else SMC, else refit.

    Reweighting is kept only when k̂ passes and the importance weights keep at least
    ``min_relative_ess`` of the draws' effective size: its Monte Carlo standard error is then
    within ``1/sqrt(0.75) ≈ 1.15`` times that of a fresh sample of the same size. A k̂ that merely
    passes can still leave an ESS of a few hundred and a visible bias (see
    ``benchmarks/results/fidelity.md``), and SMC costs about a tenth of a refit, so it takes
    over there. The reason for the choice is recorded in ``diagnostics.reason``.
    """
    from bayes_unlearn.models import PyMCModel
    from bayes_unlearn.smc import smc

    first = reweight(posterior, rows)
    d = first.diagnostics
    if d.reliable and d.ess >= min_relative_ess * d.n_draws:
        return _with_reason(
            first,
            f"auto: k̂ {d.pareto_k:.2f} ≤ {d.pareto_k_threshold:.2f} and "
            f"ESS {d.ess:.0f} ≥ {min_relative_ess:.0%} of {d.n_draws} draws",
        )
    why = (
        f"reweighting {'unreliable' if not d.reliable else 'too lossy'} "
        f"(k̂ {d.pareto_k:.2f}, ESS {d.ess:.0f} of {d.n_draws})"
    )
    if not isinstance(posterior.model, PyMCModel):
        second = smc(posterior, rows, random_seed=random_seed, **(smc_options or {}))
        if second.diagnostics.reliable:
            return _with_reason(second, f"auto: {why}; SMC diagnostics passed")
        why += f"; SMC unreliable ({second.diagnostics.verdict})"
    else:
        why += "; SMC needs a built-in model"
    return _with_reason(
        refit(posterior, rows, random_seed=random_seed, progressbar=progressbar),
        f"auto: {why}; exact refit",
    )


def _with_reason(result: Posterior, reason: str) -> Posterior:
    return dataclasses.replace(
        result, diagnostics=dataclasses.replace(result.diagnostics, reason=reason)
    )


def _record(posterior: Posterior, rows: np.ndarray, method: str) -> tuple[dict, ...]:
    fp = dict(zip(posterior.row_ids, posterior.fingerprints, strict=True))
    request = {
        "request": len(posterior.history) + 1,
        "method": method,
        "row_ids": [int(i) for i in rows],
        "fingerprints": [str(fp[i]) for i in rows],
        "n_remaining": int(posterior.row_ids.size - rows.size),
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return (*posterior.history, request)


def forget_log_ratios(posterior: Posterior, rows: np.ndarray) -> np.ndarray:
    """Unnormalized log importance ratios ``-log p(D_e | θ_s)`` for every draw.

    ``D_e`` is every row forgotten since the draws were sampled (earlier requests plus
    ``rows``), which is why sequential requests compose exactly.
    """
    previous = posterior.idata.sample_stats["forgotten_log_likelihood"].values.ravel()
    return -(previous + posterior.log_likelihood(rows).sum(axis=1))


def reweight(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    pareto_smoothing: bool = True,
    reff: float | None = None,
    min_ess: float = 100.0,
) -> Posterior:
    """Importance-reweight stored draws from ``p(θ | D)`` to ``p(θ | D \\ D_e)``.

    ``w(θ) ∝ p(θ | D_r) / p(θ | D) ∝ 1 / p(D_e | θ)``; the ratios are Pareto-smoothed with
    :func:`arviz.psislw`, whose k̂ and the Kish ESS decide whether the result is reliable.
    Use through :func:`unlearn`, which validates ``rows``.
    """
    import arviz as az

    log_ratio = forget_log_ratios(posterior, rows)
    if reff is None:
        reff = relative_efficiency(posterior, -log_ratio)
    smoothed, k_hat = az.psislw(log_ratio, reff=reff)
    log_w = smoothed if pareto_smoothing else _weighted.normalize_log_weights(log_ratio)
    ess = _weighted.importance_ess(log_w)
    n = posterior.n_draws
    k_max = pareto_k_threshold(n)
    problems = []
    if not float(k_hat) <= k_max:
        problems.append(f"Pareto k̂ {float(k_hat):.2f} > {k_max:.2f}")
    if not ess >= min_ess:
        problems.append(f"ESS {ess:.0f} < {min_ess:.0f}")
    verdict = (
        "Reweighting is reliable: Pareto k̂ and ESS are within bounds."
        if not problems
        else "Reweighting is unreliable (" + "; ".join(problems) + "): the forget set moves the "
        "posterior too far for the stored draws. Use method='refit'."
    )
    diagnostics = UnlearningDiagnostics(
        method="reweight",
        reason="requested" + (" (PSIS)" if pareto_smoothing else " (raw IS)"),
        n_forget=int(rows.size),
        n_remaining=int(posterior.row_ids.size - rows.size),
        n_draws=n,
        reliable=not problems,
        verdict=verdict,
        pareto_k=float(k_hat),
        pareto_k_threshold=k_max,
        ess=ess,
        min_ess=float(min_ess),
    )
    idata = posterior.idata.copy()  # shallow: shares the draws, never mutates the caller's
    for group, ds in with_rows_removed(posterior, rows).items():
        setattr(idata, group, ds)
    idata.sample_stats = replace_sample_stats(
        idata, log_weight=log_w, forgotten_log_likelihood=-log_ratio
    )
    return dataclasses.replace(
        posterior,
        idata=idata,
        history=_record(posterior, rows, "reweight"),
        diagnostics=diagnostics,
    )


def relative_efficiency(posterior: Posterior, log_lik: np.ndarray) -> float:
    """Relative MCMC efficiency ``ESS / S`` of the likelihood ``p(D_e | θ)``, as ``az.loo`` does."""
    import arviz as az

    n_chain = posterior.idata.posterior.sizes["chain"]
    if n_chain * 4 > log_lik.size:
        return 1.0
    lik = np.exp(log_lik - log_lik.max()).reshape(n_chain, -1)
    ess = float(az.ess(lik, method="mean"))
    return ess / lik.size if np.isfinite(ess) else 1.0


def refit(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    random_seed: RandomSeed = None,
    progressbar: bool = False,
) -> Posterior:
    """Exact retrain: MCMC on the remaining rows with the stored model and sampler settings."""
    from bayes_unlearn.fitting import resample_like

    X, y = posterior.training_data()
    keep = ~np.isin(posterior.row_ids, rows)
    return resample_like(
        posterior,
        X[keep],
        y[keep],
        posterior.row_ids[keep],
        random_seed=random_seed,
        progressbar=progressbar,
        history=_record(posterior, rows, "refit"),
        reason="requested (exact retrain)",
        n_forget=int(rows.size),
    )
