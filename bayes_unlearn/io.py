"""Saving and loading posteriors as NetCDF (ArviZ's format plus our metadata).

What a file may hold is decided by :mod:`bayes_unlearn.layout`; this module writes it
atomically and reads it back only if it is whole and unchanged. The metadata (model spec,
feature scaling, history, diagnostics) is one JSON document in the file's root attributes,
and a SHA-256 checksum covers every stored array *and* that metadata, so a truncated,
corrupted or foreign file is refused with one line saying why. With a ``key`` the checksum
is also signed (HMAC-SHA256), which catches deliberate edits too: anyone can recompute a
plain checksum, only the key holder can recompute the signature.
"""

from __future__ import annotations

import json
from pathlib import Path

from bayes_unlearn import layout
from bayes_unlearn._files import write_atomically
from bayes_unlearn._random import RandomSeed
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.integrity import Key, check_key, file_checksum, file_mac, macs_equal
from bayes_unlearn.models import BayesianModel, Standardizer, model_from_dict
from bayes_unlearn.posterior import Posterior

__all__ = ["FORMAT", "load", "save"]

FORMAT = "bayes-unlearn-posterior/2"
_ATTR = "bayes_unlearn"


def save(
    posterior: Posterior, path, *, key: Key | None = None, random_seed: RandomSeed = None
) -> Posterior:
    """Write ``posterior`` to ``path`` (NetCDF4/HDF5) atomically.

    Weighted (reweighted) or SMC draws are first refreshed
    (:func:`bayes_unlearn.refresh.refresh`): the file holds an equally weighted sample of
    ``p(θ | D_r)`` and nothing computed from forgotten rows (:mod:`bayes_unlearn.layout`).
    The file is written next to ``path`` under a temporary name and renamed over it only
    once complete, so an interrupted save never replaces a good file with a broken one.

    Parameters
    ----------
    posterior : Posterior
    path : str or path-like
        Destination, conventionally ``*.nc``.
    key : bytes or str, optional
        Secret (≥ 16 bytes) kept outside the file; signs the file (HMAC-SHA256) so that
        :func:`load` with the same key detects any edit.
    random_seed : int, Generator or None
        Seed of the refresh.

    Returns
    -------
    Posterior
        What was written: ``posterior`` itself, or its refreshed sample.
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(f"save expects a Posterior. Got {type(posterior).__name__}.")
    key = check_key(key)
    path = Path(path)
    if not path.parent.exists():  # fail before the refresh's work
        raise FileNotFoundError(
            f"The directory of 'path' does not exist: {path.parent}. Create it first."
        )
    fresh = posterior.refresh(random_seed=random_seed)
    idata = layout.saved_idata(fresh.idata, fresh.draws_source)
    meta = _metadata(fresh)
    meta["checksum"] = file_checksum(idata, meta, layout.SAVED_GROUPS)
    if key is not None:
        meta["mac"] = file_mac(meta["checksum"], key)
    idata.attrs = {_ATTR: json.dumps(meta)}
    write_atomically(path, lambda tmp: idata.to_netcdf(tmp, engine="h5netcdf"))
    return fresh


def _metadata(post: Posterior) -> dict:
    from bayes_unlearn import __version__

    return {
        "format": FORMAT,
        "version": __version__,
        "model": post.model.to_dict(),
        "standardizer": {
            "mean": list(post.standardizer.mean),
            "scale": list(post.standardizer.scale),
        },
        "feature_names": list(post.feature_names),
        "target_name": post.target_name,
        "sampler": post.sampler,
        "draws_source": post.draws_source,
        "history": layout.saved_history(post.history),
        "diagnostics": layout.saved_diagnostics(post.diagnostics),
    }


def load(path, *, model: BayesianModel | None = None, key: Key | None = None) -> Posterior:
    """Read a posterior written by :meth:`Posterior.save`.

    Parameters
    ----------
    path : str or path-like
    model : PyMCModel, optional
        For posteriors of a custom PyMC model: the model (its builder function is not
        stored in the file). Needed to refit or predict, not to reweight.
    key : bytes or str, optional
        The key the file was saved with. A signed file needs it; with a key, an unsigned
        file is refused (a signature can be stripped, so its absence is suspicious).

    Returns
    -------
    Posterior

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable NetCDF file, was not written by bayes-unlearn, its
        contents do not match the stored checksum or signature (truncated, corrupted or
        edited), or it holds anything outside the saved layout.
    """
    import arviz as az

    key = check_key(key)
    path = Path(path)
    name = repr(str(path))
    if not path.is_file():
        raise FileNotFoundError(f"No posterior file at {name}. Check the path.")
    try:
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(path, engine="h5netcdf")
    except Exception as err:  # h5py/xarray raise OSError, ValueError, KeyError, ... on bad files
        raise ValueError(
            f"{name} is not a readable posterior file (truncated, corrupted or not NetCDF): "
            f"{type(err).__name__}: {err}"
        ) from None
    meta = _read_metadata(idata, name)
    _verify(idata, meta, key, name)
    try:
        return _posterior(idata, meta, model)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        if isinstance(err, TypeError | ValueError) and "'model'" in str(err):
            raise
        raise ValueError(
            f"{name} has invalid bayes-unlearn metadata ({type(err).__name__}: {err})."
        ) from None


def _read_metadata(idata, name: str) -> dict:
    raw = idata.attrs.get(_ATTR)
    missing = [g for g in layout.SAVED_GROUPS if g not in idata.groups()]
    if raw is None or missing:
        raise ValueError(
            f"{name} is a NetCDF file but not a bayes-unlearn posterior "
            f"(missing {'metadata' if raw is None else 'groups ' + ', '.join(missing)}). "
            "Create one with bu.fit(...).save(path)."
        )
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        raise ValueError(f"{name} has corrupted bayes-unlearn metadata (not JSON).") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{name} has corrupted bayes-unlearn metadata (not a JSON object).")
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{name} has format {meta.get('format')!r}; this version reads {FORMAT!r}. "
            "Files of format 1 (bayes-unlearn 0.1) can reveal forgotten rows and are not "
            "read: refit from the original data and save again."
        )
    unknown = sorted(set(meta) - layout.METADATA_KEYS)
    if unknown:
        raise ValueError(f"{name} has unexpected metadata keys {unknown}: refused.")
    return meta


def _verify(idata, meta: dict, key: bytes | None, name: str) -> None:
    idata.attrs = {}
    checksum = file_checksum(idata, meta, layout.SAVED_GROUPS)
    if not isinstance(meta.get("checksum"), str) or not macs_equal(checksum, meta["checksum"]):
        raise ValueError(
            f"{name} failed its checksum: its arrays or metadata were modified or corrupted "
            "after saving. Restore the file from a backup or refit."
        )
    signed = "mac" in meta
    if signed and key is None:
        raise ValueError(f"{name} is signed: pass the key it was saved with (key=...).")
    if key is not None and not signed:
        raise ValueError(f"{name} is not signed, so the key cannot verify it: refused.")
    if key is not None and not (
        isinstance(meta["mac"], str) and macs_equal(file_mac(checksum, key), meta["mac"])
    ):
        raise ValueError(
            f"{name} failed its signature check: it was edited after saving, or the key is "
            "not the one it was saved with."
        )
    try:
        layout.check_saved_layout(idata, meta.get("draws_source"))
    except ValueError as err:
        raise ValueError(f"{name} does not match the saved layout: {err}.") from None


def _posterior(idata, meta: dict, model: BayesianModel | None) -> Posterior:
    import numpy as np

    from bayes_unlearn.layout import replace_sample_stats

    n = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    idata.sample_stats = replace_sample_stats(idata, log_weight=np.full(n, -np.log(n)))
    history = tuple(dict(req) for req in meta["history"])
    for req in history:
        if not {"request", "method", "row_ids"} <= set(req):
            raise ValueError("a history entry lacks request, method or row_ids")
    return Posterior(
        idata=idata,
        model=model_from_dict(meta["model"], model),
        standardizer=Standardizer(
            tuple(map(float, meta["standardizer"]["mean"])),
            tuple(map(float, meta["standardizer"]["scale"])),
        ),
        feature_names=tuple(meta["feature_names"]),
        target_name=str(meta["target_name"]),
        sampler=dict(meta["sampler"]),
        history=history,
        diagnostics=UnlearningDiagnostics.from_dict(meta["diagnostics"])
        if meta["diagnostics"]
        else None,
        draws_source=meta["draws_source"],
    )
