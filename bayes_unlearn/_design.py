"""Feature scaling and polynomial design, shared by the PyMC and the NumPy polynomial models."""

from __future__ import annotations

import numpy as np

__all__ = ["feature_scaling", "polynomial_design"]


def feature_scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and population standard deviations; constant columns keep scale 1."""
    scale = X.std(axis=0)
    return X.mean(axis=0), np.where(scale > 0, scale, 1.0)


def polynomial_design(Z: np.ndarray, degree: int) -> np.ndarray:
    """Powers 1..``degree`` of every column, power-major: ``[Z, Z², ..., Z^degree]``."""
    return np.concatenate([Z**k for k in range(1, degree + 1)], axis=1)
