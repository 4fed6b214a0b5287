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
import difflib
import inspect
import warnings
from typing import Literal

import numpy as np

from bayes_unlearn import _weighted
from bayes_unlearn._forget import (
    forgotten,
    record_request,
    remaining_scaling,
    scaling_log_prior_shift,
)
from bayes_unlearn._random import RandomSeed
from bayes_unlearn._validation import check_forget
from bayes_unlearn.diagnostics import (
    ConvergenceWarning,
    UnlearningDiagnostics,
    UnreliableUnlearningWarning,
    importance_problems,
    pareto_k_threshold,
)
from bayes_unlearn.integrity import Key
from bayes_unlearn.layout import (
    flatten_draws,
    posterior_dataset,
    replace_sample_stats,
    with_rows_removed,
)
from bayes_unlearn.posterior import Posterior

__all__ = ["METHODS", "unlearn"]

Method = Literal["reweight", "smc", "auto", "refit"]
METHODS: tuple[str, ...] = ("reweight", "smc", "auto", "refit")
#: Fewer effective draws than this fraction of S make reweighting unreliable: below it the
#: weighted estimates drift by more than 0.2 posterior sd on a conjugate model even where
#: Pareto k̂ passes (tests/test_honesty.py), and a refresh then starts from few distinct draws.
MIN_RELATIVE_ESS = 0.75


def unlearn(
    posterior,
    forget,
    *,
    method: Method | str = "auto",
    random_seed: RandomSeed = None,
    key: Key | None = None,
    progressbar: bool = False,
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
    method : {"auto", "reweight", "smc", "refit"}, default "auto"
        ``"auto"``: reweighting when its diagnostics pass, else SMC, else a refit when SMC's
        own diagnostics fail. ``"reweight"``: importance-reweight the stored draws by
        ``1 / p(D_e | θ)`` (Nguyen et al. 2022), Pareto-smoothed (milliseconds).
        ``"smc"``: move the stored draws to the new posterior by tempered SMC
        (:func:`bayes_unlearn.smc.smc`). ``"refit"``: exact MCMC on the remaining rows with
        the stored model and sampler settings (the reference).
    random_seed : int, Generator or None
        Seed of SMC or a refit; for a refit None reuses the seed stored at fit time.
    key : bytes or str, optional
        A secret (≥ 16 bytes) kept outside the file. With it the request's history names
        the rows by keyed fingerprint too, so :meth:`Posterior.find_rows` can later say that
        a row was already forgotten; without it only their ids are kept.
    progressbar : bool, default False
        Show PyMC's progress bar where a method samples with NUTS (refit, auto's fallback).
    **options
        Method options; an option the method does not take is an error. reweight:
        ``pareto_smoothing`` (bool, default True), ``reff`` (relative MCMC efficiency for
        PSIS; default estimated from the draws), ``min_ess`` (default 100),
        ``min_relative_ess`` (default 0.75). smc: see :func:`bayes_unlearn.smc.smc`.
        auto: the reweight options and ``smc_options`` (a dict for SMC).

    Returns
    -------
    Posterior
        The unlearned posterior; ``.diagnostics`` says which method ran, why, and whether it
        can be trusted. Requests compose: forgetting A then B equals forgetting A ∪ B
        exactly in memory; a saved file holds a refreshed sample (:meth:`Posterior.save`),
        so across a save they agree within Monte Carlo error.

    Warns
    -----
    UnreliableUnlearningWarning
        When the method's own diagnostics fail (for reweighting: Pareto k̂ above
        ``min(1 - 1/log10 S, 0.7)``, or fewer effective draws than ``min_relative_ess · S``).
    ConvergenceWarning
        When the posterior being unlearned from did not converge (its fit's R-hat, ESS or
        divergence checks failed): the result inherits that.

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
    from bayes_unlearn.smc import smc

    run = {"reweight": reweight, "smc": smc, "auto": auto, "refit": refit}[method]
    common = {"random_seed": random_seed, "progressbar": progressbar}
    _check_options(run, method, options)
    accepted = inspect.signature(run).parameters
    result = run(posterior, rows, **{k: v for k, v in common.items() if k in accepted}, **options)
    if key is not None:
        last = result.history[-1]
        history = record_request(
            posterior, rows, last["method"], requested=last["requested"], key=key
        )
        result = dataclasses.replace(result, history=history)
    result = _inherit_fit_problem(posterior, result)
    if not result.diagnostics.reliable:
        warnings.warn(result.diagnostics.verdict, UnreliableUnlearningWarning, stacklevel=2)
    return result


