"""The torch-free NumPy models behind the same façade: EMSE regression and neural unlearning."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import is_classifier, is_regressor
from sklearn.datasets import load_digits, make_regression
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

import bayes_unlearn as bu
from bayes_unlearn.numpy_models import (
    MLPClassifier,
    PolynomialRegressor,
    emse_objective,
    fair_r2,
    membership_inference_auc,
    r2,
)
from bayes_unlearn.numpy_models.neural import METHODS, adversarial_set


@pytest.fixture(scope="module")
def mixed():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 200)
    y = 0.5 * x**3 - x**2 + 2 + rng.normal(0, 1, 200)
    bad = np.flatnonzero(rng.random(200) < 0.3)
    y[bad] = -(0.5 * x[bad] ** 3 - x[bad] ** 2 + 2) + 10 + rng.normal(0, 1, bad.size)
    return x[:, None], y, bad, PolynomialRegressor(degree=3).fit(x[:, None], y)


def test_polynomial_regressor_matches_numpy_polyfit():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, 50)
    y = 1 + 2 * x - x**3 + rng.normal(0, 0.1, 50)
    model = PolynomialRegressor(degree=3).fit(x[:, None], y)
    assert_allclose(model.predict(x[:, None]), np.polyval(np.polyfit(x, y, 3), x), atol=1e-8)


def test_emse_gradient_matches_finite_differences(mixed):
    X, y, bad, model = mixed
    A = model._design(X)
    mask = np.isin(np.arange(len(y)), bad)
    coef = model.coef_ + 0.1
    for sigma in (1.0, None):

        def f(c, sigma=sigma):
            return emse_objective(c, A[~mask], y[~mask], A[mask], y[mask], mu=0.5, sigma=sigma)

        _, grad = f(coef)
        numeric = [(f(coef + e)[0] - f(coef - e)[0]) / 2e-6 for e in 1e-6 * np.eye(coef.size)]
        assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_emse_with_mu_zero_is_the_exact_refit(mixed):
    X, y, bad, model = mixed
    ref = bu.unlearn(model, forget=bad, method="retrain")
    un = bu.unlearn(model, forget=bad, method="emse", mu=0.0, tol=1e-14, max_iter=200_000)
    assert_allclose(un.coef_, ref.coef_, rtol=1e-5, atol=1e-5)


def test_emse_unlearns_the_unwanted_rows(mixed):
    X, y, bad, model = mixed
    wanted = np.setdiff1d(np.arange(len(y)), bad)
    before = r2(y[wanted], model.predict(X[wanted]))
    un = bu.unlearn(model, forget=bad, method="emse", mu=1.0, sigma=1.0)
    after = r2(y[wanted], un.predict(X[wanted]))
    assert before < 0.6 and after > 0.95
    assert fair_r2(y[wanted], un.predict(X[wanted]), y[bad], un.predict(X[bad])) > 0.95
    assert np.all(np.diff(un.emse_history_) <= 1e-9)  # gradient descent never went uphill
    assert un.forget_history_ == [bad.tolist()] and un.X_fit_.shape[0] == wanted.size


def test_unbounded_squared_reward_is_refused(mixed):
    X, y, bad, model = mixed
    with pytest.raises(ValueError, match=r"unbounded below for mu=5.*Use mu < "):
        bu.unlearn(model, forget=bad, method="emse", mu=5.0, sigma=None)
    un = bu.unlearn(model, forget=bad, method="emse", mu=0.1, sigma=None)  # below the bound: fine
    assert np.isfinite(un.coef_).all()


def test_point_model_errors(mixed):
    X, y, bad, model = mixed
    with pytest.raises(ValueError, match="Did you mean 'emse'"):
        bu.unlearn(model, forget=bad, method="emsee")
    with pytest.raises(ValueError, match="unknown ids"):
        bu.unlearn(model, forget=[999], method="emse")
    with pytest.raises(ValueError, match="'sigma'"):
        bu.unlearn(model, forget=bad, method="emse", sigma=-1.0)
    with pytest.raises(ValueError, match="not fitted"):
        PolynomialRegressor().predict(X)
    twice = bu.unlearn(model, forget=[1], method="retrain")
    with pytest.raises(ValueError, match="already forgotten"):
        bu.unlearn(twice, forget=[1], method="retrain")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X / 16.0, y, test_size=0.2, random_state=0, stratify=y
    )
    return X_tr, X_te, y_tr, y_te, MLPClassifier(random_seed=0, epochs=20).fit(X_tr, y_tr)


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


def test_membership_inference_is_chance_for_identical_distributions():
    rng = np.random.default_rng(0)
    aucs = [
        membership_inference_auc(
            rng.exponential(1, 300), rng.exponential(1, 600), rng.exponential(1, 600), random_seed=s
        )
        for s in range(20)
    ]
    # Mean of 20 AUCs of 300 vs 300 under the null: sd of one ≈ 0.024, of the mean ≈ 0.005.
    assert abs(np.mean(aucs) - 0.5) < 4 * 0.0053
    strong = membership_inference_auc(
        rng.exponential(0.1, 300), rng.exponential(1, 600), rng.exponential(0.1, 600)
    )
    # Log-losses shifted by log(10) with sd π/√6 each: AUC = Φ(2.30 / 1.81) ≈ 0.90.
    assert strong > 0.85


def test_evaluate_unlearning_reports_avg_gap(digits):
    X_tr, X_te, y_tr, y_te, model = digits
    forget = np.arange(0, 1437, 10)
    ref = bu.unlearn(model, forget=forget, method="retrain", random_seed=1)
    ref_m = bu.evaluate_unlearning(
        ref, forget=(X_tr[forget], y_tr[forget]), X_test=X_te, y_test=y_te
    )
    out = bu.evaluate_unlearning(
        bu.unlearn(model, forget=forget, method="amun", random_seed=2),
        forget=(X_tr[forget], y_tr[forget]),
        X_test=X_te,
        y_test=y_te,
        reference=ref_m,
    )
    assert set(out) == {"unlearn_acc", "retain_acc", "test_acc", "mia_auc", "avg_gap"}
    assert 0 <= out["avg_gap"] < 5


def test_numpy_module_imports_neither_pymc_nor_torch():
    code = (
        "import sys, bayes_unlearn.numpy_models; "
        "print(any(m.split('.')[0] in ('pymc', 'pytensor', 'torch') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- scikit-learn conformance --------------------------------------------------------------


def test_numpy_models_are_scikit_learn_estimators():
    assert is_regressor(PolynomialRegressor()) and is_classifier(MLPClassifier())


@parametrize_with_checks(
    [PolynomialRegressor(degree=2), MLPClassifier(hidden=(32,), epochs=40, random_seed=0)]
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


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
