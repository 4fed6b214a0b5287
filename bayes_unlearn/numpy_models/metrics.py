"""Metrics for point-estimate unlearning: R² variants and membership inference."""

from __future__ import annotations

import numpy as np

__all__ = ["evaluate_unlearning", "exponential_r2", "fair_r2", "membership_inference_auc", "r2"]


def r2(y, y_pred) -> float:
    """Coefficient of determination ``1 − Σ(y − ŷ)² / Σ(y − ȳ)²`` (scikit-learn's ``r2_score``)."""
    from sklearn.metrics import r2_score

    return float(r2_score(y, y_pred))


def exponential_r2(y, y_pred, *, sigma: float) -> float:
    """R² with Gaussian-kernel errors: ``1 − mean(1 − e^{−r²/2σ²}) / mean(1 − e^{−(y−ȳ)²/2σ²})``.

    Bounded errors make it robust to a few huge residuals; ``sigma`` is the EMSE noise scale.
    """
    y, y_pred = np.asarray(y, float), np.asarray(y_pred, float)
    err = 1.0 - np.exp(-((y - y_pred) ** 2) / (2 * sigma**2))
    base = 1.0 - np.exp(-((y - y.mean()) ** 2) / (2 * sigma**2))
    return float(1.0 - err.mean() / base.mean())


def fair_r2(y_wanted, pred_wanted, y_unwanted, pred_unwanted) -> float:
    """``R²_wanted − max(R²_unwanted, 0)``: 1 when the wanted rows are fit perfectly and the
    unwanted rows are explained no better than by their own mean (our reading of the paper's
    Fair R², which rewards representing wanted data while ignoring unwanted data)."""
    return r2(y_wanted, pred_wanted) - max(r2(y_unwanted, pred_unwanted), 0.0)


def membership_inference_auc(loss_forget, loss_test, loss_retain, *, random_seed=0) -> float:
    """ROC AUC of a loss-based membership-inference attack on the forgotten rows.

    A scikit-learn ``LogisticRegression`` on the log-loss is trained to tell retained rows
    (members) from one half of the test rows (non-members), then scores the forgotten rows
    against the other half. Training the attack on data disjoint from what it is judged on
    keeps a useless attack at 0.5 (cross-validating on forget vs test is biased below 0.5).
    0.5 means the forgotten rows look like unseen rows, the ideal after unlearning; groups
    are subsampled to equal sizes so the attack is balanced.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(random_seed)
    test = rng.permutation(np.asarray(loss_test, float))
    half = test.size // 2
    test_fit, test_eval = test[:half], test[half:]
    retain = np.asarray(loss_retain, float)
    forget = np.asarray(loss_forget, float)
    n_fit = min(retain.size, test_fit.size)
    n_eval = min(forget.size, test_eval.size)
    if n_fit < 2 or n_eval < 2:
        raise ValueError(
            "membership_inference_auc needs at least 4 test rows and 2 forgotten and retained rows."
        )

    def features(*groups):
        return np.log(np.concatenate(groups) + 1e-12)[:, None]

    attack = LogisticRegression().fit(
        features(
            rng.choice(retain, n_fit, replace=False), rng.choice(test_fit, n_fit, replace=False)
        ),
        np.r_[np.ones(n_fit), np.zeros(n_fit)],
    )
    X_eval = features(
        rng.choice(forget, n_eval, replace=False), rng.choice(test_eval, n_eval, replace=False)
    )
    return float(
        roc_auc_score(np.r_[np.ones(n_eval), np.zeros(n_eval)], attack.predict_proba(X_eval)[:, 1])
    )


def evaluate_unlearning(model, *, forget, X_test, y_test, reference=None, random_seed=0) -> dict:
    """Unlearn, retain and test accuracy (%), membership-inference AUC (%) and Avg. Gap.

    Parameters
    ----------
    model : MLPClassifier
        The unlearned model (or the original, to measure before unlearning).
    forget : (X_forget, y_forget)
        The forgotten rows.
    X_test, y_test : array-like
        Held-out rows.
    reference : dict, optional
        Metrics of the exact retrain; adds ``avg_gap``, the mean absolute difference over the
        four metrics (as in the AMUN paper).

    Returns
    -------
    dict
    """
    X_f, y_f = forget
    X_r, y_r = model.X_fit_, model.y_fit_
    out = {
        "unlearn_acc": 100 * float(np.mean(model.predict(X_f) == y_f)),
        "retain_acc": 100 * float(np.mean(model.predict(X_r) == y_r)),
        "test_acc": 100 * float(np.mean(model.predict(X_test) == np.asarray(y_test))),
        "mia_auc": 100
        * membership_inference_auc(
            model.loss(X_f, y_f),
            model.loss(X_test, y_test),
            model.loss(X_r, y_r),
            random_seed=random_seed,
        ),
    }
    if reference is not None:
        keys = ("unlearn_acc", "retain_acc", "test_acc", "mia_auc")
        out["avg_gap"] = float(np.mean([abs(out[k] - reference[k]) for k in keys]))
    return out