def _check_options(run, method: str, options: dict) -> None:
    """Refuse options the method does not take, with a suggestion, before any work."""
    internal = {"posterior", "rows", "random_seed", "progressbar", "requested"}
    known = [name for name in inspect.signature(run).parameters if name not in internal]
    for name in options:
        if name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            raise TypeError(
                f"unlearn(method={method!r}) takes no option {name!r}; its options are "
                f"{known or 'none'}." + (f" Did you mean {hint[0]!r}?" if hint else "")
            )


_FIT_PROBLEM = "the MCMC fit these draws descend from did not converge"


def _inherit_fit_problem(posterior: Posterior, result: Posterior) -> Posterior:
    """Carry a failed fit's verdict into results that reuse its draws, and warn."""
    d = posterior.diagnostics
    if d is None or result.draws_source == "refit":
        return result
    failed_fit = (d.method in ("fit", "refit") and not d.reliable) or d.details.get(
        "inherited_problem"
    )
    if not failed_fit:
        return result
    warnings.warn(
        f"Unlearning from a posterior whose own checks failed: {_FIT_PROBLEM}. The result "
        "inherits that; refit with more tuning or draws.",
        ConvergenceWarning,
        stacklevel=3,
    )
    r = result.diagnostics
    return dataclasses.replace(
        result,
        diagnostics=dataclasses.replace(
            r,
            reliable=False,
            verdict=f"Unreliable: {_FIT_PROBLEM}. {r.verdict}",
            details={**r.details, "inherited_problem": _FIT_PROBLEM},
        ),
    )


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
    from bayes_unlearn.models import PyMCModel
    from bayes_unlearn.smc import smc

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


def forget_log_ratios(posterior: Posterior, rows: np.ndarray) -> np.ndarray:
    """Raw log importance ratios ``log p(θ | D_r) − log p(θ | D)`` (unnormalized) per draw.

    ``-log p(D_e | θ_s)`` for every row forgotten since the draws were sampled (earlier
    requests plus ``rows``, which is why sequential requests compose exactly), plus the
    prior correction of moving to the remaining rows' feature scaling.
    """
    previous = _previous_log_ratio(posterior)
    new_scaling = remaining_scaling(posterior, rows)
    _, shift = scaling_log_prior_shift(posterior, new_scaling)
    return previous - posterior.log_likelihood(rows).sum(axis=1) + shift


def _previous_log_ratio(posterior: Posterior) -> np.ndarray:
    stats = posterior.idata.sample_stats
    if "log_importance_ratio" in stats:
        return stats["log_importance_ratio"].values.ravel()
    return np.zeros(posterior.n_draws)


