"""A shift of the data on the unconstrained scale: the draws as vectors, and the two densities.

The engine moves a posterior along a shift: rows removed (forgetting) or a failure set
added (cause scores, :func:`conditioning_densities`); its rungs (:mod:`._importance`,
moment matching's maps, :mod:`._tempering`) take the densities built here.

Moment matching and SMC both need, for particles ``Z`` on an unconstrained scale,

* ``base(Z) = log p(D_r | θ) + log p_new(θ) + log|J|``: the unlearned posterior's log
  density (``p_new``: the prior in the remaining rows' feature scaling), and
* ``removed(Z) = log p(D_e | θ) + log p_old(θ) − log p_new(θ)``: what separates it from the
  posterior the stored draws came from (``base + removed`` is that posterior),

plus the maps between draws and ``Z``. Built-in models use their vectorized NumPy
likelihoods (positive parameters on the log scale); any other model uses the generic compiled
path (:mod:`bayes_unlearn.compiled`, PyMC's own transforms).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from bayes_unlearn._kernels import Packer, in_chunks
from bayes_unlearn._rowwise import summed_log_likelihood
from bayes_unlearn.layout import posterior_dataset
from bayes_unlearn.pymc_model import PyMCModel
from bayes_unlearn.scaling import Standardizer

__all__ = ["ShiftDensities", "conditioning_densities", "forget_densities"]


@dataclasses.dataclass(frozen=True)
class ShiftDensities:
    """Draws ↔ unconstrained vectors, and ``Z ↦ (base, removed)`` (see the module docstring)."""

    pack: Callable[[dict], np.ndarray]
    unpack: Callable[[np.ndarray], dict]
    parts: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    template: object
    #: ``(Z, t) ↦`` the log density of ``base + (1 − t)·removed`` and its gradient in ``Z``,
    #: where gradients exist (the compiled path); SMC then moves particles by HMC.
    tempered: Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]] | None = None
    #: ``removed`` alone (cheaper than ``parts``), where ``tempered`` exists.
    removed: Callable[[np.ndarray], np.ndarray] | None = None

    def dataset(self, Z: np.ndarray):
        """The ``posterior`` group for vectors ``Z`` (as many as the template's draws)."""
        return posterior_dataset(self.template, self.unpack(Z))


def forget_densities(
    posterior, forget: np.ndarray, new_scaling: Standardizer, n_threads: int = 1
) -> ShiftDensities:
    """The densities of forgetting the rows where ``forget`` is True, in ``new_scaling``."""
    if isinstance(posterior.model, PyMCModel):
        return _compiled_densities(posterior, forget)
    return _numpy_densities(posterior, forget, new_scaling, n_threads)


def _numpy_densities(posterior, forget, new_scaling, n_threads) -> ShiftDensities:
    model, packer = posterior.model, Packer(posterior)
    X, y = posterior.training_data()
    X_r, y_r = new_scaling.transform(X[~forget]), y[~forget]
    X_e, y_e = new_scaling.transform(X[forget]), y[forget]
    old_scaling = posterior.standardizer

    def parts(Z):
        params, log_jac = packer.unpack(Z)
        log_prior = model.log_prior(params)
        base = log_prior + log_jac + summed_log_likelihood(model, params, X_r, y_r)
        removed = summed_log_likelihood(model, params, X_e, y_e)
        if old_scaling != new_scaling:
            removed += model.log_prior(model.reparametrize(params, new_scaling, old_scaling))
            removed -= log_prior
        return base, removed

    return ShiftDensities(
        pack=packer.pack,
        unpack=lambda Z: packer.unpack(Z)[0],
        parts=lambda Z: in_chunks(parts, Z, n_threads),
        template=packer.template,
    )


def _compiled_densities(posterior, forget) -> ShiftDensities:
    """PyMC's transforms and log densities, compiled once (custom models never rescale)."""
    cm = posterior.compiled()
    removed_rows = cm.subset(forget)
    both = np.stack([~forget, forget], axis=1).astype(float)  # one pass gives both sums

    def removed(Z):
        return cm.pointwise_log_likelihood(Z, removed_rows).sum(axis=1)

    def parts(Z):
        sums = cm.weighted_log_likelihoods(Z, both)
        return sums[:, 0] + cm.log_prior(Z), sums[:, 1]

    return ShiftDensities(
        pack=cm.unconstrain,
        unpack=cm.constrain,
        parts=parts,
        template=posterior.idata.posterior,
        tempered=lambda Z, t: cm.log_density_and_grad(Z, np.where(forget, 1.0 - t, 1.0)),
        removed=removed,
    )


def conditioning_densities(posterior, X_new, y_new, n_threads: int = 1) -> ShiftDensities:
    """The other direction: from ``p(θ | D)`` to ``p(θ | D, F)`` for new rows ``F``.

    ``base = log p(D, F | θ) + log p(θ) + log|J|`` and ``removed = −log p(F | θ)``, in the
    posterior's own feature scaling (used by :func:`bayes_unlearn.identify_causes`).
    """
    X, y = posterior.training_data()
    if isinstance(posterior.model, PyMCModel):
        cm = posterior.compiled()
        model = posterior.model
        new_rows = cm.rows_of(
            model.build(np.asarray(X_new, float), np.asarray(y_new, float), term_names=())
        )
        both = {k: np.concatenate([cm.row_data[k], new_rows[k]]) for k in new_rows}
        is_new = np.arange(len(both[cm.OBSERVED])) >= len(cm.row_data[cm.OBSERVED])

        def removed(Z):
            return -cm.pointwise_log_likelihood(Z, new_rows).sum(axis=1)

        def parts(Z):
            neg_ll_new = removed(Z)
            base = cm.pointwise_log_likelihood(Z).sum(axis=1) + cm.log_prior(Z) - neg_ll_new
            return base, neg_ll_new

        return ShiftDensities(
            pack=cm.unconstrain,
            unpack=cm.constrain,
            parts=parts,
            template=posterior.idata.posterior,
            tempered=lambda Z, t: cm.log_density_and_grad(Z, np.where(is_new, t, 1.0), both),
            removed=removed,
        )
    model, packer, scaling = posterior.model, Packer(posterior), posterior.standardizer
    X_std, X_new_std = scaling.transform(X), scaling.transform(np.asarray(X_new, float))

    def numpy_parts(Z):
        params, log_jac = packer.unpack(Z)
        ll_new = summed_log_likelihood(model, params, X_new_std, y_new)
        ll = summed_log_likelihood(model, params, X_std, y)
        return ll + ll_new + model.log_prior(params) + log_jac, -ll_new

    return ShiftDensities(
        pack=packer.pack,
        unpack=lambda Z: packer.unpack(Z)[0],
        parts=lambda Z: in_chunks(numpy_parts, Z, n_threads),
        template=packer.template,
    )
