"""Checks that an existing fit's draws belong to a model, for :func:`~bayes_unlearn.from_pymc`."""

from __future__ import annotations

import os

import numpy as np

from bayes_unlearn.compiled import check_model

__all__ = ["check_draws", "sampler_settings"]

_SAMPLE_DIMS = ("chain", "draw")


def check_draws(pm_model, idata, y: np.ndarray, *, observed: str):
    """``idata.posterior`` reduced to the model's variables, or ``ValueError`` naming the misfit.

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
    keep = [name for name in posterior.data_vars if name in set(free) | deterministics]
    return posterior[keep]


def _check_variable(pm_model, draws, name: str, shape: tuple[int, ...]) -> None:
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