def reweight(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    pareto_smoothing: bool = True,
    reff: float | None = None,
    min_ess: float = 100.0,
    min_relative_ess: float = MIN_RELATIVE_ESS,
    requested: str = "reweight",
) -> Posterior:
    """Importance-reweight stored draws from ``p(θ | D)`` to ``p(θ | D \\ D_e)``.

    ``w(θ) ∝ p(θ | D_r) / p(θ | D) ∝ 1 / p(D_e | θ)``; the ratios are Pareto-smoothed with
    :func:`arviz.psislw`. The result is reliable when k̂ is within
    ``min(1 − 1/log10 S, 0.7)`` and the weights keep ``max(min_ess, min_relative_ess · S)``
    effective draws. The draws are re-expressed in the remaining rows' feature scaling
    (with the prior ratio in the weights). Use through :func:`unlearn`, which validates
    ``rows``.
    """
    import arviz as az

    new_scaling = remaining_scaling(posterior, rows)
    moved, shift = scaling_log_prior_shift(posterior, new_scaling)
    log_ratio = _previous_log_ratio(posterior) - posterior.log_likelihood(rows).sum(axis=1) + shift
    if reff is None:
        reff = relative_efficiency(posterior, -log_ratio)
    smoothed, k_hat = az.psislw(log_ratio, reff=reff)
    log_w = smoothed if pareto_smoothing else _weighted.normalize_log_weights(log_ratio)
    n = posterior.n_draws
    diagnostics = _reweight_diagnostics(
        _draws_origin(posterior),
        rows.size,
        int(posterior.row_ids.size - rows.size),
        n,
        float(k_hat),
        _weighted.importance_ess(log_w),
        max(float(min_ess), float(min_relative_ess) * n),
        pareto_smoothing,
    )
    idata = posterior.idata.copy()  # shallow: shares the draws, never mutates the caller's
    for group, ds in with_rows_removed(posterior.idata, rows).items():
        setattr(idata, group, ds)
    if moved is not posterior.params:
        idata.posterior = posterior_dataset(posterior.idata.posterior, moved)
    log_joint = _log_joint(idata, posterior.model, moved)
    idata.sample_stats = replace_sample_stats(
        idata, log_weight=log_w, log_importance_ratio=log_ratio, log_joint=log_joint
    )
    return forgotten(
        posterior,
        rows,
        idata=idata,
        scaling=new_scaling,
        method="reweight",
        requested=requested,
        diagnostics=diagnostics,
    )


def _log_joint(idata, model, params) -> np.ndarray:
    """h(θ) = log p(D_r | θ) + log p(θ) from the stored pointwise log-likelihood."""
    ll = flatten_draws(idata.log_likelihood["y"].values).sum(axis=1)
    X = idata.constant_data["X"].values
    y = idata.observed_data["y"].values
    return ll + model.log_prior(params, X, y)


def _draws_origin(posterior: Posterior) -> str:
    """What produced the draws a reweighting weights (through earlier reweightings)."""
    if posterior.draws_source != "reweight":
        return posterior.draws_source
    return posterior.diagnostics.details.get("reweighted_draws", "fit")


def _reweight_diagnostics(
    origin, n_forget, n_remaining, n_draws, k_hat, ess, min_ess, pareto_smoothing
) -> UnlearningDiagnostics:
    problems = importance_problems(k_hat, ess, n_draws, min_ess)
    verdict = (
        "Reweighting is reliable: Pareto k̂ and ESS are within bounds."
        if not problems
        else "Reweighting is unreliable (" + "; ".join(problems) + "): the forget set moves the "
        "posterior too far for the stored draws. Use method='auto' or method='refit'."
    )
    return UnlearningDiagnostics(
        method="reweight",
        reason="requested" + (" (PSIS)" if pareto_smoothing else " (raw IS)"),
        n_forget=int(n_forget),
        n_remaining=int(n_remaining),
        n_draws=n_draws,
        reliable=not problems,
        verdict=verdict,
        pareto_k=k_hat,
        pareto_k_threshold=pareto_k_threshold(n_draws),
        ess_importance=ess,
        min_ess=min_ess,
        details={"reweighted_draws": origin},
    )


def relative_efficiency(posterior: Posterior, log_lik: np.ndarray) -> float:
    """Relative MCMC efficiency ``ESS / S`` of a likelihood over the draws, for PSIS's ``reff``.

    The mean-ESS of ``exp(log_lik)`` over the chains, which is what ``az.loo`` computes
    per row (here for the whole forget set's likelihood, scaled by its maximum for range);
    1 when there are too few draws per chain to estimate it.
    """
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
    requested: str = "refit",
) -> Posterior:
    """Exact retrain: MCMC on the remaining rows with the stored model and sampler settings.

    Features are scaled with the remaining rows' own statistics, as a fresh fit would.
    """
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
        standardizer=remaining_scaling(posterior, rows),
        history=record_request(posterior, rows, "refit", requested=requested),
        reason="requested (exact retrain)",
        n_forget=int(rows.size),
    )
