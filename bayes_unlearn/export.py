"""A posterior as ArviZ ``InferenceData``: what may leave this process, or the in-memory view.

Exporting equally weighted draws means refreshing reweighted or SMC draws first, as
:func:`bayes_unlearn.save` does before it writes; :class:`~bayes_unlearn.Posterior` itself
holds data and answers queries, and never calls up into the refresh.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_unlearn._random import RandomSeed
from bayes_unlearn._rowwise import dask_tasks, joined, row_tasks
from bayes_unlearn.layout import saved_idata
from bayes_unlearn.posterior import Posterior
from bayes_unlearn.refreshing import refresh

__all__ = ["LAZY_VALUES", "to_inference_data"]

#: Above this many values, ``to_inference_data(log_likelihood=True)`` returns a Dask array.
LAZY_VALUES = 100_000_000


def to_inference_data(
    posterior: Posterior,
    *,
    resample: bool = True,
    log_likelihood: bool = False,
    random_seed: RandomSeed = None,
):
    """Draws as ``InferenceData`` for ArviZ.

    Parameters
    ----------
    posterior : Posterior
        The posterior to export.
    resample : bool, default True
        Return an equally weighted, refreshed sample (:func:`bayes_unlearn.refresh`): what
        may leave this process. False returns the in-memory representation as it is, with
        the importance weights and ratios of a reweighting in ``sample_stats``; those are
        functions of the forgotten rows, so keep that object in memory.
    log_likelihood : bool, default False
        Add the ``log_likelihood`` group (pointwise, remaining rows) for ``az.loo`` and
        ``az.compare``: computed now when it holds at most :data:`LAZY_VALUES` (10^8)
        values, else a Dask array (``pip install "bayes-unlearn[dask]"``) whose chunks of
        rows are computed when read (ArviZ 0.23's ``az.loo`` needs it loaded first:
        ``idata.log_likelihood.load()``).
    random_seed : int, Generator or None
        Seed of the refresh.

    Returns
    -------
    arviz.InferenceData
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(f"to_inference_data expects a Posterior. Got {type(posterior).__name__}.")
    if not resample:
        source, idata = posterior, posterior.idata.copy()
    else:
        source = refresh(posterior, random_seed=random_seed)
        idata = saved_idata(source.idata, source.draws_source)
    idata.attrs = _provenance(source)
    if log_likelihood:
        idata.add_groups(log_likelihood=_log_likelihood_dataset(source))
    return idata


def _provenance(posterior: Posterior) -> dict[str, Any]:
    from bayes_unlearn import __version__

    return {
        "bayes_unlearn_version": __version__,
        "draws_source": posterior.draws_source,
        "forget_requests": len(posterior.history),
        "rows_forgotten": len(posterior.forgotten_row_ids),
    }


def _log_likelihood_dataset(posterior: Posterior):
    """ArviZ's group: in memory when small, else a Dask array computed a chunk at a time."""
    import xarray as xr

    draws = posterior.idata.posterior
    n_rows = posterior.row_ids.size
    if n_rows * posterior.n_draws <= LAZY_VALUES:
        ll = posterior.log_likelihood()
    else:
        ll = _lazy_log_likelihood(posterior)
    ll = ll.reshape(draws.sizes["chain"], draws.sizes["draw"], n_rows)
    observed = posterior.idata.observed_data
    return xr.Dataset(
        {"y": (("chain", "draw", "obs_id"), ll)},
        coords={"chain": draws["chain"], "draw": draws["draw"], "obs_id": observed["obs_id"]},
    )


def _lazy_log_likelihood(posterior: Posterior):
    try:
        import dask.array as da
    except ImportError:
        raise MemoryError(
            f"The log_likelihood group has {posterior.row_ids.size * posterior.n_draws:,} "
            'values, too many to hold in memory: install Dask (pip install "bayes-unlearn[dask]") '
            "to get it lazily, or use post.log_likelihood(row_ids, chunk_rows=...)."
        ) from None
    positions = np.arange(posterior.row_ids.size)
    tasks = row_tasks(positions.size, posterior.n_draws, posterior.model.block_values)
    delayed = dask_tasks(lambda rows: posterior.rows_log_likelihood(positions[rows]), tasks, joined)
    arrays = [
        da.from_delayed(
            part, shape=(posterior.n_draws, task[-1].stop - task[0].start), dtype=np.float64
        )
        for part, task in zip(delayed, tasks, strict=True)
    ]
    return da.concatenate(arrays, axis=1)
