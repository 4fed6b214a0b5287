"""Neural unlearning methods (numpy_models/neural.py) through the same façade."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_regression

import bayes_unlearn as bu
from bayes_unlearn.numpy_models import (
    MLPClassifier,
    PolynomialRegressor,
)
from bayes_unlearn.numpy_models.neural import METHODS, adversarial_set


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_neural_method_runs_through_the_facade(digits, method):
    X_tr, X_te, y_tr, y_te, model = digits
    forget = np.arange(0, 1437, 10)
    un = bu.unlearn(model, forget=forget, method=method, random_seed=0)
    assert un.unlearning_method_ == method and un.X_fit_.shape[0] == 1437 - forget.size
    assert np.mean(un.predict(X_te) == y_te) > 0.8  # no catastrophic collapse
    assert model.X_fit_.shape[0] == 1437  # the original is untouched
    # Every method changes the network (a method that returned the original parameters
    # would fail here) ...
    pairs = zip(un.params_, model.params_, strict=True)
    assert any(not np.array_equal(W, W0) for (W, _), (W0, _) in pairs)
    # ... and the methods that act on the forgotten rows (ascent, relabelling, boundary
    # shrink, SalUn) or drop them (retrain) make them less likely. Fine-tuning on the retained
    # rows need not (the forgotten digits look like retained ones), nor does AMUN (it keeps
    # their true labels next to adversarial ones).
    if method in ("retrain", "gradient_ascent", "random_labels", "boundary_shrink", "salun"):
        X_f, y_f = X_tr[forget], y_tr[forget]
        assert un.loss(X_f, y_f).mean() > model.loss(X_f, y_f).mean()


def test_methods_needing_the_retain_set_say_so(digits):
    *_, model = digits
    with pytest.raises(ValueError, match="needs retain_access=True"):
        bu.unlearn(model, forget=[0, 1], method="finetune", retain_access=False)


def test_adversarial_set_flips_every_label(digits):
    X_tr, _, y_tr, _, model = digits
    X_a, y_a, eps = adversarial_set(model, X_tr[:50], y_tr[:50])
    assert np.all(model.predict(X_a) == y_a) and np.all(y_a != y_tr[:50])
    assert np.all(eps >= 0.01)


def test_fit_after_unlearning_starts_over():
    X, y = make_regression(n_samples=60, n_features=1, noise=1.0, random_state=0)
    model = PolynomialRegressor(degree=2).fit(X, y)
    un = bu.unlearn(model, forget=[0, 1], method="retrain")
    assert un.forget_history_ == [[0, 1]]
    refit = un.fit(X, y)
    assert refit.forget_history_ == [] and not hasattr(refit, "unlearning_method_")
    assert refit.X_fit_.shape[0] == 60
    bu.unlearn(refit, forget=[0, 1], method="retrain")  # the same rows can be forgotten again


def test_a_generator_is_spawned_not_copied_and_not_advanced():
    from bayes_unlearn._random import get_random_generator

    rng = np.random.default_rng(7)
    state = rng.bit_generator.state
    a, b = get_random_generator(rng), get_random_generator(rng)
    assert rng.bit_generator.state == state  # the caller's stream is untouched
    assert a.random() != b.random()  # two calls, two independent streams
    # ... and reproducible from the same starting Generator.
    assert (
        get_random_generator(np.random.default_rng(7)).random()
        == get_random_generator(np.random.default_rng(7)).random()
    )


def test_retrain_needs_the_retained_rows_like_every_fine_tuning_method():
    X, y = load_digits(return_X_y=True)
    model = MLPClassifier(hidden=(16,), epochs=2, random_seed=0).fit(X[:200], y[:200])
    for method in ("retrain", "finetune"):
        with pytest.raises(ValueError, match="needs retain_access=True"):
            bu.unlearn(model, forget=[0, 1], method=method, retain_access=False)
