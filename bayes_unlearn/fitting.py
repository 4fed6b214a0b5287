"""A :class:`~bayes_unlearn.posterior.Posterior` from a fit by MCMC (PyMC NUTS), new or existing."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd

from bayes_unlearn import _backend, registry
from bayes_unlearn._random import RandomSeed, seed_to_int
from bayes_unlearn._validation import check_X_y
from bayes_unlearn.diagnostics import MCMCConvergenceWarning
from bayes_unlearn.layout import assemble_idata
from bayes_unlearn.models import BayesianModel
from bayes_unlearn.options import cores_limit
from bayes_unlearn.posterior import Posterior
from bayes_unlearn.pymc_model import PyMCModel
from bayes_unlearn.sampling import check_nuts_sampler, mcmc_diagnostics, run_nuts
from bayes_unlearn.scaling import Standardizer

__all__ = ["adopt_fit", "fit", "from_pymc", "precompile"]


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
    nuts_sampler: str = "pymc",
    random_seed: RandomSeed = None,
    row_ids=None,
    progressbar: bool | None = None,
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
        Chains run in parallel; defaults to ``min(chains, os.cpu_count())``, at most the
        ``cores`` option (:func:`bayes_unlearn.set_options`).
    target_accept : float, default 0.9
        NUTS target acceptance rate.
    nuts_sampler : {"pymc", "nutpie", "numpyro", "blackjax"}, default "pymc"
        Which NUTS: PyMC's own, or nutpie's, NumPyro's or BlackJAX's (faster on large
        data; ``pip install "bayes-unlearn[samplers]"``). Stored, and used again by every
        refit. PyMC 5.28's BlackJAX path does not run with BlackJAX 1.7, so ``"blackjax"``
        runs BlackJAX's window adaptation and NUTS on PyMC's JAX-compiled model directly
        (:mod:`bayes_unlearn._blackjax`; chains one after another, no progress bar).
    random_seed : int, Generator or None
        Seed of the sampler. It is stored (as an integer) so a refit can reuse it.
    row_ids : array-like of int, optional
        Ids that forget requests use to name rows; default ``0..n-1``.
    progressbar : bool, optional
        Progress bars (PyMC's while sampling, ours for long sweeps); default the
        ``progressbar`` option (:func:`bayes_unlearn.set_options`), shown only in a terminal
        or Jupyter.

    Returns
    -------
    Posterior

    Warns
    -----
    MCMCConvergenceWarning
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
    feature_names, target_name = _names(X, y)
    X_arr, y_arr = check_X_y(X, y, binary=model.binary_target)
    ids = _check_row_ids(row_ids, X_arr.shape[0])
    sampler = {
        "draws": int(draws),
        "tune": int(tune),
        "chains": int(chains),
        "cores": int(cores) if cores else cores_limit(min(int(chains), os.cpu_count() or 1)),
        "target_accept": float(target_accept),
        "nuts_sampler": check_nuts_sampler(nuts_sampler),
        "random_seed": seed_to_int(random_seed),
    }
    standardizer = Standardizer.fit(X_arr, model.standardize)
    idata, diagnostics = run_nuts(
        model,
        X_arr,
        y_arr,
        row_ids=ids,
        standardizer=standardizer,
        feature_names=feature_names,
        sampler=sampler,
        random_seed=sampler["random_seed"],
        progressbar=progressbar,
    )
    return _fitted(idata, model, standardizer, feature_names, target_name, sampler, diagnostics)


def _names(X, y) -> tuple[tuple[str, ...], str]:
    """Feature names (a DataFrame's columns, else x0, x1, ...) and the target's name."""
    feature_names = (
        tuple(str(c) for c in X.columns)
        if isinstance(X, pd.DataFrame)
        else tuple(f"x{j}" for j in range(np.shape(X)[1] if np.ndim(X) == 2 else 1))
    )
    target_name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "y"
    return feature_names, target_name


def _fitted(idata, model, standardizer, feature_names, target_name, sampler, diagnostics):
    post = Posterior(
        idata=idata,
        model=model,
        standardizer=standardizer,
        feature_names=feature_names,
        target_name=target_name,
        sampler=sampler,
        diagnostics=diagnostics,
        draws_source=registry.FIT,
    )
    if not post.diagnostics.reliable:
        # stacklevel 3: the caller of fit or from_pymc.
        warnings.warn(post.diagnostics.verdict, MCMCConvergenceWarning, stacklevel=3)
    return post


def from_pymc(
    model,
    idata,
    X=None,
    y=None,
    *,
    observed: str = "y",
    mean_fn=None,
    binary: bool = False,
    row_ids=None,
    target_accept: float = 0.9,
    random_seed: RandomSeed = None,
) -> Posterior:
    """Wrap an existing PyMC fit, without refitting: bring the ``idata`` you already have.

    The draws are checked against the model built on ``(X, y)`` (every free variable
    present, with its shape and dims; nothing the model does not have), the observed values
    against ``y`` where ``idata`` holds them, and the fit's convergence (R-hat, bulk ESS,
    divergences) is read into ``diagnostics``. Then h(θ) is computed for every stored draw,
    as :func:`fit` does, and every method of :func:`~bayes_unlearn.unlearn` applies.

    Parameters
    ----------
    model : pm.Model, PyMCModel or callable
        The model ``idata`` was sampled from: the ``pm.Model`` itself (its rows, in
        ``pm.Data`` or baked in as arrays, are swapped by graph replacement for every subset:
        :class:`~bayes_unlearn.model_rows.ModelRows`), or the builder
        ``builder(X, y) -> pm.Model`` that built it from ``X`` and ``y`` (or a
        :class:`PyMCModel` wrapping one). A refit builds it again on the remaining rows.
    idata : arviz.InferenceData
        From ``pm.sample()`` (or nutpie, NumPyro, BlackJAX through PyMC): its ``posterior``
        group, and ``sample_stats`` for the divergence count where present.
    X : array-like or DataFrame, shape (n, p)
        The rows the builder was given. Leave out for a ``pm.Model``, which holds its rows
        (``X`` is then each row's position in it).
    y : array-like or Series, shape (n,)
        The observed values, in the same order; for a ``pm.Model``, checked against its own
        where given.
    observed, mean_fn, binary
        As in :class:`PyMCModel`, when ``model`` is a bare builder.
    row_ids : array-like of int, optional
        Ids that forget requests use to name rows; default ``0..n-1``.
    target_accept : float, default 0.9
        Stored for refits (PyMC does not record the one the fit used).
    random_seed : int, Generator or None
        Stored as the seed of refits.

    Returns
    -------
    Posterior

    Raises
    ------
    TypeError
        If ``model`` is neither a builder nor a :class:`PyMCModel`, or ``idata`` has no
        ``posterior`` group.
    ValueError
        If the draws do not belong to the model built on ``(X, y)``.

    Warns
    -----
    MCMCConvergenceWarning
        When the fit's R-hat, bulk ESS or divergences say it did not converge.

    Examples
    --------
    >>> with build(X, y):  # doctest: +SKIP
    ...     idata = pm.sample()
    >>> post = bu.from_pymc(build, idata, X, y)  # doctest: +SKIP
    >>> bu.unlearn(post, forget=[3, 17])  # doctest: +SKIP

    With the model object (``with pm.Model() as m: ...; idata = pm.sample()``):

    >>> post = bu.from_pymc(m, idata)  # doctest: +SKIP
    """
    from bayes_unlearn._adopt import model_rows_data

    if _backend.is_pymc_model(model):
        model, X, y = model_rows_data(model, X, y, observed=observed, mean_fn=mean_fn)
    model = _as_pymc_model(model, observed=observed, mean_fn=mean_fn, binary=binary)
    return adopt_fit(
        model, idata, X, y, row_ids=row_ids, target_accept=target_accept, random_seed=random_seed
    )


def adopt_fit(
    model: PyMCModel,
    idata,
    X,
    y,
    *,
    row_ids=None,
    target_accept: float = 0.9,
    random_seed: RandomSeed = None,
    source: str = "from_pymc",
) -> Posterior:
    """:func:`from_pymc` once ``model`` is a :class:`PyMCModel` (also :func:`from_bambi`'s)."""
    from bayes_unlearn._adopt import check_draws, sampler_settings

    if not hasattr(idata, "groups") or "posterior" not in idata.groups():
        raise TypeError(
            f"The 'idata' parameter of {source} must be an InferenceData with a posterior "
            f"group, as pm.sample() returns. Got {type(idata).__name__}."
        )
    feature_names, target_name = _names(X, y)
    X_arr, y_arr = check_X_y(X, y, binary=model.binary_target)
    ids = _check_row_ids(row_ids, X_arr.shape[0])
    standardizer = Standardizer.fit(X_arr, model.standardize)
    pm_model = model.build(standardizer.transform(X_arr), y_arr, term_names=())
    posterior = check_draws(pm_model, idata, y_arr, observed=model.observed)
    stats = idata.sample_stats if "sample_stats" in idata.groups() else None
    sampler = sampler_settings(idata, target_accept, seed_to_int(random_seed))
    full = assemble_idata(
        model,
        posterior,
        stats,
        X_arr,
        y_arr,
        row_ids=ids,
        standardizer=standardizer,
        feature_names=feature_names,
    )
    diagnostics = mcmc_diagnostics(
        full, method=registry.FIT, reason=f"existing fit ({source})", n_forget=0
    )
    return _fitted(full, model, standardizer, feature_names, target_name, sampler, diagnostics)


def _as_pymc_model(model, **spec) -> PyMCModel:
    if isinstance(model, PyMCModel):
        return model
    if isinstance(model, BayesianModel) or not callable(model):
        raise TypeError(
            "The 'model' parameter of from_pymc must be the pm.Model that was sampled, the "
            "function that builds it from (X, y), or bu.PyMCModel(builder). "
            f"Got {type(model).__name__}."
        )
    return PyMCModel(model, **spec)


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


def precompile(posterior: Posterior) -> None:
    """Compile now every function that forgetting and saving use for this posterior's model.

    A user's own PyMC model (a builder, a ``pm.Model`` or a Bambi model) is otherwise compiled
    on the first request that needs each function: seconds of PyTensor's graph rewriting
    (tens of seconds when its C cache is empty too). Compiled functions are kept in memory
    and on disk (in PyTensor's ``compiledir``, under ``bayes_unlearn/``; see
    :mod:`bayes_unlearn._function_cache`), so a later process (a CLI call, a worker per
    deletion request) loads them instead. Call this once after a fit, where the time is
    spent ahead of any request. Built-in models compute in NumPy and need nothing compiled.

    Parameters
    ----------
    posterior : Posterior
        Any posterior of the model (the functions depend on its structure, not its rows).
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(
            f"The 'posterior' parameter of precompile must be a Posterior. Got "
            f"{type(posterior).__name__}."
        )
    from bayes_unlearn.compiled import RowsNotInputsError

    if not isinstance(posterior.model, PyMCModel):
        return
    try:
        compiled = posterior.compiled()
    except RowsNotInputsError:  # a model whose rows cannot be inputs is refitted
        return
    compiled.precompile()
