"""Hierarchical PyMC models of the radon data, written as a user would write their own.

They are importable builders (``builder(X, y) -> pm.Model``), so a posterior fitted with
``bu.PyMCModel(radon_varying_slopes)`` is saved with the builder's import path and
``bu.load`` rebuilds it. Row-indexed arrays are ``pm.Data`` with the observed variable's
dims, which is what lets :mod:`bayes_unlearn.compiled` evaluate any subset of homes without
recompiling. ``X`` holds ``county`` (0-84) and ``floor`` (0 = basement) as its two columns,
e.g. ``bu.datasets.load_radon()[["county", "floor"]]``.

References
----------
Gelman, A. and Hill, J. (2007). Data Analysis Using Regression and Multilevel/Hierarchical
Models, chapter 12. Cambridge University Press.
"""

from __future__ import annotations

import numpy as np

from bayes_unlearn import _backend

__all__ = [
    "N_COUNTIES",
    "radon_above_action_level",
    "radon_varying_slopes",
    "radon_varying_slopes_baked",
]

#: Minnesota counties in the radon data; fixed so any subset of homes builds the same model.
N_COUNTIES = 85


def _homes(pm, X):
    """The row-indexed data as ``pm.Data`` on the ``home`` dim: county index and floor."""
    X = np.asarray(X, dtype=np.float64)
    county = pm.Data("county_idx", X[:, 0].astype(np.int64), dims="home")
    return county, pm.Data("floor", X[:, 1], dims="home")


def radon_varying_slopes(X, y):
    """log radon ~ Normal(α_county + β_county · floor, σ), county effects non-centered.

    ``α_c = μ_α + τ_α z_c``, ``β_c = μ_β + τ_β w_c`` with standard-normal ``z``, ``w``;
    Normal(0, 5) priors on ``μ``, HalfNormal(2) on ``τ`` and ``σ``.
    """
    return _varying_slopes(X, y, baked=False)


def radon_varying_slopes_baked(X, y):
    """:func:`radon_varying_slopes` with the homes' county and floor as plain NumPy arrays.

    The way most PyMC examples are written: the rows are constants in the graph, which
    :mod:`bayes_unlearn.compiled` lifts into inputs.
    """
    return _varying_slopes(X, y, baked=True)


def _varying_slopes(X, y, *, baked: bool):
    pm = _backend.pymc()
    with pm.Model(coords={"county": np.arange(N_COUNTIES)}) as model:
        if baked:
            X = np.asarray(X, dtype=np.float64)
            county_idx, floor_data = X[:, 0].astype(np.int64), X[:, 1]
        else:
            county_idx, floor_data = _homes(pm, X)
        mu_a = pm.Normal("mu_a", 0.0, 5.0)
        tau_a = pm.HalfNormal("tau_a", 2.0)
        mu_b = pm.Normal("mu_b", 0.0, 5.0)
        tau_b = pm.HalfNormal("tau_b", 2.0)
        z = pm.Normal("z", 0.0, 1.0, dims="county")
        w = pm.Normal("w", 0.0, 1.0, dims="county")
        sigma = pm.HalfNormal("sigma", 2.0)
        a = mu_a + tau_a * z
        b = mu_b + tau_b * w
        pm.Normal(
            "y",
            a[county_idx] + b[county_idx] * floor_data,
            sigma,
            observed=np.asarray(y, dtype=np.float64),
            dims=None if baked else "home",
        )
    return model


def radon_above_action_level(X, y):
    """P(radon above 4 pCi/L) = logit⁻¹(α_county + β · floor), varying intercepts (logistic).

    ``y`` is the 0/1 indicator ``log_radon > log 4`` (the US EPA action level).
    """
    pm = _backend.pymc()
    with pm.Model(coords={"county": np.arange(N_COUNTIES)}) as model:
        county_idx, floor_data = _homes(pm, X)
        mu_a = pm.Normal("mu_a", 0.0, 2.5)
        tau_a = pm.HalfNormal("tau_a", 1.0)
        z = pm.Normal("z", 0.0, 1.0, dims="county")
        beta = pm.Normal("beta", 0.0, 2.5)
        pm.Bernoulli(
            "y",
            logit_p=mu_a + tau_a * z[county_idx] + beta * floor_data,
            observed=np.asarray(y, dtype=np.float64),
            dims="home",
        )
    return model
