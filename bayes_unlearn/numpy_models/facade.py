"""``bu.unlearn`` for the NumPy models: validate, pick the method, run it."""

from __future__ import annotations

import difflib

from bayes_unlearn.numpy_models import neural, polynomial
from bayes_unlearn.numpy_models.mlp import MLPClassifier
from bayes_unlearn.numpy_models.polynomial import PolynomialRegressor

__all__ = ["unlearn_point_model"]

_REGISTRY = {PolynomialRegressor: polynomial.METHODS, MLPClassifier: neural.METHODS}


def unlearn_point_model(model, forget, *, method, random_seed=None, **options):
    """Forget rows ``forget`` (ids of the model's stored training rows) with ``method``."""
    methods = _REGISTRY[type(model)]
    if method not in methods:
        hint = difflib.get_close_matches(str(method), methods, n=1)
        raise ValueError(
            f"The 'method' parameter for a {type(model).__name__} must be one of {sorted(methods)}. "
            f"Got {method!r}." + (f" Did you mean {hint[0]!r}?" if hint else "")
        )
    mask, _ = model.split_forget(forget)
    return methods[method](model, mask, random_seed=random_seed, **options)


def is_point_model(obj) -> bool:
    """Whether ``obj`` is one of the NumPy models."""
    return type(obj) in _REGISTRY
