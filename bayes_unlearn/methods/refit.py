"""Exact refit: NUTS on the remaining rows with the stored model and sampler settings."""

from __future__ import annotations

import numpy as np

from bayes_unlearn import registry
from bayes_unlearn._forget import record_request, remaining_scaling
from bayes_unlearn._random import RandomSeed
from bayes_unlearn.posterior import Posterior
from bayes_unlearn.sampling import resample_like

__all__ = ["refit"]


def refit(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    random_seed: RandomSeed = None,
    progressbar: bool | None = None,
    requested: str = registry.REFIT.name,
) -> Posterior:
    """Exact retrain: MCMC on the remaining rows with the stored model and sampler settings.

    Features are scaled with the remaining rows' own statistics, as a fresh fit would.
    """
    X, y = posterior.training_data()
    keep = ~np.isin(posterior.row_ids, rows)
    return resample_like(
        posterior,
        X[keep],
        y[keep],
        posterior.row_ids[keep],
        random_seed=random_seed,
        progressbar=progressbar,
        standardizer=remaining_scaling(posterior, rows),
        history=record_request(posterior, rows, registry.REFIT.name, requested=requested),
        reason="requested (exact retrain)",
        n_forget=int(rows.size),
    )
