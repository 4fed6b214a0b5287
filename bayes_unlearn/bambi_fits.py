"""Fitted Bambi models: unlearning on Bambi's own graph, and draws back in Bambi's terms.

Bambi builds a PyMC model from a formula with its design matrices and group indices as
constants, group levels taken from the data, and (by default) predictors centered by their
means, with the reported ``Intercept`` uncentered after sampling. :func:`from_bambi` wraps
the built model's graph with :class:`~bayes_unlearn.model_rows.ModelRows` (every subset of
rows by graph replacement, the levels, centering and prior scales as fitted) and the draws
with the intercept re-centered, as the graph has it; :func:`to_bambi` undoes that and adds
Bambi's group-level deterministics, so ``model.predict(bu.to_bambi(post))`` is Bambi's own
prediction from the unlearned draws.

A saved file holds the draws and the remaining rows' positions and observed values, never
the model: Bambi's centering means and default prior scales are computed from every row,
forgotten ones included (the mean of a predictor over n rows, less the remaining rows' sum,
is the forgotten rows' sum), so ``bu.load(path, model=bambi_model)`` takes them from the
fitted model in the user's session. The ``bambi`` extra installs Bambi.
"""

from __future__ import annotations

import arviz as az
import numpy as np

from bayes_unlearn import _backend
from bayes_unlearn._random import RandomSeed
from bayes_unlearn.export import to_inference_data

__all__ = ["from_bambi", "to_bambi"]


def from_bambi(
    model,
    idata,
    *,
    row_ids=None,
    target_accept: float = 0.9,
    random_seed: RandomSeed = None,
):
    """Wrap a fitted Bambi model and its draws, without refitting.

    Parameters
    ----------
    model : bambi.Model
        The model ``idata`` was fitted with (``idata = model.fit()``).
    idata : arviz.InferenceData
        Its draws, as ``model.fit()`` returns them (intercept uncentered).
    row_ids : array-like of int, optional
        Ids that forget requests use to name the rows of ``model.data``; default its
        positions ``0..n-1``.
    target_accept : float, default 0.9
        Stored for refits.
    random_seed : int, Generator or None
        Stored as the seed of refits.

    Returns
    -------
    Posterior
        Over the built PyMC model's free variables; its one feature ``model_row`` is each
        row's position in ``model.data``. Group levels are the fitted model's: a group all
        of whose rows are forgotten keeps its parameters, at their prior.

    Raises
    ------
    TypeError
        If ``model`` is not a Bambi model.
    ValueError
        If the draws do not belong to the model (as :func:`~bayes_unlearn.from_pymc`).

    Examples
    --------
    >>> model = bmb.Model("log_radon ~ floor + (floor | county)", df)  # doctest: +SKIP
    >>> post = bu.from_bambi(model, model.fit())  # doctest: +SKIP
    >>> gone = bu.unlearn(post, forget=np.flatnonzero(df["county"] == "HENNEPIN"))  # doctest: +SKIP
    >>> model.predict(bu.to_bambi(gone), kind="response_params", inplace=False)  # doctest: +SKIP
    """
    from bayes_unlearn._adopt import model_rows_data
    from bayes_unlearn.fitting import adopt_fit

    wrapped, X, y = model_rows_data(
        _backend.bambi_pymc_model(model), None, None, observed=_response(model), source=model
    )
    return adopt_fit(
        wrapped,
        _centered(model, idata),
        X,
        y,
        row_ids=row_ids,
        target_accept=target_accept,
        random_seed=random_seed,
        source="from_bambi",
    )


def to_bambi(posterior, *, random_seed: RandomSeed = None):
    """The posterior's draws as Bambi reports them, for ``model.predict`` and Bambi's plots.

    Equally weighted draws (:func:`bayes_unlearn.to_inference_data`), the intercept uncentered,
    and Bambi's group-level deterministics (``1|g``, ``x|g``) computed from them. Row-level
    deterministics (``mu``) are left to ``model.predict``.
    """
    import pymc as pm

    rows = _model_rows(posterior)
    idata = to_inference_data(posterior, random_seed=random_seed)
    group_level = [
        d.name
        for d in rows.model.deterministics
        if rows.row_dim not in (rows.model.named_vars_to_dims.get(d.name) or ())
    ]
    draws = idata.posterior
    if group_level:
        extra = pm.compute_deterministics(
            draws, var_names=group_level, model=rows.model, progressbar=False
        )
        draws = draws.merge(extra)
    return az.InferenceData(posterior=_shift_intercepts(rows.source, draws, -1.0))


def _response(model) -> str:
    return model.response_component.term.name


def _centered(model, idata):
    """``idata`` with each intercept as the graph has it (on centered predictors)."""
    if not hasattr(idata, "groups") or "posterior" not in idata.groups():
        raise TypeError(
            "The 'idata' parameter of from_bambi must be the InferenceData that model.fit() "
            f"returned. Got {type(idata).__name__}."
        )
    draws = _with_offsets(model, idata.posterior)
    return az.InferenceData(
        **{group: idata[group] for group in idata.groups() if group != "posterior"},
        posterior=_shift_intercepts(model, draws, 1.0),
    )


def _with_offsets(model, draws):
    """Non-centered group effects' offsets, which ``model.fit()`` leaves out by default.

    Bambi draws ``u = σ · offset`` and reports ``u`` (``1|g``) and ``σ`` (``1|g_sigma``);
    the graph's free variable is the offset, ``u / σ``.
    """
    free = {rv.name for rv in model.backend.model.free_RVs}
    missing = {}
    for name in model.backend.model.named_vars:
        offset, sigma = f"{name}_offset", f"{name}_sigma"
        if offset in free and offset not in draws and name in draws and sigma in draws:
            missing[offset] = draws[name] / draws[sigma]
    return draws.assign(missing) if missing else draws


def _shift_intercepts(model, draws, sign: float):
    """``Intercept ± x̄ · β`` for every component whose predictors Bambi centered.

    As Bambi's own ``PyMCModel.run`` uncenters it after sampling, from the same members of
    its backend (the extra pins Bambi below 0.18).
    """
    draws = draws.copy()
    for name, component in model.backend.distributional_components.items():
        spec = model.components[name]
        if not (spec.intercept_term and spec.common_terms and model.center_predictors):
            continue
        means = np.asarray(component.design_matrix_without_intercept).mean(axis=0)
        coefs = [_aliased(term) for term in spec.common_terms.values()]
        stacked = np.concatenate(
            [np.asarray(draws[c].values).reshape(*draws[c].shape[:2], -1) for c in coefs], axis=2
        )
        intercept = _aliased(spec.intercept_term)
        shift = np.einsum("cdk,k->cd", stacked, means)
        if shift.shape != draws[intercept].shape:
            raise ValueError(
                f"Bambi's intercept {intercept!r} has shape {draws[intercept].shape}; "
                "multivariate responses are not supported."
            )
        draws[intercept] = draws[intercept] + sign * shift
    return draws


def _aliased(term) -> str:
    return term.alias or term.name


def _model_rows(posterior):
    from bayes_unlearn.model_rows import ModelRows

    rows = getattr(posterior.model, "builder", None)
    if not isinstance(rows, ModelRows) or not _backend.is_bambi_model(rows.source):
        raise TypeError(
            "to_bambi needs a posterior from bu.from_bambi (or loaded with "
            "bu.load(path, model=bambi_model))."
        )
    return rows
