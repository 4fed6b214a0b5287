"""Fitting a model by MCMC (PyMC NUTS) into a :class:`~bayes_unlearn.posterior.Posterior`."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import numpy as np
import pandas as pd

from bayes_unlearn._random import RandomSeed, seed_to_int
from bayes_unlearn._validation import check_X_y
from bayes_unlearn.diagnostics import ConvergenceWarning, UnlearningDiagnostics
from bayes_unlearn.layout import assemble_idata
from bayes_unlearn.models import BayesianModel, Standardizer
from bayes_unlearn.posterior import Posterior

__all__ = ["assemble_idata", "fit"]

_log = logging.getLogger(__name__)


def fit(
    model: BayesianModel,
    X,
    y,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    target_accept: float = 0.9,
    random_seed: RandomSeed = None,
    row_ids=None,
    progressbar: bool = False,
) -> Posterior:
    """Fit ``model`` to ``(X, y)`` with PyMC's NUTS and store what unlearning needs.

    Parameters
    ----------
    model : BayesianModel
        :class:`LogisticRegression`, :class:`PolynomialRegression` or :class:`PyMCModel`.
    X : array-like or DataFrame, shape (n, p)
        Features; DataFrame column names become the feature names.
    y : array-like or Series, shape (n,)
        Target (0/1 for logistic regression).
    draws, tune, chains : int, default 1000, 1000, 4
        Draws kept per chain, tuning steps per chain, number of chains.
    cores : int, optional
        Chains run in parallel; defaults to ``min(chains, os.cpu_count())``.
    target_accept : float, default 0.9
        NUTS target acceptance rate.
    random_seed : int, Generator or None
        Seed of the sampler. It is stored (as an integer) so a refit can reuse it.
    row_ids : array-like of int, optional
        Ids that forget requests use to name rows; default ``0..n-1``.
    progressbar : bool, default False
        Show PyMC's progress bar.

    Returns
    -------
    Posterior

    Warns
    -----
    ConvergenceWarning
        When R-hat, bulk ESS or divergent transitions say the chains did not converge;
        the same verdict is in ``diagnostics`` and every later unlearning step repeats it.

    Examples
    --------
    >>> import bayes_unlearn as bu
    >>> X, y = bu.datasets.make_linear_regression(n=50, random_seed=0)
    >>> post = bu.fit(bu.PolynomialRegression(sigma=1.0), X, y, draws=200, tune=200,
    ...               chains=2, random_seed=0)  # doctest: +SKIP
    """
    if not isinstance(model, BayesianModel):
        raise TypeError(
            "The 'model' parameter of fit must be a bayes_unlearn model such as "
            f"bu.LogisticRegression() or bu.PyMCModel(builder). Got {type(model).__name__}."
        )
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(
                f"The {name!r} parameter of fit must be an integer >= {low}. Got {value!r}."
            )
    feature_names = (
        tuple(str(c) for c in X.columns)
        if isinstance(X, pd.DataFrame)
        else tuple(f"x{j}" for j in range(np.shape(X)[1] if np.ndim(X) == 2 else 1))
    )
    target_name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "y"
    X_arr, y_arr = check_X_y(X, y, binary=model.binary_target)
    ids = _check_row_ids(row_ids, X_arr.shape[0])
    sampler = {
        "draws": int(draws),
        "tune": int(tune),
        "chains": int(chains),
        "cores": int(cores) if cores else min(int(chains), os.cpu_count() or 1),
        "target_accept": float(target_accept),
        "random_seed": seed_to_int(random_seed),
    }
    post = sample_posterior(
        model,
        X_arr,
        y_arr,
        row_ids=ids,
        standardizer=Standardizer.fit(X_arr, model.standardize),
        feature_names=feature_names,
        target_name=target_name,
        sampler=sampler,
        random_seed=sampler["random_seed"],
        progressbar=progressbar,
    )
    if not post.diagnostics.reliable:
        warnings.warn(post.diagnostics.verdict, ConvergenceWarning, stacklevel=2)
    return post


def sample_posterior(
    model: BayesianModel,
    X: np.ndarray,
    y: np.ndarray,
    *,
    row_ids: np.ndarray,
    standardizer: Standardizer,
    feature_names: tuple[str, ...],
    target_name: str,
    sampler: dict[str, Any],
    random_seed: int,
    progressbar: bool = False,
    history: tuple = (),
    reason: str = "initial fit",
    n_forget: int = 0,
) -> Posterior:
    """Run NUTS on raw ``(X, y)`` and assemble a :class:`Posterior` (shared by fit and refit)."""
    import pymc as pm

    X_std = standardizer.transform(X)
    pm_model = model.build(X_std, y, term_names=model.term_names(feature_names))
    _log.info(
        "Sampling %s model on %d rows (%d chains x %d draws)",
        model.kind,
        len(y),
        sampler["chains"],
        sampler["draws"],
    )
    with pm_model:
        idata = pm.sample(
            draws=sampler["draws"],
            tune=sampler["tune"],
            chains=sampler["chains"],
            cores=sampler["cores"],
            target_accept=sampler["target_accept"],
            random_seed=random_seed,
            progressbar=progressbar,
            compute_convergence_checks=False,
        )
    stats = idata.sample_stats if "sample_stats" in idata.groups() else None
    idata = assemble_idata(
        model,
        idata.posterior,
        stats,
        X,
        y,
        row_ids=row_ids,
        standardizer=standardizer,
        feature_names=feature_names,
    )
    diagnostics = mcmc_diagnostics(
        idata, method="refit" if history else "fit", reason=reason, n_forget=n_forget
    )
    return Posterior(
        idata=idata,
        model=model,
        standardizer=standardizer,
        feature_names=tuple(feature_names),
        target_name=target_name,
        sampler=dict(sampler),
        history=tuple(history),
        diagnostics=diagnostics,
        draws_source="refit" if history else "fit",
    )


def resample_like(
    posterior: Posterior,
    X: np.ndarray,
    y: np.ndarray,
    row_ids: np.ndarray,
    *,
    random_seed: RandomSeed = None,
    progressbar: bool = False,
    standardizer: Standardizer | None = None,
    **kwargs,
) -> Posterior:
    """NUTS on new raw data with a posterior's model, sampler settings and feature scaling.

    ``random_seed=None`` reuses the seed stored at fit time (the same sampler settings);
    ``standardizer=None`` keeps the posterior's feature scaling.
    """
    seed = posterior.sampler["random_seed"] if random_seed is None else seed_to_int(random_seed)
    return sample_posterior(
        posterior.model,
        X,
        y,
        row_ids=row_ids,
        standardizer=posterior.standardizer if standardizer is None else standardizer,
        feature_names=posterior.feature_names,
        target_name=posterior.target_name,
        sampler=posterior.sampler,
        random_seed=seed,
        progressbar=progressbar,
        **kwargs,
    )


def mcmc_diagnostics(
    idata, *, method: str, reason: str, n_forget: int, min_ess: float = 400.0
) -> UnlearningDiagnostics:
    """R-hat, bulk ESS and divergences of MCMC draws, with a verdict."""
    import arviz as az

    post = idata.posterior
    n_draws = post.sizes["chain"] * post.sizes["draw"]
    ess = float(az.ess(post).to_array().min()) if n_draws >= 4 else float("nan")
    r_hat = float(az.rhat(post).to_array().max()) if post.sizes["chain"] > 1 else float("nan")
    divergences = (
        int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    )
    problems = []
    if r_hat > 1.01:
        problems.append(f"R-hat {r_hat:.3f} > 1.01")
    if not ess >= min(min_ess, n_draws / 2):
        problems.append(f"bulk ESS {ess:.0f} is low")
    if divergences:
        problems.append(f"{divergences} divergent transitions")
    verdict = (
        "MCMC converged: trustworthy."
        if not problems
        else "MCMC did not converge cleanly ("
        + "; ".join(problems)
        + "): run more tuning/draws or raise target_accept."
    )
    return UnlearningDiagnostics(
        method=method,
        reason=reason,
        n_forget=n_forget,
        n_remaining=idata.observed_data.sizes["obs_id"],
        n_draws=n_draws,
        reliable=not problems,
        verdict=verdict,
        ess_bulk=ess,
        min_ess=min(min_ess, n_draws / 2),
        r_hat=r_hat,
        divergences=divergences,
    )


def _check_row_ids(row_ids, n: int) -> np.ndarray:
    if row_ids is None:
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(row_ids)
    if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"The 'row_ids' parameter must be {n} integer ids, one per row. Got shape {ids.shape}, dtype {ids.dtype}."
        )
    if np.unique(ids).size != n:
        raise ValueError("The 'row_ids' parameter must not repeat an id.")
    return ids.astype(np.int64)
