"""Saving and loading posteriors: :func:`save` and :func:`load` (format: :mod:`.storage`)."""

from __future__ import annotations

from pathlib import Path

from bayes_unlearn._random import RandomSeed
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.integrity import Key, check_key
from bayes_unlearn.models import BayesianModel, Standardizer, model_from_dict
from bayes_unlearn.posterior import Posterior
from bayes_unlearn.storage import FORMAT, read

__all__ = ["FORMAT", "load", "save"]


def save(
    posterior: Posterior, path, *, key: Key | None = None, random_seed: RandomSeed = None
) -> Posterior:
    """Write ``posterior`` to ``path`` atomically; see :meth:`Posterior.save`."""
    if not isinstance(posterior, Posterior):
        raise TypeError(f"save expects a Posterior. Got {type(posterior).__name__}.")
    return posterior.save(path, key=key, random_seed=random_seed)


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
    key = check_key(key)
    path = Path(path)
    idata, meta = read(path, key)
    try:
        return _posterior(idata, meta, model)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        if isinstance(err, TypeError | ValueError) and "'model'" in str(err):
            raise
        raise ValueError(
            f"{str(path)!r} has invalid bayes-unlearn metadata ({type(err).__name__}: {err})."
        ) from None


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
