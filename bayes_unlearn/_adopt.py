"""Checks that an existing fit's draws belong to a model, for :func:`~bayes_unlearn.from_pymc`."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from bayes_unlearn import _backend
from bayes_unlearn.compiled import check_model
from bayes_unlearn.sampling import free_variables

__all__ = [
    "check_draws",
    "is_model_object",
    "model_object",
    "model_rows_data",
    "sampler_settings",
]

_SAMPLE_DIMS = ("chain", "draw")


def check_draws(pm_model, idata, y: np.ndarray, *, observed: str):
    """``idata.posterior`` reduced to the model's free variables, or ``ValueError`` naming the misfit.

    Every free variable must be there with the model's shape (and dims, where both name
    them); a variable the model does not have means the draws come from another model.
    Where ``idata`` holds the observed values, they must be ``y``.
    """
    obs_rv = check_model(pm_model, observed)
    posterior = idata.posterior
    shapes = pm_model.eval_rv_shapes()
    free = [rv.name for rv in pm_model.free_RVs]
    missing = [name for name in free if name not in posterior]
    if missing:
        raise ValueError(
            f"The 'idata' parameter of from_pymc lacks the model's free variables {missing}: "
            "the draws come from another model, or the builder was given other rows."
        )
    deterministics = {d.name for d in pm_model.deterministics}
    foreign = sorted(set(posterior.data_vars) - set(free) - deterministics)
    if foreign:
        raise ValueError(
            f"The 'idata' parameter of from_pymc has variables {foreign} that the model built "
            "on (X, y) does not: pass the builder of the model that was sampled."
        )
    for name in free:
        _check_variable(pm_model, posterior[name], name, tuple(shapes[name]))
    _check_observed(idata, obs_rv.name, y)
    return free_variables(pm_model, posterior)


def _check_variable(pm_model, draws, name: str, shape: tuple[int, ...] | None) -> None:
    if shape is None:
        raise ValueError(f"The draws' variable {name!r} is not a free variable of the model.")
    if draws.dims[:2] != _SAMPLE_DIMS:
        raise ValueError(
            f"idata.posterior[{name!r}] has dims {draws.dims}; expected ('chain', 'draw', ...)."
        )
    if draws.shape[2:] != shape:
        raise ValueError(
            f"idata.posterior[{name!r}] has draws of shape {draws.shape[2:]}, the model built "
            f"on (X, y) {shape}: the fit used other rows or another model."
        )
    dims = pm_model.named_vars_to_dims.get(name)
    if dims and tuple(draws.dims[2:]) != tuple(dims):
        raise ValueError(
            f"idata.posterior[{name!r}] has dims {draws.dims[2:]}, the model {tuple(dims)}."
        )
    values = np.asarray(draws.values)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"idata.posterior[{name!r}] holds NaN or infinite draws.")


def _check_observed(idata, name: str, y: np.ndarray) -> None:
    if "observed_data" not in idata.groups() or name not in idata.observed_data:
        return
    stored = np.asarray(idata.observed_data[name].values)
    if stored.shape != y.shape or not np.allclose(stored, y, rtol=0, atol=1e-12):
        raise ValueError(
            f"idata.observed_data[{name!r}] is not the 'y' given ({stored.shape} against "
            f"{y.shape}, or other values): pass the rows the model was fitted on, in order."
        )


def model_rows_data(pm_model, X, y, *, observed: str, mean_fn=None, source=None):
    """A ``pm.Model`` as :class:`PyMCModel` over :class:`ModelRows`, with its ``X`` and ``y``.

    The model holds its rows: ``X`` is theirs (positions) and must be left out; ``y``, where
    given, must be the model's observed values.
    """
    from bayes_unlearn.model_rows import MODEL_ROW, ModelRows
    from bayes_unlearn.pymc_model import PyMCModel

    rows = ModelRows(pm_model, observed if observed in pm_model.named_vars else None, source=source)
    if X is not None:
        raise ValueError(
            "The 'X' parameter of from_pymc must be left out when 'model' is a pm.Model: the "
            "model holds its rows (they are named by position). To give rows as a table, "
            "pass the function that builds the model from (X, y) instead."
        )
    if y is not None:
        y = np.asarray(y)
        if y.shape != rows.y.shape or not np.allclose(y, rows.y, rtol=0, atol=1e-12):
            raise ValueError(
                f"The 'y' parameter of from_pymc is not the model's observed "
                f"{rows.observed!r} ({y.shape} against {rows.y.shape}, or other values)."
            )
    X = pd.DataFrame({MODEL_ROW: rows.X[:, 0]})
    y = pd.Series(rows.y, name=rows.observed)
    return PyMCModel(rows, observed=rows.observed, mean_fn=mean_fn), X, y


def is_model_object(obj) -> bool:
    """A ``pm.Model`` or a Bambi model, which a file wrapped from one needs on load."""
    return _backend.is_bambi_model(obj) or _backend.is_pymc_model(obj)


def model_object(model, idata, meta: dict):
    """The :class:`PyMCModel` over ``model`` (a ``pm.Model`` or Bambi model) for a file.

    The file's rows are positions in the model: each must be there, with the model's
    observed value, and the draws must be its free variables with their shapes.
    """
    from bayes_unlearn.model_rows import MODEL_ROW

    if tuple(meta["feature_names"]) != (MODEL_ROW,):
        raise TypeError(
            "The 'model' parameter may be a pm.Model or a Bambi model only for a file wrapped "
            "from one (bu.from_pymc(model, idata) or bu.from_bambi); this file was fitted "
            "with a builder: pass bu.PyMCModel(builder)."
        )
    source = model if _backend.is_bambi_model(model) else None
    pm_model = _backend.bambi_pymc_model(model) if source is not None else model
    wrapped, _, _ = model_rows_data(
        pm_model, None, None, observed=meta["model"].get("observed"), source=source
    )
    rows, y = idata.constant_data["X"].values[:, 0], idata.observed_data["y"].values
    positions = wrapped.builder.positions(rows[:, None])
    if not np.allclose(wrapped.builder.y[positions], y, rtol=0, atol=1e-12):
        raise ValueError(
            "The 'model' parameter is not the model this file was wrapped from: its observed "
            "values at the file's rows differ."
        )
    shapes = pm_model.eval_rv_shapes()  # once: it evaluates the model's shape graph
    free = {rv.name for rv in pm_model.free_RVs}
    for name in idata.posterior.data_vars:
        shape = tuple(shapes[name]) if name in free else None
        _check_variable(pm_model, idata.posterior[name], name, shape)
    return wrapped


def sampler_settings(idata, target_accept: float, random_seed: int | None) -> dict:
    """What a refit needs to run the sampler again, read from ``idata`` where PyMC records it."""
    posterior = idata.posterior
    attrs = dict(getattr(idata, "sample_stats", posterior).attrs) | dict(posterior.attrs)
    chains = int(posterior.sizes["chain"])
    library = str(attrs.get("inference_library", "pymc")).lower()
    nuts = library if library in ("nutpie", "numpyro", "blackjax") else "pymc"
    return {
        "draws": int(posterior.sizes["draw"]),
        "tune": int(attrs.get("tuning_steps", 1000)),
        "chains": chains,
        "cores": min(chains, os.cpu_count() or 1),
        "target_accept": float(target_accept),
        "nuts_sampler": nuts,  # checked when a refit runs it
        "random_seed": random_seed,
    }
