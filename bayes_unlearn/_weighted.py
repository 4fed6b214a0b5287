"""Weighted Monte Carlo estimates over posterior draws (the draw is always axis 0)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "importance_ess",
    "normalize_log_weights",
    "weighted_log_mean_exp",
    "weighted_mean",
    "weighted_quantile",
    "weighted_sd",
]


def normalize_log_weights(log_w: np.ndarray) -> np.ndarray:
    """Shift log-weights so that ``exp`` sums to one."""
    return log_w - logsumexp(log_w)


def importance_ess(log_w: np.ndarray) -> float:
    """Kish effective sample size ``1 / Σ w̃²`` of normalized importance weights."""
    lw = normalize_log_weights(np.asarray(log_w, dtype=np.float64).ravel())
    return float(np.exp(-logsumexp(2.0 * lw)))


def weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Σ_s w_s x_s`` over axis 0 for normalized weights ``w``."""
    return np.tensordot(w, x, axes=(0, 0))


def weighted_sd(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted standard deviation over axis 0 (population form, as for self-normalized IS)."""
    mean = weighted_mean(x, w)
    return np.sqrt(np.maximum(weighted_mean((x - mean) ** 2, w), 0.0))


def weighted_quantile(x: np.ndarray, w: np.ndarray, q) -> np.ndarray:
    """Quantiles over axis 0 of draws ``x`` with normalized weights ``w``.

    Uses the inverse of the weighted empirical CDF with midpoint interpolation, which for
    equal weights matches ``numpy.quantile(method="hazen")``.
    """
    x = np.asarray(x, dtype=np.float64)
    q = np.atleast_1d(np.asarray(q, dtype=np.float64))
    flat = x.reshape(x.shape[0], -1)
    order = np.argsort(flat, axis=0)
    xs = np.take_along_axis(flat, order, axis=0)
    ws = w[order]
    cdf = np.cumsum(ws, axis=0) - 0.5 * ws
    out = np.empty((q.size, flat.shape[1]))
    for j in range(flat.shape[1]):
        out[:, j] = np.interp(q, cdf[:, j], xs[:, j])
    return out.reshape((q.size, *x.shape[1:]))


def weighted_log_mean_exp(log_x: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    """``log Σ_s w̃_s exp(log_x_s)`` over axis 0, with normalized log-weights ``log_w``."""
    return logsumexp(log_x + log_w.reshape((-1,) + (1,) * (log_x.ndim - 1)), axis=0)


def systematic_resample(
    weights: np.ndarray, rng: np.random.Generator, size: int | None = None
) -> np.ndarray:
    """Indices of ``size`` (default ``len(weights)``) draws by systematic resampling."""
    n = weights.size if size is None else int(size)
    positions = (rng.random() + np.arange(n)) / n
    cdf = np.cumsum(weights)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, positions)
