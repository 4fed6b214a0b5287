"""Lower-level steps shared by every forget method: the request record and the new scaling.

Kept apart from the façade (:mod:`bayes_unlearn.unlearning`) so that methods (reweighting,
SMC, refresh, refit) can use them without importing each other.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import TYPE_CHECKING

import numpy as np

from bayes_unlearn.integrity import Key, check_key, row_fingerprints
from bayes_unlearn.layout import assemble_idata
from bayes_unlearn.scaling import Standardizer

if TYPE_CHECKING:  # pragma: no cover
    from bayes_unlearn.posterior import Posterior

__all__ = [
    "forgotten",
    "record_request",
    "remaining_idata",
    "remaining_scaling",
    "scaling_log_prior_shift",
]


def forgotten(
    posterior: Posterior,
    rows: np.ndarray,
    *,
    idata,
    scaling: Standardizer,
    method: str,
    requested: str,
    diagnostics,
) -> Posterior:
    """The posterior after a forget request: new draws/data, scaling, history and diagnostics."""
    return dataclasses.replace(
        posterior,
        idata=idata,
        standardizer=scaling,
        history=record_request(posterior, rows, method, requested=requested),
        diagnostics=diagnostics,
        draws_source=method,
    )


def record_request(
    posterior: Posterior,
    rows: np.ndarray,
    method: str,
    *,
    requested: str | None = None,
    key: Key | None = None,
) -> tuple[dict, ...]:
    """The posterior's history with this request appended.

    Rows are named by id and, when a ``key`` is given, by keyed fingerprint (never by value
    or by an unkeyed hash, which would let a file holder confirm a guessed row).
    """
    request = {
        "request": len(posterior.history) + 1,
        "requested": requested or method,
        "method": method,
        "row_ids": [int(i) for i in rows],
        "n_remaining": int(posterior.row_ids.size - rows.size),
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    key = check_key(key)
    if key is not None:
        X, y = posterior.training_data()
        pick = np.isin(posterior.row_ids, rows)
        prints = row_fingerprints(X[pick], y[pick], key)
        by_id = dict(zip(posterior.row_ids[pick], prints, strict=True))
        request["fingerprints"] = [by_id[int(i)] for i in rows]
    return (*posterior.history, request)


def remaining_scaling(posterior: Posterior, rows: np.ndarray) -> Standardizer:
    """The feature scaling a refit on the remaining rows would learn.

    Keeping the first fit's scaling would leave an aggregate of the forgotten rows in the
    file: ``n·mean − Σ remaining X`` gives a single forgotten row back exactly.
    """
    X, _ = posterior.training_data()
    keep = ~np.isin(posterior.row_ids, rows)
    return Standardizer.fit(X[keep], posterior.model.standardize)


def scaling_log_prior_shift(posterior: Posterior, new_scaling: Standardizer):
    """Draws in ``new_scaling`` and ``log p_new(θ') − log p_old(θ)`` per draw.

    The priors are on standardized coefficients, so moving the draws to a new scaling also
    moves the prior; this ratio (the affine map's constant Jacobian cancels) is the
    importance correction that makes the reweighted draws target the refit's posterior.
    """
    params = posterior.params
    if new_scaling == posterior.standardizer:
        return params, np.zeros(posterior.n_draws)
    model = posterior.model
    moved = model.reparametrize(params, posterior.standardizer, new_scaling)
    return moved, model.log_prior(moved) - model.log_prior(params)


def remaining_idata(posterior: Posterior, forget: np.ndarray, dataset, scaling: Standardizer):
    """InferenceData for new equally weighted draws ``dataset`` of ``p(θ | D_r)``.

    The remaining rows (``~forget``) with their log-likelihoods and ``h(θ)`` at the new draws,
    in the remaining rows' ``scaling`` (moment matching and SMC end here).
    """
    X, y = posterior.training_data()
    return assemble_idata(
        posterior.model,
        dataset,
        None,
        X[~forget],
        y[~forget],
        row_ids=posterior.row_ids[~forget],
        standardizer=scaling,
        feature_names=posterior.feature_names,
    )
