"""The NumPy MLP (numpy_models/mlp.py)."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from bayes_unlearn.numpy_models import (
    MLPClassifier,
)


def test_mlp_learns_and_gradients_are_right(digits):
    X_tr, X_te, y_tr, y_te, model = digits
    assert np.mean(model.predict(X_te) == y_te) > 0.93
    # Input gradient against finite differences of the loss.
    x, label = X_te[:1], y_te[:1]
    grad = model.input_gradient(x, label)[0]
    eye = 1e-5 * np.eye(x.shape[1])
    numeric = [(model.loss(x + e, label) - model.loss(x - e, label))[0] / 2e-5 for e in eye[:10]]
    assert_allclose(grad[:10], numeric, rtol=1e-4, atol=1e-7)


def test_mlp_is_reproducible_and_leaves_global_state(digits):
    X_tr, _, y_tr, _, _ = digits
    state = np.random.get_state()[1].copy()
    a = MLPClassifier(random_seed=3, epochs=2).fit(X_tr, y_tr)
    b = MLPClassifier(random_seed=3, epochs=2).fit(X_tr, y_tr)
    assert_allclose(a.params_[0][0], b.params_[0][0])
    assert np.array_equal(np.random.get_state()[1], state)
