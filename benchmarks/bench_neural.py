"""Neural unlearning on the 8x8 digits (NumPy MLP): the AMUN-style table, plus a single-class forget.

For 10% and 50% random forget sets, with and without access to the retained rows, 3 seeds:
unlearn / retain / test accuracy, membership-inference AUC (forget vs test) and Avg. Gap to
the retrain, mean ± sd. Methods that need the retained rows are skipped without access.

Run: ``python -m benchmarks.bench_neural``. Writes ``benchmarks/results/neural.{json,md}``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import bayes_unlearn as bu
from bayes_unlearn.numpy_models import MLPClassifier
from bayes_unlearn.numpy_models.neural import METHODS
from benchmarks._common import machine, write

SEEDS = (0, 1, 2)
KEYS = ("unlearn_acc", "retain_acc", "test_acc", "mia_auc")
NEEDS_RETAIN = {"finetune", "finetune_l2", "l1_sparse"}


def data(seed):
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.2, random_state=seed, stratify=y)


def run(setting, forget_of, retain_access, rows):
    for seed in SEEDS:
        X_tr, X_te, y_tr, y_te = data(seed)
        model = MLPClassifier(random_seed=seed).fit(X_tr, y_tr)
        forget = forget_of(y_tr, np.random.default_rng(seed))
        f = (X_tr[forget], y_tr[forget])
        ref = bu.unlearn(model, forget=forget, method="retrain", random_seed=seed + 100)
        ref_m = bu.evaluate_unlearning(ref, forget=f, X_test=X_te, y_test=y_te, random_seed=seed)
        rows.append(
            {
                "setting": setting,
                "retain_access": retain_access,
                "seed": seed,
                "method": "retrain",
                **ref_m,
                "avg_gap": 0.0,
            }
        )
        original = model.derived(np.isin(model.row_ids_, forget), "none")
        rows.append(
            {
                "setting": setting,
                "retain_access": retain_access,
                "seed": seed,
                "method": "original (no unlearning)",
                **bu.evaluate_unlearning(
                    original, forget=f, X_test=X_te, y_test=y_te, reference=ref_m, random_seed=seed
                ),
            }
        )
        for name in METHODS:
            if name == "retrain" or (name in NEEDS_RETAIN and not retain_access):
                continue
            start = time.perf_counter()
            un = bu.unlearn(
                model,
                forget=forget,
                method=name,
                retain_access=retain_access,
                random_seed=seed + 200,
            )
            rows.append(
                {
                    "setting": setting,
                    "retain_access": retain_access,
                    "seed": seed,
                    "method": name,
                    "seconds": time.perf_counter() - start,
                    **bu.evaluate_unlearning(
                        un, forget=f, X_test=X_te, y_test=y_te, reference=ref_m, random_seed=seed
                    ),
                }
            )


def random_fraction(frac):
    return lambda y, rng: rng.choice(len(y), size=round(frac * len(y)), replace=False)


def main():
    rows = []
    for access in (True, False):
        for frac in (0.1, 0.5):
            run(f"random {frac:.0%}", random_fraction(frac), access, rows)
    run("single class (all 3s)", lambda y, rng: np.flatnonzero(y == 3), True, rows)
    table = pd.DataFrame(rows)
    info = machine()
    lines = [
        "# Neural unlearning on 8x8 digits (NumPy MLP, 64-128-10)",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}. 1437 training / 360 test rows; "
        "3 seeds, mean ± sd. Accuracies and membership-inference AUC (logistic regression on losses, "
        "trained on retained vs half the test rows, scored on forgotten vs the other half) in %; "
        "Avg. Gap = mean |difference| to the retrain over the four.",
        "",
    ]
    for (setting, access), sub in table.groupby(["setting", "retain_access"], sort=False):
        lines += [
            f"## {setting}, {'with' if access else 'without'} access to the retained rows",
            "",
            "| method | unlearn acc | retain acc | test acc | MIA AUC | Avg. Gap | seconds |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for method, g in sub.groupby("method", sort=False):
            cells = [f"{g[k].mean():.2f} ± {g[k].std():.2f}" for k in (*KEYS, "avg_gap")]
            secs = (
                f"{g['seconds'].median():.2f}"
                if "seconds" in g and g["seconds"].notna().any()
                else ""
            )
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {secs} |")
        lines.append("")
    write("neural", {"machine": info, "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
