"""The one owner of how a posterior is laid out, in memory and in a saved file.

A :class:`~bayes_unlearn.posterior.Posterior` holds an ArviZ ``InferenceData``. This module
builds it, removes rows from it, and decides what of it may be written to disk. The rule
for a saved file (see "What forgetting guarantees" in the README):

* its draws are equally weighted and were produced by a sampler whose target conditions
  on the remaining rows only: the original fit (no rows forgotten yet), an exact refit, or
  a *refresh* (resample, then move every draw with an MCMC kernel targeting ``p(θ | D_r)``);
* no per-draw quantity computed from a forgotten row is stored: no importance weights or
  ratios, no forgotten log-likelihood, no NUTS statistics of a fit that saw forgotten rows;
  ``log_joint`` = h(θ) = log p(D_r | θ) + log p(θ) is for the remaining rows ``D_r``;
* metadata keys, history entries and diagnostics fields come from fixed allowlists.

``check_saved_layout`` enforces the allowlist when writing and when reading a file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from bayes_unlearn import registry
from bayes_unlearn._rowwise import sum_over_rows

__all__ = [
    "DIAGNOSTICS_KEYS",
    "DRAWS_SOURCES",
    "HISTORY_KEYS",
    "IN_MEMORY_STATS",
    "METADATA_KEYS",
    "NUTS_STATS",
    "SAMPLE_DIMS",
    "SAVED_GROUPS",
    "assemble_idata",
    "check_no_attributes",
    "check_saved_layout",
    "check_saved_metadata",
    "flatten_draws",
    "positions_of",
    "posterior_dataset",
    "replace_sample_stats",
    "saved_diagnostics",
    "saved_history",
    "saved_idata",
    "with_rows_removed",
]

SAMPLE_DIMS = ("chain", "draw")

#: Where a posterior's draws come from, and which may be written as they are: the
#: registry's (a method's ``draws`` says what they are; "refresh" draws were resampled and
#: moved by MCMC towards ``p(θ | D_r)``).
DRAWS_SOURCES, SAVEABLE_SOURCES = registry.DRAWS_SOURCES, registry.SAVEABLE_SOURCES

#: Nothing of size rows x draws is kept: pointwise log-likelihoods are computed on demand
#: (:meth:`bayes_unlearn.Posterior.log_likelihood`), in chunks of rows.
SAVED_GROUPS = ("posterior", "sample_stats", "observed_data", "constant_data")

#: Statistics PyMC's NUTS records per draw; saved only for "fit" and "refit" draws, whose
#: sampler saw exactly the rows the file still holds.
NUTS_STATS = frozenset(
    {
        "acceptance_rate",
        "diverging",
        "divergences",
        "energy",
        "energy_error",
        "index_in_trajectory",
        "largest_eigval",
        "lp",
        "max_energy_error",
        "n_steps",
        "perf_counter_diff",
        "perf_counter_start",
        "process_time_diff",
        "reached_max_treedepth",
        "smallest_eigval",
        "step_size",
        "step_size_bar",
        "tree_depth",
    }
)
#: Per-draw statistics that only ever live in memory: they are functions of forgotten rows.
IN_MEMORY_STATS = ("log_weight", "log_importance_ratio")

_DATA_VARIABLES = {
    "observed_data": {"y"},
    "constant_data": {"X"},
}
_COORDS = {"chain", "draw", "obs_id", "feature", "term"}

METADATA_KEYS = frozenset(
    {
        "format",
        "version",
        "model",
        "standardizer",
        "feature_names",
        "target_name",
        "sampler",
        "draws_source",
        "history",
        "diagnostics",
        "checksum",
        "mac",
    }
)
#: One forget request as saved: which rows (ids, keyed fingerprints), by what, when.
HISTORY_KEYS = (
    "request",
    "requested",
    "method",
    "row_ids",
    "fingerprints",
    "n_remaining",
    "time",
)
#: Diagnostics of the saved draws themselves; per-step numbers computed from forgotten
#: rows (k̂, importance ESS, SMC acceptance, ...) stay in memory.
DIAGNOSTICS_KEYS = (
    "method",
    "reason",
    "n_forget",
    "n_remaining",
    "n_draws",
    "reliable",
    "verdict",
    "ess_bulk",
    "distinct_draws",
    "min_ess",
    "r_hat",
    "divergences",
    "inherited_problem",
    "details",
)


def flatten_draws(values: np.ndarray) -> np.ndarray:
    """Merge the (chain, draw) axes of an array into one draw axis (chain-major)."""
    return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])


def assemble_idata(
    model,
    posterior: xr.Dataset,
    sample_stats: xr.Dataset | None,
    X: np.ndarray,
    y: np.ndarray,
    *,
    row_ids: np.ndarray,
    standardizer,
    feature_names,
):
    """InferenceData for equally weighted draws of ``p(θ | X, y)``, with what unlearning needs.

    Adds ``log_joint`` = h(θ) = log p(y | X, θ) + log p(θ) (the likelihood summed over
    chunks of rows, so no (draws, rows) array is ever whole), uniform ``log_weight`` (in
    memory only) and the data groups on raw features indexed by ``row_ids`` (so forget
    requests select rows by id).
    """
    import arviz as az

    # Some samplers (nutpie) label coordinates with object arrays of str; NetCDF reads them
    # back as fixed-width str, so they are stored that way from the start.
    posterior = posterior.assign_coords(
        {
            name: coord.values.astype(str)
            for name, coord in posterior.coords.items()
            if coord.dtype == object
        }
    )
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    params = {k: flatten_draws(v.values) for k, v in posterior.items()}
    X_std = standardizer.transform(X)
    rows_log_likelihood = model.rows_log_likelihood(params, X_std, y)
    positions = np.arange(len(y))
    log_lik = sum_over_rows(
        lambda rows: rows_log_likelihood(positions[rows]).sum(axis=1),
        len(y),
        n_chain * n_draw,
        "log-likelihood",
        values=model.block_values,
    )
    log_joint = log_lik + model.log_prior(params, X_std, y)
    stats = (
        sample_stats.copy()
        if sample_stats is not None
        else xr.Dataset(coords={d: posterior[d] for d in SAMPLE_DIMS})
    )
    stats["log_joint"] = (SAMPLE_DIMS, log_joint.reshape(n_chain, n_draw))
    stats["log_weight"] = (SAMPLE_DIMS, np.full((n_chain, n_draw), -np.log(n_chain * n_draw)))
    return az.InferenceData(
        posterior=posterior,
        sample_stats=stats,
        observed_data=xr.Dataset({"y": ("obs_id", y)}, coords={"obs_id": row_ids}),
        constant_data=xr.Dataset(
            {"X": (("obs_id", "feature"), X)},
            coords={"obs_id": row_ids, "feature": list(feature_names)},
        ),
    )


def posterior_dataset(template: xr.Dataset, params: dict[str, np.ndarray]) -> xr.Dataset:
    """A ``posterior`` group shaped like ``template`` from flat draws (draw on axis 0)."""
    shape = (template.sizes["chain"], template.sizes["draw"])
    return xr.Dataset(
        {
            name: (template[name].dims, params[name].reshape(*shape, *params[name].shape[1:]))
            for name in template.data_vars
        },
        coords=template.coords,
    )


def with_rows_removed(idata, rows: np.ndarray) -> dict[str, xr.Dataset]:
    """The data groups (observed and constant data) without ``rows``."""
    keep = np.flatnonzero(~np.isin(idata.observed_data["obs_id"].values, rows))
    return {
        group: getattr(idata, group).isel(obs_id=keep)
        for group in ("observed_data", "constant_data")
    }


def shallow_copy(idata):
    """A new ``InferenceData`` holding the same groups (``idata.copy()`` copies every array)."""
    import arviz as az

    return az.InferenceData(**{group: getattr(idata, group) for group in idata.groups()})


def replace_sample_stats(idata, **variables: np.ndarray) -> xr.Dataset:
    """``sample_stats`` with variables (flat over draws) replaced or added."""
    stats = idata.sample_stats
    shape = (idata.posterior.sizes["chain"], idata.posterior.sizes["draw"])
    # One Dataset built at once (assigning variables one by one re-aligns each time).
    data = {name: (da.dims, da.values, da.attrs) for name, da in stats.data_vars.items()}
    for name, flat in variables.items():
        data[name] = (SAMPLE_DIMS, np.asarray(flat, dtype=np.float64).reshape(shape))
    return xr.Dataset(data, coords=stats.coords, attrs=stats.attrs)


def allowed_sample_stats(draws_source: str) -> frozenset[str]:
    """Names of the per-draw statistics a saved file with these draws may hold."""
    return frozenset({"log_joint"}) | (NUTS_STATS if draws_source in _NUTS_SOURCES else frozenset())


def saved_idata(idata, draws_source: str):
    """A copy of ``idata`` holding only what a file may contain (see the module docstring)."""
    import arviz as az

    if draws_source not in SAVEABLE_SOURCES:
        raise ValueError(
            f"Draws from {draws_source!r} cannot be saved as they are: refresh them first "
            "(bu.refresh), which bu.save does by itself."
        )
    allowed = allowed_sample_stats(draws_source)
    stats = idata.sample_stats[[v for v in idata.sample_stats.data_vars if v in allowed]]
    groups = {g: getattr(idata, g) for g in SAVED_GROUPS if g != "sample_stats"}
    out = az.InferenceData(**groups, sample_stats=stats)
    for group in SAVED_GROUPS:
        getattr(out, group).attrs = {}
    check_saved_layout(out, draws_source)
    return out


def check_saved_layout(idata, draws_source: str) -> None:
    """Raise ``ValueError`` naming the first group or variable a saved file may not hold."""
    groups = set(idata.groups())
    unexpected = sorted(groups - set(SAVED_GROUPS))
    missing = sorted(set(SAVED_GROUPS) - groups)
    if unexpected or missing:
        raise ValueError(
            f"unexpected groups {unexpected}" if unexpected else f"missing groups {missing}"
        )
    if draws_source not in SAVEABLE_SOURCES:
        raise ValueError(f"draws_source {draws_source!r} cannot be stored")
    allowed = {"sample_stats": allowed_sample_stats(draws_source), **_DATA_VARIABLES}
    _check_values(idata)
    for group in SAVED_GROUPS:
        ds = getattr(idata, group)
        names = set(ds.data_vars)
        if group in allowed:
            extra = names - set(allowed[group])
        else:  # posterior: the model's variables, each with (chain, draw) leading dims
            extra = {n for n in names if ds[n].dims[:2] != SAMPLE_DIMS}
        dims = {d for n in names for d in ds[n].dims}
        extra |= {c for c in ds.coords if c not in _COORDS | dims and c not in names}
        if extra:
            raise ValueError(f"group {group!r} holds unexpected variables {sorted(extra)}")
        if "log_joint" not in idata.sample_stats:
            raise ValueError("sample_stats lacks log_joint")


def check_no_attributes(idata) -> None:
    """Raise ``ValueError`` if a group or variable carries attributes.

    A saved file stores none (:func:`saved_idata` clears them), and its checksum covers
    names, dims, dtypes and values, not attributes: a file carrying any was edited, and
    attributes could smuggle values (of forgotten rows, say) past a valid signature.
    """
    for group in SAVED_GROUPS:
        ds = getattr(idata, group)
        carrying = ([] if not ds.attrs else [group]) + [
            f"{group}/{name}" for name, var in ds.variables.items() if var.attrs
        ]
        if carrying:
            raise ValueError(f"attributes on {carrying[0]} (a saved file stores none)")


def _check_values(idata) -> None:
    """Dtypes, shapes and values a reader relies on (an edited file can hold anything)."""
    _check_dtypes(idata)
    _check_draws(idata.posterior, idata.sample_stats)
    _check_data(idata.observed_data, idata.constant_data)


def _check_dtypes(idata) -> None:
    for group in SAVED_GROUPS:
        ds = getattr(idata, group)
        for name, da in ds.data_vars.items():
            if da.dtype.kind not in "biuf":
                raise ValueError(f"{group}/{name} has dtype {da.dtype}, not a real number")
        for name, coord in ds.coords.items():
            if coord.dtype.kind not in "biufU":
                raise ValueError(f"coordinate {group}/{name} has dtype {coord.dtype}")
            if coord.ndim != 1 or coord.dims[0] != name:
                raise ValueError(f"coordinate {group}/{name} is not one-dimensional")


def _check_draws(posterior, stats) -> None:
    if not posterior.data_vars:
        raise ValueError("group 'posterior' holds no variables")
    draws = {d: posterior.sizes.get(d) for d in SAMPLE_DIMS}
    for group, ds in (("posterior", posterior), ("sample_stats", stats)):
        for name, da in ds.data_vars.items():
            if da.dims[:2] != SAMPLE_DIMS or any(da.sizes[d] != draws[d] for d in SAMPLE_DIMS):
                raise ValueError(
                    f"{group}/{name} does not have one value per draw (dims {da.dims})"
                )
    if not all(np.isfinite(da.values).all() for da in posterior.data_vars.values()):
        raise ValueError("group 'posterior' holds non-finite draws")
    if "log_joint" in stats and (
        stats["log_joint"].ndim != 2 or np.isnan(stats["log_joint"].values).any()
    ):
        raise ValueError("sample_stats/log_joint is not one number per draw")


def _check_data(observed, constant) -> None:
    if "y" not in observed or "X" not in constant:
        raise ValueError("the data groups lack y or X")
    if observed["y"].dims != ("obs_id",) or constant["X"].dims != ("obs_id", "feature"):
        raise ValueError(
            f"y has dims {observed['y'].dims} and X {constant['X'].dims}, not (obs_id,) "
            "and (obs_id, feature)"
        )
    ids = observed["obs_id"].values
    if ids.dtype.kind not in "iu" or len(np.unique(ids)) != len(ids):
        raise ValueError("row ids (obs_id) are not distinct integers")
    if not np.array_equal(ids, constant["obs_id"].values):
        raise ValueError("observed_data and constant_data hold different rows")
    if not (np.isfinite(observed["y"].values).all() and np.isfinite(constant["X"].values).all()):
        raise ValueError("the data hold non-finite values")


#: Types of the metadata a reader uses, by key (None: any JSON value the model reads).
_DIAGNOSTICS_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str,),
    "reason": (str,),
    "n_forget": (int,),
    "n_remaining": (int,),
    "n_draws": (int,),
    "reliable": (bool,),
    "verdict": (str,),
    "ess_bulk": (int, float, type(None)),
    "distinct_draws": (int, type(None)),
    "min_ess": (int, float),
    "r_hat": (int, float, type(None)),
    "divergences": (int, type(None)),
    "inherited_problem": (str, type(None)),
    "details": (dict,),
}
_HISTORY_TYPES: dict[str, tuple[type, ...]] = {
    "request": (int,),
    "requested": (str, type(None)),
    "method": (str,),
    "row_ids": (list,),
    "fingerprints": (list, type(None)),
    "n_remaining": (int,),
    "time": (str, int, float, type(None)),
}


def check_saved_metadata(meta: dict[str, Any], idata) -> None:
    """Raise ``ValueError`` naming the first metadata field a reader could not use.

    Types and lengths, and agreement with the arrays (one feature name and scaling per
    column of ``X``; forgotten rows absent from the data), so that a file edited with its
    plain checksum recomputed is refused here, not by an error deep in a later call.
    """
    n_features = idata.constant_data.sizes.get("feature", 0)
    _check_names(meta, idata.constant_data, n_features)
    _check_standardizer(meta.get("standardizer"), n_features)
    for key in ("model", "sampler"):
        if not isinstance(meta.get(key), dict):
            raise ValueError(f"{key} is not a JSON object")
    if not all(_json_scalar(v) for v in meta["sampler"].values()):
        raise ValueError("sampler settings are not numbers or strings")
    _check_history(meta.get("history"), idata.observed_data["obs_id"].values)
    _check_fields("diagnostics", meta.get("diagnostics"), _DIAGNOSTICS_TYPES, optional=True)


def _check_names(meta, constant, n_features: int) -> None:
    names = meta.get("feature_names")
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise ValueError("feature_names is not a list of strings")
    if len(names) != n_features:
        raise ValueError(f"{len(names)} feature names for {n_features} columns of X")
    if "feature" in constant.coords and list(constant["feature"].values) != names:
        raise ValueError("feature_names differ from the columns of X")
    if not isinstance(meta.get("target_name"), str):
        raise ValueError("target_name is not a string")


def _check_standardizer(scaling, n_features: int) -> None:
    if not (isinstance(scaling, dict) and set(scaling) == {"mean", "scale"}):
        raise ValueError("standardizer is not {'mean': [...], 'scale': [...]}")
    for part in ("mean", "scale"):
        values = scaling[part]
        if not (
            isinstance(values, list)
            and len(values) == n_features
            and all(_finite_number(v) and (part == "mean" or v > 0) for v in values)
        ):
            raise ValueError(
                f"standardizer {part} is not {n_features} finite"
                + (" positive" if part == "scale" else "")
                + " numbers"
            )


def _check_history(history, remaining: np.ndarray) -> None:
    if not isinstance(history, list):
        raise ValueError("history is not a list")
    for entry in history:
        _check_fields("a history entry", entry, _HISTORY_TYPES, optional=False)
        ids = entry.get("row_ids", [])
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValueError("a history entry's row_ids are not integers")
        if set(ids) & set(remaining.tolist()):
            raise ValueError("a forgotten row is still in the data")


def _check_fields(what: str, value, types: dict[str, tuple[type, ...]], *, optional: bool):
    if value is None and optional:
        return
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a JSON object")
    unknown = sorted(set(value) - set(types))
    if unknown:
        raise ValueError(f"{what} has unexpected keys {unknown}")
    for key, v in value.items():
        if not isinstance(v, types[key]) or (isinstance(v, bool) and bool not in types[key]):
            raise ValueError(f"{what}'s {key!r} is a {type(v).__name__}")
        if isinstance(v, float) and not np.isfinite(v):
            raise ValueError(f"{what}'s {key!r} is not finite")


def _finite_number(value) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and abs(value) < 1e300
        and np.isfinite(float(value))
    )


def _json_scalar(value) -> bool:
    return value is None or isinstance(value, str | bool) or _finite_number(value)


def saved_history(history) -> list[dict[str, Any]]:
    """Forget requests with only the allowlisted keys."""
    return [{k: req[k] for k in HISTORY_KEYS if k in req} for req in history]


def saved_diagnostics(diagnostics) -> dict[str, Any] | None:
    """The diagnostics of the saved draws, without per-step numbers from forgotten rows."""
    if diagnostics is None:
        return None
    data = diagnostics.to_dict()
    out = {
        k: data[k]
        for k in DIAGNOSTICS_KEYS
        if k in data and not (k in _WRITTEN_WHEN_SET and data[k] is None)
    }
    out["details"] = {k: v for k, v in (data.get("details") or {}).items() if k == "refreshed"}
    # A dispatcher's reason quotes the step's k̂ and ESS, which are functions of the
    # forgotten rows: the file keeps a fixed sentence instead.
    out["reason"] = _SAVED_REASONS.get(out["method"], out["reason"])
    return out


#: Keys newer than the format, written only when set: a file without them is what older
#: readers (which refuse keys they do not know) still read.
_WRITTEN_WHEN_SET = ("inherited_problem",)

_SAVED_REASONS = {
    registry.REFIT.name: "exact refit on the remaining rows",
    # True of SMC's chains saved as they are too: SMC's last stage resampled and moved them.
    registry.REFRESH: "resampled and moved by MCMC towards p(θ | D_r)",
}
#: Draws of PyMC's NUTS, whose sampler statistics are kept.
_NUTS_SOURCES = (registry.FIT, registry.REFIT.name)


def positions_of(ids: np.ndarray, row_ids) -> np.ndarray:
    """Positions in ``ids`` of ``row_ids`` (all of them for None); ``KeyError`` if one is absent."""
    if row_ids is None:
        return np.arange(ids.size)
    wanted = np.asarray(row_ids, dtype=np.int64).ravel()
    order = np.argsort(ids, kind="stable")
    at = np.minimum(np.searchsorted(ids, wanted, sorter=order), max(ids.size - 1, 0))
    positions = order[at] if ids.size else at
    if not ids.size or (ids[positions] != wanted).any():
        raise KeyError(f"Row ids not among the remaining rows: {row_ids}")
    return positions
