"""The file format: write a saveable posterior, read and verify a file. No Posterior class here.

What a file may hold is decided by :mod:`bayes_unlearn.layout`; this module writes it
atomically and reads it back only if it is whole and unchanged. The metadata (model spec,
feature scaling, history, diagnostics) is one JSON document in the file's root attributes,
and a SHA-256 checksum covers every stored array *and* that metadata, so a truncated,
corrupted or foreign file is refused with one line saying why. With a ``key`` the checksum
is also signed (HMAC-SHA256), which catches deliberate edits too: anyone can recompute a
plain checksum, only the key holder can recompute the signature.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

from bayes_unlearn import layout
from bayes_unlearn._files import write_atomically
from bayes_unlearn.integrity import file_checksum, file_mac, macs_equal

__all__ = ["FORMAT", "read", "write"]

FORMAT = "bayes-unlearn-posterior/3"
#: Formats read, with the groups their checksum covers, in its order. Format 2 also stored
#: every row's pointwise log-likelihood for every draw (rows x draws); it is verified, then
#: dropped (the model recomputes it on demand).
_READABLE = {
    FORMAT: layout.SAVED_GROUPS,
    "bayes-unlearn-posterior/2": (
        "posterior",
        "sample_stats",
        "log_likelihood",
        "observed_data",
        "constant_data",
    ),
}
_ATTR = "bayes_unlearn"


def write(post, path: Path, key: bytes | None) -> None:
    """Write a saveable posterior (fit, refit or refreshed draws) atomically to ``path``."""
    idata = layout.saved_idata(post.idata, post.draws_source)
    meta = _metadata(post)
    meta["checksum"] = file_checksum(idata, meta, layout.SAVED_GROUPS)
    if key is not None:
        meta["mac"] = file_mac(meta["checksum"], key)
    idata.attrs = {_ATTR: json.dumps(meta)}
    # Written by netCDF-C (2.2x faster than h5netcdf on a radon fit's file, 4x on small
    # ones: benchmarks/results/overheads.md), read by h5py (``read``): netCDF-C aborts the
    # process on some malformed files.
    write_atomically(path, lambda tmp: idata.to_netcdf(tmp, engine="netcdf4"))


def _metadata(post) -> dict:
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


def read(path: Path, key: bytes | None):
    """The file's ``InferenceData`` and metadata, verified; ``ValueError`` in one line if not."""
    import arviz as az
    import h5py

    name = repr(str(path))
    if not path.is_file():
        raise FileNotFoundError(f"No posterior file at {name}. Check the path.")
    # Read through h5py, never netCDF-C: a received file is untrusted input, and netCDF-C
    # aborts the process on some malformed files where h5py raises (the storage fuzzer's
    # worker died when this read used engine="netcdf4").
    # h5netcdf, given a file it cannot parse, raises and then prints a second, ignored
    # error from its half-built File's __del__ (a traceback on the user's terminal); that
    # one is dropped here, any other goes to the usual hook.
    previous_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_drop_half_built_file, previous_hook)
    try:
        try:
            with h5py.File(path, "r"):
                pass
            with az.rc_context({"data.load": "eager"}):
                idata = az.from_netcdf(path, engine="h5netcdf")
            failure = None
        except Exception as err:  # h5py/xarray raise OSError, ValueError, KeyError, ...
            failure = f"{type(err).__name__}: {err}".splitlines()[0]
    finally:  # the failed objects are freed (and their errors dropped) before this
        sys.unraisablehook = previous_hook
    if failure is not None:
        raise ValueError(
            f"{name} is not a readable posterior file (truncated, corrupted or not NetCDF): "
            f"{failure}"
        )
    meta = _read_metadata(idata, name)
    _verify(idata, meta, key, name)
    return idata, meta


def _drop_half_built_file(previous_hook, unraisable) -> None:
    if not (
        isinstance(unraisable.exc_value, AttributeError)
        and getattr(unraisable.object, "__module__", "").startswith("h5netcdf")
    ):
        previous_hook(unraisable)


def _read_metadata(idata, name: str) -> dict:
    raw = idata.attrs.get(_ATTR)
    missing = [g for g in layout.SAVED_GROUPS if g not in idata.groups()]
    if raw is None or missing:
        raise ValueError(
            f"{name} is a NetCDF file but not a bayes-unlearn posterior "
            f"(missing {'metadata' if raw is None else 'groups ' + ', '.join(missing)}). "
            "Create one with bu.save(bu.fit(...), path)."
        )
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, TypeError, RecursionError):
        raise ValueError(f"{name} has corrupted bayes-unlearn metadata (not JSON).") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{name} has corrupted bayes-unlearn metadata (not a JSON object).")
    if _depth(meta) > _MAX_DEPTH:
        raise ValueError(
            f"{name} has corrupted bayes-unlearn metadata (nested deeper than {_MAX_DEPTH})."
        )
    if meta.get("format") not in _READABLE:
        raise ValueError(
            f"{name} has format {meta.get('format')!r}; this version reads "
            f"{', '.join(map(repr, _READABLE))}. "
            "Files of format 1 (bayes-unlearn 0.1) can reveal forgotten rows and are not "
            "read: refit from the original data and save again."
        )
    unknown = sorted(set(meta) - layout.METADATA_KEYS)
    if unknown:
        raise ValueError(f"{name} has unexpected metadata keys {unknown}: refused.")
    return meta


#: Written metadata nests 4 levels deep; far deeper documents only exhaust the recursion
#: of whoever reads them next (json.dumps of the checksum, dataclass comparisons, ...).
_MAX_DEPTH = 16


def _depth(value) -> int:
    """Nesting depth of a JSON document, without recursion."""
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
    return depth - 1


def _verify(idata, meta: dict, key: bytes | None, name: str) -> None:
    idata.attrs = {}
    groups = _READABLE[meta["format"]]
    missing = [g for g in groups if g not in idata.groups()]
    if missing:
        raise ValueError(f"{name} lacks the groups {missing} of its format: refused.")
    checksum = file_checksum(idata, meta, groups)
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
    for group in set(groups) - set(layout.SAVED_GROUPS):
        del idata[group]  # verified with the rest; derivable, so not kept
    try:
        layout.check_saved_layout(idata, meta.get("draws_source"))
        layout.check_no_attributes(idata)
    except ValueError as err:
        raise ValueError(f"{name} does not match the saved layout: {err}.") from None
    try:
        layout.check_saved_metadata(meta, idata)
    except ValueError as err:
        raise ValueError(f"{name} has invalid bayes-unlearn metadata: {err}.") from None
