"""Unlearning metrics (numpy_models/metrics.py): membership inference, evaluate_unlearning."""

from __future__ import annotations

import numpy as np
import pytest

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
    """Avg. Gap: the mean of the four |metric − retrain's metric|, 0 for the retrain itself,
    and clearly above 0 for the unchanged model, which still fits the forgotten rows better
    than a retrain that never saw them."""
    X_tr, X_te, y_tr, y_te, model = digits
    forget = np.arange(0, 1437, 10)

    def evaluate(m, reference=None):
        return bu.evaluate_unlearning(
            m, forget=(X_tr[forget], y_tr[forget]), X_test=X_te, y_test=y_te, reference=reference
        )

    def gap(out, reference):
        keys = ("unlearn_acc", "retain_acc", "test_acc", "mia_auc")
        return np.mean([abs(out[k] - reference[k]) for k in keys])

    ref = bu.unlearn(model, forget=forget, method="retrain", random_seed=1)
    ref_m = evaluate(ref)
    assert "avg_gap" not in ref_m
    # The retrain against itself: the same predictions and the same seeded attack.
    assert evaluate(ref, ref_m)["avg_gap"] == 0.0
    # The unchanged model: 96.5% of the forgotten rows right against the retrain's 94.4%
    # (3 of 144 rows); that term alone puts the gap above 0.5 points.
    unchanged = evaluate(model, ref_m)
    assert unchanged["unlearn_acc"] > ref_m["unlearn_acc"]
    assert unchanged["avg_gap"] == pytest.approx(gap(unchanged, ref_m), rel=1e-12)
    assert unchanged["avg_gap"] > 0.5
    un = bu.unlearn(model, forget=forget, method="amun", random_seed=2)
    assert len(un.X_fit_) == len(X_tr) - forget.size  # what its retain accuracy is measured on
    # Its weights moved: its losses on the forgotten rows are not the unchanged model's.
    assert not np.allclose(
        un.loss(X_tr[forget], y_tr[forget]), model.loss(X_tr[forget], y_tr[forget])
    )
    out = evaluate(un, ref_m)
    assert set(out) == {"unlearn_acc", "retain_acc", "test_acc", "mia_auc", "avg_gap"}
    assert out["avg_gap"] == pytest.approx(gap(out, ref_m), rel=1e-12)
    assert 0 < out["avg_gap"] < 5
