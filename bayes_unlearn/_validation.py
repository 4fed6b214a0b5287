"""Validation at the public boundary; messages name the argument, what was expected and the fix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["check_X", "check_X_y", "check_forget", "check_probability"]


def check_X(
    X, *, name: str = "X", n_features: int | None = None, feature_names: Sequence[str] | None = None
) -> np.ndarray:
    """Return ``X`` as a 2-D float64 array, checking shape, finiteness and column names.

    A DataFrame whose columns include ``feature_names`` is reordered to them, so a user can
    pass a table with extra columns (the target, ids) without slicing it first.
    """
    if isinstance(X, pd.DataFrame) and feature_names is not None:
        missing = [c for c in feature_names if c not in X.columns]
        if missing:
            raise ValueError(
                f"The {name!r} parameter is missing the columns {missing} the model was fitted "
                f"with. Pass a table with columns {list(feature_names)}."
            )
        X = X[list(feature_names)]
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"The {name!r} parameter must be numeric (array or DataFrame of numbers). "
            f"Got {type(X).__name__} that cannot be converted: {err}"
        ) from None
    if arr.ndim == 1:
        arr = arr[:, None] if n_features in (None, 1) else arr[None, :]
    if arr.ndim != 2:
        raise ValueError(
            f"The {name!r} parameter must be 2-D (rows x features). Got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"The {name!r} parameter has no rows. Pass at least one row.")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"The {name!r} parameter must have {n_features} feature columns, as the model was "
            f"fitted with. Got {arr.shape[1]}."
        )
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"The {name!r} parameter contains NaN or infinite values (first at row {bad[0]}, "
            f"column {bad[1]}). Impute or drop them first."
        )
    return arr


def check_X_y(
    X,
    y,
    *,
    binary: bool = False,
    n_features: int | None = None,
    feature_names: Sequence[str] | None = None,
    x_name: str = "X",
    y_name: str = "y",
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a design matrix and its target together."""
    X_arr = check_X(X, name=x_name, n_features=n_features, feature_names=feature_names)
    try:
        y_arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"The {y_name!r} parameter must be numeric. Got {type(y).__name__}."
        ) from None
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr[:, 0]
    if y_arr.ndim != 1:
        raise ValueError(f"The {y_name!r} parameter must be 1-D. Got shape {y_arr.shape}.")
    if y_arr.shape[0] != X_arr.shape[0]:
        raise ValueError(
            f"{x_name!r} and {y_name!r} must have the same number of rows. "
            f"Got {X_arr.shape[0]} and {y_arr.shape[0]}."
        )
    if not np.all(np.isfinite(y_arr)):
        raise ValueError(
            f"The {y_name!r} parameter contains NaN or infinite values. Drop those rows first."
        )
    if binary and not np.all(np.isin(y_arr, (0.0, 1.0))):
        raise ValueError(
            f"The {y_name!r} parameter must hold 0/1 labels for a logistic model. "
            f"Got values {np.unique(y_arr)[:5].tolist()}."
        )
    return X_arr, y_arr


def check_forget(
    forget, *, remaining: np.ndarray, history: Sequence[Sequence[int]] = ()
) -> np.ndarray:
    """Validate a forget request against the rows still in the posterior.

    Parameters
    ----------
    forget : array-like of int
        Training row ids (the ids given at fit time, 0..n-1 by default).
    remaining : ndarray of int
        Row ids still in the posterior.
    history : sequence of sequences of int
        Row ids removed by each earlier forget request, in order.

    Returns
    -------
    ndarray of int
        The unique requested ids, sorted.
    """
    forgotten = {int(i): k + 1 for k, ids in enumerate(history) for i in ids}
    arr = _row_id_array(forget, "forget")
    uniq, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(
            f"The 'forget' parameter names rows more than once: {uniq[counts > 1][:10].tolist()}. "
            "Pass each row id once."
        )
    again = [int(i) for i in uniq if int(i) in forgotten]
    if again:
        raise ValueError(
            f"The 'forget' parameter names rows already forgotten: {again[:10]} (by request "
            f"#{forgotten[again[0]]}). A row can be forgotten only once."
        )
    unknown = uniq[~np.isin(uniq, remaining)]
    if unknown.size:
        lo, hi = int(remaining.min()), int(remaining.max())
        raise ValueError(
            f"The 'forget' parameter must be training row ids in [{lo}, {hi}]. "
            f"Got unknown ids {unknown[:10].tolist()}."
        )
    if uniq.size == remaining.size:
        raise ValueError(
            f"The 'forget' parameter names all {remaining.size} remaining rows: nothing would be "
            "left to condition on. The unlearned model would be the prior; refit without data "
            "or keep at least one row."
        )
    return uniq


def _row_id_array(ids, name: str) -> np.ndarray:
    """A 1-D int64 array of row ids, refusing anything that would need a silent cast."""
    arr = _as_id_array(ids, name)
    if arr.size == 0:
        raise ValueError(f"The {name!r} parameter is empty. Pass at least one training row id.")
    if arr.dtype == bool:
        raise TypeError(
            f"The {name!r} parameter must be row ids, not a boolean mask. Use np.flatnonzero(mask)."
        )
    if arr.ndim != 1:
        raise ValueError(
            f"The {name!r} parameter must be a flat (1-D) list of row ids. Got shape "
            f"{arr.shape}; flatten it yourself if that is what you mean."
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"The {name!r} parameter must be integer row ids. Got dtype {arr.dtype} "
            f"(first values {arr[:3].tolist()}); ids are never cast from other types. "
            "To name rows by content use Posterior.find_rows(X, y)."
        )
    if arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"The {name!r} parameter has ids beyond the int64 range.")
    return arr.astype(np.int64)


def _as_id_array(ids, name: str) -> np.ndarray:
    """``ids`` as an array, refusing None, non-iterables, booleans mixed with ids, ragged lists."""
    if ids is None:
        raise TypeError(f"The {name!r} parameter must be row ids (a list of ints). Got None.")
    if isinstance(ids, np.ndarray):
        return ids
    if isinstance(ids, str | bytes) or np.isscalar(ids):
        ids = [ids]
    try:
        items = list(ids)
    except TypeError:
        raise TypeError(
            f"The {name!r} parameter must be row ids (a list of ints). Got {type(ids).__name__}."
        ) from None
    if any(isinstance(v, bool | np.bool_) for v in items):
        raise TypeError(
            f"The {name!r} parameter mixes booleans with row ids ({items[:5]}...). "
            "Pass integer ids only; for a mask use np.flatnonzero(mask)."
        )
    try:
        return np.asarray(items)
    except ValueError:
        raise ValueError(
            f"The {name!r} parameter must be a flat list of row ids; got nested sequences "
            "of different lengths."
        ) from None


def check_probability(value: float, name: str) -> float:
    """Check a probability in the open interval (0, 1)."""
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"The {name!r} parameter must be in (0, 1). Got {value}.")
    return value
