"""The NumPy models are scikit-learn estimators and stay torch- and PyMC-free (numpy_models/_base.py)."""

from __future__ import annotations

import subprocess
import sys

from sklearn.base import is_classifier, is_regressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from bayes_unlearn.numpy_models import (
    MLPClassifier,
    PolynomialRegressor,
)


def test_numpy_module_imports_neither_pymc_nor_torch():
    code = (
        "import sys, bayes_unlearn.numpy_models; "
        "print(any(m.split('.')[0] in ('pymc', 'pytensor', 'torch') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_numpy_models_are_scikit_learn_estimators():
    assert is_regressor(PolynomialRegressor()) and is_classifier(MLPClassifier())


@parametrize_with_checks(
    [PolynomialRegressor(degree=2), MLPClassifier(hidden=(32,), epochs=40, random_seed=0)]
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
