"""Saving and loading posteriors: :func:`save` and :func:`load` (format: :mod:`.storage`)."""

from __future__ import annotations

import hmac
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from bayes_unlearn import journal, registry
from bayes_unlearn._adopt import is_model_object, model_object
from bayes_unlearn._random import RandomSeed
from bayes_unlearn.diagnostics import UnlearningDiagnostics, UnreliableUnlearningWarning
from bayes_unlearn.import_paths import UntrustedCodeError
from bayes_unlearn.integrity import Key, check_key
from bayes_unlearn.model_files import model_from_dict
from bayes_unlearn.models import BUILT_IN_MODELS, BayesianModel
from bayes_unlearn.posterior import Posterior
from bayes_unlearn.pymc_model import PyMCModel
from bayes_unlearn.refreshing import refresh
from bayes_unlearn.scaling import Standardizer
from bayes_unlearn.storage import FORMAT, read, write

__all__ = ["FORMAT", "load", "save"]


def save(
    posterior: Posterior,
    path,
    *,
    key: Key | None = None,
    random_seed: RandomSeed = None,
    lock_timeout: float | None = None,
) -> Posterior:
    """Write a posterior to a NetCDF file atomically (read it with :func:`load`).

    Weighted (reweighted) or SMC draws are first refreshed (:func:`bayes_unlearn.refresh`;
    SMC's HMC chains that forgot their starts need no moves and are written as they are):
    the file holds an equally weighted sample of ``p(θ | D_r)`` and nothing computed from
    forgotten rows (:mod:`bayes_unlearn.layout`). The file is written next to ``path`` under
    a temporary name and renamed over it only once complete, so an interrupted save never
    replaces a good file with a broken one.

    Parameters
    ----------
    posterior : Posterior
        What to write.
    path : str or path-like
        Destination, conventionally ``*.nc``.
    key : bytes or str, optional
        Secret (≥ 16 bytes) kept outside the file; signs the file (HMAC-SHA256) so that
        :func:`load` with the same key detects any edit.
    random_seed : int, Generator or None
        Seed of the refresh.
    lock_timeout : float, optional
        Seconds to wait for another writer of ``path`` (default
        :data:`bayes_unlearn.journal.LOCK_TIMEOUT`).

    Returns
    -------
    Posterior
        What was written: ``posterior``, or its refreshed sample.

    Raises
    ------
    ValueError
        If ``path`` is a posterior file (or its journal) that records forgotten rows this
        posterior still holds: writing over it would undo another request's erasure.
    FileLockedError
        If another writer holds ``path`` for longer than ``lock_timeout``.
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(f"save expects a Posterior. Got {type(posterior).__name__}.")
    key = check_key(key)
    path = Path(path)
    if not path.parent.exists():  # fail before the refresh's work
        raise FileNotFoundError(
            f"The directory of 'path' does not exist: {path.parent}. Create it first."
        )
    fresh = refresh(posterior, random_seed=random_seed)
    timeout = journal.LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    with journal.locked(path, timeout):
        journal.check_not_undoing(path, fresh)
        write(fresh, path, key)
        journal.clear(path)  # every request it held is in the file now
    return fresh


def load(
    path,
    *,
    model=None,
    key: Key | None = None,
    trusted: Iterable[str] = (),
    random_seed: RandomSeed = None,
) -> Posterior:
    """Read a posterior written by :func:`save`, with its acknowledged requests.

    Requests acknowledged into the file's journal (``path + ".journal"``, written by
    :class:`~bayes_unlearn.ForgetStream` and ``bayes-unlearn forget --in-place``) but not yet
    saved into it are applied first (``method="auto"``), so what is returned never ignores
    an acknowledged erasure; the file itself is not changed.

    Parameters
    ----------
    path : str or path-like
    model : PyMCModel, pm.Model or bambi.Model, optional
        For posteriors of a custom PyMC model: the model, whose builder is then not imported
        from the path the file names. Needed to refit or predict, not to reweight. For a
        file wrapped from a model object (``bu.from_pymc(m, idata)``, ``bu.from_bambi``),
        that object, which a file cannot hold; it is checked against the file's rows.
    key : bytes or str, optional
        The key the file was saved with. A signed file needs it; with a key, an unsigned
        file is refused (a signature can be stripped, so its absence is suspicious). A file
        whose signature verifies under it may import the code it names.
    trusted : iterable of str, optional
        Import paths (``"package.module:name"``) of code the file may import: a custom
        model's builder and mean function, or a model subclass. A file is data, and anyone
        can edit the path it names and recompute its plain checksum, so nothing it names is
        imported unless listed here, signed with ``key``, or replaced by ``model``.
    random_seed : int, Generator or None
        Seed of any rung that samples while journaled requests are applied.

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
    UntrustedCodeError
        If the file names code to import that is not trusted (a ``ValueError``).
    PendingRequestsError
        If the journal holds acknowledged requests that cannot be read or applied.
    """
    key = check_key(key)
    path = Path(path)
    allowed = _trusted(trusted)
    # The journal before the file: a writer saves the file, then clears the journal, so a
    # journal read first is never newer than the file read after it (a line already saved
    # is recognised and skipped).
    entries = journal.read(path, key) if path.is_file() else ()
    idata, meta = read(path, key)
    try:
        post = _posterior(idata, meta, model, lambda p: key is not None or p in allowed)
    except UntrustedCodeError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        if isinstance(err, TypeError | ValueError) and "'model'" in str(err):
            raise
        raise ValueError(
            f"{str(path)!r} has invalid bayes-unlearn metadata ({type(err).__name__}: {err})."
        ) from None
    return _apply_journal(post, entries, name=repr(str(path)), key=key, random_seed=random_seed)


def _trusted(trusted) -> frozenset[str]:
    if isinstance(trusted, str):
        trusted = [trusted]
    try:
        paths = frozenset(trusted)
    except TypeError:
        raise TypeError(
            "The 'trusted' parameter of load must be import paths like "
            f"['package.module:build']. Got {type(trusted).__name__}."
        ) from None
    bad = [p for p in paths if not (isinstance(p, str) and ":" in p)]
    if bad:
        raise ValueError(
            "The 'trusted' parameter of load must be import paths like "
            f"'package.module:build'. Got {bad[0]!r}."
        )
    return paths


def _posterior(idata, meta: dict, model: BayesianModel | None, trusted) -> Posterior:
    from bayes_unlearn.layout import replace_sample_stats

    n = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    idata.sample_stats = replace_sample_stats(idata, log_weight=np.full(n, -np.log(n)))
    history = tuple(dict(req) for req in meta["history"])
    for req in history:
        if not {"request", "method", "row_ids"} <= set(req):
            raise ValueError("a history entry lacks request, method or row_ids")
    if model is not None and is_model_object(model):
        model = model_object(model, idata, meta)
    model = model_from_dict(meta["model"], model, trusted=trusted)
    _check_parameters(model, idata.posterior, tuple(meta["feature_names"]))
    return Posterior(
        idata=idata,
        model=model,
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


def _check_parameters(model: BayesianModel, draws, feature_names: tuple[str, ...]) -> None:
    """A built-in model's draws are its parameters, with their shapes (a user's model's are
    checked by its compiled graph when first evaluated)."""
    if isinstance(model, PyMCModel) or type(model) not in BUILT_IN_MODELS:
        return
    expected = model.parameter_shapes(feature_names)
    found = {name: tuple(draws[name].shape[2:]) for name in draws.data_vars}
    if found != expected:
        raise ValueError(
            f"its draws {found} are not the parameters of its {model.kind} model {expected}"
        )


def _apply_journal(posterior, entries, *, name: str, key: bytes | None, random_seed=None):
    """``posterior`` with every journaled request that it does not include yet forgotten.

    Each request is applied in its order with ``method="auto"``, so a posterior opened after
    a crash forgets exactly the acknowledged rows. Rows are checked against their keyed
    fingerprints where the journal has them.

    Raises
    ------
    PendingRequestsError
        If a request cannot be applied: it names rows the posterior never had, its
        fingerprints do not match, or the model cannot evaluate rows (a custom model whose
        builder was not given).
    """
    from bayes_unlearn.unlearning import unlearn

    try:
        todo = journal.pending(posterior, entries)
        for entry in todo:
            done = set(posterior.forgotten_row_ids.tolist())
            rows = [i for i in entry.row_ids if i not in done]
            _check_fingerprints(posterior, entry, key)
            with warnings.catch_warnings():
                # The erasure must hold whatever the diagnostics say; they travel with it.
                warnings.simplefilter("ignore", UnreliableUnlearningWarning)
                posterior = unlearn(
                    posterior,
                    forget=rows,
                    method=registry.AUTO.name,
                    key=key,
                    random_seed=random_seed,
                )
    except (journal.PendingRequestsError, ValueError, TypeError) as err:
        raise journal.PendingRequestsError(
            f"{name} has acknowledged forget requests in its journal that could not be "
            f"applied: {err}"
        ) from None
    return posterior


def _check_fingerprints(posterior, entry: journal.Entry, key: bytes | None) -> None:
    if key is None or not entry.fingerprints:
        return
    remaining = set(posterior.row_ids.tolist())
    expected = dict(zip(entry.row_ids, entry.fingerprints, strict=True))
    ids = [i for i in entry.row_ids if i in remaining]
    found = journal.fingerprints_of(posterior, ids, key)
    if any(not hmac.compare_digest(f, expected[i]) for f, i in zip(found, ids, strict=True)):
        raise journal.PendingRequestsError(
            "the journal's fingerprints do not match the rows of this file at those ids: "
            "it belongs to another file."
        )
