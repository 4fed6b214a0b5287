"""Point-estimate models and their unlearning methods, in NumPy alone (no PyMC, no torch).

The same façade serves them: ``bu.unlearn(model, forget=row_ids, method=...)``.

- :class:`PolynomialRegressor` with ``method="emse"`` (Ethical MSE, Achour 2024) or ``"retrain"``.
- :class:`MLPClassifier` with the neural unlearning methods in
  :data:`bayes_unlearn.numpy_models.neural.METHODS`.
- :func:`evaluate_unlearning`: unlearn/retain/test accuracy, membership-inference AUC, Avg. Gap.
"""

from bayes_unlearn.numpy_models.metrics import (
    evaluate_unlearning,
    exponential_r2,
    fair_r2,
    membership_inference_auc,
    r2,
)
from bayes_unlearn.numpy_models.mlp import MLPClassifier
from bayes_unlearn.numpy_models.polynomial import PolynomialRegressor, emse_objective

__all__ = [
    "MLPClassifier",
    "PolynomialRegressor",
    "emse_objective",
    "evaluate_unlearning",
    "exponential_r2",
    "fair_r2",
    "membership_inference_auc",
    "r2",
]
