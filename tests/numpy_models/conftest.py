"""Shared NumPy-model fixtures: the digits data with an MLP fitted once per session."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from bayes_unlearn.numpy_models import MLPClassifier


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X / 16.0, y, test_size=0.2, random_state=0, stratify=y
    )
    return X_tr, X_te, y_tr, y_te, MLPClassifier(random_seed=0, epochs=20).fit(X_tr, y_tr)
