"""ArviZ's effective sample size of the mean, for many sequences at once.

``az.ess(..., method="mean")`` loops over sequences in Python (about 1 ms each): scoring 10^6
training rows would take a quarter of an hour. This is the same estimator (split chains,
Geyer's initial positive then monotone sequence, ``tau >= 1/log10(S)``), vectorized over the
sequences; autocovariances are computed lag by lag, only for the sequences whose sequence
has not yet stopped, and equal ArviZ's FFT ones up to rounding
(``tests/test_ess.py`` checks the ESS against ``az.ess`` to 1e-10).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ess_mean", "relative_efficiency"]


def ess_mean(ary: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Bulk ESS of the mean for each sequence: ``ary`` has shape (chain, draw, m); returns (m,).

    NaN where a sequence has NaNs or fewer than 4 draws, as in ArviZ. ``scale`` multiplies
    the sequences first (as they are copied): the ESS does not depend on it, except through
    ArviZ's test for a constant sequence (a range below float resolution).
    """
    ary = np.asarray(ary, dtype=np.float64)
    n_chain0, n_draw0, m = ary.shape
    if n_draw0 < 4:
        return np.full(m, np.nan)
    half = n_draw0 // 2
    # (m, chain, draw): each sequence's split chains contiguous, so that the few long
    # sequences left after the first lags are gathered by whole blocks.
    x = np.empty((m, 2 * n_chain0, half))
    np.multiply(np.moveaxis(ary[:, :half], -1, 0), scale, out=x[:, :n_chain0])
    np.multiply(np.moveaxis(ary[:, n_draw0 - half :], -1, 0), scale, out=x[:, n_chain0:])
    n_chain, n = 2 * n_chain0, half
    total = n_chain * n
    chain_mean = x.mean(axis=2)
    x -= chain_mean[..., None]
    mean_var = np.einsum("mcd,mcd->m", x, x) / (n_chain * (n - 1.0))
    var_plus = mean_var * (n - 1.0) / n
    if n_chain > 1:
        var_plus = var_plus + chain_mean.var(axis=1, ddof=1)
    # ArviZ's test (range < resolution), run only where it can hold: a range r bounds every
    # deviation from the mean by r, so the variance of a constant sequence is below r².
    resolution = np.finfo(float).resolution
    constant = np.zeros(m, dtype=bool)
    maybe = np.flatnonzero(~(var_plus >= resolution**2))
    if maybe.size:
        centred = x[maybe] + chain_mean[maybe][..., None]
        constant[maybe] = np.ptp(centred, axis=(1, 2)) < resolution
    kept = {"idx": np.arange(m), "x": x}

    def rho(t: int, idx: np.ndarray) -> np.ndarray:
        if kept["idx"].size != idx.size:  # the active set only shrinks
            kept["idx"], kept["x"] = idx, x[idx]
        xs = kept["x"]
        acov = np.einsum("mcd,mcd->m", xs[:, :, : n - t], xs[:, :, t:]) / (n_chain * n)
        return 1.0 - (mean_var[idx] - acov) / var_plus[idx]

    with np.errstate(invalid="ignore", divide="ignore"):
        everything = np.arange(m)
        pair = 1.0 + rho(1, everything)  # ρ0 + ρ1
        smallest = pair.copy()  # running minimum: Geyer's initial monotone sequence
        summed = np.zeros(m)  # Σ of the (monotone) pairs that are kept
        last = np.ones(m)  # the one extra autocorrelation ArviZ adds after the last pair
        active = (pair > 0) & (1 < n - 3)
        t = 1
        while active.any():
            idx = np.flatnonzero(active)
            summed[idx] += smallest[idx]
            even, odd = rho(t + 1, idx), rho(t + 2, idx)
            new_pair = even + odd
            smallest[idx] = np.minimum(smallest[idx], new_pair)
            last[idx] = np.where((even > 0) | (new_pair >= 0), even, 0.0)
            active[idx] = (new_pair > 0) & (t + 2 < n - 3)
            t += 2
        tau = np.maximum(-1.0 + 2.0 * summed + last, 1.0 / np.log10(total))
        ess = total / tau
    ess = np.where(constant, float(total), ess)
    return np.where(np.isnan(mean_var), np.nan, ess)  # a NaN or inf anywhere in the sequence


def relative_efficiency(draws) -> float:
    """``reff`` for PSIS as ``az.loo`` computes it, from a ``posterior`` Dataset.

    The mean over every scalar of its mean-ESS divided by the number of draws (1 for a single
    chain or fewer than 4 draws). ``az.ess`` would loop over the scalars in Python: 10 ms a
    call, paid by every one of a stream of small requests.
    """
    n_chain, n_draw = draws.sizes["chain"], draws.sizes["draw"]
    if n_chain == 1 or n_draw < 4:
        return 1.0
    columns = [v.values.reshape(n_chain, n_draw, -1) for v in draws.values()]
    reff = float(ess_mean(np.concatenate(columns, axis=-1)).mean()) / (n_chain * n_draw)
    return reff if np.isfinite(reff) else 1.0
