"""Saving and loading posteriors as NetCDF (ArviZ's format plus our metadata).

The metadata (model spec, preprocessing, history, diagnostics) is one JSON document in the
file's root attributes, with a SHA-256 checksum of every stored array, so a truncated,
corrupted or foreign file is refused with a clear message instead of being half-read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.models import BayesianModel, Standardizer, model_from_dict
from bayes_unlearn.posterior import Posterior

__all__ = ["FORMAT", "load", "save"]

FORMAT = "bayes-unlearn-posterior/1"
_ATTR = "bayes_unlearn"
_GROUPS = ("posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data")


def _checksum(idata) -> str:
    digest = hashlib.sha256()
    for group in _GROUPS:
        ds = getattr(idata, group)
        for name in sorted(ds.variables):
            values = np.ascontiguousarray(ds[name].values)
            digest.update(f"{group}/{name}/{values.dtype.str}/{values.shape}".encode())
            if values.dtype.kind in "OUS":
                digest.update("\x1f".join(map(str, values.ravel())).encode())
            else:
                digest.update(values.tobytes())
    return digest.hexdigest()


def save(posterior: Posterior, path) -> None:
    """Write ``posterior`` to ``path`` (NetCDF4/HDF5) atomically.

    The file is written next to ``path`` under a temporary name and renamed over it only
    once complete, so an interrupted save never replaces a good file with a broken one.

    Parameters
    ----------
    posterior : Posterior
    path : str or path-like
        Destination, conventionally ``*.nc``.
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(f"save expects a Posterior. Got {type(posterior).__name__}.")
    from bayes_unlearn import __version__

    path = Path(path)
    if not path.parent.exists():
        raise FileNotFoundError(
            f"The directory of 'path' does not exist: {path.parent}. Create it first."
        )
    meta = {
        "format": FORMAT,
        "version": __version__,
        "model": posterior.model.to_dict(),
        "standardizer": {
            "mean": list(posterior.standardizer.mean),
            "scale": list(posterior.standardizer.scale),
        },
        "feature_names": list(posterior.feature_names),
        "target_name": posterior.target_name,
        "sampler": posterior.sampler,
        "history": list(posterior.history),
        "diagnostics": posterior.diagnostics.to_dict() if posterior.diagnostics else None,
        "checksum": _checksum(posterior.idata),
    }
    idata = posterior.idata.copy()
    idata.attrs = {_ATTR: json.dumps(meta)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        idata.to_netcdf(tmp, engine="h5netcdf")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path, *, model: BayesianModel | None = None) -> Posterior:
    """Read a posterior written by :meth:`Posterior.save`.

    Parameters
    ----------
    path : str or path-like
    model : PyMCModel, optional
        For posteriors of a custom PyMC model: the model (its builder function is not
        stored in the file). Needed to refit or predict, not to reweight.

    Returns
    -------
    Posterior

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable NetCDF file, was not written by bayes-unlearn, or its
        contents do not match the stored checksum (truncated or corrupted).
    """
    import arviz as az

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No posterior file at {str(path)!r}. Check the path.")
    try:
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(path, engine="h5netcdf")
    except Exception as err:  # h5py/xarray raise OSError, ValueError, KeyError, ... on bad files
        raise ValueError(
            f"{str(path)!r} is not a readable posterior file (truncated, corrupted or not NetCDF): "
            f"{type(err).__name__}: {err}"
        ) from None
    raw = idata.attrs.get(_ATTR)
    missing = [g for g in _GROUPS if g not in idata.groups()]
    if raw is None or missing:
        raise ValueError(
            f"{str(path)!r} is a NetCDF file but not a bayes-unlearn posterior "
            f"(missing {'metadata' if raw is None else 'groups ' + ', '.join(missing)}). "
            "Create one with bu.fit(...).save(path)."
        )
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{str(path)!r} has corrupted bayes-unlearn metadata.") from None
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{str(path)!r} has format {meta.get('format')!r}; this version reads {FORMAT!r}."
        )
    idata.attrs = {}
    if _checksum(idata) != meta["checksum"]:
        raise ValueError(
            f"{str(path)!r} failed its checksum: the stored arrays were modified or corrupted "
            "after saving. Restore the file from a backup or refit."
        )
    return Posterior(
        idata=idata,
        model=model_from_dict(meta["model"], model),
        standardizer=Standardizer(
            tuple(meta["standardizer"]["mean"]), tuple(meta["standardizer"]["scale"])
        ),
        feature_names=tuple(meta["feature_names"]),
        target_name=meta["target_name"],
        sampler=meta["sampler"],
        history=tuple(meta["history"]),
        diagnostics=UnlearningDiagnostics.from_dict(meta["diagnostics"])
        if meta["diagnostics"]
        else None,
    )
