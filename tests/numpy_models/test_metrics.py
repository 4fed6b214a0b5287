"""Unlearning metrics (numpy_models/metrics.py): membership inference, evaluate_unlearning."""

from __future__ import annotations

import numpy as np

import bayes_unlearn as bu
from bayes_unlearn.numpy_models import (
    membership_inference_auc,
)


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
