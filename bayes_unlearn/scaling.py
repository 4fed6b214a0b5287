"""Feature scaling and the algebra that moves draws between scalings.

A built-in model standardizes its features with constants learned on the training rows
(:class:`Standardizer`); forgetting rows changes them, and
:func:`rescale_linear_predictor` re-expresses the draws exactly in the new scaling.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import special

from bayes_unlearn._design import feature_scaling

__all__ = ["Standardizer", "rescale_linear_predictor"]


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Affine feature scaling ``(X - mean) / scale`` learned on the training data.

    The constants are aggregate statistics of the training rows, so every forget request
    learns them again on the remaining rows and moves the draws to the new scaling exactly
    (:func:`rescale_linear_predictor`): an unlearned posterior, and its file, carry the
    scaling a refit on the remaining rows would learn, nothing of the forgotten rows'.
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, X: np.ndarray, enabled: bool = True) -> Standardizer:
        """Learn the scaling from ``X`` (identity when ``enabled`` is False)."""
        p = X.shape[1]
        if not enabled:
            return cls(mean=(0.0,) * p, scale=(1.0,) * p)
        mean, scale = feature_scaling(X)
        return cls(mean=tuple(mean.tolist()), scale=tuple(scale.tolist()))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Apply the stored scaling."""
        return (X - np.asarray(self.mean)) / np.asarray(self.scale)

    @property
    def is_identity(self) -> bool:
        """Whether the scaling leaves features unchanged (``standardize=False``)."""
        return all(m == 0.0 for m in self.mean) and all(s == 1.0 for s in self.scale)


def rescale_linear_predictor(params: dict, old: Standardizer, new: Standardizer, degree: int):
    """A polynomial linear predictor's draws for features scaled by ``new`` instead of ``old``.

    ``α + Σ_j Σ_k β_jk z_j^k`` with ``z = (x - m)/s`` is rewritten exactly in
    ``z' = (x - m')/s'``: ``z = a + c z'`` with ``a = (m' - m)/s`` and ``c = s'/s``, so each
    power expands binomially and the map from ``(α, β)`` to ``(α', β')`` is affine (its
    Jacobian is a constant, which cancels in normalized importance weights). ``params`` holds
    ``intercept`` (draws,) and ``coef`` (draws, degree · p), term ``(k-1)·p + j`` being
    feature ``j`` to the power ``k``; other entries pass through.
    """
    m0, s0 = np.asarray(old.mean), np.asarray(old.scale)
    a, c = (np.asarray(new.mean) - m0) / s0, np.asarray(new.scale) / s0
    n_draws, p = params["coef"].shape[0], m0.size
    beta = params["coef"].reshape(n_draws, degree, p)  # term (k-1)*p + j is feature j, power k
    new_beta = np.zeros_like(beta)
    intercept = np.array(params["intercept"], dtype=np.float64, copy=True)
    for k in range(1, degree + 1):
        for j in range(k + 1):  # (a + c z')^k = Σ_j C(k, j) a^(k-j) c^j z'^j
            term = beta[:, k - 1, :] * (special.comb(k, j) * a ** (k - j) * c**j)
            if j == 0:
                intercept += term.sum(axis=1)
            else:
                new_beta[:, j - 1, :] += term
    return {**params, "intercept": intercept, "coef": new_beta.reshape(n_draws, degree * p)}
